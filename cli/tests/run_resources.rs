//! `hoist run`'s resource flags reach the kernel: `--cpu-shares`, `--cpuset-cpus`, `--memory-swap`,
//! `--memory-reservation`, `--oom-kill-disable`, `--device-read-bps`/`--device-write-bps` (read
//! back from the container's cgroup files), `--ulimit`, `--shm-size`, `--sysctl` (read inside the
//! container), and Docker's refusals.
mod common;
use common::*;

/// The file `file` of container `id`'s cgroup in v1 hierarchy `controller`, or in the v2 tree.
fn cgroup_file(id: &str, controller: &str, file: &str) -> Option<String> {
    let cgroup = format!("hoist/hoist-run-{}", &id[..16]);
    [
        format!("/sys/fs/cgroup/{controller}/{cgroup}/{file}"),
        format!("/sys/fs/cgroup/{cgroup}/{file}"),
    ]
    .iter()
    .find_map(|p| std::fs::read_to_string(p).ok())
}

/// The first block device of the host (`/dev/vda` here), with its `MAJOR:MINOR`.
fn a_block_device() -> Option<(String, String)> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let mut entries: Vec<_> = std::fs::read_dir("/dev").ok()?.flatten().collect();
    entries.sort_by_key(|e| e.file_name());
    entries.into_iter().find_map(|e| {
        let meta = e.metadata().ok()?;
        let name = e.file_name().to_string_lossy().to_string();
        (meta.file_type().is_block_device() && !name.starts_with("loop")).then(|| {
            let rdev = meta.rdev();
            (
                format!("/dev/{name}"),
                format!("{}:{}", libc::major(rdev), libc::minor(rdev)),
            )
        })
    })
}

#[test]
fn cgroup_limits_reach_the_cgroup_files() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let Some((disk, numbers)) = a_block_device() else {
        eprintln!("no block device on this host: skipped");
        return;
    };
    let read_bps = format!("{disk}:1mb");
    let write_bps = format!("{disk}:2mb");
    let id = h.detach(&[
        "--cpu-shares",
        "512",
        "--cpuset-cpus",
        "0",
        "-m",
        "64m",
        "--memory-swap",
        "-1",
        "--memory-reservation",
        "32m",
        "--oom-kill-disable",
        "--device-read-bps",
        &read_bps,
        "--device-write-bps",
        &write_bps,
        "busybox",
        "sleep",
        "30",
    ]);
    let file = |c: &str, f: &str| cgroup_file(&id, c, f).unwrap_or_default();
    if std::path::Path::new("/sys/fs/cgroup/memory/memory.limit_in_bytes").exists() {
        assert_eq!(file("cpu", "cpu.shares").trim(), "512");
        assert_eq!(file("cpuset", "cpuset.cpus").trim(), "0");
        assert_eq!(file("memory", "memory.limit_in_bytes").trim(), "67108864");
        assert_eq!(
            file("memory", "memory.soft_limit_in_bytes").trim(),
            "33554432"
        );
        let unlimited: u64 = file("memory", "memory.memsw.limit_in_bytes")
            .trim()
            .parse()
            .unwrap_or(0);
        assert!(unlimited > 1 << 60, "--memory-swap -1: {unlimited}");
        assert!(
            file("memory", "memory.oom_control").contains("oom_kill_disable 1"),
            "{}",
            file("memory", "memory.oom_control")
        );
        assert_eq!(
            file("blkio", "blkio.throttle.read_bps_device").trim(),
            format!("{numbers} 1048576")
        );
        assert_eq!(
            file("blkio", "blkio.throttle.write_bps_device").trim(),
            format!("{numbers} 2097152")
        );
    }
    assert!(h.run(&["rm", "-f", &id]).status.success());

    // Without the flags, the defaults: 1024 shares; `-m` alone allows as much swap again
    // (Docker's memory + swap = twice the limit), where swap is accounted.
    let id = h.detach(&["-m", "64m", "busybox", "sleep", "30"]);
    if let Some(memsw) = cgroup_file(&id, "memory", "memory.memsw.limit_in_bytes") {
        assert_eq!(memsw.trim(), "134217728", "memory + swap");
    } else if let Some(swap) = cgroup_file(&id, "memory", "memory.swap.max") {
        // v2 counts the swap alone.
        assert_eq!(swap.trim(), "67108864", "swap");
    }
    let (_, swap, _) = h.out(&["inspect", "-f", "{{.HostConfig.MemorySwap}}", &id]);
    if crate::swap_is_accounted() {
        assert_eq!(swap.trim(), "134217728");
    }
    if std::path::Path::new("/sys/fs/cgroup/cpu/cpu.shares").exists() {
        assert_eq!(
            cgroup_file(&id, "cpu", "cpu.shares").unwrap().trim(),
            "1024"
        );
        assert!(cgroup_file(&id, "memory", "memory.oom_control")
            .unwrap()
            .contains("oom_kill_disable 0"));
    }
    assert!(h.run(&["rm", "-f", &id]).status.success());
}

