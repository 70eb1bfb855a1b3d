//! What a killed build leaves of its containers, and how the next hoist removes it.
//!
//! A build's containers keep their state (libcontainer's dir, our bundle) in a staging directory of the store
//! that the build owns; when the store's sweep finds that owner gone it hands the directory to
//! [`remove_containers_in`] first. A container's cgroups live outside any state dir: [`remove_orphaned_cgroups`]
//! finds those of build containers whose hoist process is gone, in every hierarchy.
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

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
    for id in ids {
        container::remove_container(&state_dir.join(&id), &id);
        let _ = std::fs::remove_dir_all(state_dir.join(format!("{id}.bundle")));
    }
}

/// The cgroup v1/v2 hierarchies' mount points (from /proc/self/mountinfo).
fn cgroup_mount_points() -> Vec<PathBuf> {
    let Ok(mountinfo) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return Vec::new();
    };
    mountinfo
        .lines()
        .filter_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            matches!(right.split(' ').next(), Some("cgroup" | "cgroup2"))
                .then(|| left.split(' ').nth(4).map(PathBuf::from))?
        })
        .collect()
}

/// Removes the cgroups (`/hoist/hoist-PID-N-…`, in every hierarchy) of build containers whose hoist process
/// (PID) no longer runs, killing what is left in them. Returns how many containers' cgroups went.
///
/// A running process with that pid means "keep": it is the owner, or a later process that got its pid — then
/// the cgroup waits for a later sweep; a pid that runs nothing can never be a live owner's.
pub fn remove_orphaned_cgroups() -> usize {
    let mut orphans = BTreeSet::new();
    for mount_point in cgroup_mount_points() {
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
