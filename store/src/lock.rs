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
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(path)
            .io_ctx("opening lock file", path)?;
        loop {
            match Flock::lock(file, arg) {
                Ok(lock) => return Ok(StoreLock { _lock: lock }),
                Err((f, Errno::EINTR)) => file = f,
                Err((_, e)) => return Err(e).io_ctx("locking", path),
            }
        }
    }
}
