//! `hoist rm [-f] NAME`: remove a stopped container (`-f`: kill it first), with its anonymous volumes.

use std::path::Path;
use std::time::Duration;

use super::state::{self, ContainerDir, ContainerRecord, MountRecord, Status};
use super::trash::Leftovers;
use super::{volumes_dir, Result, RuntimeError};

pub fn remove(root: &Path, name: &str, force: bool) -> Result<String> {
    let (dir, record) = state::find(root, name)?;
    let state = dir.current_state()?;
    if state.status == Status::Running {
        if !force {
            return Err(RuntimeError::Running(name.to_string()));
        }
        super::restart_policy::request_stop(&dir);
        if let Some(pid) = state.pid {
            // SAFETY: plain kill(2) on the container's pid 1 (see container_kill).
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        if state.paused {
            // A v1-frozen process dies of SIGKILL only once thawed.
            super::container_pause::thaw_if_frozen(&record.id);
        }
        super::container_kill::wait_until_exited(&dir, Duration::from_secs(10))?;
        if !dir.path().exists() {
            return Ok(record.id); // it was a --rm container: its monitor removed it
        }
    } else if state.status == Status::Created && state.monitor_pid.is_some() {
        // Still starting: let its monitor get to a state we can judge.
        super::container_kill::wait_until_exited(&dir, Duration::from_secs(2))?;
    }
    super::monitor::cleanup_after_monitor_death(&dir);
    remove_files(&dir, &record).reap_in_background();
    Ok(record.id)
}

/// Delete the container's directories, name and anonymous volumes (it must not run). It is gone
/// when this returns; what is left to do is returned, for a reaper ([`super::trash`]).
#[must_use = "the leftovers are to be reaped"]
pub(crate) fn remove_files(dir: &ContainerDir, record: &ContainerRecord) -> Leftovers {
    let mut leftovers = Leftovers::default();
    let _ = nix::mount::umount2(&dir.merged(), nix::mount::MntFlags::MNT_DETACH);
    let Some(containers) = dir.path().parent() else {
        return leftovers;
    };
    // The disk directory first: the container is gone the moment it is (see `ContainerDir`).
    leftovers.discard(containers, dir.path());
    dir.remove_run_dir();
    let name_file = containers.join(".names").join(&record.name);
    if std::fs::read_to_string(&name_file).ok().as_deref() == Some(record.id.as_str()) {
        let _ = std::fs::remove_file(&name_file);
    }
    if let Some(root) = containers.parent() {
        for m in &record.mounts {
            if let MountRecord::Volume {
                name,
                anonymous: true,
                ..
            } = m
            {
                leftovers.discard(containers, &volumes_dir(root).join(name));
            }
        }
    }
    leftovers
}
