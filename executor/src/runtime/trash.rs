//! Removing a container's directories without making its user wait for the disk.
//!
//! A container's writable layer is deleted file by file; even an empty one is seven inodes to
//! free (`upper`, `work` and what overlayfs keeps in it), 1–2 ms of a `run --rm` on ext4, and a
//! big one takes as long as its files. So a directory to delete is first renamed into
//! `containers/.trash/` — at once it is no container's any more — and a process of its own
//! empties the trash while hoist exits. Whatever a reaper did not get to (it was killed, the
//! machine went down) the next one removes, since each empties the whole trash.

use std::path::{Path, PathBuf};

fn trash_dir(containers: &Path) -> PathBuf {
    containers.join(".trash")
}

/// Take `dir` (under `containers`, or another directory on the same filesystem) out of the way:
/// renamed into the trash, or deleted here when that is not possible. True when it went to the
/// trash, which then needs [`empty_in_background`].
pub(crate) fn discard(containers: &Path, dir: &Path) -> bool {
    if !dir.exists() {
        return false;
    }
    let trash = trash_dir(containers);
    let Some(name) = dir.file_name() else {
        return false;
    };
    // A unique name: the same volume or id may be discarded again before the reaper ran.
    let target = trash.join(format!(
        "{}-{}",
        name.to_string_lossy(),
        super::container_create::random_hex(4)
    ));
    let moved = std::fs::create_dir_all(&trash)
        .and_then(|()| std::fs::rename(dir, &target))
        .is_ok();
    if !moved {
        let _ = std::fs::remove_dir_all(dir);
    }
    moved
}

/// Empty the trash of `containers` in a process of its own (in a session of its own, with its
/// output going nowhere, so that neither a terminal's Ctrl-C nor a reader waiting for hoist's
/// output waits for it); right here when this process has threads, which `fork` would not copy.
pub(crate) fn empty_in_background(containers: &Path) {
    let trash = trash_dir(containers);
    if !super::container_create::single_threaded() {
        empty(&trash);
        return;
    }
    // SAFETY: single-threaded (checked above), so the child may do anything the parent could.
    match unsafe { nix::unistd::fork() } {
        Ok(nix::unistd::ForkResult::Parent { child }) => {
            // The child only forks the reaper and exits: no zombie is left to whoever we are.
            let _ = nix::sys::wait::waitpid(child, None);
        }
        Ok(nix::unistd::ForkResult::Child) => {
            // SAFETY: as above; the reaper's parent exits at once, so init reaps the reaper.
            if let Ok(nix::unistd::ForkResult::Child) = unsafe { nix::unistd::fork() } {
                let _ = nix::unistd::setsid();
                detach_stdio();
                empty(&trash);
            }
            // SAFETY: _exit skips atexit handlers and buffered output that belong to the parent.
            unsafe { libc::_exit(0) };
        }
        Err(_) => empty(&trash),
    }
}

/// Standard input, output and error on /dev/null (closed when that cannot be opened).
fn detach_stdio() {
    use std::os::fd::AsRawFd;
    let null = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null");
    for fd in 0..3 {
        match &null {
            // SAFETY: dup2 onto the standard descriptors of this (reaper) process.
            Ok(null) => unsafe { libc::dup2(null.as_raw_fd(), fd) },
            // SAFETY: as above.
            Err(_) => unsafe { libc::close(fd) },
        };
    }
}

fn empty(trash: &Path) {
    let Ok(entries) = std::fs::read_dir(trash) else {
        return;
    };
    for entry in entries.flatten() {
        // Nothing in here is mounted: a rootfs is detached before its container is discarded.
        let _ = std::fs::remove_dir_all(entry.path());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_discarded_directory_is_gone_at_once_and_deleted_later() {
        let root = tempfile::tempdir().unwrap();
        let containers = root.path().join("containers");
        let dir = containers.join("abc");
        std::fs::create_dir_all(dir.join("upper/deep")).unwrap();
        std::fs::write(dir.join("upper/deep/file"), "x").unwrap();
        assert!(discard(&containers, &dir));
        assert!(!dir.exists());
        assert_eq!(
            std::fs::read_dir(trash_dir(&containers)).unwrap().count(),
            1
        );
        empty(&trash_dir(&containers));
        assert_eq!(
            std::fs::read_dir(trash_dir(&containers)).unwrap().count(),
            0
        );
        assert!(!discard(&containers, &dir), "nothing to discard");
    }
}
