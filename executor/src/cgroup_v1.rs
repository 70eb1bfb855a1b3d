//! A container's cgroups on a cgroup v1 (or hybrid) host, made and joined by hoist instead of
//! libcontainer — the same cgroups, without the wait.
//!
//! libcontainer moves a container into its cgroups by writing its intermediate process's pid to
//! `cgroup.procs` in every v1 hierarchy. For that the kernel takes `cgroup_threadgroup_rwsem` for
//! writing, and the first writer after a quiet spell waits for an RCU grace period: 5–15 ms on
//! these machines, a third of `hoist run --rm busybox true`. A thread that moves only itself,
//! by writing `0` to a hierarchy's `tasks` file, does not take that lock (kernel/cgroup
//! `cgroup_procs_write_start`: "If we migrate a single thread, we don't care about threadgroup
//! stability"), and a container's init is a single thread. So:
//!
//! 1. [`ContainerCgroups::create`] makes `/hoist/<id>` in every v1 hierarchy libcontainer would
//!    use (the path libcontainer gives it, so `hoist exec` — libcontainer's tenant, which joins
//!    the usual way —, cleanup and the tests see no difference), applies the limits through
//!    libcgroups as libcontainer would, and opens each `tasks` file.
//! 2. libcontainer is kept from moving anybody itself: it runs in a mount namespace of ours in
//!    which /sys/fs/cgroup is an empty tmpfs ([`HiddenHierarchies`]), so its cgroup manager
//!    finds no hierarchy to write to, and the spec it gets has no resources to apply.
//! 3. The container's init writes `0` to every `tasks` file
//!    ([`crate::container::Workload`]) before it reports ready, so before the command runs, as
//!    with libcontainer; its children are born in the cgroups.
//!
//! Anything unexpected (a pure cgroup v2 host, no permission, a caller with several threads,
//! which cannot have a mount namespace of its own) leaves it all to libcontainer, as before.

use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::path::{Path, PathBuf};

/// The v1 controllers libcontainer's cgroup manager knows (libcgroups' `CONTROLLERS`); a
/// hierarchy with none of them (`name=systemd`) is not the container's business.
const CONTROLLERS: [&str; 12] = [
    "cpu",
    "cpuacct",
    "cpuset",
    "devices",
    "hugetlb",
    "memory",
    "pids",
    "perf_event",
    "blkio",
    "net_prio",
    "net_cls",
    "freezer",
];

/// One line of /proc/self/mountinfo: (mount point, fs type, super options).
fn mounts(mountinfo: &str) -> impl Iterator<Item = (&str, &str, &str)> {
    mountinfo.lines().filter_map(|line| {
        // "ID PARENT MAJ:MIN ROOT MOUNT_POINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPER_OPTIONS"
        let (left, right) = line.split_once(" - ")?;
        let mount_point = left.split(' ').nth(4)?;
        let mut right = right.split(' ');
        let fs_type = right.next()?;
        let super_options = right.nth(1).unwrap_or("");
        Some((mount_point, fs_type, super_options))
    })
}

/// The mount points of the v1 hierarchies that have one of [`CONTROLLERS`], once each (a
/// hierarchy can carry several controllers, `cpu,cpuacct`).
fn v1_hierarchies(mountinfo: &str) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = Vec::new();
    for (mount_point, fs_type, super_options) in mounts(mountinfo) {
        if fs_type != "cgroup" || !super_options.split(',').any(|o| CONTROLLERS.contains(&o)) {
            continue;
        }
        // Octal escapes (`\040` for a space) would need decoding; such a mount point is not
        // worth it: libcontainer handles that host as before.
        if mount_point.contains('\\') {
            return Vec::new();
        }
        let path = PathBuf::from(mount_point);
        if !found.contains(&path) {
            found.push(path);
        }
    }
    found
}

/// Whether any limit (or device rule) is asked for: only then is there anything to apply.
fn has_resources(resources: &oci_spec::runtime::LinuxResources) -> bool {
    resources.memory().is_some()
        || resources.cpu().is_some()
        || resources.pids().is_some()
        || resources.devices().is_some()
        || resources.block_io().is_some()
        || resources.hugepage_limits().is_some()
        || resources.network().is_some()
        || resources.rdma().is_some()
        || resources.unified().is_some()
}

/// The container's cgroup in every v1 hierarchy, and its `tasks` files, open for the init.
pub(crate) struct ContainerCgroups {
    tasks: Vec<File>,
}

