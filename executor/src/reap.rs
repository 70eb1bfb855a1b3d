//! What a killed build leaves of its containers, and how the next hoist removes it.
//!
//! A build's containers keep their state (libcontainer's dir, our bundle) in a staging directory of the store
//! that the build owns; when the store's sweep finds that owner gone it hands the directory to
//! [`remove_containers_in`] first. A container's cgroups live outside any state dir: [`remove_orphaned_cgroups`]
//! finds those of build containers whose hoist process is gone, in every hierarchy.
use std::collections::BTreeSet;
use std::os::unix::ffi::OsStrExt as _;
use std::path::Path;

use crate::container;

/// Stops and removes every container whose state is in `state_dir` (its processes killed, its cgroups and
/// state removed). Only for a directory whose owner is gone: nothing is asked of anyone.
pub fn remove_containers_in(state_dir: &Path) {
    let Ok(entries) = std::fs::read_dir(state_dir) else {
        return;
    };
    let mut ids = BTreeSet::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        // The bundle is made before the cgroups and the libcontainer state: its name alone is enough.
        let id = name.strip_suffix(".bundle").unwrap_or(&name).to_string();
        if container::owner_pid(&id).is_some() {
            ids.insert(id);
        }
    }
    if ids.is_empty() {
        return;
    }
    kill_helpers_in(state_dir);
    for id in ids {
        container::remove_container(&state_dir.join(&id), &id);
        let _ = std::fs::remove_dir_all(state_dir.join(format!("{id}.bundle")));
    }
}

/// SIGKILLs container helpers (`hoist __hoist-container-init DIR/ID.bundle/request.json …`) working in
/// `state_dir`. They die with the build that started them; this is for one that got away (its parent died
/// before it could ask for that), which would hold the container's mounts in its own namespace.
fn kill_helpers_in(state_dir: &Path) {
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return;
    };
    for entry in procs.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<i32>().ok())
        else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let mut args = cmdline.split(|b| *b == 0).skip(1);
        if args.next() != Some(container::INIT_MARKER.as_bytes()) {
            continue;
        }
        let request = args
            .next()
            .map(|a| Path::new(std::ffi::OsStr::from_bytes(a)));
        if request.is_some_and(|r| r.starts_with(state_dir)) {
            let _ =
                nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::SIGKILL);
        }
    }
}

/// Removes the cgroups (`/hoist/hoist-PID-N-…`, in every hierarchy) of build containers whose hoist process
/// (PID) no longer runs, killing what is left in them. Returns how many containers' cgroups went.
///
/// A running process with that pid means "keep": it is the owner, or a later process that got its pid — then
/// the cgroup waits for a later sweep; a pid that runs nothing can never be a live owner's.
pub fn remove_orphaned_cgroups() -> usize {
    let mut orphans = BTreeSet::new();
    for mount_point in container::cgroup_mount_points() {
        let Ok(entries) = std::fs::read_dir(mount_point.join("hoist")) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(pid) = container::owner_pid(&name) else {
                continue; // `hoist run`'s containers (`hoist-run-…`) have their monitor to see to them
            };
            if !Path::new(&format!("/proc/{pid}")).exists() {
                orphans.insert(name);
            }
        }
    }
    for id in &orphans {
        container::remove_cgroups_of(id);
    }
    orphans.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt as _;

    #[test]
    fn a_helper_that_got_away_is_killed_with_its_dir() {
        let dir = tempfile::tempdir().unwrap();
        let bundle = dir.path().join("hoist-1-0-00000000.bundle");
        std::fs::create_dir(&bundle).unwrap();
        // A helper stuck for good: its request is a FIFO nobody writes (this test binary is a helper too,
        // through the init hook).
        let request = bundle.join("request.json");
        nix::unistd::mkfifo(&request, nix::sys::stat::Mode::S_IRWXU).unwrap();
        let mut helper = std::process::Command::new(std::env::current_exe().unwrap())
            .arg(container::INIT_MARKER)
            .arg(&request)
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(300));
        assert!(
            helper.try_wait().unwrap().is_none(),
            "the helper should block"
        );
        remove_containers_in(dir.path());
        let status = helper.wait().unwrap();
        assert_eq!(status.signal(), Some(libc::SIGKILL));
        assert!(!bundle.exists());
    }

    #[test]
    fn cgroups_of_dead_builds_go_those_of_live_ones_stay() {
        let Some(hierarchy) = container::cgroup_mount_points().into_iter().next() else {
            return; // no cgroup hierarchy here
        };
        if !nix::unistd::geteuid().is_root() {
            return;
        }
        // A pid that ran and is gone (reaped), and ours.
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead_pid = child.id();
        child.wait().unwrap();
        let dead = format!("hoist-{dead_pid}-0-0d0d0d0d");
        let live = format!("hoist-{}-0-0e0e0e0e", std::process::id());
        let run = "hoist-run-0123456789abcdef".to_string();
        let parent = hierarchy.join("hoist");
        std::fs::create_dir_all(&parent).unwrap();
        for name in [&dead, &live, &run] {
            std::fs::create_dir(parent.join(name)).unwrap();
        }
        remove_orphaned_cgroups();
        let exists = |n: &str| parent.join(n).exists();
        let (dead_gone, live_kept, run_kept) = (!exists(&dead), exists(&live), exists(&run));
        for name in [&dead, &live, &run] {
            let _ = std::fs::remove_dir(parent.join(name));
        }
        assert!(dead_gone, "a dead build's cgroup stays");
        assert!(live_kept, "a live build's cgroup was removed");
        assert!(run_kept, "`hoist run`'s cgroup was removed");
    }
}
