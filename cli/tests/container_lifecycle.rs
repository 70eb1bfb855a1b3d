//! `hoist create`, `start [-a]`, `restart`, `attach`, `pause`/`unpause`, `top`, `stats` with real
//! containers, their state checked through the commands themselves and the cgroup files.
mod common;
use std::time::{Duration, Instant};

use common::Hoist;

/// The container's freezer file and its text: v1 `freezer.state` or v2 `cgroup.freeze`.
fn freezer(id: &str) -> Option<(std::path::PathBuf, String)> {
    let cgroup = format!("hoist/hoist-run-{}", &id[..16]);
    let candidates = [
        format!("/sys/fs/cgroup/freezer/{cgroup}/freezer.state"),
        format!("/sys/fs/cgroup/{cgroup}/cgroup.freeze"),
    ];
    candidates.into_iter().find_map(|p| {
        let text = std::fs::read_to_string(&p).ok()?;
        Some((p.into(), text.trim().to_string()))
    })
}

fn inspect(h: &Hoist, name: &str, template: &str) -> String {
    let (code, out, err) = h.out(&["inspect", "-f", template, name]);
    assert_eq!(code, 0, "{err}");
    out.trim().to_string()
}

#[test]
fn create_then_start_and_restart() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let (code, id, err) = h.out(&[
        "create",
        "--name",
        "c1",
        "-e",
        "V=v1",
        "busybox",
        "sh",
        "-c",
        "echo run >> /runs; echo out $V; echo err >&2; wc -l < /runs; exit 3",
    ]);
    assert_eq!(code, 0, "{err}");
    let id = id.trim().to_string();
    assert_eq!(id.len(), 64, "create prints the full ID: {id:?}");
    assert_eq!(
        h.out(&["ps", "-a", "--format", "{{.Names}} {{.Status}}"]).1,
        "c1 Created\n"
    );
    assert_eq!(inspect(&h, "c1", "{{.State.Status}}"), "created");
    // `ps` without -a shows running containers only.
    assert_eq!(h.out(&["ps", "-q"]).1, "");

    // -a: the output and the container's exit code.
    let (code, out, err) = h.out(&["start", "-a", "c1"]);
    assert_eq!(code, 3, "{err}");
    // stdout and stderr each to its own stream, as docker start -a.
    assert_eq!(out, "out v1\n1\n", "{err}");
    assert!(err.ends_with("err\n"), "{err}");
    assert_eq!(
        inspect(&h, "c1", "{{.State.Status}} {{.State.ExitCode}}"),
        "exited 3"
    );

    // Started again: the same record, and the writable layer kept (the file has two lines now).
    let (code, out, err) = h.out(&["start", "-a", &id[..12]]);
    assert_eq!((code, out.as_str()), (3, "out v1\n2\n"), "{err}");
    // Without -a: the names as given, and exit 0.
    let (code, out, err) = h.out(&["start", "c1"]);
    assert_eq!((code, out.as_str()), (0, "c1\n"), "{err}");
    assert_eq!(h.wait_exited("c1", 10), 3);
    assert!(h.out(&["logs", "c1"]).1.ends_with("out v1\n3\n"));

    // Several containers; an unknown one is an error (exit 1) that does not stop the others.
    h.out(&["create", "--name", "c2", "busybox", "sleep", "100"]);
    let (code, out, err) = h.out(&["start", "c2", "nope"]);
    assert_eq!(code, 1);
    assert_eq!(out, "c2\n");
    assert!(err.contains("No such container: nope"), "{err}");
    assert_eq!(inspect(&h, "c2", "{{.State.Status}}"), "running");
    // Starting a running container does nothing (as Docker), and says its name.
    let pid = inspect(&h, "c2", "{{.State.Pid}}");
    let (code, out, _) = h.out(&["start", "c2"]);
    assert_eq!((code, out.as_str()), (0, "c2\n"));
    assert_eq!(inspect(&h, "c2", "{{.State.Pid}}"), pid);
    let (code, _, err) = h.out(&["start", "-a", "c1", "c2"]);
    assert_eq!(code, 1);
    assert!(err.contains("cannot start and attach multiple"), "{err}");

    // restart: stopped (SIGKILL after -t 0 for a `sleep` that ignores SIGTERM as pid 1) and started.
    let started = inspect(&h, "c2", "{{.State.StartedAt}}");
    let (code, out, err) = h.out(&["restart", "-t", "0", "c2", "c1", "ghost"]);
    assert_eq!(code, 1);
    assert_eq!(out, "c2\nc1\n");
    assert!(err.contains("No such container: ghost"), "{err}");
    assert_eq!(inspect(&h, "c2", "{{.State.Status}}"), "running");
    assert_ne!(inspect(&h, "c2", "{{.State.StartedAt}}"), started);
    assert_ne!(inspect(&h, "c2", "{{.State.Pid}}"), pid);
    // A paused container is not started again (Docker: unpause it).
    h.out(&["pause", "c2"]);
    let (code, _, err) = h.out(&["start", "c2"]);
    assert_eq!(code, 1);
    assert!(err.contains("try unpause instead"), "{err}");
    let (code, _, err) = h.out(&["rm", "-f", "c1", "c2"]);
    assert_eq!(code, 0, "{err}");
    assert!(common::leftovers_after(&id, 10).is_empty());

    // create --rm: start -a still ends with the exit code, and the container is gone after.
    let (code, _, err) = h.out(&[
        "create",
        "--rm",
        "--name",
        "r1",
        "busybox",
        "sh",
        "-c",
        "echo bye; exit 9",
    ]);
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = h.out(&["start", "-a", "r1"]);
    assert_eq!((code, out.as_str()), (9, "bye\n"), "{err}");
    h.wait_no_containers(10);
}

