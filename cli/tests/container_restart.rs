//! `run --restart`: the monitor starts the container again with Docker's backoff, counts
//! RestartCount, gives up after `on-failure:N`, stops for good on `stop`/`kill`/`rm -f`, shows
//! "Restarting (N) … ago" while waiting; `--restart` with `--rm` is refused; a container whose
//! monitor died is started again by the next `ps`.
mod common;
use common::*;

use std::time::{Duration, Instant};

fn inspect(h: &Hoist, name: &str) -> serde_json::Value {
    let (_, out, _) = h.out(&["inspect", name]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap_or_default();
    v[0].clone()
}

/// Wait (up to `secs`) until `pred` holds for the container's inspect JSON; that JSON.
fn wait_for(
    h: &Hoist,
    name: &str,
    secs: u64,
    pred: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let v = inspect(h, name);
        if pred(&v) {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "{name}: condition not met in {secs}s: {v}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn on_failure_gives_up_after_n_restarts() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    h.detach(&[
        "--name",
        "flaky",
        "--restart",
        "on-failure:2",
        "busybox",
        "sh",
        "-c",
        "echo run; exit 3",
    ]);
    let v = wait_for(&h, "flaky", 30, |v| v["State"]["Status"] == "exited");
    assert_eq!(v["RestartCount"], 2, "{v}");
    assert_eq!(v["State"]["ExitCode"], 3, "{v}");
    assert_eq!(v["HostConfig"]["RestartPolicy"]["Name"], "on-failure");
    assert_eq!(v["HostConfig"]["RestartPolicy"]["MaximumRetryCount"], 2);
    // Three runs: the first and two restarts.
    let (_, logs, _) = h.out(&["logs", "flaky"]);
    assert_eq!(logs, "run\nrun\nrun\n");
    // Success is not a failure: no restart.
    h.detach(&[
        "--name",
        "fine",
        "--restart",
        "on-failure",
        "busybox",
        "true",
    ]);
    let v = wait_for(&h, "fine", 10, |v| v["State"]["Status"] == "exited");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(inspect(&h, "fine")["RestartCount"], 0, "{v}");
}

#[test]
fn always_restarts_until_stopped_and_ps_says_restarting() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    h.detach(&[
        "--name",
        "loop",
        "--restart",
        "always",
        "busybox",
        "sh",
        "-c",
        "exit 2",
    ]);
    // 100, 200, 400, 800 ms…: after a few restarts it waits long enough to be seen waiting.
    let v = wait_for(&h, "loop", 30, |v| {
        v["RestartCount"].as_u64().unwrap_or(0) >= 3 && v["State"]["Restarting"] == true
    });
    assert_eq!(v["State"]["Status"], "restarting", "{v}");
    assert_eq!(v["State"]["Running"], true, "{v}");
    let (_, ps, _) = h.out(&["ps"]);
    assert!(ps.contains("Restarting (2)") && ps.contains(" ago"), "{ps}");
    let (_, ps, _) = h.out(&[
        "ps",
        "--filter",
        "status=restarting",
        "--format",
        "{{.Names}} {{.State}}",
    ]);
    assert_eq!(ps.trim(), "loop restarting");
    // stop ends it for good, even while it waits to restart.
    let (code, _, err) = h.out(&["stop", "loop"]);
    assert_eq!(code, 0, "{err}");
    let v = wait_for(&h, "loop", 10, |v| v["State"]["Status"] == "exited");
    let count = v["RestartCount"].as_u64().unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let v = inspect(&h, "loop");
    assert_eq!(v["State"]["Status"], "exited", "{v}");
    assert_eq!(
        v["RestartCount"].as_u64().unwrap(),
        count,
        "no restart after stop: {v}"
    );
}

