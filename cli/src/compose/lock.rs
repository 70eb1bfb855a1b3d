//! One `up`/`down`/`run` at a time per project and state directory: two `hoist compose up -d` started
//! together would otherwise both find no container for a service and both make one.
use std::path::Path;

use anyhow::Context as _;
use nix::fcntl::{Flock, FlockArg};

/// Held until dropped; released by the kernel if the process dies.
pub(crate) struct ProjectLock {
    _lock: Flock<std::fs::File>,
}

/// Waits for and takes the lock of `project` in state directory `root` (`ROOT/compose/PROJECT.lock`).
pub(crate) fn project(root: &Path, project: &str) -> anyhow::Result<ProjectLock> {
    let dir = root.join("compose");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join(format!("{project}.lock"));
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("opening the project lock {}", path.display()))?;
    let lock = Flock::lock(file, FlockArg::LockExclusive)
        .map_err(|(_, e)| e)
        .with_context(|| format!("locking {}", path.display()))?;
    Ok(ProjectLock { _lock: lock })
}