#[test]
fn pause_and_unpause_freeze_the_cgroup() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    // Exits 7 on SIGTERM: a stop of a paused container must deliver it (thawed), not SIGKILL it.
    let id = h.detach(&[
        "--name",
        "p1",
        "busybox",
        "sh",
        "-c",
        "trap 'exit 7' TERM; while :; do sleep 0.1; done",
    ]);
    let (code, out, err) = h.out(&["pause", "p1"]);
    assert_eq!((code, out.as_str()), (0, "p1\n"), "{err}");
    let (path, text) = freezer(&id).expect("the container's cgroup has a freezer");
    assert!(text == "FROZEN" || text == "1", "{path:?}: {text}");
    assert_eq!(
        inspect(
            &h,
            "p1",
            "{{.State.Status}} {{.State.Paused}} {{.State.Running}}"
        ),
        "paused true true"
    );
    let status = h.out(&["ps", "--format", "{{.Status}}"]).1;
    assert!(
        status.starts_with("Up ") && status.ends_with(" (Paused)\n"),
        "{status}"
    );
    assert_eq!(
        h.out(&["ps", "--filter", "status=paused", "-q"]).1.trim(),
        &id[..12]
    );
    assert_eq!(h.out(&["ps", "--filter", "status=running", "-q"]).1, "");

    let (code, _, err) = h.out(&["pause", "p1"]);
    assert_eq!(code, 1);
    assert!(err.contains("already paused"), "{err}");
    let (code, _, err) = h.out(&["exec", "p1", "true"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("is paused, unpause the container before exec"),
        "{err}"
    );

    let (code, out, err) = h.out(&["unpause", "p1"]);
    assert_eq!((code, out.as_str()), (0, "p1\n"), "{err}");
    let (_, text) = freezer(&id).unwrap();
    assert!(text == "THAWED" || text == "0", "{text}");
    assert_eq!(inspect(&h, "p1", "{{.State.Status}}"), "running");
    let (code, _, err) = h.out(&["unpause", "p1"]);
    assert_eq!(code, 1);
    assert!(err.contains("is not paused"), "{err}");
    assert_eq!(h.out(&["exec", "p1", "true"]).0, 0);

    // stop of a paused container: the signal, then thawed, so the trap runs (exit 7), quickly.
    h.out(&["pause", "p1"]);
    let t = Instant::now();
    let (code, out, err) = h.out(&["stop", "-t", "20", "p1"]);
    assert_eq!((code, out.as_str()), (0, "p1\n"), "{err}");
    assert!(
        t.elapsed() < Duration::from_secs(10),
        "stop waited for its timeout"
    );
    assert_eq!(inspect(&h, "p1", "{{.State.ExitCode}}"), "7");

    // Wrong state and unknown containers.
    let (code, _, err) = h.out(&["pause", "p1", "nope"]);
    assert_eq!(code, 1);
    assert!(err.contains("p1 is not running"), "{err}");
    assert!(err.contains("No such container: nope"), "{err}");
    assert_eq!(h.out(&["unpause", "p1"]).0, 1);

    // kill and rm -f of paused containers work too.
    h.out(&["start", "p1"]);
    h.out(&["pause", "p1"]);
    let (code, _, err) = h.out(&["kill", "p1"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(h.wait_exited("p1", 10), 137);
    h.out(&["start", "p1"]);
    h.out(&["pause", "p1"]);
    let (code, _, err) = h.out(&["rm", "-f", "p1"]);
    assert_eq!(code, 0, "{err}");
    assert!(common::leftovers_after(&id, 10).is_empty());
}

#[test]
fn attach_follows_output_and_proxies_signals() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    h.detach(&[
        "--name",
        "a1",
        "busybox",
        "sh",
        "-c",
        "echo before; sleep 1; echo after; exit 5",
    ]);
    let deadline = Instant::now() + Duration::from_secs(5);
    while h.out(&["logs", "a1"]).1.is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let (code, out, err) = h.out(&["attach", "a1"]);
    assert_eq!(code, 5, "{err}");
    assert_eq!(out, "after\n", "output from the attach on, until the exit");
    let (code, _, err) = h.out(&["attach", "a1"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("cannot attach to a stopped container"),
        "{err}"
    );
    let (code, _, err) = h.out(&["attach", "nope"]);
    assert_eq!(code, 1);
    assert!(err.contains("No such container: nope"), "{err}");

    // A tty container: its pty's output.
    h.detach(&[
        "-t",
        "--name",
        "t1",
        "busybox",
        "sh",
        "-c",
        "sleep 1; tty; exit 4",
    ]);
    let (code, out, err) = h.out(&["attach", "t1"]);
    assert_eq!(code, 4, "{err}");
    assert!(out.contains("/dev/pts/"), "{out:?}");

    // --sig-proxy (the default): a SIGTERM to attach reaches the container.
    h.detach(&[
        "--name",
        "s1",
        "busybox",
        "sh",
        "-c",
        "trap 'echo got-term; exit 7' TERM; while :; do sleep 0.1; done",
    ]);
    let child = h
        .cmd()
        .args(["attach", "s1"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    // SAFETY: kill(2) of our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(7));
    assert_eq!(common::stdout(&out), "got-term\n");

    // --sig-proxy=false: the signal ends attach only; the container runs on.
    h.detach(&["--name", "s2", "busybox", "sleep", "100"]);
    let child = h
        .cmd()
        .args(["attach", "--sig-proxy=false", "s2"])
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), None, "killed by the signal");
    assert_eq!(inspect(&h, "s2", "{{.State.Status}}"), "running");
    h.out(&["rm", "-f", "a1", "t1", "s1", "s2"]);
}

#[test]
fn top_and_stats() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    h.detach(&[
        "--name",
        "w1",
        "-m",
        "64m",
        "busybox",
        "sh",
        "-c",
        "sleep 300 & sleep 301",
    ]);
    let pid = inspect(&h, "w1", "{{.State.Pid}}");
    // Until the background sleep is there.
    let deadline = Instant::now() + Duration::from_secs(10);
    let out = loop {
        let (code, out, err) = h.out(&["top", "w1"]);
        assert_eq!(code, 0, "{err}");
        if out.contains("sleep 300") || Instant::now() > deadline {
            break out;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].starts_with("UID ") && lines[0].contains("PID") && lines[0].ends_with("CMD"),
        "{out}"
    );
    assert_eq!(
        lines.len(),
        3,
        "the header and the container's two processes only: {out}"
    );
    assert!(
        out.contains("sleep 300") && out.contains("sleep 301"),
        "{out}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.split_whitespace().nth(1) == Some(pid.as_str())),
        "{out}"
    );
    let (code, out, err) = h.out(&["top", "w1", "-o", "pid,comm"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out.lines()
            .next()
            .map(str::split_whitespace)
            .map(Iterator::collect::<Vec<_>>),
        Some(vec!["PID", "COMMAND"])
    );
    assert_eq!(out.lines().count(), 3, "{out}");
    let (code, _, err) = h.out(&["top", "w1", "-o", "comm"]);
    assert_eq!(code, 1);
    assert!(err.contains("Couldn't find PID field"), "{err}");

    h.out(&["create", "--name", "idle", "busybox", "true"]);
    let (code, _, err) = h.out(&["top", "idle"]);
    assert_eq!(code, 1);
    assert!(err.contains("is not running"), "{err}");
    assert_eq!(h.out(&["top", "nope"]).0, 1);

    // stats: Docker's columns; the memory limit and pids from the cgroup.
    let (code, out, err) = h.out(&["stats", "--no-stream"]);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    let header: Vec<&str> = lines[0]
        .split("   ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect();
    assert_eq!(
        header,
        [
            "CONTAINER ID",
            "NAME",
            "CPU %",
            "MEM USAGE / LIMIT",
            "MEM %",
            "NET I/O",
            "BLOCK I/O",
            "PIDS"
        ]
    );
    assert!(
        lines[1].contains(" w1 ") && lines[1].contains("/ 64MiB"),
        "{out}"
    );
    // The shell runs the last command in its place: two sleeps.
    assert!(lines[1].trim_end().ends_with(" 2"), "two processes: {out}");
    let (code, out, err) = h.out(&[
        "stats",
        "--no-stream",
        "-a",
        "--no-trunc",
        "--format",
        "{{.Name}} {{.ID}} {{.CPUPerc}} {{.PIDs}}",
    ]);
    assert_eq!(code, 0, "{err}");
    let id = inspect(&h, "w1", "{{.Id}}");
    assert!(out.contains(&format!("w1 {id} ")), "{out}");
    assert!(
        out.contains("idle ") && out.contains(" 0.00% 0\n"),
        "a stopped one shows zeros: {out}"
    );
    let (code, _, err) = h.out(&["stats", "--no-stream", "w1", "nope"]);
    assert_eq!(code, 1);
    assert!(err.contains("No such container: nope"), "{err}");

    // Streaming into a pipe: one block a second; it ends when the reader goes.
    let mut child = h
        .cmd()
        .args(["stats", "--format", "{{.Name}} {{.PIDs}}", "w1"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut got = String::new();
    let deadline = Instant::now() + Duration::from_secs(15);
    while got.matches("w1 2\n").count() < 2 && Instant::now() < deadline {
        let mut buf = [0u8; 256];
        let n = std::io::Read::read(&mut stdout, &mut buf).unwrap();
        got.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    assert!(got.matches("w1 2\n").count() >= 2, "{got:?}");
    drop(stdout);
    let deadline = Instant::now() + Duration::from_secs(5);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "stats did not end after its reader went away"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(0));
    h.out(&["rm", "-f", "w1", "idle"]);
}
