//! `hoist run`'s namespace and sharing flags: `--pid`, `--ipc`, `--uts`, `--cgroupns`,
//! `--privileged`'s devices, `--device`, `--group-add`, `--volumes-from`; checked from /proc and
//! /dev inside the containers.
mod common;
use common::*;

fn ns_of(pid: &str, kind: &str) -> String {
    std::fs::read_link(format!("/proc/{pid}/ns/{kind}"))
        .map(|p| p.to_string_lossy().to_string())
        .unwrap_or_default()
}

#[test]
fn host_namespaces() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let (code, out, err) = h.out(&[
        "run",
        "--rm",
        "--pid",
        "host",
        "--ipc",
        "host",
        "--uts",
        "host",
        "busybox",
        "sh",
        "-c",
        "readlink /proc/self/ns/pid; readlink /proc/self/ns/ipc; hostname",
    ]);
    assert_eq!(code, 0, "{err}");
    let host_name = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        [
            ns_of("self", "pid").as_str(),
            ns_of("self", "ipc").as_str(),
            host_name.trim()
        ]
    );
    // The default: namespaces of its own.
    let (code, out, _) = h.out(&["run", "--rm", "busybox", "readlink", "/proc/self/ns/pid"]);
    assert_eq!(code, 0);
    assert_ne!(out.trim(), ns_of("self", "pid"));
    let (code, _, err) = h.out(&[
        "run",
        "--rm",
        "--uts",
        "host",
        "--hostname",
        "x",
        "busybox",
        "true",
    ]);
    assert_eq!(code, 125);
    assert!(
        err.contains("Conflicting options: hostname and the UTS mode"),
        "{err}"
    );
}

#[test]
fn joining_another_containers_ipc_and_pid() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    h.detach(&[
        "--name",
        "donor",
        "--ipc",
        "shareable",
        "busybox",
        "sleep",
        "60",
    ]);
    h.detach(&["--name", "private", "busybox", "sleep", "60"]);
    let (_, pid, _) = h.out(&["inspect", "-f", "{{.State.Pid}}", "donor"]);
    let pid = pid.trim().to_string();
    let (code, out, err) = h.out(&[
        "run",
        "--rm",
        "--ipc",
        "container:donor",
        "--pid",
        "container:donor",
        "busybox",
        "sh",
        "-c",
        "readlink /proc/self/ns/ipc; readlink /proc/self/ns/pid; ps -o args | grep -c '^sleep 60'",
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        [
            ns_of(&pid, "ipc").as_str(),
            ns_of(&pid, "pid").as_str(),
            "1"
        ]
    );
    let (code, _, err) = h.out(&[
        "run",
        "--rm",
        "--ipc",
        "container:private",
        "busybox",
        "true",
    ]);
    assert_eq!(code, 125);
    assert!(err.contains("non-shareable IPC"), "{err}");
    let (code, _, err) = h.out(&["run", "--rm", "--pid", "container:nope", "busybox", "true"]);
    assert_eq!(code, 125);
    assert!(err.contains("No such container: nope"), "{err}");
    assert!(h.run(&["rm", "-f", "donor", "private"]).status.success());
}

#[test]
fn cgroup_namespace() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let own = |args: &[&str]| {
        let mut all = vec!["run", "--rm"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["busybox", "cat", "/proc/self/cgroup"]);
        let (code, out, err) = h.out(&all);
        assert_eq!(code, 0, "{err}");
        out.lines()
            .find(|l| l.contains(":memory:") || l.starts_with("0::"))
            .unwrap_or_default()
            .to_string()
    };
    assert!(
        own(&["--cgroupns", "private"]).ends_with(":/"),
        "{}",
        own(&["--cgroupns", "private"])
    );
    assert!(own(&[]).contains("/hoist/"), "{}", own(&[]));
    assert!(own(&["--cgroupns", "host"]).contains("/hoist/"));
}