impl ContainerCgroups {
    /// Make the cgroups `relative` (`/hoist/<id>`) and apply `resources`; `None` when this host
    /// is not one for this (no v1 hierarchy, /sys/fs/cgroup not the usual tmpfs) or anything
    /// failed — libcontainer then does it all, as it used to, and reports what is wrong.
    pub(crate) fn create(
        relative: &Path,
        resources: &oci_spec::runtime::LinuxResources,
    ) -> Option<Self> {
        use libcgroups::common::CgroupSetup;
        // The same test libcontainer makes to choose its v1 manager.
        if !matches!(
            libcgroups::common::get_cgroup_setup(),
            Ok(CgroupSetup::Legacy | CgroupSetup::Hybrid)
        ) {
            return None;
        }
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
        let hierarchies = v1_hierarchies(&mountinfo);
        if hierarchies.is_empty() {
            return None;
        }
        let relative = relative.strip_prefix("/").unwrap_or(relative);
        let mut tasks = Vec::with_capacity(hierarchies.len());
        for mount_point in &hierarchies {
            let dir = mount_point.join(relative);
            std::fs::create_dir_all(&dir).ok()?;
            if dir.join("cpuset.cpus").exists() {
                // A new cpuset cgroup has no CPUs nor memory nodes; nothing can join it
                // (ENOSPC) until they are copied from its parent, as libcontainer does.
                fill_cpuset(mount_point, relative).ok()?;
            }
            if let Some(rules) = resources.devices() {
                if dir.join("devices.allow").exists() {
                    write_device_rules(&dir, rules).ok()?;
                }
            }
            write_limits(&dir, resources).ok()?;
            let file = std::fs::OpenOptions::new()
                .write(true)
                .open(dir.join("tasks"))
                .ok()?;
            tasks.push(file);
        }
        // The device rules and limits are written above: anything else needs libcgroups'
        // manager (which costs a mountinfo scan per controller).
        let mut resources = resources.clone();
        resources.set_devices(None);
        resources.set_memory(None);
        resources.set_cpu(None);
        resources.set_pids(None);
        resources.set_block_io(None);
        let resources = &resources;
        if has_resources(resources) {
            use libcgroups::common::CgroupManager;
            let manager = libcgroups::v1::Manager::new(&Path::new("/").join(relative)).ok()?;
            manager
                .apply(&libcgroups::common::ControllerOpt {
                    resources,
                    freezer_state: None,
                    oom_score_adj: None,
                    disable_oom_killer: false,
                })
                .ok()?;
        }
        Some(ContainerCgroups { tasks })
    }

    /// The `tasks` files, for the init to write `0` to; open until `self` is dropped.
    pub(crate) fn task_fds(&self) -> Vec<RawFd> {
        self.tasks.iter().map(|f| f.as_raw_fd()).collect()
    }
}

/// Write the memory, CPU and pids limits of `resources` that belong to the hierarchy `dir` is
/// in (it has their files), as libcgroups' v1 controllers do. Memory and swap together: the
/// limit first (a new cgroup's memory+swap limit is unlimited, and must stay at least as high).
fn write_limits(dir: &Path, resources: &oci_spec::runtime::LinuxResources) -> io::Result<()> {
    let write = |file: &str, value: i64| std::fs::write(dir.join(file), value.to_string());
    if let Some(memory) = resources.memory() {
        if dir.join("memory.limit_in_bytes").exists() {
            if let Some(limit) = memory.limit() {
                write("memory.limit_in_bytes", limit)?;
            }
            if let Some(swap) = memory.swap() {
                write("memory.memsw.limit_in_bytes", swap)?;
            }
            if let Some(reservation) = memory.reservation() {
                write("memory.soft_limit_in_bytes", reservation)?;
            }
            if memory.disable_oom_killer() == Some(true) {
                write("memory.oom_control", 1)?;
            }
        }
    }
    if let Some(cpu) = resources.cpu() {
        if dir.join("cpu.cfs_quota_us").exists() {
            if let Some(period) = cpu.period() {
                write("cpu.cfs_period_us", period as i64)?;
            }
            if let Some(quota) = cpu.quota() {
                write("cpu.cfs_quota_us", quota)?;
            }
        }
        if let Some(shares) = cpu.shares() {
            if dir.join("cpu.shares").exists() {
                write("cpu.shares", shares as i64)?;
            }
        }
        if dir.join("cpuset.cpus").exists() {
            if let Some(cpus) = cpu.cpus() {
                std::fs::write(dir.join("cpuset.cpus"), cpus)?;
            }
            if let Some(mems) = cpu.mems() {
                std::fs::write(dir.join("cpuset.mems"), mems)?;
            }
        }
    }
    if let Some(block_io) = resources.block_io() {
        write_block_io(dir, block_io)?;
    }
    if let Some(pids) = resources.pids() {
        if dir.join("pids.max").exists() {
            let limit = pids.limit();
            if limit > 0 {
                write("pids.max", limit)?;
            } else {
                std::fs::write(dir.join("pids.max"), "max")?;
            }
        }
    }
    Ok(())
}