#[test]
fn stop_kill_and_rm_f_end_a_running_always_container() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    for (name, command) in [("s", "stop"), ("k", "kill")] {
        h.detach(&[
            "--name",
            name,
            "--restart",
            "always",
            "busybox",
            "sleep",
            "100",
        ]);
        let (code, _, err) = h.out(&[command, name]);
        assert_eq!(code, 0, "{command}: {err}");
        wait_for(&h, name, 15, |v| v["State"]["Status"] == "exited");
        std::thread::sleep(Duration::from_millis(500));
        let v = inspect(&h, name);
        assert_eq!(v["State"]["Status"], "exited", "{command}: {v}");
        assert_eq!(v["RestartCount"], 0, "{command}: {v}");
    }
    h.detach(&[
        "--name",
        "r",
        "--restart",
        "unless-stopped",
        "busybox",
        "sleep",
        "100",
    ]);
    let (code, _, err) = h.out(&["rm", "-f", "r"]);
    assert_eq!(code, 0, "{err}");
    std::thread::sleep(Duration::from_millis(500));
    let (_, ps, _) = h.out(&["ps", "-a", "--format", "{{.Names}}"]);
    assert!(!ps.lines().any(|l| l == "r"), "{ps}");
}

#[test]
fn restart_with_rm_is_refused_as_docker() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let (code, _, err) = h.out(&["run", "--rm", "--restart", "always", "busybox", "true"]);
    assert_eq!(code, 125);
    assert!(
        err.contains("Conflicting options: --restart and --rm"),
        "{err}"
    );
    let (code, _, err) = h.out(&["run", "--restart", "sometimes", "busybox", "true"]);
    assert_eq!(code, 125);
    assert!(err.contains("invalid restart policy"), "{err}");
    assert!(h.containers().is_empty(), "{:?}", h.containers());
}

#[test]
fn foreground_run_returns_at_the_first_exit_and_restarts_go_on() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let (code, out, err) = h.out(&[
        "run",
        "--name",
        "fg",
        "--restart",
        "always",
        "busybox",
        "sh",
        "-c",
        "echo hi; exit 4",
    ]);
    assert_eq!((code, out.as_str()), (4, "hi\n"), "{err}");
    let v = wait_for(&h, "fg", 30, |v| {
        v["RestartCount"].as_u64().unwrap_or(0) >= 2
    });
    assert_ne!(v["State"]["Status"], "exited", "{v}");
    let (_, logs, _) = h.out(&["logs", "fg"]);
    assert!(
        logs.starts_with("hi\n"),
        "the restarts' output goes to the log: {logs}"
    );
    assert_eq!(h.out(&["stop", "fg"]).0, 0);
    wait_for(&h, "fg", 10, |v| v["State"]["Status"] == "exited");
}

#[test]
fn a_container_whose_monitor_died_is_started_again_by_ps() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let id = h.detach(&[
        "--name",
        "phoenix",
        "--restart",
        "always",
        "busybox",
        "sleep",
        "100",
    ]);
    let plain = h.detach(&["--name", "plain", "busybox", "sleep", "100"]);
    let monitor_of = |id: &str| -> i32 {
        let state =
            std::fs::read_to_string(h.root.path().join("containers").join(id).join("state.json"))
                .unwrap();
        let v: serde_json::Value = serde_json::from_str(&state).unwrap();
        v["monitor_pid"].as_i64().unwrap() as i32
    };
    let first_pid = inspect(&h, "phoenix")["State"]["Pid"].as_i64().unwrap();
    // As a reboot would: the monitors die (their containers with them).
    for id in [&id, &plain] {
        unsafe { libc::kill(monitor_of(id), libc::SIGKILL) };
    }
    // The next `ps` notices (once the dead monitor is reaped) and starts it again.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (_, ps, _) = h.out(&["ps", "--format", "{{.Names}}"]);
        let v = inspect(&h, "phoenix");
        let pid = v["State"]["Pid"].as_i64().unwrap_or(0);
        if ps.lines().any(|l| l == "phoenix") && pid != 0 && pid != first_pid {
            break;
        }
        assert!(Instant::now() < deadline, "not started again: {ps} {v}");
        std::thread::sleep(Duration::from_millis(100));
    }
    let v = wait_for(&h, "plain", 20, |v| v["State"]["Status"] == "exited");
    assert_eq!(v["State"]["ExitCode"], 137, "{v}");
    assert_eq!(h.out(&["rm", "-f", "phoenix", "plain"]).0, 0);
}