#[test]
fn ulimit_shm_size_and_sysctl_inside_the_container() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let (code, out, err) = h.out(&[
        "run",
        "--rm",
        "--ulimit",
        "nofile=1024:2048",
        "--shm-size",
        "128m",
        "busybox",
        "sh",
        "-c",
        "ulimit -n; ulimit -Hn; df -k /dev/shm | tail -1",
    ]);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(&lines[..2], ["1024", "2048"], "{out}");
    assert!(lines[2].contains(" 131072 "), "a 128 MiB /dev/shm: {out}");

    let (code, out, err) = h.out(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--sysctl",
        "net.ipv4.ip_forward=1",
        "busybox",
        "cat",
        "/proc/sys/net/ipv4/ip_forward",
    ]);
    assert_eq!((code, out.trim()), (0, "1"), "{err}");
}

#[test]
fn docker_refusals() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let refused = |args: &[&str], message: &str| {
        let mut all = vec!["run", "--rm"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["busybox", "true"]);
        let (code, _, err) = h.out(&all);
        assert_eq!(code, 125, "{args:?}: {err}");
        assert!(err.contains(message), "{args:?}: {err}");
    };
    refused(
        &["--memory-swap", "64m"],
        "You should always set the Memory limit when using Memoryswap limit",
    );
    refused(
        &["-m", "64m", "--memory-swap", "32m"],
        "Minimum memoryswap limit should be larger than memory limit",
    );
    refused(
        &["-m", "16m", "--memory-reservation", "32m"],
        "Minimum memory limit can not be less than memory reservation limit",
    );
    refused(
        &["--sysctl", "vm.swappiness=1"],
        "sysctl 'vm.swappiness=1' is not allowed",
    );
    refused(
        &["--sysctl", "net.ipv4.ip_forward=1", "--network", "host"],
        "not allowed in host network namespace",
    );
    refused(
        &["--cpuset-cpus", "4095"],
        "Requested CPUs are not available",
    );
    refused(&["--ulimit", "nofile=3:2"], "soft limit must be less");
    refused(
        &["--blkio-weight", "5"],
        "Range of blkio weight is from 10 to 1000",
    );
    // This machine's blkio hierarchy has no weight file: said, never ignored.
    if !std::path::Path::new("/sys/fs/cgroup/blkio/blkio.weight").exists()
        && !std::path::Path::new("/sys/fs/cgroup/blkio/blkio.bfq.weight").exists()
        && std::path::Path::new("/sys/fs/cgroup/blkio").exists()
    {
        refused(&["--blkio-weight", "300"], "cannot be applied");
    }
    assert!(h.containers().is_empty(), "{:?}", h.containers());
}

/// Whether the host accounts swap (v1 with `memory.memsw.*`, or v2).
fn swap_is_accounted() -> bool {
    std::path::Path::new("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes").exists()
        || std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists()
}
