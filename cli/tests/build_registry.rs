//! `hoist build` with a registry (`docker-registry` on 127.0.0.1, started per test): a `FROM` of an image the
//! store lacks is pulled (once; again with `--pull`), `--push` sends the result, and a build cache travels
//! through the registry between state dirs that share nothing else (`--cache-to/--cache-from type=registry`).
mod common;

use common::registry::TestRegistry;
use common::{stderr, stdout, Hoist};

/// A registry with busybox pushed to it as `base/busybox:1`; returns it and that reference.
fn registry_with_busybox() -> Option<(TestRegistry, String)> {
    let registry = TestRegistry::start()?;
    let h = Hoist::with_busybox()?;
    let base = format!("{}/base/busybox:1", registry.host());
    assert!(h.run(&["tag", "busybox:latest", &base]).status.success());
    let out = h.run(&["push", &base]);
    assert!(out.status.success(), "push: {}", stderr(&out));
    Some((registry, base))
}

#[test]
fn from_pulls_what_the_store_lacks_once_and_push_publishes_the_result() {
    let Some((registry, base)) = registry_with_busybox() else {
        return;
    };
    let Some(builder) = Hoist::empty() else {
        return;
    };
    let app = format!("{}/team/app:1", registry.host());
    let dockerfile = format!("FROM {base}\nRUN echo built > /f\n");
    let metadata = builder.root.path().join("metadata.json");
    let metadata_arg = metadata.to_str().unwrap();
    let log = builder.build_ok(
        &app,
        &dockerfile,
        &[],
        &[
            "--progress",
            "plain",
            "--push",
            "--metadata-file",
            metadata_arg,
        ],
    );
    assert!(
        log.contains(&format!("load metadata for {base}")),
        "the base is pulled:\n{log}"
    );
    assert!(log.contains(&format!("pushing {app}")), "{log}");
    // The metadata names the manifest the registry holds, as buildx's does after a push.
    let (status, body) = registry
        .request(
            "GET",
            "/v2/team/app/manifests/1",
            &[(
                "Accept",
                "application/vnd.docker.distribution.manifest.v2+json",
            )],
            b"",
        )
        .unwrap();
    assert_eq!(status, 200);
    let metadata: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&metadata).unwrap()).unwrap();
    assert_eq!(
        metadata["containerimage.digest"],
        format!("sha256:{}", common::sha256_hex(&body)).as_str(),
        "{metadata}"
    );
    assert_eq!(metadata["image.name"], app.as_str());
    // Not pulled again while the store has it; looked up again with --pull.
    let log = builder.build_ok(&app, &dockerfile, &[], &["--progress", "plain"]);
    assert!(!log.contains("load metadata"), "{log}");
    let log = builder.build_ok(&app, &dockerfile, &[], &["--progress", "plain", "--pull"]);
    assert!(log.contains("load metadata"), "{log}");

    // Another machine pulls what --push sent and runs it.
    let Some(other) = Hoist::empty() else { return };
    let out = other.run(&["pull", &app]);
    assert!(out.status.success(), "pull: {}", stderr(&out));
    let out = other.run(&["run", "--rm", &app, "cat", "/f"]);
    assert_eq!(stdout(&out).trim(), "built", "{}", stderr(&out));

    // A base no registry has: the error names the FROM line and the registry's answer.
    let missing = format!("FROM {}/base/nothere:1\n", registry.host());
    let log = builder.build_err("x", &missing, &[], &[]);
    assert!(log.contains("Dockerfile:1"), "{log}");
    assert!(log.contains("not found"), "{log}");
    // --push without a tag is refused before anything runs.
    let (out, _ctx) = builder.build_text("", &dockerfile, &[], &["--push"]);
    assert!(!out.status.success());
}

const CACHED_DOCKERFILE: &str = "ARG BASE
FROM $BASE AS deps
RUN echo deps > /deps
FROM $BASE AS tool
RUN echo tool > /tool
FROM deps
COPY --from=tool /tool /tool
RUN --mount=type=cache,target=/var/cache/app sh -c 'echo warm > /var/cache/app/marker; cat /deps /tool > /both'
";

#[test]
fn a_registry_cache_carries_every_step_to_a_fresh_state_dir() {
    let Some((registry, base)) = registry_with_busybox() else {
        return;
    };
    let (Some(first), Some(second), Some(third)) = (Hoist::empty(), Hoist::empty(), Hoist::empty())
    else {
        return;
    };
    let max = format!("{}/cache/app:max", registry.host());
    let min = format!("{}/cache/app:min", registry.host());
    let base_arg = format!("BASE={base}");
    let args = |extra: &[&str]| -> Vec<String> {
        let mut a = vec!["--build-arg".to_string(), base_arg.clone()];
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    };
    let to_max = format!("type=registry,ref={max},mode=max,cache-mounts=true");
    let to_min = format!("type=registry,ref={min}");
    let a = args(&["--cache-to", &to_max]);
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    let log = first.build_ok("app", CACHED_DOCKERFILE, &[], &a);
    assert!(log.contains("0 steps cached, 4 executed"), "{log}");
    let a = args(&["--cache-to", &to_min]);
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    first.build_ok("app", CACHED_DOCKERFILE, &[], &a);
    let built = first.config("app");

    // mode=max: a state dir with nothing in common but the registry gets every step from it.
    let from_max = format!("type=registry,ref={max}");
    let a = args(&["--cache-from", &from_max]);
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    let log = second.build_ok("app", CACHED_DOCKERFILE, &[], &a);
    assert!(log.contains("4 steps cached, 0 executed"), "{log}");
    assert_eq!(second.config("app"), built, "the same image");
    // Only the layers it uses: the `tool` stage's layer stays in the registry (the COPY of it was cached).
    let a = args(&["--target", "tool"]);
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    first.build_ok("tool", CACHED_DOCKERFILE, &[], &a);
    let tool_layer = first.saved("tool").0["rootfs"]["diff_ids"][1]
        .as_str()
        .unwrap()
        .trim_start_matches("sha256:")
        .to_string();
    assert!(first
        .root
        .path()
        .join("blobs/sha256")
        .join(&tool_layer)
        .exists());
    assert!(
        !second
            .root
            .path()
            .join("blobs/sha256")
            .join(&tool_layer)
            .exists(),
        "the tool stage's layer was not needed"
    );
    assert_eq!(second.sh("app", "cat /both"), "deps\ntool\n");
    // cache-mounts=true brought the cache mount's contents along.
    let dockerfile = format!(
        "FROM {base}\nARG V=1\nRUN --mount=type=cache,target=/var/cache/app cat /var/cache/app/marker > /seen\n"
    );
    second.build_ok("seen", &dockerfile, &[], &[]);
    assert_eq!(second.sh("seen", "cat /seen"), "warm\n");

    // mode=min carries the steps of the final image's stages only: `deps` (its base) but not `tool`.
    let from_min = format!("type=registry,ref={min}");
    for (target, expected) in [
        ("tool", "0 steps cached, 1 executed"),
        ("deps", "1 steps cached, 0 executed"),
    ] {
        let a = args(&["--cache-from", &from_min, "--target", target]);
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        let log = third.build_ok(target, CACHED_DOCKERFILE, &[], &a);
        assert!(log.contains(expected), "--target {target}:\n{log}");
    }

    // A cache that is not there yet (the first CI run) is a warning, not an error.
    let from_none = format!("type=registry,ref={}/cache/none:1", registry.host());
    let a = args(&["--cache-from", &from_none]);
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    let log = third.build_ok("app2", CACHED_DOCKERFILE, &[], &a);
    assert!(log.contains("no build cache at"), "{log}");
}
