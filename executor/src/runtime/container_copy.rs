//! `hoist cp` and `hoist export`: a container's filesystem as the host sees it, and paths resolved inside it.
//!
//! A running container is reached through `/proc/PID/root` (its mount namespace: volumes and bind mounts
//! included, as `docker cp` sees them). A stopped one has no mounted rootfs: its overlay is mounted for the
//! copy on a scratch dir of its own (read-write over its upper dir to copy in; read-only otherwise, the upper
//! dir then being the topmost lower of a throw-away overlay), and unmounted afterwards. `export` always takes
//! that read-only overlay, so it holds the image's layers and the container's changes and nothing mounted.
//!
//! Every path inside the container is resolved with `openat2(RESOLVE_IN_ROOT)` against the rootfs, so an
//! absolute symlink (`/etc/x -> /`) or `../../..` stays inside it as if the rootfs were `/`; an entry is then
//! named `/proc/self/fd/DIR/NAME` (DIR an open descriptor of its parent), which the kernel never resolves
//! outside it either.

use std::ffi::OsString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{openat2, OFlag, OpenHow, ResolveFlag};

use super::state::{self, ContainerDir, ContainerRecord, Status};
use super::{io_err, Result, RuntimeError};
use crate::overlay::{self, OverlayMount};

/// What the rootfs is opened for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Reading (`cp` out of the container).
    Read,
    /// Writing (`cp` into the container).
    Write,
    /// The container's own filesystem only, without what is mounted in it (`export`).
    Flattened,
}

/// A container's root filesystem, open for a copy; what was mounted for it is unmounted on drop.
pub struct Rootfs {
    root: OwnedFd,
    path: PathBuf,
    /// The container's name, for error messages.
    pub container: String,
    mount: Option<OverlayMount>,
    scratch: Option<PathBuf>,
    /// The container's volumes and binds, mounted on the overlay of a stopped container (host paths).
    binds: Vec<PathBuf>,
}

impl Drop for Rootfs {
    fn drop(&mut self) {
        for target in self.binds.iter().rev() {
            let _ = nix::mount::umount2(target, nix::mount::MntFlags::MNT_DETACH);
        }
        if let Some(mount) = self.mount.take() {
            let _ = mount.unmount();
        }
        if let Some(scratch) = &self.scratch {
            let _ = std::fs::remove_dir_all(scratch);
        }
    }
}

/// An entry of the rootfs found by [`Rootfs::locate`]: `name` in the directory `parent`, which may not exist.
pub struct Located {
    parent: OwnedFd,
    name: OsString,
    /// The path inside the container that was found, after following symlinks (inside the rootfs).
    pub resolved: String,
    /// `None`: there is no such entry (its parent directory exists).
    pub meta: Option<std::fs::Metadata>,
}

impl Located {
    /// A host path naming the entry (through a descriptor of its parent, so nothing is resolved again).
    pub fn path(&self) -> PathBuf {
        PathBuf::from(format!("/proc/self/fd/{}", self.parent.as_raw_fd())).join(&self.name)
    }

    pub fn is_dir(&self) -> bool {
        self.meta.as_ref().is_some_and(|m| m.is_dir())
    }
}

