//! Detached containers: `run -d`, `ps`, `logs`, `stop`, `kill`, `rm`, `exec`, `inspect`; state that
//! outlives hoist; signals to pid 1; nothing left behind after they end.
mod common;
use common::*;

#[test]
fn detached_lifecycle_ps_logs_stop_rm() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let id = h.detach(&["--name", "web", "busybox", "sh", "-c", "echo started; echo to-stderr >&2; trap 'echo got TERM; exit 7' TERM; while true; do sleep 0.05; done"]);
    let (_, ps, _) = h.out(&["ps"]);
    assert!(
        ps.contains(&id[..12]) && ps.contains("web") && ps.contains("Up"),
        "{ps}"
    );
    let (_, q, _) = h.out(&["ps", "-q", "--no-trunc"]);
    assert_eq!(q.trim(), id);
    std::thread::sleep(std::time::Duration::from_millis(300));
    // As docker logs: the container's stderr to hoist's stderr.
    let (_, logs, logs_err) = h.out(&["logs", "web"]);
    assert!(
        logs.contains("started") && logs_err.contains("to-stderr"),
        "{logs} / {logs_err}"
    );
    // exec joins the container: same hostname, sees its pid 1, gets 127 for a missing command.
    let (code, out, err) = h.out(&[
        "exec",
        "web",
        "sh",
        "-c",
        "hostname; cat /proc/1/cmdline | tr '\\0' ' '",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with(&id[..12]) && out.contains("trap"), "{out}");
    let (code, out, _) = h.out(&[
        "exec",
        "-e",
        "X=1",
        "-w",
        "/tmp",
        "-u",
        "nobody",
        "web",
        "sh",
        "-c",
        "echo $X; pwd; id -un; exit 3",
    ]);
    assert_eq!((code, out.as_str()), (3, "1\n/tmp\nnobody\n"));
    let (code, _, err) = h.out(&["exec", "web", "no-such-command"]);
    assert_eq!(code, 127, "{err}");
    let (code, out, err) = h.out(&["inspect", "web"]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v[0]["Id"], id.as_str());
    assert_eq!(v[0]["State"]["Running"], true);
    assert!(v[0]["State"]["Pid"].as_i64().unwrap() > 1);
    // rm refuses a running container.
    let (code, _, err) = h.out(&["rm", "web"]);
    assert_ne!(code, 0);
    assert!(err.contains("running"), "{err}");
    // stop: the trap runs, the exit code is recorded.
    let (code, out, err) = h.out(&["stop", "web"]);
    assert_eq!((code, out.trim()), (0, "web"), "{err}");
    assert_eq!(h.wait_exited("web", 5), 7);
    let (_, logs, _) = h.out(&["logs", "web"]);
    assert!(logs.contains("got TERM"), "{logs}");
    let (_, ps, _) = h.out(&["ps"]);
    assert!(!ps.contains("web"), "{ps}");
    let (_, ps, _) = h.out(&["ps", "-a"]);
    assert!(ps.contains("Exited (7)"), "{ps}");
    assert_eq!(leftovers_after(&id, 5), Vec::<String>::new());
    assert_eq!(h.out(&["rm", "web"]).0, 0);
    assert!(h.containers().is_empty());
    let (code, _, err) = h.out(&["logs", "web"]);
    assert_ne!(code, 0);
    assert!(err.contains("No such container"), "{err}");
}

