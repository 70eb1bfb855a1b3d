//! `hoist pull`, `push`, `login`, `logout` against a real registry (`docker-registry` on 127.0.0.1, started per
//! test): round trips by tag and digest, a second push that sends nothing, Docker Hub through a mirror, platform
//! choice from a manifest list, a corrupt blob refused, zstd and plain layers, htpasswd auth, and third-party
//! clients (skopeo, docker) reading what hoist pushed.
mod common;

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use common::registry::{have_skopeo, TestRegistry};
use common::Hoist;

/// A state dir with nothing in it (the tests that call this have already checked for root).
fn empty_state() -> Hoist {
    Hoist::empty().expect("integration tests need root")
}

/// Run hoist on `h` with Docker's config in `docker_config`: (exit code, stdout, stderr).
fn hoist(h: &Hoist, docker_config: &Path, args: &[&str]) -> (i32, String, String) {
    let out = h
        .cmd()
        .env("DOCKER_CONFIG", docker_config)
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("running hoist");
    (
        out.status.code().unwrap_or(-1),
        common::stdout(&out),
        common::stderr(&out),
    )
}

fn ok(h: &Hoist, docker_config: &Path, args: &[&str]) -> String {
    let (code, out, err) = hoist(h, docker_config, args);
    assert_eq!(code, 0, "hoist {args:?} failed:\n{out}\n{err}");
    out
}

/// A busybox state dir with busybox imported as `name` too (no `hoist tag` needed).
fn with_image(name: &str) -> Option<Hoist> {
    let h = Hoist::with_busybox()?;
    let tar = common::busybox_tar()?;
    let out = h.run(&["import", tar.to_str().unwrap(), name]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    Some(h)
}

fn blob_count(h: &Hoist) -> usize {
    std::fs::read_dir(h.root.path().join("blobs/sha256")).map_or(0, |d| d.count())
}

#[test]
fn push_then_pull_by_tag_and_by_digest_and_run() {
    let Some(registry) = TestRegistry::start() else {
        return;
    };
    let config = tempfile::tempdir().unwrap();
    let image = format!("{}/team/app:v1", registry.host());
    let Some(h) = with_image(&image) else { return };

    let out = ok(&h, config.path(), &["push", &image]);
    assert!(
        out.contains(&format!(
            "The push refers to repository [{}/team/app]",
            registry.host()
        )),
        "{out}"
    );
    assert!(out.contains(": Pushed"), "{out}");
    let digest_line = out
        .lines()
        .find(|l| l.starts_with("v1: digest: sha256:"))
        .expect(&out)
        .to_string();
    let digest = digest_line.split_whitespace().nth(2).unwrap().to_string();

    // A second push sends no blob, and is quick.
    let started = Instant::now();
    let again = ok(&h, config.path(), &["push", &image]);
    let took = started.elapsed();
    assert!(!again.contains(": Pushed"), "{again}");
    assert!(again.contains(": Layer already exists"), "{again}");
    assert!(again.contains(&digest_line), "{again}");
    assert!(took.as_secs_f64() < 1.0, "second push took {took:?}");

    // The same layer pushed to another repository of this registry is mounted, not sent.
    let other = format!("{}/team/other:v1", registry.host());
    let tar = common::busybox_tar().unwrap();
    assert!(h
        .run(&["import", tar.to_str().unwrap(), &other])
        .status
        .success());
    let out = ok(&h, config.path(), &["push", &other]);
    assert!(out.contains(": Mounted from team/app"), "{out}");
    assert!(!out.contains(": Pushed"), "{out}");

    // By tag, into a fresh state dir, then run it.
    let fresh = empty_state();
    let out = ok(&fresh, config.path(), &["pull", &image]);
    assert!(out.contains(": Pull complete"), "{out}");
    assert!(out.contains(&format!("Digest: {digest}")), "{out}");
    assert!(
        out.contains(&format!("Status: Downloaded newer image for {image}")),
        "{out}"
    );
    assert_eq!(out.lines().last(), Some(image.as_str()), "{out}");
    assert_eq!(
        ok(
            &fresh,
            config.path(),
            &["run", "--rm", &image, "echo", "pulled"]
        )
        .trim(),
        "pulled"
    );
    let again = ok(&fresh, config.path(), &["pull", &image]);
    assert!(again.contains("Status: Image is up to date for"), "{again}");
    assert!(!again.contains("Pull complete"), "{again}");
    let listed = ok(&fresh, config.path(), &["images", "--digests"]);
    assert!(
        listed.contains("DIGEST") && listed.contains(&digest),
        "{listed}"
    );

    // By digest, into another fresh state dir; the image runs by that reference.
    let by_digest = format!("{}/team/app@{digest}", registry.host());
    let fresh = empty_state();
    let out = ok(&fresh, config.path(), &["pull", "-q", &by_digest]);
    assert_eq!(out.trim(), by_digest);
    assert_eq!(
        ok(
            &fresh,
            config.path(),
            &["run", "--rm", &by_digest, "echo", "by-digest"]
        )
        .trim(),
        "by-digest"
    );

    // A tag the registry lacks, and an image not in the store, say so.
    let (code, _, err) = hoist(
        &fresh,
        config.path(),
        &["pull", &format!("{}/team/app:nope", registry.host())],
    );
    assert_eq!(code, 1);
    assert!(
        err.contains(&format!(
            "manifest for {}/team/app:nope not found",
            registry.host()
        )),
        "{err}"
    );
    let (code, _, err) = hoist(
        &fresh,
        config.path(),
        &["push", &format!("{}/other:v1", registry.host())],
    );
    assert_eq!(code, 1);
    assert!(
        err.contains("An image does not exist locally with the tag"),
        "{err}"
    );

    // Third-party clients read what hoist pushed.
    if have_skopeo() {
        let out = Command::new("skopeo")
            .args([
                "inspect",
                "--tls-verify=false",
                &format!("docker://{image}"),
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "skopeo inspect: {}",
            common::stderr(&out)
        );
        let inspected: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(inspected["Digest"], digest.as_str());
        let layout = tempfile::tempdir().unwrap();
        let out = Command::new("skopeo")
            .args([
                "copy",
                "--src-tls-verify=false",
                &format!("docker://{image}"),
            ])
            .arg(format!("oci:{}:x", layout.path().display()))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "skopeo copy: {}",
            common::stderr(&out)
        );
    }
    docker_pull_and_run(&image);
}

/// `docker pull` of a hoist-pushed image runs in docker, where a daemon answers (else skipped).
fn docker_pull_and_run(image: &str) {
    let info = Command::new("docker").arg("info").output();
    if !info.is_ok_and(|o| o.status.success()) {
        eprintln!("SKIPPED (part): no docker daemon");
        return;
    }
    let out = Command::new("docker")
        .args(["pull", image])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "docker pull: {}",
        common::stderr(&out)
    );
    let out = Command::new("docker")
        .args(["run", "--rm", image, "echo", "in-docker"])
        .output()
        .unwrap();
    let _ = Command::new("docker").args(["rmi", image]).output();
    assert_eq!(
        common::stdout(&out).trim(),
        "in-docker",
        "{}",
        common::stderr(&out)
    );
}

