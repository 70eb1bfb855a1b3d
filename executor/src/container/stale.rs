//! Removing containers: one whose state may be half-written ([`remove_container`]), and every one
//! that hoist processes which died left behind ([`remove_stale_containers`]).

use std::io;
use std::path::Path;

use super::cgroups::{cgroup_path, remove_cgroups};
use super::error::{io_err, Result};

/// Delete a container through libcontainer when its state is readable, then make sure of it
/// by hand: a helper killed while writing `state.json` leaves a state libcontainer cannot load.
pub(crate) fn remove_container(container_root: &Path, id: &str) {
    if container_root.exists() {
        if let Ok(mut container) =
            libcontainer::container::Container::load(container_root.to_path_buf())
        {
            let _ = container.delete(true);
        }
        let _ = std::fs::remove_dir_all(container_root);
    }
    remove_cgroups(&cgroup_path(id));
}

/// Remove what containers of dead hoist processes left in `state_dir` (their state, bundle
/// and cgroup), killing any of their processes still alive. Returns how many were removed.
/// Safe to call while other hoist processes run containers in the same dir.
pub fn remove_stale_containers(state_dir: &Path) -> Result<usize> {
    let entries = match std::fs::read_dir(state_dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(io_err("read the state dir", state_dir)(e)),
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(owner) = owner_pid(&name) else {
            continue;
        };
        if owner == std::process::id() || Path::new(&format!("/proc/{owner}")).exists() {
            continue;
        }
        let path = entry.path();
        if !name.ends_with(".bundle") {
            remove_container(&path, &name);
        }
        if path.exists() {
            std::fs::remove_dir_all(&path).map_err(io_err("remove", &path))?;
        }
        removed += 1;
    }
    Ok(removed)
}

/// The pid in a name made by [`super::request::prepare`]: `hoist-<pid>-<n>-<nanos>[.bundle]`.
pub(crate) fn owner_pid(name: &str) -> Option<u32> {
    name.strip_prefix("hoist-")?.split('-').next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_state_of_dead_processes_is_removed() {
        let dir = tempfile::tempdir().unwrap();
        // Pid 0x7fffffff cannot exist (above pid_max); our own pid is alive.
        let dead = "hoist-2147483647-0-00000000";
        let alive = format!("hoist-{}-0-00000000", std::process::id());
        for name in [
            dead.to_string(),
            format!("{dead}.bundle"),
            alive.clone(),
            "unrelated".into(),
        ] {
            std::fs::create_dir(dir.path().join(name)).unwrap();
        }
        assert_eq!(remove_stale_containers(dir.path()).unwrap(), 2);
        let mut left: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left, [alive, "unrelated".to_string()]);
        assert_eq!(
            remove_stale_containers(&dir.path().join("missing")).unwrap(),
            0
        );
    }

    #[test]
    fn owner_pid_parses_our_names_only() {
        assert_eq!(owner_pid("hoist-42-7-0000abcd"), Some(42));
        assert_eq!(owner_pid("hoist-42-7-0000abcd.bundle"), Some(42));
        assert_eq!(owner_pid("other-42"), None);
    }
}