#[test]
fn devices_privileged_and_group_add() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let sh = |args: &[&str], script: &str| {
        let mut all = vec!["run", "--rm"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["busybox", "sh", "-c", script]);
        h.out(&all)
    };
    // --privileged: the host's devices, as Docker.
    let (code, out, err) = sh(&["--privileged"], "ls /dev");
    assert_eq!(code, 0, "{err}");
    for dev in ["loop0", "tty0", "kmsg"] {
        if std::path::Path::new("/dev").join(dev).exists() {
            assert!(out.lines().any(|l| l == dev), "{dev} missing: {out}");
        }
    }
    let (_, out, _) = sh(&[], "ls /dev");
    assert!(!out.lines().any(|l| l == "loop0"), "{out}");
    // --device HOST:CONTAINER:PERMS: the node, and the cgroup lets it be read with `r` only.
    if std::path::Path::new("/dev/loop7").exists() {
        let script = "ls -l /dev/xloop; head -c 1 /dev/xloop >/dev/null && echo read-ok";
        let (code, out, err) = sh(&["--device", "/dev/loop7:/dev/xloop:r"], script);
        assert_eq!(code, 0, "{err}");
        assert!(out.starts_with('b') && out.contains("7,   7"), "{out}");
        assert!(out.contains("read-ok"), "{out}");
        let (code, _, err) = sh(&["--device", "/dev/loop7:/dev/xloop:m"], script);
        assert_eq!(code, 1, "mknod only: {err}");
        assert!(err.contains("Operation not permitted"), "{err}");
    }
    let (code, _, err) = sh(&["--device", "/dev/nope"], "true");
    assert_eq!(code, 125);
    assert!(err.contains("/dev/nope"), "{err}");
    // --group-add: gids and names from the image's /etc/group.
    let (code, out, err) = sh(&["--group-add", "1234", "--group-add", "app"], "id -G");
    assert_eq!(code, 0, "{err}");
    let groups: Vec<&str> = out.split_whitespace().collect();
    assert!(
        groups.contains(&"1234") && groups.contains(&"1000"),
        "{out}"
    );
    let (code, _, err) = sh(&["--group-add", "nosuchgroup"], "true");
    assert_eq!(code, 125, "{err}");
}

#[test]
fn volumes_from_another_container() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let (code, _, err) = h.out(&[
        "run",
        "--name",
        "data",
        "-v",
        "shared:/data",
        "-v",
        "/data2",
        "busybox",
        "sh",
        "-c",
        "echo hi > /data/f; echo two > /data2/g",
    ]);
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = h.out(&[
        "run",
        "--rm",
        "--volumes-from",
        "data",
        "busybox",
        "sh",
        "-c",
        "cat /data/f /data2/g; echo more >> /data/f && echo written",
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "hi\ntwo\nwritten\n");
    let (code, out, err) = h.out(&[
        "run",
        "--rm",
        "--volumes-from",
        "data:ro",
        "busybox",
        "sh",
        "-c",
        "cat /data/f; echo x >> /data/f || echo refused",
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "hi\nmore\nrefused\n");
    // The donor's anonymous volume outlived the --rm containers that used it.
    let (code, out, _) = h.out(&[
        "run",
        "--rm",
        "--volumes-from",
        "data",
        "busybox",
        "cat",
        "/data2/g",
    ]);
    assert_eq!((code, out.as_str()), (0, "two\n"));
    let (code, _, err) = h.out(&["run", "--rm", "--volumes-from", "nope", "busybox", "true"]);
    assert_eq!(code, 125);
    assert!(err.contains("No such container: nope"), "{err}");
}

/// `--network container:NAME`: the other container's network stack (its loopback server answers on
/// 127.0.0.1); a container that is not running, and `-p` beside it, are Docker's errors.
#[test]
fn joining_another_containers_network() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let server = h.detach(&[
        "--name",
        "netsrv",
        "--network",
        "none",
        "busybox",
        "sh",
        "-c",
        "while true; do echo from-netsrv | nc -l -p 7000; done",
    ]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let (_, out, _) = h.out(&[
            "run",
            "--rm",
            "--network",
            "container:netsrv",
            "busybox",
            "sh",
            "-c",
            "nc 127.0.0.1 7000 </dev/null",
        ]);
        if out == "from-netsrv\n" {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no answer through the shared network: {out:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let (_, pid, _) = h.out(&["inspect", "-f", "{{.State.Pid}}", &server]);
    let joined = h.detach(&["--network", "container:netsrv", "busybox", "sleep", "30"]);
    let (_, joined_pid, _) = h.out(&["inspect", "-f", "{{.State.Pid}}", &joined]);
    assert_eq!(ns_of(pid.trim(), "net"), ns_of(joined_pid.trim(), "net"));
    assert_eq!(
        h.out(&["inspect", "-f", "{{.HostConfig.NetworkMode}}", &joined])
            .1,
        "container:netsrv\n"
    );
    let (code, _, err) = h.out(&[
        "run",
        "--rm",
        "--network",
        "container:nope",
        "busybox",
        "true",
    ]);
    assert_eq!(code, 125, "{err}");
    assert!(err.contains("No such container: nope"), "{err}");
    let (code, _, err) = h.out(&[
        "run",
        "--rm",
        "--network",
        "container:netsrv",
        "-p",
        "80",
        "busybox",
        "true",
    ]);
    assert_eq!(code, 125, "{err}");
    assert!(err.contains("conflicting options"), "{err}");
    h.out(&["rm", "-f", &server, &joined]);
}