#[test]
fn docker_hub_names_resolve_through_a_mirror() {
    let Some(registry) = TestRegistry::start() else {
        return;
    };
    let config = tempfile::tempdir().unwrap();
    let mirrored = format!("{}/library/busybox:latest", registry.host());
    let Some(h) = with_image(&mirrored) else {
        return;
    };
    ok(&h, config.path(), &["push", &mirrored]);

    let fresh = empty_state();
    std::fs::write(
        fresh.root.path().join("config.json"),
        format!(
            r#"{{"registry-mirrors": ["http://127.0.0.1:1", "http://{}"]}}"#,
            registry.host()
        ),
    )
    .unwrap();
    // The first mirror answers nothing: it falls through to the second.
    let out = ok(&fresh, config.path(), &["pull", "busybox"]);
    assert!(
        out.starts_with("Using default tag: latest\nlatest: Pulling from library/busybox\n"),
        "{out}"
    );
    assert!(
        out.contains("Status: Downloaded newer image for busybox:latest"),
        "{out}"
    );
    assert_eq!(
        out.lines().last(),
        Some("docker.io/library/busybox:latest"),
        "{out}"
    );
    assert_eq!(
        ok(
            &fresh,
            config.path(),
            &["run", "--rm", "busybox", "echo", "mirrored"]
        )
        .trim(),
        "mirrored"
    );
}

