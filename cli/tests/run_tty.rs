//! `-t`: a real pty from the container's own devpts, its size from ours; `-it` under `script(1)`.
mod common;
use common::*;

#[test]
fn tty_gives_a_terminal() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let (code, out, err) = h.out(&[
        "run",
        "--rm",
        "-t",
        "busybox",
        "sh",
        "-c",
        "tty; echo $TERM; exit 3",
    ]);
    assert_eq!(code, 3, "{err}");
    assert!(out.contains("/dev/pts/0"), "{out:?}");
    assert!(out.contains("xterm"), "{out:?}");
    let (code, out, _) = h.out(&["run", "--rm", "busybox", "sh", "-c", "tty || true"]);
    assert_eq!(code, 0);
    assert!(out.contains("not a tty"), "{out:?}");
}

#[test]
fn interactive_tty_under_a_terminal_has_its_size() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    if std::process::Command::new("script")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("SKIPPED: script(1) missing (bsdutils)");
        return;
    }
    let hoist = env!("CARGO_BIN_EXE_hoist");
    let inner =
        format!("stty cols 91 rows 27; {hoist} run --rm -it busybox sh -c 'stty size; exit 4'");
    // Several times: the size must be set before the command starts, not just soon after.
    for _ in 0..8 {
        let out = std::process::Command::new("script")
            .args(["-qec", &inner, "/dev/null"])
            .env("HOIST_ROOT", h.root.path())
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(4),
            "{}{}",
            stdout(&out),
            stderr(&out)
        );
        assert!(stdout(&out).contains("27 91"), "{:?}", stdout(&out));
    }
}

#[test]
fn exec_with_a_tty() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let id = h.detach(&["busybox", "sleep", "30"]);
    let (code, out, err) = h.out(&["exec", "-t", &id, "sh", "-c", "tty; exit 2"]);
    assert_eq!(code, 2, "{err}");
    assert!(out.contains("/dev/pts/"), "{out:?}");
    assert_eq!(h.out(&["rm", "-f", &id]).0, 0);
}

/// `echo hi | hoist run -it IMG sh` waited forever for a terminal; Docker refuses at once.
#[test]
fn interactive_tty_with_piped_stdin_is_refused_as_docker_does() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let started = std::time::Instant::now();
    let (code, _, err) = h.out_with_stdin(&["run", "--rm", "-it", "busybox", "sh"], b"hi\n");
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("the input device is not a TTY"), "{err}");
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
    assert!(h.containers().is_empty(), "no container is made");
    // `-i` alone passes stdin and its EOF through; `-t` alone does not read stdin at all.
    let (code, out, err) = h.out_with_stdin(
        &["run", "--rm", "-i", "busybox", "sh"],
        b"echo from-stdin\n",
    );
    assert_eq!((code, out.trim()), (0, "from-stdin"), "{err}");
    let (code, out, err) =
        h.out_with_stdin(&["run", "--rm", "-t", "busybox", "echo", "tonly"], b"x\n");
    assert_eq!((code, out.trim()), (0, "tonly"), "{err}");
    // `-dit` keeps a terminal for a later attach: no check.
    let id = h.detach(&["-it", "busybox", "sh"]);
    let (code, _, err) = h.out_with_stdin(&["exec", "-it", &id, "true"], b"");
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("the input device is not a TTY"), "{err}");
    let (code, out, err) = h.out_with_stdin(&["exec", "-i", &id, "cat"], b"piped");
    assert_eq!((code, out.as_str()), (0, "piped"), "{err}");
    assert!(h.run(&["rm", "-f", &id]).status.success());
}
