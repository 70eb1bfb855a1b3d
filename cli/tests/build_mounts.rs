//! RUN --mount and --network: cache mounts persist across builds and stay out of the image; bind mounts from the
//! context or a stage are read-only unless rw (and rw writes are thrown away); tmpfs; secrets never reach a layer
//! or the config; --network=none has only the loopback interface.
mod common;

use common::{stderr, Hoist};

#[test]
fn cache_mount_persists_across_builds_and_is_not_in_the_image() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let df = |n: u32| {
        format!("FROM busybox\nRUN --mount=type=cache,target=/cache echo run{n} >> /cache/log && cp /cache/log /seen\n")
    };
    h.build_ok("mc:1", &df(1), &[], &[]);
    h.build_ok("mc:2", &df(2), &[], &[]);
    assert_eq!(
        h.sh("mc:2", "cat /seen; ls -A /cache | wc -l"),
        "run1\nrun2\n0\n"
    );
    // The id names the cache, not the target: another path with the same id sees the same files.
    h.build_ok("mc:3", "FROM busybox\nRUN --mount=type=cache,id=shared,target=/a echo x > /a/f\nRUN --mount=type=cache,id=shared,target=/b cp /b/f /copied\n", &[], &[]);
    assert_eq!(h.sh("mc:3", "cat /copied"), "x\n");
    // Owner and mode of a fresh cache dir.
    h.build_ok("mc:4", "FROM busybox\nRUN --mount=type=cache,target=/c,uid=1000,gid=1000,mode=0700 stat -c '%u:%g %a' /c > /st\n", &[], &[]);
    assert_eq!(h.sh("mc:4", "cat /st"), "1000:1000 700\n");
}

#[test]
fn bind_mounts_are_read_only_unless_rw_and_rw_writes_are_discarded() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let df = "\
FROM busybox AS other
RUN echo from-stage > /made
FROM busybox
RUN --mount=type=bind,target=/ctx cat /ctx/in.txt > /from-ctx && (touch /ctx/new 2>/dev/null && echo writable || echo read-only) > /ro
RUN --mount=type=bind,source=sub,target=/s cat /s/deep.txt > /from-sub
RUN --mount=type=bind,from=other,source=/made,target=/m cat /m > /from-stage
RUN --mount=type=bind,target=/ctx,rw echo changed > /ctx/in.txt && touch /ctx/new && cat /ctx/in.txt > /rw
RUN --mount=type=bind,target=/ctx cat /ctx/in.txt > /after-rw
";
    let (out, ctx) = h.build_text(
        "mb:1",
        df,
        &[("in.txt", "in\n"), ("sub/deep.txt", "deep\n")],
        &[],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(h.sh("mb:1", "cat /from-ctx /ro /from-sub /from-stage /rw /after-rw; test ! -e /ctx/in.txt && echo unmounted"),
        "in\nread-only\ndeep\nfrom-stage\nchanged\nin\nunmounted\n");
    assert_eq!(
        std::fs::read_to_string(ctx.path().join("in.txt")).unwrap(),
        "in\n",
        "the context is never written"
    );
    assert!(!ctx.path().join("new").exists());
}

#[test]
fn tmpfs_mount_is_a_tmpfs_and_leaves_nothing() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    h.build_ok("mt:1", "FROM busybox\nRUN --mount=type=tmpfs,target=/scratch echo x > /scratch/f && grep ' /scratch ' /proc/mounts | cut -d' ' -f3 > /fstype\n", &[], &[]);
    assert_eq!(
        h.sh("mt:1", "cat /fstype; ls -A /scratch | wc -l"),
        "tmpfs\n0\n"
    );
}

#[test]
fn secret_is_readable_in_run_and_never_stored() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let secret = "s3cr3t-value-4f9a1c";
    let path = dir.path().join("token");
    std::fs::write(&path, secret).unwrap();
    // The RUN proves it read the secret by its hash, so that the value itself appears nowhere but in the file.
    let df = "FROM busybox\nRUN --mount=type=secret,id=tok sha256sum < /run/secrets/tok | cut -d' ' -f1 > /checked\n\
RUN --mount=type=secret,id=tok,target=/etc/tok,required=true cat /etc/tok | wc -c >> /checked\n";
    let src = format!("id=tok,src={}", path.display());
    h.build_ok("ms:1", df, &[], &["--secret", &src]);
    assert_eq!(
        h.sh(
            "ms:1",
            "cat /checked; find /run/secrets /etc/tok -type f -size +0 2>/dev/null | wc -l"
        ),
        format!(
            "{}\n{}\n0\n",
            common::sha256_hex(secret.as_bytes()),
            secret.len()
        )
    );
    // Docker 20.10's BuildKit keeps the empty mount points (stubs); newer BuildKit removes them. Both are empty.
    let (config, layers) = h.saved("ms:1");
    for layer in &layers {
        assert!(
            !layer.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "the secret is in a layer"
        );
    }
    assert!(
        !config.to_string().contains(secret),
        "the secret is in the config"
    );
    // Everything the store holds: blobs, snapshots, the cache index.
    let found = std::process::Command::new("grep")
        .args(["-rl", secret])
        .arg(h.root.path())
        .output()
        .unwrap();
    assert!(
        common::stdout(&found).is_empty(),
        "the secret is stored: {}",
        common::stdout(&found)
    );
    // A required secret that was not given is an error.
    let log = h.build_err(
        "ms:2",
        "FROM busybox\nRUN --mount=type=secret,id=missing,required=true true\n",
        &[],
        &[],
    );
    assert!(log.contains("missing"), "{log}");
}

