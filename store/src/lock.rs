//! The store-wide advisory lock (`flock` on `<root>/lock`).

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
