//! Docker's default isolation: own pid/mount/uts/ipc/net namespaces, no host processes or mounts
//! visible, default capabilities, masked /proc paths, the usual /dev nodes; and the flags that
//! loosen or tighten it (--read-only, --cap-add/--cap-drop, --privileged, --network).
mod common;
use common::*;

#[test]
fn host_processes_and_mounts_are_invisible() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let out = h.sh("busybox", "echo $$; ps -o comm");
    // sh execs its last command: ps is pid 1 and alone in the container's pid namespace.
    assert_eq!(out, "1\nCOMMAND\nps\n");
    let mounts = h.sh("busybox", "cat /proc/mounts");
    let host_root = h.root.path().to_string_lossy().to_string();
    // The root overlay's options name its host dirs (as docker's do); nothing else may.
    let others: Vec<&str> = mounts
        .lines()
        .filter(|l| !l.starts_with("overlay / "))
        .collect();
    assert!(
        !others
            .iter()
            .any(|l| l.contains(&host_root) || l.contains("/work")),
        "{mounts}"
    );
    for line in mounts.lines() {
        let target = line.split(' ').nth(1).unwrap();
        assert!(
            ["/", "/proc", "/dev", "/sys", "/etc"]
                .iter()
                .any(|p| target == *p || target.starts_with(&format!("{p}/"))),
            "unexpected mount {line}"
        );
    }
}

#[test]
fn devices_capabilities_and_proc_are_dockers() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let devs = h.sh("busybox", "ls /dev | sort | tr '\\n' ' '");
    for d in [
        "null", "zero", "full", "random", "urandom", "tty", "pts", "shm",
    ] {
        assert!(devs.split(' ').any(|x| x == d), "/dev/{d} missing: {devs}");
    }
    for d in ["sda", "vda", "mem", "kmsg"] {
        assert!(!devs.split(' ').any(|x| x == d), "/dev/{d} visible: {devs}");
    }
    assert_eq!(
        h.sh("busybox", "grep CapEff /proc/self/status"),
        "CapEff:\t00000000a80425fb\n"
    );
    let (code, _, _) = h.out(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "echo 1 > /proc/sys/kernel/ns_last_pid",
    ]);
    assert_ne!(code, 0, "/proc/sys is read-only");
    let (code, _, _) = h.out(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "mkdir /m && mount -t tmpfs t /m",
    ]);
    assert_ne!(code, 0, "no CAP_SYS_ADMIN by default");
    let (code, out, err) = h.out(&[
        "run",
        "--rm",
        "--privileged",
        "busybox",
        "sh",
        "-c",
        "mkdir /m && mount -t tmpfs t /m && echo mounted",
    ]);
    assert_eq!((code, out.as_str()), (0, "mounted\n"), "{err}");
    let (code, out, _) = h.out(&[
        "run",
        "--rm",
        "--cap-drop",
        "ALL",
        "busybox",
        "grep",
        "CapEff",
        "/proc/self/status",
    ]);
    assert_eq!((code, out.as_str()), (0, "CapEff:\t0000000000000000\n"));
    let (code, out, _) = h.out(&[
        "run",
        "--rm",
        "--cap-drop",
        "CHOWN",
        "--cap-add",
        "NET_ADMIN",
        "busybox",
        "grep",
        "CapEff",
        "/proc/self/status",
    ]);
    assert_eq!((code, out.as_str()), (0, "CapEff:\t00000000a80435fa\n"));
    let (code, _, err) = h.out(&["run", "--rm", "--cap-add", "BOGUS", "busybox", "true"]);
    assert_eq!(code, 125);
    assert!(err.contains("BOGUS"), "{err}");
}

/// The devices cgroup is Docker's: any device node may be made (CAP_MKNOD), only the usual
/// ones opened; `--privileged` opens any. /dev/kmsg (1:11) is one that root can read here.
#[test]
fn only_dockers_devices_can_be_opened() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    if std::fs::File::open("/dev/kmsg").is_err() {
        return; // nothing to compare with: this host does not let even us read it
    }
    let script = "mknod /dev/k c 1 11 && dd if=/dev/k of=/dev/null bs=8192 count=1 2>&1; \
                  echo x > /dev/null && head -c 1 /dev/urandom | wc -c";
    let (code, out, err) = h.out(&["run", "--rm", "busybox", "sh", "-c", script]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("Operation not permitted"), "{out}");
    assert!(out.ends_with("1\n"), "the usual devices work: {out}");
    let (code, out, err) = h.out(&["run", "--rm", "--privileged", "busybox", "sh", "-c", script]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("records in"), "{out}");
}

