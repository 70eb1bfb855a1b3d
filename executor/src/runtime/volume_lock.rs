//! One lock per state root orders making containers against removing volumes: `run`/`create`
//! hold it shared from the moment they look up (or make) their volumes until the container's
//! record, which names them, is written; `volume rm` and `volume prune` hold it exclusively while
//! they decide which volumes are unused and remove them. So a volume a container is being made
//! on is never removed, however the two race (`flock`, released when the holder exits).

use std::os::fd::AsRawFd;
use std::path::Path;

use super::{io_err, volumes_dir, Result};

/// The lock file, in the volumes directory (whose listing skips dot files).
const LOCK_FILE: &str = ".lock";

/// A held lock; released on drop.
pub(crate) struct VolumesLock {
    _file: std::fs::File,
}

/// Held while a container is made on volumes (many at once).
pub(crate) fn shared(root: &Path) -> Result<VolumesLock> {
    take(root, libc::LOCK_SH)
}

/// Held while volumes are found unused and removed (alone).
pub(crate) fn exclusive(root: &Path) -> Result<VolumesLock> {
    take(root, libc::LOCK_EX)
}

fn take(root: &Path, operation: libc::c_int) -> Result<VolumesLock> {
    let dir = volumes_dir(root);
    std::fs::create_dir_all(&dir).map_err(io_err("create", &dir))?;
    let path = dir.join(LOCK_FILE);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(io_err("open the volumes lock", &path))?;
    loop {
        // SAFETY: flock(2) on a descriptor we own.
        if unsafe { libc::flock(file.as_raw_fd(), operation) } == 0 {
            return Ok(VolumesLock { _file: file });
        }
        let error = std::io::Error::last_os_error();
        if error.kind() != std::io::ErrorKind::Interrupted {
            return Err(io_err("lock", &path)(error));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exclusive_waits_for_the_shared_holders() {
        let root = tempfile::tempdir().unwrap();
        let a = shared(root.path()).unwrap();
        let b = shared(root.path()).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let path = root.path().to_path_buf();
        let t = std::thread::spawn(move || {
            let _held = exclusive(&path).unwrap();
            tx.send(()).unwrap();
        });
        std::thread::sleep(std::time::Duration::from_millis(100));
        assert!(
            rx.try_recv().is_err(),
            "exclusive while shared holders are there"
        );
        drop((a, b));
        rx.recv_timeout(std::time::Duration::from_secs(5)).unwrap();
        t.join().unwrap();
    }
}
