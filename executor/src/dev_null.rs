//! The container's standard streams when they are the null device.
//!
//! libcontainer's init replaces every standard fd that points at the host's `/dev/null` with the
//! container's own `/dev/null` — opened read-only, so `hoist run IMG echo x > /dev/null` fails with
//! "Bad file descriptor". runc reopens it read-write, and that is what Docker's containers see
//! (`lrwx … 0 -> /dev/null`). [`reopen_read_write`] undoes libcontainer's mistake from inside the
//! container, just before the command starts.

use std::os::fd::{AsRawFd, RawFd};

/// The null device, `makedev(1, 3)` on every Linux.
fn is_null_device(stat: &libc::stat) -> bool {
    stat.st_mode & libc::S_IFMT == libc::S_IFCHR
        && libc::major(stat.st_rdev) == 1
        && libc::minor(stat.st_rdev) == 3
}

fn fstat(fd: RawFd) -> Option<libc::stat> {
    let mut stat = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: fstat writes a whole `struct stat` on success, which is checked before use.
    (unsafe { libc::fstat(fd, stat.as_mut_ptr()) } == 0).then(|| unsafe { stat.assume_init() })
}

/// Standard fds (0, 1, 2) open on the null device but not for reading and writing.
fn read_only_null_fds() -> Vec<RawFd> {
    (0..3)
        .filter(|&fd| fstat(fd).is_some_and(|s| is_null_device(&s)))
        .filter(|&fd| {
            // SAFETY: F_GETFL on an open fd.
            let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
            flags >= 0 && flags & libc::O_ACCMODE != libc::O_RDWR
        })
        .collect()
}

/// Reopens, read-write, each standard fd that is the null device opened otherwise. Best effort: a
/// container without a usable `/dev/null` keeps what it has.
pub(crate) fn reopen_read_write() {
    let fds = read_only_null_fds();
    if fds.is_empty() {
        return;
    }
    let Ok(null) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
    else {
        return;
    };
    if !fstat(null.as_raw_fd()).is_some_and(|s| is_null_device(&s)) {
        return;
    }
    for fd in fds {
        // SAFETY: dup2 between two open fds; the target is one of the standard three.
        unsafe { libc::dup2(null.as_raw_fd(), fd) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_null_device_is_recognised_and_a_file_is_not() {
        let null = std::fs::File::open("/dev/null").unwrap();
        assert!(is_null_device(&fstat(null.as_raw_fd()).unwrap()));
        let file = tempfile::tempfile().unwrap();
        assert!(!is_null_device(&fstat(file.as_raw_fd()).unwrap()));
        let zero = std::fs::File::open("/dev/zero").unwrap();
        assert!(!is_null_device(&fstat(zero.as_raw_fd()).unwrap()));
    }
}
