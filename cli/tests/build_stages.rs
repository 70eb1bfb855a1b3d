//! Multi-stage builds: --target, stages nobody needs, FROM a stage or ${ARG}, COPY --from a stage, an index or
//! an image, and the errors for unknown stages and targets.
mod common;

use common::Hoist;

const STAGES: &str = "\
FROM busybox AS never
RUN echo never-ran && exit 1
FROM busybox AS base
RUN echo base > /base.txt
FROM base AS mid
RUN echo mid > /mid.txt
FROM busybox AS final
COPY --from=mid /mid.txt /from-mid.txt
COPY --from=1 /base.txt /from-index.txt
COPY --from=busybox:latest /etc/group /from-image-group
";

#[test]
fn target_builds_only_the_stages_it_needs() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let log = h.build_ok("st:mid", STAGES, &[], &["--target", "mid"]);
    assert!(
        !log.contains("never-ran"),
        "a stage nobody needs never runs:\n{log}"
    );
    assert!(
        !log.contains("COPY --from=mid"),
        "stages after the target are not built:\n{log}"
    );
    assert_eq!(
        h.sh("st:mid", "cat /base.txt /mid.txt"),
        "base\nmid\n",
        "a stage is the base of another"
    );
    // --target is case-insensitive, as stage names are.
    h.build_ok("st:mid2", STAGES, &[], &["--target", "MID"]);
}

#[test]
fn last_stage_is_the_default_target_and_copies_from_stage_index_and_image() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let log = h.build_ok("st:final", STAGES, &[], &[]);
    assert!(
        !log.contains("never-ran"),
        "a stage nobody needs never runs:\n{log}"
    );
    let out = h.sh("st:final", "cat /from-mid.txt /from-index.txt; test ! -e /mid.txt && echo no-mid; head -1 /from-image-group");
    assert_eq!(out, "mid\nbase\nno-mid\nroot:x:0:\n");
}

#[test]
fn from_takes_a_global_arg_naming_an_image_or_a_stage() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let df = "ARG BASE=busybox\nFROM ${BASE} AS first\nRUN echo first > /first\nFROM $BASE\nRUN test ! -e /first && echo ok > /ok\n";
    h.build_ok("arg:1", df, &[], &[]);
    assert_eq!(h.sh("arg:1", "cat /ok"), "ok\n");
    // --build-arg can point FROM at an earlier stage.
    h.build_ok("arg:2", "ARG BASE=busybox\nFROM busybox AS first\nRUN echo first > /first\nFROM $BASE\nRUN cat /first > /seen\n", &[], &[
        "--build-arg",
        "BASE=first",
    ]);
    assert_eq!(h.sh("arg:2", "cat /seen"), "first\n");
    let log = h.build_err("arg:3", "ARG BASE\nFROM $BASE\n", &[], &[]);
    assert!(log.contains("should not be blank"), "{log}");
}

#[test]
fn unknown_stage_target_and_image_are_clear_errors() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let log = h.build_err(
        "e:1",
        "FROM busybox\nCOPY --from=nosuchstage /x /x\n",
        &[],
        &[],
    );
    assert!(log.contains("Dockerfile:2"), "{log}");
    assert!(
        log.contains("nosuchstage"),
        "names the missing stage: {log}"
    );
    let log = h.build_err(
        "e:2",
        "FROM busybox AS a\nFROM busybox AS b\n",
        &[],
        &["--target", "c"],
    );
    assert!(log.contains("failed to reach build target c"), "{log}");
    assert!(log.contains("a, b"), "lists the stages there are: {log}");
    let log = h.build_err("e:3", "FROM no-such-image:9\n", &[], &[]);
    assert!(log.contains("no-such-image:9"), "{log}");
    // A stage cannot use a later stage as its base: the name is taken as an image.
    let log = h.build_err(
        "e:4",
        "FROM later AS first\nFROM busybox AS later\n",
        &[],
        &["--target", "first"],
    );
    assert!(log.contains("later"), "{log}");
    // A number in --from always names a stage: past the last one it is an error (BuildKit), even when an image
    // ID starts with that digit.
    let log = h.build_err("e:5", "FROM busybox\nCOPY --from=3 /x /y\n", &[], &[]);
    assert!(log.contains("Dockerfile:2:1"), "{log}");
    assert!(log.contains("invalid stage index 3"), "{log}");
    let log = h.build_err(
        "e:6",
        "FROM busybox\nRUN --mount=type=bind,from=7,target=/m true\n",
        &[],
        &[],
    );
    assert!(log.contains("invalid stage index 7"), "{log}");
    // An index may name a later stage, as a name may.
    h.build_ok(
        "e:7",
        "FROM busybox AS first\nCOPY --from=1 /x /y\nFROM busybox\nRUN echo later > /x\n",
        &[],
        &["--target", "first"],
    );
}

#[test]
fn scratch_stage_and_copy_from_scratch_built_stage() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let df =
        "FROM scratch AS files\nCOPY a.txt /a.txt\nFROM busybox\nCOPY --from=files /a.txt /b.txt\n";
    h.build_ok("sc:1", df, &[("a.txt", "A\n")], &[]);
    assert_eq!(h.sh("sc:1", "cat /b.txt"), "A\n");
    h.build_ok("sc:2", df, &[("a.txt", "A\n")], &["--target", "files"]);
    let (config, layers) = h.saved("sc:2");
    assert_eq!(layers.len(), 1, "scratch + COPY is one layer");
    assert_eq!(config["rootfs"]["diff_ids"].as_array().unwrap().len(), 1);
    let entries = common::layer_entries(&layers[0]);
    assert_eq!(entries["a.txt"].4, b"A\n");
}

/// Stages that COPY --from each other: a clear error (found before anything runs), never a hang.
#[test]
fn copy_from_cycle_is_an_error_not_a_hang() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let ctx = tempfile::tempdir().unwrap();
    std::fs::write(
        ctx.path().join("Dockerfile"),
        "FROM busybox AS a\nCOPY --from=b /b /b\nFROM busybox AS b\nCOPY --from=a /etc/group /b\n",
    )
    .unwrap();
    let mut child = h
        .cmd()
        .args(["build", "-t", "cycle:1", ctx.path().to_str().unwrap()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(!status.success(), "a cycle cannot build");
            let mut log = String::new();
            std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut log).unwrap();
            assert!(
                log.contains("circular dependency detected on stage"),
                "{log}"
            );
            assert!(
                log.contains("Dockerfile:2:1"),
                "points at the COPY that closes the cycle: {log}"
            );
            return;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the build of two stages that COPY --from each other hangs");
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

#[test]
fn steps_that_leave_the_same_layer_stack_up_and_the_image_runs() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    // Each RUN changes nothing, so their layers are one and the same: overlayfs must not get it twice.
    let mut dockerfile = String::from("FROM busybox\n");
    for i in 1..=5 {
        dockerfile.push_str(&format!("RUN echo {i}\n"));
    }
    dockerfile.push_str("RUN echo end > /end\n");
    h.build_ok("same-layers:1", &dockerfile, &[], &[]);
    let (code, out, err) = h.out(&["run", "--rm", "same-layers:1", "cat", "/end"]);
    assert_eq!((code, out.as_str()), (0, "end\n"), "{err}");
}