#[test]
fn network_none_has_only_loopback() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    h.build_ok(
        "nw:1",
        "FROM busybox\nRUN --network=none tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' ' > /ifaces\n",
        &[],
        &[],
    );
    let out = h.sh("nw:1", "cat /ifaces");
    assert_eq!(out.trim(), "lo", "only lo with --network=none: {out}");
    // The host's interfaces: lo, and more on any machine with a network (--allow: BuildKit's entitlement).
    h.build_ok(
        "nw:3",
        "FROM busybox\nRUN --network=host tail -n +3 /proc/net/dev | wc -l > /n\n",
        &[],
        &["--allow", "network.host"],
    );
    assert!(h.sh("nw:3", "cat /n").trim().parse::<usize>().unwrap() >= 1);
    let log = h.build_err(
        "nw:2",
        "FROM busybox\nRUN --network=bridge0 true\n",
        &[],
        &[],
    );
    assert!(
        log.contains("Dockerfile:2") && log.contains("bridge0"),
        "{log}"
    );
}

#[test]
fn cache_sharing_modes_and_secret_from_env() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    h.build_ok(
        "mx:1",
        "FROM busybox\nRUN --mount=type=cache,target=/l,sharing=locked echo l > /l/f\n\
RUN --mount=type=cache,target=/l,sharing=private cat /l/f > /seen-private\n\
RUN --mount=type=cache,target=/l,sharing=shared cat /l/f > /seen-shared\n",
        &[],
        &[],
    );
    assert_eq!(h.sh("mx:1", "cat /seen-private /seen-shared"), "l\nl\n");
    let log = h.build_err(
        "mx:2",
        "FROM busybox\nRUN --mount=type=cache,target=/l,sharing=sometimes true\n",
        &[],
        &[],
    );
    assert!(
        log.contains("Dockerfile:2") && log.contains("sharing"),
        "{log}"
    );
    // A secret from the builder's environment, exposed as a file and as an environment variable.
    let ctx = tempfile::tempdir().unwrap();
    std::fs::write(
        ctx.path().join("Dockerfile"),
        "FROM busybox\nRUN --mount=type=secret,id=tok wc -c < /run/secrets/tok > /len\n\
RUN --mount=type=secret,id=tok,env=TOK,target= sh -c 'echo ${#TOK}' > /envlen\n",
    )
    .unwrap();
    let out = h
        .cmd()
        .env("HOIST_TEST_TOKEN", "env-secret-93b1")
        .args([
            "build",
            "-t",
            "mx:3",
            "--secret",
            "id=tok,env=HOIST_TEST_TOKEN",
        ])
        .arg(ctx.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(h.sh("mx:3", "cat /len /envlen"), "15\n15\n");
    let (config, layers) = h.saved("mx:3");
    assert!(!config.to_string().contains("env-secret-93b1"));
    assert!(!layers
        .iter()
        .any(|l| l.windows(15).any(|w| w == b"env-secret-93b1")));
}

#[test]
fn runtime_mount_stubs_do_not_reach_the_layer() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    // The base has no /etc/hosts, /etc/resolv.conf or /etc/hostname: the empty files the runtime creates to
    // mount over are removed after RUN (BuildKit), while what RUN itself writes there stays.
    h.build_ok(
        "stub:1",
        "FROM busybox\nRUN echo hi > /x\nRUN echo 127.0.0.1 me > /etc/hostname.kept\n",
        &[],
        &[],
    );
    let (_, layers) = h.saved("stub:1");
    for layer in &layers[1..] {
        let entries = common::layer_entries(layer);
        for stub in ["etc/hosts", "etc/resolv.conf", "etc/hostname"] {
            assert!(
                !entries.contains_key(stub),
                "{stub} in a RUN layer: {:?}",
                entries.keys()
            );
        }
    }
    assert!(common::layer_entries(&layers[2]).contains_key("etc/hostname.kept"));
    // So COPY --from of the stage's /etc copies no stubs.
    h.build_ok(
        "stub:2",
        "FROM busybox AS s\nRUN true\nFROM scratch\nCOPY --from=s /etc /etc\n",
        &[],
        &[],
    );
    let (_, layers) = h.saved("stub:2");
    let names: Vec<String> = common::layer_entries(&layers[0]).into_keys().collect();
    assert!(
        !names
            .iter()
            .any(|n| n.starts_with("etc/hos") || n.contains("resolv")),
        "{names:?}"
    );
    // The empty file a file bind mount's target needs goes too; the directories made for mounts stay.
    h.build_ok(
        "stub:3",
        "FROM busybox\nRUN --mount=type=bind,source=f,target=/mnt/f --mount=type=tmpfs,target=/t cat /mnt/f > /got\n",
        &[("f", "data\n")],
        &[],
    );
    let (_, layers) = h.saved("stub:3");
    let entries = common::layer_entries(&layers[1]);
    assert!(!entries.contains_key("mnt/f"), "{:?}", entries.keys());
    assert!(
        entries.contains_key("mnt") && entries.contains_key("t"),
        "{:?}",
        entries.keys()
    );
    assert_eq!(entries["got"].4, b"data\n");
}
