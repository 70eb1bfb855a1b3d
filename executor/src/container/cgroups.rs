//! The container's cgroups: where they are, making them ahead on a thread of their own
//! ([`CgroupsInTheMaking`], with [`crate::cgroup_v1`]), reading the OOM killer's count, and removing
//! them (killing what is left in them).

use std::path::{Path, PathBuf};

use super::error::Result;
use super::request::RuntimeOptions;
use super::resources::resources;

/// Where libcontainer puts a container's cgroup, under every hierarchy.
pub(crate) fn cgroup_path(id: &str) -> PathBuf {
    PathBuf::from(format!("/hoist/{id}"))
}

/// How many processes the OOM killer killed in libcontainer container `id`'s cgroup: `oom_kill` of
/// `memory.events` (cgroup v2) or `memory.oom_control` (v1), read before the cgroup is removed.
pub(crate) fn oom_kills_of(id: &str) -> u64 {
    let relative = cgroup_path(id);
    let relative = relative.strip_prefix("/").unwrap_or(&relative);
    cgroup_mount_points()
        .iter()
        .flat_map(|mp| ["memory.events", "memory.oom_control"].map(|f| mp.join(relative).join(f)))
        .filter_map(|file| std::fs::read_to_string(file).ok())
        .filter_map(|text| oom_kill_count(&text))
        .max()
        .unwrap_or(0)
}

/// The `oom_kill N` line of a memory controller's event file.
fn oom_kill_count(text: &str) -> Option<u64> {
    text.lines()
        .find_map(|line| line.strip_prefix("oom_kill "))
        .and_then(|n| n.trim().parse().ok())
}

/// The mount points of the cgroup v1 and v2 hierarchies.
pub(crate) fn cgroup_mount_points() -> Vec<PathBuf> {
    let Ok(mountinfo) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return Vec::new();
    };
    mountinfo
        .lines()
        .filter_map(|line| {
            // "... MOUNT_POINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPER_OPTIONS"
            let (left, right) = line.split_once(" - ")?;
            matches!(right.split(' ').next(), Some("cgroup" | "cgroup2")).then(|| {
                left.split(' ')
                    .nth(4)
                    .map(|p| PathBuf::from(unescape_mount_point(p)))
            })?
        })
        .collect()
}

