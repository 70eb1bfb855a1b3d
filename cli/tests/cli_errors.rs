//! The CLI's everyday errors: each says what is wrong once, where, and before any work is wasted.
mod common;
use common::*;

#[test]
fn an_os_error_is_said_once() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let (code, _, err) = h.out(&["import", "/var/tmp/no-such-rootfs.tar", "x:1"]);
    assert_eq!(code, 1, "{err}");
    assert_eq!(err.matches("No such file or directory").count(), 1, "{err}");
    let (code, _, err) = h.out(&["save", "-o", "/no-such-dir/x.tar", "busybox"]);
    assert_eq!(code, 1, "{err}");
    assert_eq!(err.matches("No such file or directory").count(), 1, "{err}");
}

#[test]
fn a_missing_context_is_called_a_missing_context() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let (code, _, err) = h.out(&["build", "/var/tmp/no-such-context-dir"]);
    assert_ne!(code, 0);
    assert!(
        err.contains("unable to prepare context: path \"/var/tmp/no-such-context-dir\" not found"),
        "{err}"
    );
    assert!(!err.contains("Dockerfile"), "{err}");
}

#[test]
fn a_bad_cache_to_is_refused_before_the_first_step() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let (out, _ctx) = h.build_text(
        "ct:1",
        "FROM busybox\nRUN echo ran\n",
        &[],
        &["--progress", "plain", "--cache-to", "type=gha,ref=x"],
    );
    let err = stderr(&out);
    assert!(!out.status.success());
    assert!(err.contains("--cache-to type=gha,ref=x"), "{err}");
    assert!(
        err.contains("type=registry"),
        "the supported types are named:\n{err}"
    );
    assert!(
        !err.contains("#1 "),
        "a step ran before the option was checked:\n{err}"
    );
    assert_eq!(h.out(&["inspect", "ct:1"]).0, 1, "no image was made");
    // A destination that cannot be a directory is known before the build too.
    let file = tempfile::NamedTempFile::new().unwrap();
    let spec = format!("type=local,dest={}", file.path().display());
    let (out, _ctx) = h.build_text(
        "ct:2",
        "FROM busybox\nRUN echo ran\n",
        &[],
        &["--progress", "plain", "--cache-to", &spec],
    );
    let err = stderr(&out);
    assert!(!out.status.success());
    assert!(err.contains("is not a directory"), "{err}");
    assert!(
        !err.contains("#1 "),
        "a step ran before the option was checked:\n{err}"
    );
}

#[test]
fn a_failing_run_or_copy_shows_its_line_with_a_caret() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let log = h.build_err(
        "caret:1",
        "FROM busybox\nENV A=1\nRUN echo hi && exit 3\n",
        &[],
        &["--progress", "plain"],
    );
    assert!(
        log.contains("ERROR: Dockerfile:3:1: RUN echo hi && exit 3: process"),
        "{log}"
    );
    assert!(
        log.contains("\n 3 | RUN echo hi && exit 3\n   | ^"),
        "{log}"
    );
    let log = h.build_err(
        "caret:2",
        "FROM busybox\n  COPY missing.txt /x\n",
        &[],
        &["--progress", "plain"],
    );
    assert!(log.contains("ERROR: Dockerfile:2:3: COPY"), "{log}");
    assert!(
        log.contains("\n 2 |   COPY missing.txt /x\n   |   ^"),
        "{log}"
    );
    // A step of another stage that fails keeps its place too.
    let log = h.build_err(
        "caret:3",
        "FROM busybox AS dep\nRUN exit 4\nFROM busybox\nCOPY --from=dep /etc/group /g\n",
        &[],
        &["--progress", "plain"],
    );
    assert!(log.contains("\n 2 | RUN exit 4\n   | ^"), "{log}");
}

#[test]
fn run_limits_are_checked_as_docker_checks_them() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let (code, _, err) = h.out(&["run", "--rm", "-m", "2", "busybox", "true"]);
    assert_eq!(code, 125, "{err}");
    assert!(err.contains("Minimum memory limit allowed is 6MB"), "{err}");
    let cpus = std::thread::available_parallelism().unwrap().get();
    let too_many = (cpus + 3).to_string();
    let (code, _, err) = h.out(&["run", "--rm", "--cpus", &too_many, "busybox", "true"]);
    assert_eq!(code, 125, "{err}");
    assert!(
        err.contains(&format!(
            "Range of CPUs is from 0.01 to {cpus}.00, as there are only {cpus} CPUs available"
        )),
        "{err}"
    );
    let (code, _, err) = h.out(&[
        "run", "--rm", "-m", "8m", "--cpus", "0.5", "busybox", "true",
    ]);
    assert_eq!(code, 0, "{err}");
}

#[test]
fn rmi_refuses_an_image_a_stopped_container_uses_unless_forced() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    h.build_ok("used:1", "FROM busybox\nRUN echo > /f\n", &[], &[]);
    let (code, _, err) = h.out(&["run", "--name", "user1", "used:1", "true"]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = h.out(&["rmi", "used:1"]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains(
            "conflict: unable to remove repository reference \"used:1\" (must force) - container"
        ),
        "{err}"
    );
    assert_eq!(
        h.out(&["inspect", "used:1"]).0,
        0,
        "the image is still there"
    );
    // A second tag can go: the image stays for the container.
    h.build_ok("used:2", "FROM busybox\nRUN echo > /f\n", &[], &[]);
    let (code, out, err) = h.out(&["rmi", "used:2"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("Untagged: used:2"), "{out}");
    let (code, out, err) = h.out(&["rmi", "-f", "used:1"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("Untagged: used:1"), "{out}");
    let _ = h.out(&["rm", "user1"]);
}

#[test]
fn save_dash_o_dash_writes_to_stdout_and_a_terminal_is_refused() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    // In a directory of its own, to see that no file named `-` is written there.
    let cwd = tempfile::tempdir().unwrap();
    let out = h
        .cmd()
        .args(["save", "-o", "-", "busybox"])
        .current_dir(cwd.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let entries = read_tar(&out.stdout);
    assert!(
        entries.contains_key("manifest.json"),
        "{:?}",
        entries.keys()
    );
    assert!(!cwd.path().join("-").exists(), "a file named - was written");
    let out = h.run(&["save", "busybox"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(read_tar(&out.stdout).contains_key("manifest.json"));
    if std::process::Command::new("script")
        .arg("--version")
        .output()
        .is_err()
    {
        return;
    }
    let inner = format!("{} save busybox", env!("CARGO_BIN_EXE_hoist"));
    let out = std::process::Command::new("script")
        .args(["-qec", &inner, "/dev/null"])
        .env("HOIST_ROOT", h.root.path())
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let text = stdout(&out);
    assert!(
        text.contains("cowardly refusing to save to a terminal. Use the -o flag or redirect"),
        "{text}"
    );
    assert!(!out.status.success());
}