/// Block I/O weight and throttles, in the blkio hierarchy (`dir` has its files). A weight needs
/// the kernel's `blkio.weight` (CFQ/BFQ); without it the write fails, and libcontainer (which is
/// left the job then) reports it — the runtime refuses `--blkio-weight` there before.
fn write_block_io(dir: &Path, block_io: &oci_spec::runtime::LinuxBlockIo) -> io::Result<()> {
    if !dir.join("blkio.throttle.read_bps_device").exists() {
        return Ok(());
    }
    if let Some(weight) = block_io.weight() {
        std::fs::write(dir.join("blkio.weight"), weight.to_string())?;
    }
    for (file, devices) in [
        (
            "blkio.throttle.read_bps_device",
            block_io.throttle_read_bps_device(),
        ),
        (
            "blkio.throttle.write_bps_device",
            block_io.throttle_write_bps_device(),
        ),
    ] {
        for device in devices.iter().flatten() {
            std::fs::write(
                dir.join(file),
                format!("{}:{} {}", device.major(), device.minor(), device.rate()),
            )?;
        }
    }
    Ok(())
}

/// Apply device cgroup `rules` in order, as libcgroups' v1 devices controller does: each is a
/// line `TYPE MAJOR:MINOR ACCESS` for `devices.allow` or `devices.deny`.
fn write_device_rules(
    dir: &Path,
    rules: &[oci_spec::runtime::LinuxDeviceCgroup],
) -> io::Result<()> {
    for rule in rules {
        std::fs::write(
            dir.join(if rule.allow() {
                "devices.allow"
            } else {
                "devices.deny"
            }),
            device_rule_line(rule),
        )?;
    }
    Ok(())
}

fn device_rule_line(rule: &oci_spec::runtime::LinuxDeviceCgroup) -> String {
    use oci_spec::runtime::LinuxDeviceType;
    let typ = match rule.typ() {
        Some(LinuxDeviceType::C | LinuxDeviceType::U) => "c",
        Some(LinuxDeviceType::B) => "b",
        Some(LinuxDeviceType::P) => "p",
        Some(LinuxDeviceType::A) | None => "a",
    };
    let number = |n: Option<i64>| n.map_or_else(|| "*".to_string(), |n| n.to_string());
    format!(
        "{typ} {}:{} {}",
        number(rule.major()),
        number(rule.minor()),
        rule.access().as_deref().unwrap_or("rwm")
    )
}

/// Copy `cpuset.cpus` and `cpuset.mems` down from the hierarchy's root to `relative`, into every
/// level where they are empty.
fn fill_cpuset(mount_point: &Path, relative: &Path) -> io::Result<()> {
    for file in ["cpuset.cpus", "cpuset.mems"] {
        let mut dir = mount_point.to_path_buf();
        let mut value = std::fs::read_to_string(dir.join(file))?;
        for component in relative.components() {
            dir.push(component);
            let own = std::fs::read_to_string(dir.join(file))?;
            if own.trim().is_empty() {
                std::fs::write(dir.join(file), value.trim())?;
            } else {
                value = own;
            }
        }
    }
    Ok(())
}