/// A mount point as /proc/self/mountinfo writes it, with its octal escapes (`\040` for a space) decoded.
pub(crate) fn unescape_mount_point(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 4], 8) {
                out.push(v);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Remove the cgroups of libcontainer container `id` (killing what still runs in them).
pub(crate) fn remove_cgroups_of(id: &str) {
    remove_cgroups(&cgroup_path(id));
}

/// Kill whatever is left in cgroup `path` (relative to each hierarchy's root) and remove it.
pub(super) fn remove_cgroups(path: &Path) {
    let relative = path.strip_prefix("/").unwrap_or(path);
    for mount_point in cgroup_mount_points() {
        let dir = mount_point.join(relative);
        // Most often the cgroup is empty (pid 1 is gone, and every process of its namespace
        // with it) or not there at all: one rmdir settles it, without a lookup of the
        // directory and a read of its cgroup.procs first. Only a busy one is emptied.
        match std::fs::remove_dir(&dir) {
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {}
            _ => continue,
        }
        for _ in 0..200 {
            let procs = std::fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
            let pids: Vec<i32> = procs
                .lines()
                .filter_map(|l| l.trim().parse().ok())
                .collect();
            if pids.is_empty() {
                break;
            }
            for pid in pids {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::SIGKILL,
                );
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        // Retry: a cgroup is busy for a moment after its last process exits.
        for _ in 0..100 {
            match std::fs::remove_dir(&dir) {
                Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
                    std::thread::sleep(std::time::Duration::from_millis(5))
                }
                _ => break,
            }
        }
    }
}

/// Whether the container's init may join cgroups made ahead ([`crate::cgroup_v1`]): not with a
/// cgroup namespace of its own, whose root is the cgroup the init is in when it is made — before
/// the init joins; libcontainer moves it first, so it does that job then.
pub(super) fn joins_cgroups_itself(options: &RuntimeOptions) -> bool {
    options.tuning.namespaces.cgroup == super::tuning::NamespaceMode::Host
}

/// A container's cgroups (see [`crate::cgroup_v1`]) being made on a thread of their own — a
/// millisecond of mkdir in cgroupfs — while the caller prepares the rest. The thread is always
/// joined (at the latest when this is dropped), so no thread is left when libcontainer forks.
pub(crate) struct CgroupsInTheMaking(
    Option<std::thread::JoinHandle<Option<crate::cgroup_v1::ContainerCgroups>>>,
);

/// Cgroups whose making began before their container's monitor ran, in this same process
/// ([`CgroupsInTheMaking::prestart`]), with the libcontainer id they are for.
static PRESTARTED: std::sync::Mutex<Option<(String, CgroupsInTheMaking)>> =
    std::sync::Mutex::new(None);

fn prestarted() -> std::sync::MutexGuard<'static, Option<(String, CgroupsInTheMaking)>> {
    PRESTARTED
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl CgroupsInTheMaking {
    /// Start making the cgroups of libcontainer container `id` now, for the monitor that will
    /// run it in this process ([`Self::take_or_start`]): `hoist run` in the foreground begins
    /// with them while it writes the container's record and mounts its rootfs.
    pub(crate) fn prestart(id: &str, options: &RuntimeOptions) -> Result<()> {
        let making = Self::start(id, options)?;
        *prestarted() = Some((id.to_string(), making));
        Ok(())
    }

    /// The cgroups of `id`: the ones prestarted for it, or begun now.
    pub(crate) fn take_or_start(id: &str, options: &RuntimeOptions) -> Result<Self> {
        match Self::take_prestarted(id) {
            Some(making) => Ok(making),
            None => Self::start(id, options),
        }
    }

    /// What was prestarted for `id`, if anything (what was for another id stays).
    fn take_prestarted(id: &str) -> Option<Self> {
        let mut slot = prestarted();
        match slot.take() {
            Some((for_id, making)) if for_id == id => Some(making),
            other => {
                *slot = other;
                None
            }
        }
    }

    /// Whether cgroups were prestarted: their thread may still be one of this process's.
    pub(crate) fn any_prestarted() -> bool {
        prestarted().is_some()
    }

    /// Wait for what was prestarted for `id`; with `remove`, remove those cgroups again (their
    /// container is not to run). What stays made is taken up by the next making of them.
    pub(crate) fn settle_prestarted(id: &str, remove: bool) {
        if let Some(making) = Self::take_prestarted(id) {
            drop(making.finish());
            if remove {
                remove_cgroups(&cgroup_path(id));
            }
        }
    }

    /// Start making the cgroups of libcontainer container `id`, limited as `options` say.
    pub(crate) fn start(id: &str, options: &RuntimeOptions) -> Result<Self> {
        let resources = resources(options)?;
        if !joins_cgroups_itself(options) {
            return Ok(CgroupsInTheMaking(None));
        }
        let path = cgroup_path(id);
        let thread = std::thread::Builder::new()
            .name("cgroups".into())
            .spawn(move || crate::cgroup_v1::ContainerCgroups::create(&path, &resources));
        // No thread: libcontainer makes them, as it did before.
        Ok(CgroupsInTheMaking(thread.ok()))
    }

    pub(super) fn finish(mut self) -> Option<crate::cgroup_v1::ContainerCgroups> {
        self.0.take()?.join().ok().flatten()
    }
}

impl Drop for CgroupsInTheMaking {
    fn drop(&mut self) {
        if let Some(thread) = self.0.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oom_kill_counts_of_v1_and_v2() {
        let v1 = "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n";
        let v2 = "low 0\nhigh 0\nmax 5\noom 1\noom_kill 1\noom_group_kill 0\n";
        assert_eq!(oom_kill_count(v1), Some(2));
        assert_eq!(oom_kill_count(v2), Some(1));
        assert_eq!(oom_kill_count("oom_kill_disable 0\n"), None);
    }
}
