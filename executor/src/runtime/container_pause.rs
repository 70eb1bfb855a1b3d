//! `hoist pause` / `hoist unpause`: the cgroup freezer. A v1 host has a `freezer` hierarchy
//! (`freezer.state`: `FROZEN`/`THAWED`, `FREEZING` while it works); cgroup v2 has `cgroup.freeze`
//! (`1`/`0`, with `frozen 1` in `cgroup.events` once done). The container's cgroup is
//! `/hoist/hoist-run-<16 hex>` in every hierarchy; whichever of the two files exists is used (the
//! v1 freezer first: on a hybrid host, the container's processes are in the v1 hierarchies).
//! Nothing is recorded: whether a container is paused is read from its cgroup, so it cannot go
//! stale when the container exits or its monitor dies.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::state::{self, ContainerDir, Status};
use super::{io_err, Result, RuntimeError};

/// The freezer file of a container's cgroup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Freezer {
    /// `<v1 freezer hierarchy>/hoist/<id>/freezer.state`.
    V1(PathBuf),
    /// `<v2 mount>/hoist/<id>/cgroup.freeze`.
    V2(PathBuf),
}

/// The freezer of libcontainer container `libcontainer_id`, if its cgroup has one.
pub(crate) fn freezer_of(libcontainer_id: &str) -> Option<Freezer> {
    let mount_points = crate::container::cgroup_mount_points();
    let relative = Path::new("hoist").join(libcontainer_id);
    let v1 = mount_points
        .iter()
        .map(|mp| mp.join(&relative).join("freezer.state"))
        .find(|f| f.exists())
        .map(Freezer::V1);
    v1.or_else(|| {
        mount_points
            .iter()
            .map(|mp| mp.join(&relative).join("cgroup.freeze"))
            .find(|f| f.exists())
            .map(Freezer::V2)
    })
}

/// Whether the freezer file's text says frozen (or freezing: Docker calls that paused too).
fn frozen_text(freezer: &Freezer, text: &str) -> bool {
    match freezer {
        Freezer::V1(_) => matches!(text.trim(), "FROZEN" | "FREEZING"),
        Freezer::V2(_) => text.trim() == "1",
    }
}

impl Freezer {
    fn path(&self) -> &Path {
        match self {
            Freezer::V1(p) | Freezer::V2(p) => p,
        }
    }

    pub(crate) fn is_frozen(&self) -> bool {
        std::fs::read_to_string(self.path()).is_ok_and(|t| frozen_text(self, &t))
    }

    /// Freeze (`true`) or thaw, and wait until the kernel says it is done (v1 goes through
    /// `FREEZING`; v2 reports `frozen 1` in `cgroup.events`).
    pub(crate) fn set(&self, freeze: bool) -> Result<()> {
        let path = self.path();
        let value = match (self, freeze) {
            (Freezer::V1(_), true) => "FROZEN",
            (Freezer::V1(_), false) => "THAWED",
            (Freezer::V2(_), true) => "1",
            (Freezer::V2(_), false) => "0",
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            std::fs::write(path, value).map_err(io_err("write", path))?;
            if self.settled(freeze) {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(RuntimeError::Invalid(format!(
                    "the cgroup freezer {path:?} did not become {value} within 10 s"
                )));
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    fn settled(&self, freeze: bool) -> bool {
        match self {
            Freezer::V1(p) => std::fs::read_to_string(p)
                .is_ok_and(|t| t.trim() == if freeze { "FROZEN" } else { "THAWED" }),
            Freezer::V2(p) => {
                let events = p.with_file_name("cgroup.events");
                let want = if freeze { "frozen 1" } else { "frozen 0" };
                std::fs::read_to_string(events).is_ok_and(|t| t.lines().any(|l| l == want))
            }
        }
    }
}

/// Whether container `id` (the full id) is paused now.
pub(crate) fn is_paused(id: &str) -> bool {
    id.len() >= 16
        && freezer_of(&super::monitor::libcontainer_id_of(id)).is_some_and(|f| f.is_frozen())
}

/// After a signal to a paused container's pid 1: let it act on it (Docker thaws a container it
/// stops or kills).
pub(crate) fn thaw_if_frozen(id: &str) {
    if id.len() < 16 {
        return;
    }
    if let Some(freezer) = freezer_of(&super::monitor::libcontainer_id_of(id)) {
        if freezer.is_frozen() {
            let _ = freezer.set(false);
        }
    }
}

fn running_freezer(dir: &ContainerDir, id: &str, name: &str) -> Result<Freezer> {
    if dir.current_state()?.status != Status::Running {
        return Err(RuntimeError::Invalid(format!(
            "container {name} is not running"
        )));
    }
    freezer_of(&super::monitor::libcontainer_id_of(id)).ok_or_else(|| {
        RuntimeError::Invalid(format!(
            "container {name} has no cgroup freezer (neither freezer.state nor cgroup.freeze in its cgroup /hoist/{})",
            super::monitor::libcontainer_id_of(id)
        ))
    })
}

/// `hoist pause NAME`: freeze every process of the container; the container's full id.
pub fn pause(root: &Path, name: &str) -> Result<String> {
    let (dir, record) = state::find(root, name)?;
    let freezer = running_freezer(&dir, &record.id, name)?;
    if freezer.is_frozen() {
        return Err(RuntimeError::Invalid(format!(
            "container {} is already paused",
            record.id
        )));
    }
    freezer.set(true)?;
    Ok(record.id)
}

/// `hoist unpause NAME`: thaw a paused container; its full id.
pub fn unpause(root: &Path, name: &str) -> Result<String> {
    let (dir, record) = state::find(root, name)?;
    let freezer = running_freezer(&dir, &record.id, name)?;
    if !freezer.is_frozen() {
        return Err(RuntimeError::Invalid(format!(
            "container {} is not paused",
            record.id
        )));
    }
    freezer.set(false)?;
    Ok(record.id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn freezer_texts() {
        let v1 = Freezer::V1(PathBuf::from("/x/freezer.state"));
        let v2 = Freezer::V2(PathBuf::from("/x/cgroup.freeze"));
        assert!(frozen_text(&v1, "FROZEN\n"));
        assert!(frozen_text(&v1, "FREEZING\n"));
        assert!(!frozen_text(&v1, "THAWED\n"));
        assert!(frozen_text(&v2, "1\n"));
        assert!(!frozen_text(&v2, "0\n"));
    }

    #[test]
    fn no_freezer_for_an_unknown_cgroup() {
        assert_eq!(freezer_of("hoist-run-no-such-container"), None);
        assert!(!is_paused("0000000000000000ffff"));
    }
}
