//! Signals to a foreground `hoist run` reach the container's pid 1 (docker's sig-proxy); a second
//! Ctrl-C kills it; killing hoist itself takes the container along. Nothing is left behind.
mod common;
use common::*;

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};

fn start(h: &Hoist, args: &[&str]) -> (Child, BufReader<std::process::ChildStdout>) {
    let mut child = h
        .cmd()
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert_eq!(line, "ready\n");
    (child, out)
}

fn signal(child: &Child, sig: nix::sys::signal::Signal) {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), sig).unwrap();
}

/// Poll `inspect` until the container's pid 1 runs `comm` (it has exec'd).
fn wait_until_pid_1_is(h: &Hoist, name: &str, comm: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let (_, out, _) = h.out(&["inspect", name]);
        let pid = serde_json::from_str::<serde_json::Value>(&out)
            .ok()
            .and_then(|v| v[0]["State"]["Pid"].as_i64())
            .unwrap_or(0);
        let now = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        if pid > 0 && now.trim() == comm {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "pid 1 of {name} never became {comm}"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

#[test]
fn sigint_and_sigterm_are_forwarded_to_pid_1() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let script = "trap 'echo got INT; exit 30' INT; trap 'echo got TERM; exit 31' TERM; echo ready; while true; do sleep 0.05; done";
    let (mut child, mut out) = start(&h, &["run", "--rm", "busybox", "sh", "-c", script]);
    signal(&child, nix::sys::signal::SIGINT);
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert_eq!(line, "got INT\n");
    assert_eq!(child.wait().unwrap().code(), Some(30));
    let (mut child, _out) = start(&h, &["run", "--rm", "busybox", "sh", "-c", script]);
    signal(&child, nix::sys::signal::SIGTERM);
    assert_eq!(child.wait().unwrap().code(), Some(31));
    assert!(h.containers().is_empty(), "{:?}", h.containers());
    assert!(h.leftover_mounts().is_empty(), "{:?}", h.leftover_mounts());
}

#[test]
fn second_ctrl_c_kills_a_pid_1_that_ignores_it() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let (mut child, _out) = start(
        &h,
        &[
            "run",
            "--rm",
            "--name",
            "stubborn",
            "busybox",
            "sh",
            "-c",
            "echo ready; exec sleep 60",
        ],
    );
    // `sh -c` catches SIGINT itself (ash does), so wait until pid 1 is `sleep`, which has no handler.
    wait_until_pid_1_is(&h, "stubborn", "sleep");
    signal(&child, nix::sys::signal::SIGINT);
    std::thread::sleep(std::time::Duration::from_millis(100));
    assert!(
        child.try_wait().unwrap().is_none(),
        "pid 1 without a handler ignores SIGINT, as in docker"
    );
    signal(&child, nix::sys::signal::SIGINT);
    assert_eq!(child.wait().unwrap().code(), Some(137));
    assert!(h.containers().is_empty(), "{:?}", h.containers());
    assert!(h.leftover_mounts().is_empty(), "{:?}", h.leftover_mounts());
}

#[test]
fn killing_hoist_kills_the_container_and_ps_cleans_up() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let (mut child, _out) = start(
        &h,
        &[
            "run",
            "--name",
            "victim",
            "busybox",
            "sh",
            "-c",
            "echo ready; exec sleep 60",
        ],
    );
    signal(&child, nix::sys::signal::SIGKILL);
    child.wait().unwrap();
    let (_, out, _) = h.out(&["inspect", "victim"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let id = v[0]["Id"].as_str().unwrap().to_string();
    assert_eq!(v[0]["State"]["Status"], "exited", "{out}");
    assert_eq!(leftovers_after(&id, 5), Vec::<String>::new());
    assert_eq!(h.out(&["rm", "victim"]).0, 0);
    assert!(h.leftover_mounts().is_empty(), "{:?}", h.leftover_mounts());
}

#[test]
fn a_crashing_container_and_ctrl_c_leave_nothing() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    // pid 1 (here sh under --init) killed by a signal: 128+signal, and everything goes with --rm.
    let id = h.detach(&[
        "--rm",
        "--init",
        "busybox",
        "sh",
        "-c",
        "sleep 0.3; kill -SEGV $$",
    ]);
    h.wait_no_containers(10);
    assert_eq!(leftovers_after(&id, 5), Vec::<String>::new());
    let (code, _, err) = h.out(&[
        "run",
        "--rm",
        "--init",
        "busybox",
        "sh",
        "-c",
        "kill -SEGV $$",
    ]);
    assert_eq!(code, 139, "{err}");
    // Ctrl-C twice on a foreground --rm container: no cgroup, process or mount of it is left.
    let (mut child, _out) = start(
        &h,
        &[
            "run",
            "--rm",
            "--name",
            "interrupted",
            "busybox",
            "sh",
            "-c",
            "echo ready; exec sleep 60",
        ],
    );
    // Before the `exec`, `sh` would take the first Ctrl-C itself and exit 130.
    wait_until_pid_1_is(&h, "interrupted", "sleep");
    let running = h.containers();
    assert_eq!(running.len(), 1, "{running:?}");
    signal(&child, nix::sys::signal::SIGINT);
    std::thread::sleep(std::time::Duration::from_millis(50));
    signal(&child, nix::sys::signal::SIGINT);
    assert_eq!(child.wait().unwrap().code(), Some(137));
    assert!(h.containers().is_empty(), "{:?}", h.containers());
    assert_eq!(leftovers_after(&running[0], 5), Vec::<String>::new());
    assert!(h.leftover_mounts().is_empty(), "{:?}", h.leftover_mounts());
}
