//! cgroup limits (`--memory`, `--pids-limit`, `--cpus`) and `--init`.
mod common;
use common::*;

/// The file `name` of container `id`'s cgroup in the hierarchy that has it (v1 or v2).
fn cgroup_file(id: &str, name: &str) -> Option<String> {
    let cgroup = format!("hoist/hoist-run-{}", &id[..16]);
    let candidates = [
        format!("/sys/fs/cgroup/{cgroup}/{name}"),
        format!("/sys/fs/cgroup/cpu/{cgroup}/{name}"),
        format!("/sys/fs/cgroup/memory/{cgroup}/{name}"),
        format!("/sys/fs/cgroup/pids/{cgroup}/{name}"),
    ];
    candidates
        .iter()
        .find_map(|p| std::fs::read_to_string(p).ok())
}

#[test]
fn memory_limit_oom_kills() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    // 64 MiB of zeros through `tail` (which keeps its whole input line) in a 16 MiB container.
    let (code, _, err) = h.out(&[
        "run",
        "--rm",
        "-m",
        "16m",
        "busybox",
        "sh",
        "-c",
        "head -c 67108864 /dev/zero | tail >/dev/null",
    ]);
    assert_eq!(code, 137, "the OOM killer ends pid 1's pipeline: {err}");
    // `inspect` says so, as Docker's State.OOMKilled; a container that only exits non-zero was not.
    let (code, _, err) = h.out(&[
        "run",
        "--name",
        "oom",
        "-m",
        "16m",
        "busybox",
        "sh",
        "-c",
        "head -c 67108864 /dev/zero | tail >/dev/null",
    ]);
    assert_eq!(code, 137, "{err}");
    let (code, _, err) = h.out(&["run", "--name", "fine", "busybox", "sh", "-c", "exit 137"]);
    assert_eq!(code, 137, "{err}");
    let state = |name: &str| {
        let (code, out, err) = h.out(&["inspect", name]);
        assert_eq!(code, 0, "{err}");
        let json: serde_json::Value = serde_json::from_str(&out).unwrap();
        json[0]["State"].clone()
    };
    assert_eq!(state("oom")["OOMKilled"], true, "{}", state("oom"));
    assert_eq!(state("fine")["OOMKilled"], false, "{}", state("fine"));
    assert!(h.run(&["rm", "oom", "fine"]).status.success());
    let (code, _, err) = h.out(&[
        "run",
        "--rm",
        "--memory",
        "64m",
        "busybox",
        "sh",
        "-c",
        "head -c 4194304 /dev/zero | tail >/dev/null",
    ]);
    assert_eq!(code, 0, "within the limit: {err}");
    let (code, _, err) = h.out(&["run", "--rm", "-m", "lots", "busybox", "true"]);
    assert_eq!(code, 125, "{err}");
}

#[test]
fn pids_limit_stops_forks() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let script = "for i in 1 2 3 4 5 6 7 8; do sleep 2 & done; echo all started";
    let (code, out, err) = h.out(&[
        "run",
        "--rm",
        "--pids-limit",
        "5",
        "busybox",
        "sh",
        "-c",
        script,
    ]);
    assert_ne!(code, 0, "{out}");
    assert!(
        err.contains("can't fork") || err.contains("Resource temporarily unavailable"),
        "{err}"
    );
    let (code, out, err) = h.out(&[
        "run",
        "--rm",
        "--pids-limit",
        "50",
        "busybox",
        "sh",
        "-c",
        script,
    ]);
    assert_eq!((code, out.as_str()), (0, "all started\n"), "{err}");
}

#[test]
fn cgroup_values_while_running() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let id = h.detach(&[
        "--cpus",
        "0.5",
        "-m",
        "32m",
        "--pids-limit",
        "20",
        "busybox",
        "sleep",
        "30",
    ]);
    let quota = cgroup_file(&id, "cpu.cfs_quota_us").or_else(|| cgroup_file(&id, "cpu.max"));
    let quota = quota.expect("a cpu cgroup for the container");
    assert!(quota.starts_with("50000"), "{quota}");
    let memory = cgroup_file(&id, "memory.limit_in_bytes")
        .or_else(|| cgroup_file(&id, "memory.max"))
        .unwrap();
    assert_eq!(memory.trim(), "33554432");
    let pids = cgroup_file(&id, "pids.max").unwrap();
    assert_eq!(pids.trim(), "20");
    assert_eq!(h.out(&["rm", "-f", &id]).0, 0);
    assert_eq!(leftovers_after(&id, 5), Vec::<String>::new());
}

#[test]
fn init_reaps_zombies_and_forwards_signals() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    // Orphans reparented to pid 1 are reaped by --init: no zombie is left.
    let out =
        h.sh_init("sh -c 'sleep 0.1 & exit 0'; sleep 0.4; ps -o stat,comm | grep -c '^Z' || true");
    assert_eq!(out.trim(), "0");
    let out = h.sh_init("cat /proc/1/status | grep -c PPid; echo $$");
    assert_ne!(
        out.lines().nth(1),
        Some("1"),
        "the command is not pid 1 with --init: {out}"
    );
    // A signal to the container reaches the command through init.
    let id = h.detach(&[
        "--init",
        "busybox",
        "sh",
        "-c",
        "trap 'exit 21' TERM; while true; do sleep 0.05; done",
    ]);
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(h.out(&["stop", &id]).0, 0);
    assert_eq!(h.wait_exited(&id, 5), 21);
    assert_eq!(h.out(&["rm", &id]).0, 0);
}

trait ShInit {
    fn sh_init(&self, script: &str) -> String;
}

impl ShInit for Hoist {
    fn sh_init(&self, script: &str) -> String {
        let (code, out, err) = self.out(&["run", "--rm", "--init", "busybox", "sh", "-c", script]);
        assert_eq!(code, 0, "{script}: {err}");
        out
    }
}
