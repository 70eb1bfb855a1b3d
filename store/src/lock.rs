//! The store-wide advisory lock (`flock` on `<root>/lock`), and work locks: a lock file per piece of work
//! (a layer being compressed or downloaded) that disappears when the work is done.

use std::fs::{File, OpenOptions};
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};

use crate::error::{IoContext, Result};

/// A held `flock` on the store's lock file; released on drop.
#[derive(Debug)]
pub struct StoreLock {
    _lock: Flock<File>,
}

impl StoreLock {
    pub(crate) fn acquire(path: &Path, exclusive: bool) -> Result<StoreLock> {
        let arg = if exclusive {
            FlockArg::LockExclusive
        } else {
            FlockArg::LockShared
        };
        // A blocking flock does not answer EWOULDBLOCK; should it ever, it is an error like any other.
        Self::lock_with(path, arg)?
            .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::WouldBlock))
            .io_ctx("locking", path)
    }

    /// The exclusive lock if nobody holds the lock now, `None` if someone does (without waiting).
    pub(crate) fn try_exclusive(path: &Path) -> Result<Option<StoreLock>> {
        Self::lock_with(path, FlockArg::LockExclusiveNonblock)
    }

    fn lock_with(path: &Path, arg: FlockArg) -> Result<Option<StoreLock>> {
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(path)
            .io_ctx("opening lock file", path)?;
        loop {
            match Flock::lock(file, arg) {
                Ok(lock) => return Ok(Some(StoreLock { _lock: lock })),
                Err((f, Errno::EINTR)) => file = f,
                Err((_, Errno::EWOULDBLOCK)) => return Ok(None),
                Err((_, e)) => return Err(e).io_ctx("locking", path),
            }
        }
    }
}

/// An exclusive `flock` on a file that exists only while someone holds it: several hoists about to do the same
/// work (compress one layer, download one blob) take turns, and no lock file is left behind afterwards.
///
/// Removing a lock file is safe only because every holder checks, after locking, that the path still names the
/// file it locked: a waiter that locked a file its predecessor has just unlinked sees a different (or no)
/// inode at the path and starts over on the new file.
#[derive(Debug)]
pub struct WorkLock {
    path: std::path::PathBuf,
    lock: Option<Flock<File>>,
}

impl WorkLock {
    /// Waits for and takes the work lock at `path` (in the store's `tmp/`).
    pub fn acquire(path: &Path) -> Result<WorkLock> {
        use std::os::unix::fs::MetadataExt;
        loop {
            let StoreLock { _lock: lock } = StoreLock::acquire(path, true)?;
            let locked = lock.metadata().io_ctx("checking lock file", path)?;
            match std::fs::metadata(path) {
                Ok(now) if now.dev() == locked.dev() && now.ino() == locked.ino() => {
                    return Ok(WorkLock {
                        path: path.to_path_buf(),
                        lock: Some(lock),
                    })
                }
                // Unlinked (or replaced) by the previous holder while we waited: lock the current file.
                Ok(_) => continue,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e).io_ctx("checking lock file", path),
            }
        }
    }
}

impl WorkLock {
    /// Removes the work lock file at `path` if nobody holds it (one a killed hoist left behind); true if removed.
    pub(crate) fn remove_if_unheld(path: &Path) -> bool {
        use std::os::unix::fs::MetadataExt;
        let Ok(Some(StoreLock { _lock: lock })) = StoreLock::try_exclusive(path) else {
            return false;
        };
        let (Ok(locked), Ok(now)) = (lock.metadata(), std::fs::metadata(path)) else {
            return false;
        };
        now.dev() == locked.dev() && now.ino() == locked.ino() && std::fs::remove_file(path).is_ok()
    }
}

impl Drop for WorkLock {
    fn drop(&mut self) {
        // Unlink while still holding the lock, so that nobody can lock this inode and believe it current.
        let _ = std::fs::remove_file(&self.path);
        drop(self.lock.take());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_work_lock_leaves_no_file_and_serialises_holders() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("work.lock");
        let first = WorkLock::acquire(&path).unwrap();
        assert!(path.is_file());
        let counter = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let waiters: Vec<_> = (0..4)
            .map(|_| {
                let (path, counter) = (path.clone(), counter.clone());
                std::thread::spawn(move || {
                    let _held = WorkLock::acquire(&path).unwrap();
                    // Nobody else may be inside while we are.
                    assert_eq!(counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst), 0);
                    std::thread::sleep(std::time::Duration::from_millis(20));
                    counter.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
                })
            })
            .collect();
        std::thread::sleep(std::time::Duration::from_millis(50));
        drop(first);
        for w in waiters {
            w.join().unwrap();
        }
        assert!(!path.exists(), "the last holder removes the lock file");
    }

    #[test]
    fn a_left_over_work_lock_goes_only_when_unheld() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pull-ab.lock");
        // As a killed holder leaves it: the file, and (while it lived) its lock.
        std::fs::write(&path, b"").unwrap();
        let live_holder = StoreLock::acquire(&path, true).unwrap();
        assert!(!WorkLock::remove_if_unheld(&path));
        assert!(path.is_file());
        drop(live_holder);
        assert!(WorkLock::remove_if_unheld(&path));
        assert!(!path.exists());
    }
}