#[test]
fn a_manifest_list_gives_the_host_platform_or_says_what_exists() {
    let Some(registry) = TestRegistry::start() else {
        return;
    };
    let config = tempfile::tempdir().unwrap();
    let image = format!("{}/multi:single", registry.host());
    let Some(h) = with_image(&image) else { return };
    ok(&h, config.path(), &["push", &image]);
    let manifest = registry.manifest("multi", "single");
    let bytes = serde_json::to_vec(&manifest).unwrap();
    let (_, raw) = registry
        .request(
            "GET",
            "/v2/multi/manifests/single",
            &[(
                "Accept",
                "application/vnd.docker.distribution.manifest.v2+json",
            )],
            b"",
        )
        .unwrap();
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&raw).unwrap(),
        manifest
    );
    let digest = format!("sha256:{}", common::sha256_hex(&raw));
    let _ = bytes;
    // One image, listed for two platforms (the registry only checks that the manifest exists).
    let entry = |arch: &str| {
        serde_json::json!({
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "digest": digest, "size": raw.len(),
            "platform": {"os": "linux", "architecture": arch}
        })
    };
    let list = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.list.v2+json",
        "manifests": [entry("arm64"), entry("amd64")]
    });
    let (status, body) = registry
        .request(
            "PUT",
            "/v2/multi/manifests/list",
            &[(
                "Content-Type",
                "application/vnd.docker.distribution.manifest.list.v2+json",
            )],
            &serde_json::to_vec(&list).unwrap(),
        )
        .unwrap();
    assert_eq!(status, 201, "{}", String::from_utf8_lossy(&body));
    let list_ref = format!("{}/multi:list", registry.host());

    let fresh = empty_state();
    let (code, _, err) = hoist(
        &fresh,
        config.path(),
        &["pull", "--platform", "linux/s390x", &list_ref],
    );
    assert_eq!(code, 1);
    assert!(
        err.contains("no matching manifest for linux/s390x in the manifest list entries: linux/arm64, linux/amd64"),
        "{err}"
    );
    assert_eq!(blob_count(&fresh), 0);
    if cfg!(target_arch = "x86_64") {
        let out = ok(&fresh, config.path(), &["pull", &list_ref]);
        assert!(out.contains("Pull complete"), "{out}");
        assert_eq!(
            ok(
                &fresh,
                config.path(),
                &["run", "--rm", &list_ref, "echo", "amd64"]
            )
            .trim(),
            "amd64"
        );
    }
    ok(
        &empty_state(),
        config.path(),
        &["pull", "-q", "--platform", "linux/arm64", &list_ref],
    );
}

#[test]
fn a_corrupt_blob_is_refused_and_leaves_nothing() {
    let Some(registry) = TestRegistry::start() else {
        return;
    };
    let config = tempfile::tempdir().unwrap();
    let image = format!("{}/corrupt:v1", registry.host());
    let Some(h) = with_image(&image) else { return };
    ok(&h, config.path(), &["push", &image]);
    let manifest = registry.manifest("corrupt", "v1");
    let layer = manifest["layers"][0]["digest"]
        .as_str()
        .unwrap()
        .to_string();
    let file = registry.blob_file(&layer);
    let mut bytes = std::fs::read(&file).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&file, &bytes).unwrap();

    let fresh = empty_state();
    let (code, out, err) = hoist(&fresh, config.path(), &["pull", &image]);
    assert_eq!(code, 1, "{out}");
    assert!(
        err.contains(&format!(
            "blob {layer} from {}/corrupt is corrupt: got sha256:",
            registry.host()
        )) && err.contains("nothing was stored"),
        "{err}"
    );
    assert_eq!(blob_count(&fresh), 0, "a blob was stored");
    let (_, listed, _) = hoist(&fresh, config.path(), &["images", "-q"]);
    assert_eq!(listed.trim(), "", "an image was stored");
}

#[test]
fn zstd_and_uncompressed_layers_pull() {
    let Some(registry) = TestRegistry::start() else {
        return;
    };
    let Some(tar_path) = common::busybox_tar() else {
        return;
    };
    if !common::is_root() {
        return;
    }
    let config = tempfile::tempdir().unwrap();
    // One busybox layer, uploaded zstd-compressed (OCI) and uncompressed (Docker), each with its own manifest.
    let tar = std::fs::read(&tar_path).unwrap();
    let diff_id = format!("sha256:{}", common::sha256_hex(&tar));
    let image_config = serde_json::json!({
        "architecture": "amd64", "os": "linux", "config": {},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]}
    });
    let config_bytes = serde_json::to_vec(&image_config).unwrap();
    let config_digest = registry.put_blob("comp", &config_bytes);
    let zstd_layer = zstd::encode_all(&tar[..], 3).unwrap();
    for (tag, layer, manifest_type, config_type, layer_type) in [
        (
            "zstd",
            &zstd_layer[..],
            "application/vnd.oci.image.manifest.v1+json",
            "application/vnd.oci.image.config.v1+json",
            "application/vnd.oci.image.layer.v1.tar+zstd",
        ),
        (
            "plain",
            &tar[..],
            "application/vnd.docker.distribution.manifest.v2+json",
            "application/vnd.docker.container.image.v1+json",
            "application/vnd.docker.image.rootfs.diff.tar",
        ),
    ] {
        let layer_digest = registry.put_blob("comp", layer);
        registry.put_manifest(
            "comp",
            tag,
            manifest_type,
            &serde_json::json!({
                "schemaVersion": 2,
                "mediaType": manifest_type,
                "config": {"mediaType": config_type, "size": config_bytes.len(), "digest": config_digest},
                "layers": [{"mediaType": layer_type, "size": layer.len(), "digest": layer_digest}]
            }),
        );
        let reference = format!("{}/comp:{tag}", registry.host());
        let fresh = empty_state();
        ok(&fresh, config.path(), &["pull", "-q", &reference]);
        let said = ok(
            &fresh,
            config.path(),
            &["run", "--rm", &reference, "echo", tag],
        );
        assert_eq!(said.trim(), tag, "{layer_type}");
    }
}