/// Write `0` to each of `fds` (`tasks` files): move the calling thread — the container's init,
/// a single thread — into those cgroups without the threadgroup lock (see the module docs).
pub(crate) fn join(fds: &[RawFd]) -> io::Result<()> {
    for &fd in fds {
        // SAFETY: write(2) of one byte from a static buffer; `fd` is a `tasks` file that the
        // process that created this one keeps open until the container exists.
        if unsafe { libc::write(fd, b"0".as_ptr().cast(), 1) } != 1 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// This thread in a mount namespace of its own in which no cgroup v1 hierarchy is mounted
/// (/sys/fs/cgroup is an empty read-only tmpfs), until [`HiddenHierarchies::leave`].
pub(crate) struct HiddenHierarchies {
    host: File,
    cwd: File,
}

impl HiddenHierarchies {
    /// Fails (with the host namespace kept) when the process has several threads, say.
    pub(crate) fn enter() -> io::Result<Self> {
        use nix::mount::{mount, umount2, MntFlags, MsFlags};
        let host = File::open("/proc/thread-self/ns/mnt")?;
        // setns to a mount namespace moves the cwd to its root: remember it.
        let cwd = File::open(".")?;
        // EINVAL while another thread shares our filesystem context — the cgroups thread
        // ([`crate::container::CgroupsInTheMaking`]) has been joined, but the kernel may still
        // be tearing it down for a moment.
        let mut tries = 0;
        while let Err(e) = nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS) {
            tries += 1;
            if e != nix::errno::Errno::EINVAL || tries == 200 {
                return Err(e.into());
            }
            std::thread::yield_now();
        }
        let hidden = HiddenHierarchies { host, cwd };
        let hide = || -> io::Result<()> {
            // Slave first: an unmount in a namespace whose mounts are shared with the host's
            // would unmount the host's too.
            mount(
                None::<&str>,
                "/",
                None::<&str>,
                MsFlags::MS_REC | MsFlags::MS_SLAVE,
                None::<&str>,
            )?;
            // One lazy unmount takes the tmpfs and every hierarchy mounted in it.
            umount2("/sys/fs/cgroup", MntFlags::MNT_DETACH)?;
            let mountinfo = std::fs::read_to_string("/proc/self/mountinfo")?;
            for (mount_point, _, _) in
                mounts(&mountinfo).filter(|(_, t, _)| *t == "cgroup" || *t == "cgroup2")
            {
                // Hierarchies mounted somewhere else (rare).
                umount2(mount_point, MntFlags::MNT_DETACH)?;
            }
            // libcontainer still wants a cgroup setup it knows: a tmpfs without `unified` is
            // a v1 host, whose manager then finds no hierarchy.
            mount(
                Some("tmpfs"),
                "/sys/fs/cgroup",
                Some("tmpfs"),
                MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
                Some("mode=755,size=4k"),
            )?;
            Ok(())
        };
        match hide() {
            Ok(()) => Ok(hidden),
            Err(e) => {
                // Back to the host's namespace; if even that fails, say so (the caller treats
                // it as a failure to start, and the namespace dies with the process).
                hidden.leave()?;
                Err(e)
            }
        }
    }

    /// Back to the host's mount namespace (and the cwd we had).
    pub(crate) fn leave(self) -> io::Result<()> {
        nix::sched::setns(&self.host, nix::sched::CloneFlags::CLONE_NEWNS)?;
        nix::unistd::fchdir(self.cwd.as_raw_fd())?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTINFO: &str = "\
22 27 0:21 / /proc rw,relatime - proc proc rw
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime shared:5 - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

    #[test]
    fn hierarchies_with_known_controllers_only() {
        assert_eq!(
            v1_hierarchies(MOUNTINFO),
            [
                "/sys/fs/cgroup/cpu,cpuacct",
                "/sys/fs/cgroup/cpuset",
                "/sys/fs/cgroup/pids"
            ]
            .map(PathBuf::from)
        );
        assert!(v1_hierarchies("41 31 0:38 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n").is_empty());
    }

    #[test]
    fn device_rules_as_the_kernel_reads_them() {
        use oci_spec::runtime::{LinuxDeviceCgroupBuilder, LinuxDeviceType};
        let deny_all = LinuxDeviceCgroupBuilder::default()
            .allow(false)
            .build()
            .unwrap();
        assert_eq!(device_rule_line(&deny_all), "a *:* rwm");
        let pts = LinuxDeviceCgroupBuilder::default()
            .allow(true)
            .typ(LinuxDeviceType::C)
            .major(136)
            .access("rwm")
            .build()
            .unwrap();
        assert_eq!(device_rule_line(&pts), "c 136:* rwm");
        let null = LinuxDeviceCgroupBuilder::default()
            .allow(true)
            .typ(LinuxDeviceType::B)
            .major(1)
            .minor(3)
            .access("m")
            .build()
            .unwrap();
        assert_eq!(device_rule_line(&null), "b 1:3 m");
    }

    #[test]
    fn resources_worth_applying() {
        use oci_spec::runtime::*;
        assert!(!has_resources(&LinuxResources::default()));
        let pids = LinuxResourcesBuilder::default()
            .pids(LinuxPidsBuilder::default().limit(5).build().unwrap())
            .build()
            .unwrap();
        assert!(has_resources(&pids));
    }
}
