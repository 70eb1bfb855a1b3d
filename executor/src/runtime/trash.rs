//! Cleaning up after a container without making its user wait.
//!
//! A container's writable layer is deleted file by file; even an empty one is seven inodes to
//! free (`upper`, `work` and what overlayfs keeps in it), 1–2 ms of a `run --rm` on ext4, and a
//! big one takes as long as its files. Its cgroups are eight `rmdir`s of ~100 µs each. None of
//! that is needed for the container to be gone: a directory to delete is renamed into
//! `containers/.trash/` (at once it is no container's any more) and a cgroup is empty once
//! pid 1 is reaped. So both are left to a *reaper*, a process of its own that does them while
//! hoist exits. The trash is emptied whole by each reaper: what one did not get to (it was
//! killed, the machine went down), the next one removes.

use std::path::{Path, PathBuf};

fn trash_dir(containers: &Path) -> PathBuf {
    containers.join(".trash")
}

/// What is left to clean up after a container.
#[derive(Debug, Default)]
pub(crate) struct Leftovers {
    /// A containers directory whose trash has something in it.
    trash: Option<PathBuf>,
    /// libcontainer ids whose cgroups are to be removed.
    cgroups: Vec<String>,
}

impl Leftovers {
    /// Take `dir` (under `containers`, or another directory on the same filesystem) out of the
    /// way: renamed into the trash, or deleted right here when that is not possible.
    pub(crate) fn discard(&mut self, containers: &Path, dir: &Path) {
        let Some(name) = dir.file_name() else {
            return;
        };
        if !dir.exists() {
            return;
        }
        let trash = trash_dir(containers);
        // A unique name: the same volume name may be discarded again before a reaper ran.
        let target = trash.join(format!(
            "{}-{}",
            name.to_string_lossy(),
            super::container_create::random_hex(4)
        ));
        let moved = std::fs::create_dir_all(&trash)
            .and_then(|()| std::fs::rename(dir, &target))
            .is_ok();
        if moved {
            self.trash = Some(containers.to_path_buf());
        } else {
            let _ = std::fs::remove_dir_all(dir);
        }
    }

    /// Add `other`'s to these.
    pub(crate) fn merge(&mut self, other: Leftovers) {
        self.trash = self.trash.take().or(other.trash);
        self.cgroups.extend(other.cgroups);
    }

    /// Remove the (empty) cgroups of libcontainer container `id` too.
    pub(crate) fn cgroups_of(&mut self, id: &str) {
        self.cgroups.push(id.to_string());
    }

    /// Do it all in a reaper process (in a session of its own, with its output going nowhere,
    /// so that neither a terminal's Ctrl-C nor a reader of hoist's output waits for it); right
    /// here when this process has threads, which `fork` would not copy. The reaper is not
    /// waited for: its parent is a hoist command that exits right after, and init reaps it.
    pub(crate) fn reap_in_background(self) {
        if self.trash.is_none() && self.cgroups.is_empty() {
            return;
        }
        if !super::container_create::single_threaded() {
            self.reap();
            return;
        }
        // SAFETY: single-threaded (checked above), so the child may do what the parent could.
        match unsafe { nix::unistd::fork() } {
            Ok(nix::unistd::ForkResult::Parent { .. }) => {}
            Ok(nix::unistd::ForkResult::Child) => {
                let _ = nix::unistd::setsid();
                detach_stdio();
                self.reap();
                // SAFETY: _exit skips atexit handlers and buffers that are the parent's.
                unsafe { libc::_exit(0) };
            }
            Err(_) => self.reap(),
        }
    }

    fn reap(self) {
        for id in &self.cgroups {
            crate::container::remove_cgroups_of(id);
        }
        if let Some(containers) = &self.trash {
            empty(&trash_dir(containers));
        }
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
    fn a_discarded_directory_is_gone_at_once_and_deleted_by_the_reaper() {
        let root = tempfile::tempdir().unwrap();
        let containers = root.path().join("containers");
        let dir = containers.join("abc");
        std::fs::create_dir_all(dir.join("upper/deep")).unwrap();
        std::fs::write(dir.join("upper/deep/file"), "x").unwrap();
        let mut leftovers = Leftovers::default();
        leftovers.discard(&containers, &dir);
        assert!(!dir.exists());
        assert_eq!(
            std::fs::read_dir(trash_dir(&containers)).unwrap().count(),
            1
        );
        // The test harness has threads: the reaping is done right here.
        leftovers.reap_in_background();
        assert_eq!(
            std::fs::read_dir(trash_dir(&containers)).unwrap().count(),
            0
        );
        let mut nothing = Leftovers::default();
        nothing.discard(&containers, &dir);
        assert!(nothing.trash.is_none(), "nothing to discard");
    }
}