/// The rootfs of container `name` (a name or an ID) under state root `root`, open for `access`.
pub fn open_rootfs(root: &Path, name: &str, access: Access) -> Result<(Rootfs, ContainerRecord)> {
    let (dir, record) = state::find(root, name)?;
    let current = dir.current_state()?;
    let running_pid = current.pid.filter(|_| current.status == Status::Running);
    let (path, mount, scratch) = match (running_pid, access) {
        (Some(pid), Access::Read | Access::Write) => {
            (PathBuf::from(format!("/proc/{pid}/root")), None, None)
        }
        _ => {
            let (mount, scratch) = mount_view(&dir, &record, access == Access::Write)?;
            (mount.path().to_path_buf(), Some(mount), Some(scratch))
        }
    };
    let fd = nix::fcntl::open(
        &path,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(|e| io_err("open the root filesystem at", &path)(e.into()))?;
    let mut rootfs = Rootfs {
        // SAFETY: open returned a fresh descriptor that nothing else owns.
        root: unsafe { OwnedFd::from_raw_fd(fd) },
        path,
        container: name.to_string(),
        mount,
        scratch,
        binds: Vec::new(),
    };
    if rootfs.mount.is_some() && access != Access::Flattened {
        rootfs.mount_binds(&record)?;
    }
    Ok((rootfs, record))
}

/// Mount the overlay of a container for a copy on a scratch dir inside its directory: over its own upper dir
/// when `writable`, else with the upper dir as the topmost lower (never written).
fn mount_view(
    dir: &ContainerDir,
    record: &ContainerRecord,
    writable: bool,
) -> Result<(OverlayMount, PathBuf)> {
    let scratch = dir.path().join(format!(
        ".copy-{}-{}",
        std::process::id(),
        super::container_create::random_hex(4)
    ));
    let merged = scratch.join("merged");
    let made = std::fs::create_dir_all(&merged).map_err(io_err("create", &merged));
    let mounted = made.and_then(|()| {
        let mut lowers = record.lowers.clone();
        // The mount points layer the monitor puts on top (see `mountpoints.rs`), so the copy sees the
        // `/etc/hosts`, `/proc` … that the running container has, as Docker's init layer gives them.
        if let Some(layer) = dir
            .path()
            .parent()
            .and_then(|containers| super::mountpoints::layer(containers, &record.lowers))
        {
            lowers.insert(0, layer);
        }
        let mount = if writable {
            overlay::mount_overlay(&lowers, &dir.upper(), &dir.work(), &merged)?
        } else {
            lowers.insert(0, dir.upper());
            let (upper, work) = (scratch.join("upper"), scratch.join("work"));
            for d in [&upper, &work] {
                std::fs::create_dir(d).map_err(io_err("create", d))?;
            }
            overlay::mount_overlay_volatile(&lowers, &upper, &work, &merged)?
        };
        Ok(mount)
    });
    match mounted {
        Ok(mount) => Ok((mount, scratch)),
        Err(e) => {
            let _ = std::fs::remove_dir_all(&scratch);
            Err(e)
        }
    }
}

/// Symlinks followed before a path is given up on, as the kernel's `ELOOP` limit.
const MAX_SYMLINKS: usize = 40;

impl Rootfs {
    /// Mount the volumes and binds of a stopped container where it has them, so that a copy reaches them
    /// as `docker cp` does. Each target is resolved inside the rootfs (a symlinked target cannot put a
    /// mount on the host); a missing one is skipped (its container made it at start; nothing is there).
    fn mount_binds(&mut self, record: &ContainerRecord) -> Result<()> {
        use nix::mount::{mount, MsFlags};
        for m in &record.mounts {
            let (source, destination, readonly) = match m {
                super::MountRecord::Bind {
                    source,
                    destination,
                    readonly,
                }
                | super::MountRecord::Volume {
                    source,
                    destination,
                    readonly,
                    ..
                } => (source, destination, *readonly),
                super::MountRecord::Tmpfs { .. } => continue,
            };
            let target = match self.open_in_root(destination, OFlag::empty()) {
                Ok(fd) => fd,
                Err(Errno::ENOENT | Errno::ENOTDIR) => continue,
                Err(e) => return Err(self.not_found_or(destination, e)),
            };
            let through_fd = PathBuf::from(format!("/proc/self/fd/{}", target.as_raw_fd()));
            // Where the mount lands as a path of this mount namespace, to unmount it by.
            let host_path = std::fs::read_link(&through_fd).map_err(io_err("read", &through_fd))?;
            let bind_err = |e: Errno| {
                RuntimeError::Invalid(format!(
                    "mounting {} on {destination} of container {} for the copy: {e}",
                    source.display(),
                    self.container
                ))
            };
            mount(
                Some(source.as_path()),
                &through_fd,
                None::<&str>,
                MsFlags::MS_BIND | MsFlags::MS_REC,
                None::<&str>,
            )
            .map_err(bind_err)?;
            self.binds.push(host_path.clone());
            if readonly {
                mount(
                    None::<&str>,
                    &host_path,
                    None::<&str>,
                    MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY,
                    None::<&str>,
                )
                .map_err(bind_err)?;
            }
        }
        Ok(())
    }

    /// The host path of the rootfs (for `export`: a plain directory tree).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Open directory `path` (inside the container, symlinks followed inside the rootfs); a host path naming
    /// it, valid while the returned descriptor is open.
    pub fn open_dir(&self, path: &str) -> Result<(OwnedFd, PathBuf)> {
        let fd = self
            .open_in_root(path, OFlag::O_DIRECTORY)
            .map_err(|e| self.not_found_or(path, e))?;
        let host = PathBuf::from(format!("/proc/self/fd/{}/.", fd.as_raw_fd()));
        Ok((fd, host))
    }

    /// Find `path` inside the container: its parent directory (symlinks followed inside the rootfs) and its
    /// last component, followed too when `follow_last` (`cp -L`, or a destination). `None` when the parent
    /// directory does not exist.
    pub fn locate(&self, path: &str, follow_last: bool) -> Result<Option<Located>> {
        let mut current = path.to_string();
        for _ in 0..MAX_SYMLINKS {
            let trimmed = current.trim_end_matches('/');
            let (parent, name) = match trimmed.rfind('/') {
                Some(i) => (&trimmed[..i], &trimmed[i + 1..]),
                None => ("", trimmed),
            };
            if matches!(name, "" | "." | "..") {
                // The root, or a path ending in `.`/`..`: a directory resolved whole.
                return match self.open_in_root(trimmed, OFlag::O_DIRECTORY) {
                    Ok(fd) => {
                        let meta = std::fs::metadata(format!("/proc/self/fd/{}", fd.as_raw_fd()))
                            .map_err(io_err("read", Path::new(path)))?;
                        Ok(Some(Located {
                            parent: fd,
                            name: ".".into(),
                            resolved: current,
                            meta: Some(meta),
                        }))
                    }
                    Err(Errno::ENOENT | Errno::ENOTDIR) => Ok(None),
                    Err(e) => Err(self.not_found_or(path, e)),
                };
            }
            let parent_fd = match self.open_in_root(parent, OFlag::O_DIRECTORY) {
                Ok(fd) => fd,
                Err(Errno::ENOENT | Errno::ENOTDIR) => return Ok(None),
                Err(e) => return Err(self.not_found_or(path, e)),
            };
            let located = Located {
                parent: parent_fd,
                name: name.into(),
                resolved: current.clone(),
                meta: None,
            };
            let meta = match std::fs::symlink_metadata(located.path()) {
                Ok(meta) => meta,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Some(located)),
                Err(e) => return Err(io_err("read", Path::new(path))(e)),
            };
            if follow_last && meta.file_type().is_symlink() {
                let target = std::fs::read_link(located.path())
                    .map_err(io_err("read the symlink", Path::new(&current)))?;
                let target = target.to_string_lossy();
                current = if target.starts_with('/') {
                    target.into_owned()
                } else {
                    format!("{parent}/{target}")
                };
                continue;
            }
            return Ok(Some(Located {
                meta: Some(meta),
                ..located
            }));
        }
        Err(RuntimeError::Invalid(format!(
            "{path} in container {}: too many levels of symbolic links",
            self.container
        )))
    }

    fn open_in_root(&self, path: &str, flags: OFlag) -> nix::Result<OwnedFd> {
        let path = if path.trim_matches('/').is_empty() {
            "."
        } else {
            path
        };
        let how = OpenHow::new()
            .flags(OFlag::O_PATH | OFlag::O_CLOEXEC | flags)
            .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
        // EAGAIN: a rename elsewhere on the system raced the walk; openat2(2) says to retry.
        let mut attempts = 0;
        let fd = loop {
            match openat2(self.root.as_raw_fd(), path, how) {
                Err(Errno::EAGAIN) if attempts < 64 => attempts += 1,
                other => break other?,
            }
        };
        // SAFETY: openat2 returned a fresh descriptor that nothing else owns.
        Ok(unsafe { OwnedFd::from_raw_fd(fd) })
    }

    fn not_found_or(&self, path: &str, errno: Errno) -> RuntimeError {
        match errno {
            Errno::ENOENT => RuntimeError::Invalid(format!(
                "Could not find the file {path} in container {}",
                self.container
            )),
            Errno::ENOTDIR => RuntimeError::Invalid(format!(
                "{path} in container {}: not a directory",
                self.container
            )),
            other => RuntimeError::Io {
                what: "open",
                path: PathBuf::from(path),
                source: other.into(),
            },
        }
    }
}