#[test]
fn signals_reach_pid_1_and_kill_and_stop_timeout() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    h.detach(&[
        "--name",
        "sig",
        "busybox",
        "sh",
        "-c",
        "trap 'echo usr1' USR1; trap 'echo hup' HUP; echo ready; while true; do sleep 0.05; done",
    ]);
    wait_for_log(&h, "sig", "ready");
    assert_eq!(h.out(&["kill", "-s", "USR1", "sig"]).0, 0);
    assert_eq!(h.out(&["kill", "--signal", "SIGHUP", "sig"]).0, 0);
    wait_for_log(&h, "sig", "usr1");
    wait_for_log(&h, "sig", "hup");
    assert_eq!(h.out(&["kill", "sig"]).0, 0);
    assert_eq!(h.wait_exited("sig", 5), 137);
    let (code, _, err) = h.out(&["kill", "sig"]);
    assert_ne!(code, 0);
    assert!(err.contains("not running"), "{err}");

    // pid 1 without a TERM handler ignores TERM: stop falls back to SIGKILL after --stop-timeout.
    let id = h.detach(&[
        "--name",
        "stubborn",
        "--stop-timeout",
        "1",
        "busybox",
        "sleep",
        "60",
    ]);
    let started = std::time::Instant::now();
    assert_eq!(h.out(&["stop", "stubborn"]).0, 0);
    let took = started.elapsed();
    assert!(
        took >= std::time::Duration::from_millis(900) && took < std::time::Duration::from_secs(8),
        "{took:?}"
    );
    assert_eq!(h.wait_exited("stubborn", 5), 137);
    assert_eq!(leftovers_after(&id, 5), Vec::<String>::new());

    // --stop-signal replaces SIGTERM.
    h.detach(&[
        "--name",
        "custom",
        "--stop-signal",
        "SIGUSR2",
        "busybox",
        "sh",
        "-c",
        "trap 'exit 12' USR2; echo ready; while true; do sleep 0.05; done",
    ]);
    wait_for_log(&h, "custom", "ready");
    assert_eq!(h.out(&["stop", "-t", "5", "custom"]).0, 0);
    assert_eq!(h.wait_exited("custom", 5), 12);
    assert_eq!(h.out(&["rm", "sig", "stubborn", "custom"]).0, 0);
}

#[test]
fn rm_force_and_auto_remove() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let id = h.detach(&["--name", "doomed", "busybox", "sleep", "60"]);
    let (code, _, err) = h.out(&["rm", "-f", "doomed"]);
    assert_eq!(code, 0, "{err}");
    assert!(h.containers().is_empty());
    assert_eq!(leftovers_after(&id, 5), Vec::<String>::new());
    // --rm with -d: gone once it exits.
    let id = h.detach(&["--rm", "busybox", "sh", "-c", "sleep 0.2"]);
    h.wait_no_containers(10);
    assert_eq!(leftovers_after(&id, 5), Vec::<String>::new());
    assert!(h.leftover_mounts().is_empty(), "{:?}", h.leftover_mounts());
}

#[test]
fn a_killed_monitor_shows_as_exited_and_leaves_nothing() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let id = h.detach(&["--name", "orphan", "busybox", "sleep", "60"]);
    // The monitor is the process whose command line names the container's directory.
    let monitor = std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok())
        .find(|p| {
            let cmdline = std::fs::read(p.path().join("cmdline")).unwrap_or_default();
            let text = String::from_utf8_lossy(&cmdline);
            text.contains("__hoist-monitor") && text.contains(&id)
        })
        .and_then(|p| p.file_name().to_string_lossy().parse::<i32>().ok())
        .expect("the container's monitor");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(monitor),
        nix::sys::signal::SIGKILL,
    )
    .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while std::path::Path::new(&format!("/proc/{monitor}")).exists() {
        assert!(std::time::Instant::now() < deadline);
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let (_, ps, _) = h.out(&["ps", "-a"]);
    assert!(ps.contains("orphan") && ps.contains("Exited"), "{ps}");
    assert_eq!(leftovers_after(&id, 5), Vec::<String>::new());
    assert_eq!(h.out(&["rm", "orphan"]).0, 0);
    assert!(h.leftover_mounts().is_empty(), "{:?}", h.leftover_mounts());
}

#[test]
fn detached_start_failures_have_dockers_codes() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let (code, out, err) = h.out(&["run", "-d", "--rm", "busybox", "no-such-command"]);
    assert_eq!(code, 127, "{out}{err}");
    assert!(err.contains("not found"), "{err}");
    assert!(out.is_empty(), "{out}");
    assert!(h.containers().is_empty(), "{:?}", h.containers());
    let (code, _, err) = h.out(&["run", "-d", "busybox", "/etc/passwd"]);
    assert_eq!(code, 126, "{err}");
    let (_, ps, _) = h.out(&["ps", "-a"]);
    assert!(ps.contains("Exited (126)"), "{ps}");
}