#[test]
fn login_logout_and_auth_errors() {
    let Some(registry) = TestRegistry::start_with_auth("hoister", "s3cret-pass") else {
        return;
    };
    let config = tempfile::tempdir().unwrap();
    let image = format!("{}/private:v1", registry.host());
    let Some(h) = with_image(&image) else { return };
    let host = registry.host();

    let (code, _, err) = hoist(&h, config.path(), &["push", &image]);
    assert_eq!(code, 1);
    assert!(err.contains("hoist login"), "{err}");

    let (code, out, err) = hoist(
        &h,
        config.path(),
        &["login", "-u", "hoister", "-p", "wrong", &host],
    );
    assert_eq!(code, 1, "{out}");
    assert!(
        err.contains(&format!(
            "login to {host} failed: unauthorized: incorrect username or password"
        )),
        "{err}"
    );
    assert!(!config.path().join("config.json").exists());

    let (code, out, err) = h
        .cmd()
        .env("DOCKER_CONFIG", config.path())
        .args(["login", "-u", "hoister", "--password-stdin", &host])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(b"s3cret-pass\n")?;
            child.wait_with_output()
        })
        .map(|o| {
            (
                o.status.code().unwrap_or(-1),
                common::stdout(&o),
                common::stderr(&o),
            )
        })
        .unwrap();
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("Login Succeeded"), "{out}");
    assert!(!out.contains("s3cret") && !err.contains("s3cret"));
    let file = config.path().join("config.json");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let saved: serde_json::Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert!(saved["auths"][&host]["auth"].is_string(), "{saved}");

    ok(&h, config.path(), &["push", &image]);
    let fresh = empty_state();
    ok(&fresh, config.path(), &["pull", "-q", &image]);

    let out = ok(&h, config.path(), &["logout", &host]);
    assert!(
        out.contains(&format!("Removing login credentials for {host}")),
        "{out}"
    );
    let (code, _, err) = hoist(&empty_state(), config.path(), &["pull", &image]);
    assert_eq!(code, 1);
    assert!(
        err.contains(&format!("pull access denied for {host}/private"))
            && err.contains("hoist login"),
        "{err}"
    );
}

#[test]
fn two_pulls_at_once_into_one_store_both_succeed() {
    let Some(registry) = TestRegistry::start() else {
        return;
    };
    let config = tempfile::tempdir().unwrap();
    let image = format!("{}/twice:v1", registry.host());
    let Some(h) = with_image(&image) else { return };
    ok(&h, config.path(), &["push", &image]);
    let fresh = empty_state();
    let children: Vec<_> = (0..2)
        .map(|_| {
            fresh
                .cmd()
                .env("DOCKER_CONFIG", config.path())
                .args(["pull", "-q", &image])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", common::stderr(&out));
        assert_eq!(common::stdout(&out).trim(), image);
    }
    // One layer and one config (and the manifest hoist writes): the layer was stored once.
    assert_eq!(
        blob_count(&fresh),
        3,
        "{:?}",
        std::fs::read_dir(fresh.root.path().join("blobs/sha256"))
            .unwrap()
            .collect::<Vec<_>>()
    );
    // The per-layer download lock went with the download.
    assert!(
        fresh.leftover_tmp().is_empty(),
        "{:?}",
        fresh.leftover_tmp()
    );
    let (code, _, err) = hoist(&fresh, config.path(), &["store", "check"]);
    assert_eq!(code, 0, "{err}");
}