#[test]
fn dockers_default_seccomp_profile() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let status = |flags: &[&str], user_ns: bool| {
        // unshare(CLONE_NEWUSER) needs no capability: only the seccomp profile refuses it.
        let script = "grep -E '^(Seccomp|CapPrm|CapBnd):' /proc/self/status | tr '\\t\\n' '= '; unshare -U true && echo userns";
        let mut args = vec!["run", "--rm"];
        args.extend_from_slice(flags);
        args.extend_from_slice(&["busybox", "sh", "-c", script]);
        let (code, out, err) = h.out(&args);
        assert_eq!(code, if user_ns { 0 } else { 1 }, "{flags:?}: {out}{err}");
        assert_eq!(out.ends_with("userns\n"), user_ns, "{flags:?}: {out}");
        if !user_ns {
            assert!(err.contains("Operation not permitted"), "{flags:?}: {err}");
        }
        out
    };
    // Filtered, and the CAP_SYS_ADMIN the init needed to load the filter is gone from every set.
    let out = status(&[], false);
    assert!(
        out.starts_with("CapPrm:=00000000a80425fb CapBnd:=00000000a80425fb Seccomp:=2 "),
        "{out}"
    );
    let out = status(&["-u", "nobody"], false);
    assert!(
        out.starts_with("CapPrm:=0000000000000000 CapBnd:=00000000a80425fb Seccomp:=2 "),
        "{out}"
    );
    let out = status(&["--cap-drop", "ALL"], false);
    assert!(
        out.starts_with("CapPrm:=0000000000000000 CapBnd:=0000000000000000 Seccomp:=2 "),
        "{out}"
    );
    // As docker: CAP_SYS_ADMIN brings its syscalls back; unconfined and --privileged load no filter.
    let out = status(&["--cap-add", "SYS_ADMIN"], true);
    assert!(out.contains("Seccomp:=2 "), "{out}");
    assert!(status(&["--security-opt", "seccomp=unconfined"], true).contains("Seccomp:=0 "));
    assert!(status(&["--security-opt", "seccomp:unconfined"], true).contains("Seccomp:=0 "));
    assert!(status(&["--privileged"], true).contains("Seccomp:=0 "));
    let (code, out, _) = h.out(&[
        "run",
        "--rm",
        "--security-opt",
        "no-new-privileges",
        "busybox",
        "grep",
        "NoNewPrivs",
        "/proc/self/status",
    ]);
    assert_eq!((code, out.as_str()), (0, "NoNewPrivs:\t1\n"));
    let (code, out, _) = h.out(&[
        "run",
        "--rm",
        "busybox",
        "grep",
        "NoNewPrivs",
        "/proc/self/status",
    ]);
    assert_eq!(
        (code, out.as_str()),
        (0, "NoNewPrivs:\t0\n"),
        "setuid programs work, as in docker"
    );
    for bad in ["seccomp=/etc/profile.json", "bogus"] {
        let (code, _, err) = h.out(&["run", "--rm", "--security-opt", bad, "busybox", "true"]);
        assert_eq!(code, 125, "{bad}: {err}");
        assert!(err.contains("security-opt"), "{err}");
    }
    // exec'd processes get the container's profile (and no-new-privileges setting) too.
    let id = h.detach(&["busybox", "sleep", "30"]);
    let (code, out, err) = h.out(&["exec", &id, "sh", "-c", "grep -E '^(Seccomp|NoNewPrivs|CapPrm):' /proc/self/status | tr '\\t\\n' '= '; unshare -U true"]);
    assert_eq!(code, 1, "{out}{err}");
    assert_eq!(out, "CapPrm:=00000000a80425fb NoNewPrivs:=0 Seccomp:=2 ");
    assert_eq!(h.out(&["rm", "-f", &id]).0, 0);
    let id = h.detach(&[
        "--security-opt",
        "seccomp=unconfined",
        "busybox",
        "sleep",
        "30",
    ]);
    let (code, _, err) = h.out(&["exec", &id, "unshare", "-U", "true"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(h.out(&["rm", "-f", &id]).0, 0);
}

#[test]
fn read_only_rootfs() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let (code, _, err) = h.out(&["run", "--rm", "--read-only", "busybox", "touch", "/x"]);
    assert_ne!(code, 0);
    assert!(err.contains("Read-only"), "{err}");
    let (code, out, err) = h.out(&[
        "run",
        "--rm",
        "--read-only",
        "--tmpfs",
        "/tmp",
        "busybox",
        "sh",
        "-c",
        "touch /tmp/x && echo ok",
    ]);
    assert_eq!((code, out.as_str()), (0, "ok\n"), "{err}");
}

#[test]
fn network_none_has_only_lo_and_host_shares() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let links = h.sh_with(&["--network", "none"], "ls /sys/class/net | tr '\\n' ' '");
    assert_eq!(links, "lo ");
    let host_links: Vec<String> = std::fs::read_dir("/sys/class/net")
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let links = h.sh_with(&["--network", "host"], "ls /sys/class/net");
    assert_eq!(links.lines().count(), host_links.len(), "{links}");
    // uts and ipc are the container's own.
    assert_ne!(
        h.sh_with(&[], "readlink /proc/self/ns/uts"),
        std::fs::read_link("/proc/self/ns/uts")
            .unwrap()
            .to_string_lossy()
            + "\n"
    );
    assert_ne!(
        h.sh_with(&[], "readlink /proc/self/ns/ipc"),
        std::fs::read_link("/proc/self/ns/ipc")
            .unwrap()
            .to_string_lossy()
            + "\n"
    );
}

trait ShWith {
    fn sh_with(&self, flags: &[&str], script: &str) -> String;
}

impl ShWith for Hoist {
    fn sh_with(&self, flags: &[&str], script: &str) -> String {
        let mut args = vec!["run", "--rm"];
        args.extend_from_slice(flags);
        args.extend_from_slice(&["busybox", "sh", "-c", script]);
        let (code, out, err) = self.out(&args);
        assert_eq!(code, 0, "{script}: {err}");
        out
    }
}