#[test]
fn inspect_an_image_and_missing_names() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let (code, out, err) = h.out(&["inspect", "busybox"]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(v[0]["Id"].as_str().unwrap().starts_with("sha256:"), "{out}");
    assert!(v[0]["RootFS"]["Layers"].is_array(), "{out}");
    assert_eq!(v[0]["RepoTags"][0], "busybox:latest", "{out}");
    assert!(v[0]["Config"].is_object(), "{out}");
    let (code, _, err) = h.out(&["inspect", "nothing-here"]);
    assert_eq!(code, 1);
    assert!(err.contains("No such object"), "{err}");
}

/// Generated names take no lock file, yet stay unique: `--name` with a running container's
/// generated name is refused, as Docker refuses it.
#[test]
fn a_generated_name_cannot_be_taken_by_name() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let id = h.detach(&["busybox", "sleep", "30"]);
    let (_, out, _) = h.out(&["inspect", &id]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let name = v[0]["Name"]
        .as_str()
        .unwrap()
        .trim_start_matches('/')
        .to_string();
    assert!(!h.root.path().join("containers/.names").join(&name).exists());
    let (code, _, err) = h.out(&["run", "--rm", "--name", &name, "busybox", "true"]);
    assert_eq!(code, 125, "{err}");
    assert!(err.contains("already in use"), "{err}");
    let (_, ps, _) = h.out(&["ps", "-a", "-q", "--no-trunc"]);
    assert_eq!(ps.trim(), id, "the refused container left nothing: {ps}");
    assert_eq!(h.out(&["rm", "-f", &name]).0, 0);
    // Now the name is free.
    let (code, _, err) = h.out(&["run", "--rm", "--name", &name, "busybox", "true"]);
    assert_eq!(code, 0, "{err}");
}

/// Runtime state (mount point, libcontainer's files, a `--rm` container's record) lives in the
/// run root, on a tmpfs where there is one; what must outlive a reboot stays in the state dir.
#[test]
fn runtime_state_is_in_the_run_root_and_records_of_kept_containers_on_disk() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let disk = h.root.path().join("containers");
    let run = h.run_root();
    let separate = run != disk;
    let rm_id = h.detach(&["--rm", "busybox", "sleep", "30"]);
    let kept_id = h.detach(&["--name", "kept", "busybox", "sleep", "30"]);
    if separate {
        // The --rm one: record in the run root, only upper and work on disk.
        assert!(run.join(&rm_id).join("container.json").is_file());
        assert!(!disk.join(&rm_id).join("container.json").exists());
        assert!(disk.join(&rm_id).join("upper").is_dir());
        // The kept one: record on disk, mount point in the run root.
        assert!(disk.join(&kept_id).join("container.json").is_file());
        assert!(run.join(&kept_id).join("merged").is_dir());
    }
    let (_, ps, _) = h.out(&["ps", "-q", "--no-trunc"]);
    assert!(ps.contains(&rm_id) && ps.contains(&kept_id), "{ps}");
    let (code, _, err) = h.out(&["rm", "-f", &rm_id]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = h.out(&["stop", "-t", "1", "kept"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        h.containers().iter().filter(|c| c.contains(&rm_id)).count(),
        0
    );
    // Their writable layers went to the trash, which a reaper of their own empties.
    let trash = disk.join(".trash");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::fs::read_dir(&trash).is_ok_and(|mut d| d.next().is_some()) {
        assert!(
            std::time::Instant::now() < deadline,
            "the trash is not emptied"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    if separate {
        // As after a reboot: the run root is gone, the exited container is still known.
        std::fs::remove_dir_all(&run).unwrap();
    }
    let (_, ps, _) = h.out(&["ps", "-a"]);
    assert!(ps.contains(&kept_id[..12]) && ps.contains("Exited"), "{ps}");
    let (code, _, err) = h.out(&["rm", "kept"]);
    assert_eq!(code, 0, "{err}");
    assert!(h.containers().is_empty(), "{:?}", h.containers());
    assert!(
        !run.exists() || !separate,
        "the run root is removed with its last container"
    );
}

fn wait_for_log(h: &Hoist, name: &str, text: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let (_, logs, _) = h.out(&["logs", name]);
        if logs.contains(text) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{text:?} never appeared in the log: {logs}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
