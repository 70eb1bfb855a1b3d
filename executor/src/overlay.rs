//! Overlayfs mounts for one build step: read-only snapshot layers below, a fresh upper dir on top.
//!
//! The classic `mount(2)` interface takes every option in one page (~4 KB), which a deep snapshot
//! chain overflows. Three strategies, tried in order:
//! 1. `mount(2)` with absolute paths when the options fit;
//! 2. the new mount API (`fsopen`/`fsconfig`), adding one `lowerdir+` at a time (Linux ≥ 6.8), which
//!    has no length limit at all;
//! 3. `mount(2)` with paths relative to the lowers' common parent, from a thread that has its own
//!    working directory (`unshare(CLONE_FS)`) so other threads never see the `chdir`.
//!
//! Every kernel call goes through [`OverlaySyscall`] so the planning logic is tested without root.

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Component, Path, PathBuf};

/// The longest option string `mount(2)` accepts: one page, minus the terminating NUL.
pub const MAX_MOUNT_DATA: usize = 4095;

/// Name of the empty directory (next to the work dir) used as the only lower layer when there is
/// none (`FROM scratch`): overlayfs needs at least one lower layer.
pub const EMPTY_LOWER_NAME: &str = ".hoist-empty-lower";

#[derive(Debug, thiserror::Error)]
pub enum OverlayError {
    #[error("overlay path {path:?} is not absolute; pass absolute paths for lower, upper, work and target dirs")]
    NotAbsolute { path: PathBuf },
    #[error("overlay path {path:?} contains ':', ',', '\\' or a newline, which the kernel's overlay options cannot express; use a path without them")]
    UnsupportedPath { path: PathBuf },
    #[error("overlay lower dirs are too long for mount(2) ({len} bytes of options, limit {MAX_MOUNT_DATA}) and this kernel lacks `lowerdir+` (Linux ≥ 6.8); use shorter snapshot paths or fewer layers")]
    OptionsTooLong { len: usize },
    #[error("could not prepare the empty lower dir {path:?}: {source}")]
    EmptyLower { path: PathBuf, source: io::Error },
    #[error(
        "could not mount overlay at {target:?} ({lowers} lower dirs, upper {upper:?}): {source}"
    )]
    Mount {
        target: PathBuf,
        upper: PathBuf,
        lowers: usize,
        source: io::Error,
    },
    #[error("could not unmount overlay at {target:?}: {source}")]
    Unmount { target: PathBuf, source: io::Error },
}

pub type Result<T, E = OverlayError> = std::result::Result<T, E>;

/// The kernel calls the overlay code needs; a fake implementation records them in tests.
pub trait OverlaySyscall: Send + Sync {
    /// `mount("overlay", target, "overlay", 0, data)`; relative paths in `data` resolve against
    /// `cwd` when given (the call must not change the working directory of other threads).
    fn mount_overlay(&self, data: &str, target: &Path, cwd: Option<&Path>) -> io::Result<()>;
    /// The new mount API with one `lowerdir+` per lower (topmost first). `Unsupported` errors
    /// (ENOSYS/EINVAL on old kernels) make the caller fall back to another strategy.
    fn mount_overlay_incremental(
        &self,
        lowers: &[PathBuf],
        upper: &Path,
        work: &Path,
        target: &Path,
    ) -> io::Result<()>;
    /// Unmount `target`, lazily (`MNT_DETACH`) if it is busy.
    fn unmount(&self, target: &Path) -> io::Result<()>;
}

/// The real kernel.
#[derive(Debug, Default, Clone, Copy)]
pub struct LinuxSyscall;

/// How to mount one overlay; computed without touching the kernel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MountPlan {
    /// `mount(2)` with this option string (absolute paths).
    Direct { data: String },
    /// Too long for one page: try the new mount API, else `mount(2)` relative to `cwd` (when the
    /// relative form fits, `relative` is set).
    Long {
        relative: Option<(PathBuf, String)>,
        absolute_len: usize,
    },
}

/// A mounted overlay; unmounted (nothing is removed) on drop.
#[derive(Debug)]
pub struct OverlayMount {
    target: PathBuf,
    mounted: bool,
}

impl OverlayMount {
    /// The merged directory.
    pub fn path(&self) -> &Path {
        &self.target
    }

    /// Unmount now and report errors (drop ignores them).
    pub fn unmount(mut self) -> Result<()> {
        self.mounted = false;
        LinuxSyscall
            .unmount(&self.target)
            .map_err(|source| OverlayError::Unmount {
                target: self.target.clone(),
                source,
            })
    }
}

impl Drop for OverlayMount {
    fn drop(&mut self) {
        if self.mounted {
            let _ = LinuxSyscall.unmount(&self.target);
        }
    }
}

/// Mount an overlay at `target` (which must exist): `lowers` topmost first, may be empty.
pub fn mount_overlay(
    lowers: &[PathBuf],
    upper: &Path,
    work: &Path,
    target: &Path,
) -> Result<OverlayMount> {
    mount_overlay_with(&LinuxSyscall, lowers, upper, work, target)?;
    Ok(OverlayMount {
        target: target.to_path_buf(),
        mounted: true,
    })
}

/// [`mount_overlay`] with overlayfs's `volatile` option (Linux ≥ 5.10) when the kernel has it:
/// no sync of the upper filesystem, ever — at unmount either, which otherwise flushes the whole
/// host filesystem's dirty data. Only for throw-away overlays (`hoist run --rm`): after a host
/// crash the upper dir is unusable. Falls back to a normal mount.
pub fn mount_overlay_volatile(
    lowers: &[PathBuf],
    upper: &Path,
    work: &Path,
    target: &Path,
) -> Result<OverlayMount> {
    let lowers = &distinct_lowers(lowers);
    let direct = (!lowers.is_empty())
        .then(|| plan_mount(lowers, upper, work))
        .and_then(|plan| match plan {
            MountPlan::Direct { data } if data.len() + ",volatile".len() <= MAX_MOUNT_DATA => {
                Some(data + ",volatile")
            }
            _ => None,
        });
    if let Some(data) = direct {
        if lowers
            .iter()
            .map(PathBuf::as_path)
            .chain([upper, work, target])
            .all(|p| check_path(p).is_ok())
            && LinuxSyscall.mount_overlay(&data, target, None).is_ok()
        {
            return Ok(OverlayMount {
                target: target.to_path_buf(),
                mounted: true,
            });
        }
    }
    mount_overlay(lowers, upper, work, target)
}

/// [`mount_overlay`] over any [`OverlaySyscall`]; the caller owns unmounting.
pub fn mount_overlay_with(
    sys: &dyn OverlaySyscall,
    lowers: &[PathBuf],
    upper: &Path,
    work: &Path,
    target: &Path,
) -> Result<()> {
    for p in lowers
        .iter()
        .map(PathBuf::as_path)
        .chain([upper, work, target])
    {
        check_path(p)?;
    }
    let mut lowers = distinct_lowers(lowers);
    if lowers.is_empty() {
        lowers.push(empty_lower_dir(work)?);
    }
    let lowers = &lowers[..];
    let mount_err = |source| OverlayError::Mount {
        target: target.to_path_buf(),
        upper: upper.to_path_buf(),
        lowers: lowers.len(),
        source,
    };
    match plan_mount(lowers, upper, work) {
        MountPlan::Direct { data } => sys.mount_overlay(&data, target, None).map_err(mount_err),
        MountPlan::Long {
            relative,
            absolute_len,
        } => match sys.mount_overlay_incremental(lowers, upper, work, target) {
            Ok(()) => Ok(()),
            Err(e) if is_unsupported(&e) => match relative {
                Some((cwd, data)) => sys
                    .mount_overlay(&data, target, Some(&cwd))
                    .map_err(mount_err),
                None => Err(OverlayError::OptionsTooLong { len: absolute_len }),
            },
            Err(e) => Err(mount_err(e)),
        },
    }
}

/// `lowers` (topmost first) with every repeat of a directory dropped but its topmost occurrence.
///
/// The kernel refuses a lower dir that is also another layer of the same mount ("conflicting
/// lowerdir path"), and a stack has repeats whenever two steps produce the same layer — most often
/// the empty one of a `RUN` that changes nothing (`RUN make test`, `RUN true` twice). Dropping the
/// deeper copy changes nothing visible: every entry, whiteout and opaque dir it holds is already
/// given, with higher priority, by the copy above it.
fn distinct_lowers(lowers: &[PathBuf]) -> Vec<PathBuf> {
    let mut seen = std::collections::HashSet::with_capacity(lowers.len());
    lowers
        .iter()
        .filter(|l| seen.insert(l.as_path()))
        .cloned()
        .collect()
}

fn is_unsupported(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::ENOSYS) | Some(libc::EINVAL) | Some(libc::EOPNOTSUPP)
    ) || e.kind() == io::ErrorKind::Unsupported
}

fn check_path(p: &Path) -> Result<()> {
    if !p.is_absolute() {
        return Err(OverlayError::NotAbsolute {
            path: p.to_path_buf(),
        });
    }
    if p.as_os_str()
        .as_bytes()
        .iter()
        .any(|b| matches!(b, b':' | b',' | b'\\' | b'\n' | 0))
    {
        return Err(OverlayError::UnsupportedPath {
            path: p.to_path_buf(),
        });
    }
    Ok(())
}

/// An empty, root-owned directory next to `work` (created on first use, never removed: it stays
/// empty because overlayfs never writes to lower dirs).
fn empty_lower_dir(work: &Path) -> Result<PathBuf> {
    let parent = work.parent().unwrap_or(Path::new("/"));
    let path = parent.join(EMPTY_LOWER_NAME);
    let err = |source| OverlayError::EmptyLower {
        path: path.clone(),
        source,
    };
    match std::fs::DirBuilder::new().mode(0o755).create(&path) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(err(e)),
    }
    let meta = std::fs::symlink_metadata(&path).map_err(err)?;
    if !meta.is_dir() || meta.uid() != nix::unistd::geteuid().as_raw() {
        return Err(err(io::Error::other(
            "exists but is not a directory owned by us",
        )));
    }
    if std::fs::read_dir(&path).map_err(err)?.next().is_some() {
        return Err(err(io::Error::other("is not empty; remove what is in it")));
    }
    Ok(path)
}

/// Decide how to mount; pure.
pub fn plan_mount(lowers: &[PathBuf], upper: &Path, work: &Path) -> MountPlan {
    let absolute: Vec<&Path> = lowers.iter().map(PathBuf::as_path).collect();
    let data = options(&absolute, upper, work);
    if data.len() <= MAX_MOUNT_DATA {
        return MountPlan::Direct { data };
    }
    let relative = common_parent(lowers).and_then(|cwd| {
        let rel: Vec<&Path> = lowers
            .iter()
            .filter_map(|l| l.strip_prefix(&cwd).ok())
            .collect();
        let rel_data = options(&rel, upper, work);
        (rel.len() == lowers.len() && rel_data.len() <= MAX_MOUNT_DATA).then_some((cwd, rel_data))
    });
    MountPlan::Long {
        relative,
        absolute_len: data.len(),
    }
}

fn options(lowers: &[&Path], upper: &Path, work: &Path) -> String {
    let mut data = String::from("lowerdir=");
    for (i, l) in lowers.iter().enumerate() {
        if i > 0 {
            data.push(':');
        }
        data.push_str(&l.to_string_lossy());
    }
    data.push_str(",upperdir=");
    data.push_str(&upper.to_string_lossy());
    data.push_str(",workdir=");
    data.push_str(&work.to_string_lossy());
    data.push(',');
    data.push_str(FIXED_OPTIONS);
    data
}

/// Always a full copy-up, never a redirect or a metadata-only copy: the upper dir must hold
/// every changed file and directory whole, because it becomes a layer on its own. No inode
/// index either (as Docker mounts): it would tie a lower dir to one upper dir.
const FIXED_OPTIONS: &str = "index=off,redirect_dir=off,metacopy=off";

/// The deepest directory that contains every lower (not the lowers themselves when there is one).
fn common_parent(lowers: &[PathBuf]) -> Option<PathBuf> {
    let first = lowers.first()?;
    let mut common: Vec<Component> = first.parent()?.components().collect();
    for l in &lowers[1..] {
        let parent: Vec<Component> = l.parent()?.components().collect();
        let same = common
            .iter()
            .zip(&parent)
            .take_while(|(a, b)| a == b)
            .count();
        common.truncate(same);
    }
    if common.is_empty() {
        return None;
    }
    Some(common.iter().collect())
}

fn cstring(p: &Path) -> io::Result<CString> {
    CString::new(p.as_os_str().as_bytes()).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
}

fn cstr(s: &str) -> io::Result<CString> {
    CString::new(s).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
}

/// Constants of the new mount API (`linux/mount.h`), not all in the libc crate.
mod newmount {
    pub const FSOPEN_CLOEXEC: libc::c_uint = 1;
    pub const FSCONFIG_SET_STRING: libc::c_uint = 1;
    pub const FSCONFIG_CMD_CREATE: libc::c_uint = 6;
    pub const FSMOUNT_CLOEXEC: libc::c_uint = 1;
    pub const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 4;
}

fn check(ret: libc::c_long) -> io::Result<libc::c_long> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// Take ownership of a descriptor a syscall returned.
fn owned_fd(ret: libc::c_long) -> io::Result<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    let fd = check(ret)? as libc::c_int;
    // SAFETY: the kernel just returned this descriptor to us and nobody else owns it.
    Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) })
}

impl OverlaySyscall for LinuxSyscall {
    fn mount_overlay(&self, data: &str, target: &Path, cwd: Option<&Path>) -> io::Result<()> {
        let target = if target.is_absolute() {
            target.to_path_buf()
        } else {
            std::env::current_dir()?.join(target)
        };
        let do_mount = move |data: String, cwd: Option<PathBuf>| -> io::Result<()> {
            if let Some(cwd) = cwd {
                // A private fs context for this thread only, so the chdir is invisible to others.
                // SAFETY: plain syscalls on this thread's own state.
                if unsafe { libc::unshare(libc::CLONE_FS) } != 0 {
                    return Err(io::Error::last_os_error());
                }
                std::env::set_current_dir(cwd)?;
            }
            nix::mount::mount(
                Some("overlay"),
                &target,
                Some("overlay"),
                nix::mount::MsFlags::empty(),
                Some(data.as_str()),
            )
            .map_err(io::Error::from)
        };
        match cwd {
            None => do_mount(data.to_string(), None),
            Some(cwd) => {
                let (data, cwd) = (data.to_string(), cwd.to_path_buf());
                std::thread::spawn(move || do_mount(data, Some(cwd)))
                    .join()
                    .map_err(|_| io::Error::other("overlay mount thread panicked"))?
            }
        }
    }

    fn mount_overlay_incremental(
        &self,
        lowers: &[PathBuf],
        upper: &Path,
        work: &Path,
        target: &Path,
    ) -> io::Result<()> {
        use newmount::*;
        use std::os::fd::AsRawFd;
        let fstype = cstr("overlay")?;
        // SAFETY: valid NUL-terminated string; returns a new fd or -1.
        let fs =
            owned_fd(unsafe { libc::syscall(libc::SYS_fsopen, fstype.as_ptr(), FSOPEN_CLOEXEC) })?;
        let set = |key: &str, value: &CString| -> io::Result<()> {
            let key = cstr(key)?;
            // SAFETY: fs is a live fs context fd; key and value are NUL-terminated strings.
            check(unsafe {
                libc::syscall(
                    libc::SYS_fsconfig,
                    fs.as_raw_fd(),
                    FSCONFIG_SET_STRING,
                    key.as_ptr(),
                    value.as_ptr(),
                    0,
                )
            })
            .map(drop)
        };
        for lower in lowers {
            set("lowerdir+", &cstring(lower)?)?;
        }
        set("upperdir", &cstring(upper)?)?;
        set("workdir", &cstring(work)?)?;
        for option in FIXED_OPTIONS.split(',') {
            if let Some((key, value)) = option.split_once('=') {
                set(key, &cstr(value)?)?;
            }
        }
        // SAFETY: as above; CMD_CREATE takes no key or value.
        check(unsafe {
            libc::syscall(
                libc::SYS_fsconfig,
                fs.as_raw_fd(),
                FSCONFIG_CMD_CREATE,
                std::ptr::null::<libc::c_char>(),
                std::ptr::null::<libc::c_void>(),
                0,
            )
        })
        .map_err(|e| {
            // EINVAL here is a real configuration error, not an old kernel.
            if e.raw_os_error() == Some(libc::EINVAL) {
                io::Error::other(format!("overlay rejected its configuration: {e}"))
            } else {
                e
            }
        })?;
        // SAFETY: fs is configured; returns a new detached mount fd.
        let mnt = owned_fd(unsafe {
            libc::syscall(libc::SYS_fsmount, fs.as_raw_fd(), FSMOUNT_CLOEXEC, 0)
        })?;
        let target = cstring(target)?;
        let empty = cstr("")?;
        // SAFETY: mnt is a detached mount fd; target is a NUL-terminated path.
        check(unsafe {
            libc::syscall(
                libc::SYS_move_mount,
                mnt.as_raw_fd(),
                empty.as_ptr(),
                libc::AT_FDCWD,
                target.as_ptr(),
                MOVE_MOUNT_F_EMPTY_PATH,
            )
        })
        .map(drop)
    }

    fn unmount(&self, target: &Path) -> io::Result<()> {
        use nix::mount::{umount2, MntFlags};
        match umount2(target, MntFlags::empty()) {
            Ok(()) => Ok(()),
            Err(nix::errno::Errno::EBUSY) => {
                umount2(target, MntFlags::MNT_DETACH).map_err(io::Error::from)
            }
            Err(e) => Err(io::Error::from(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[derive(Debug, Clone, PartialEq)]
    enum Call {
        Mount { data: String, cwd: Option<PathBuf> },
        Incremental { lowers: usize },
    }

    #[derive(Default)]
    struct FakeSyscall {
        calls: Mutex<Vec<Call>>,
        incremental_supported: bool,
    }

    impl OverlaySyscall for FakeSyscall {
        fn mount_overlay(&self, data: &str, _target: &Path, cwd: Option<&Path>) -> io::Result<()> {
            assert!(
                data.len() <= MAX_MOUNT_DATA,
                "kernel would reject {} bytes",
                data.len()
            );
            self.calls.lock().unwrap().push(Call::Mount {
                data: data.to_string(),
                cwd: cwd.map(Path::to_path_buf),
            });
            Ok(())
        }
        fn mount_overlay_incremental(
            &self,
            lowers: &[PathBuf],
            _: &Path,
            _: &Path,
            _: &Path,
        ) -> io::Result<()> {
            if !self.incremental_supported {
                return Err(io::Error::from_raw_os_error(libc::ENOSYS));
            }
            self.calls.lock().unwrap().push(Call::Incremental {
                lowers: lowers.len(),
            });
            Ok(())
        }
        fn unmount(&self, _: &Path) -> io::Result<()> {
            Ok(())
        }
    }

    fn many_lowers(n: usize) -> Vec<PathBuf> {
        (0..n)
            .map(|i| PathBuf::from(format!("/var/lib/hoist/snapshots/{i:064}/fs")))
            .collect()
    }

    #[test]
    fn a_layer_repeated_in_the_stack_is_mounted_once_at_its_topmost_place() {
        let sys = FakeSyscall::default();
        let lowers: Vec<PathBuf> = ["/s/e", "/s/2", "/s/e", "/s/e", "/s/1", "/s/2"]
            .iter()
            .map(PathBuf::from)
            .collect();
        mount_overlay_with(
            &sys,
            &lowers,
            Path::new("/u"),
            Path::new("/w"),
            Path::new("/m"),
        )
        .unwrap();
        assert_eq!(
            *sys.calls.lock().unwrap(),
            vec![Call::Mount {
                data: "lowerdir=/s/e:/s/2:/s/1,upperdir=/u,workdir=/w,index=off,redirect_dir=off,metacopy=off"
                    .into(),
                cwd: None
            }]
        );
    }

    #[test]
    fn short_chain_is_one_direct_mount_topmost_first() {
        let sys = FakeSyscall::default();
        let lowers = vec![PathBuf::from("/s/2"), PathBuf::from("/s/1")];
        mount_overlay_with(
            &sys,
            &lowers,
            Path::new("/u"),
            Path::new("/w"),
            Path::new("/m"),
        )
        .unwrap();
        assert_eq!(
            *sys.calls.lock().unwrap(),
            vec![Call::Mount {
                data: "lowerdir=/s/2:/s/1,upperdir=/u,workdir=/w,index=off,redirect_dir=off,metacopy=off"
                    .into(),
                cwd: None
            }]
        );
    }

    #[test]
    fn long_chain_prefers_incremental_api() {
        let sys = FakeSyscall {
            incremental_supported: true,
            ..Default::default()
        };
        let lowers = many_lowers(150);
        mount_overlay_with(
            &sys,
            &lowers,
            Path::new("/u"),
            Path::new("/w"),
            Path::new("/m"),
        )
        .unwrap();
        assert_eq!(
            *sys.calls.lock().unwrap(),
            vec![Call::Incremental { lowers: 150 }]
        );
    }

    #[test]
    fn long_chain_falls_back_to_relative_paths() {
        let sys = FakeSyscall::default();
        let lowers: Vec<PathBuf> = (0..150)
            .map(|i| PathBuf::from(format!("/var/lib/hoist/snapshots/{i}/fs")))
            .collect();
        mount_overlay_with(
            &sys,
            &lowers,
            Path::new("/u"),
            Path::new("/w"),
            Path::new("/m"),
        )
        .unwrap();
        let calls = sys.calls.lock().unwrap();
        let Call::Mount { data, cwd } = &calls[0] else {
            panic!("{calls:?}")
        };
        assert_eq!(cwd.as_deref(), Some(Path::new("/var/lib/hoist/snapshots")));
        assert!(data.starts_with("lowerdir=0/fs:1/fs:2/fs:"), "{data}");
        assert!(
            data.ends_with("149/fs,upperdir=/u,workdir=/w,index=off,redirect_dir=off,metacopy=off"),
            "{data}"
        );
    }

    #[test]
    fn too_long_without_new_api_is_a_clear_error() {
        let sys = FakeSyscall::default();
        let err = mount_overlay_with(
            &sys,
            &many_lowers(150),
            Path::new("/u"),
            Path::new("/w"),
            Path::new("/m"),
        )
        .unwrap_err();
        assert!(matches!(err, OverlayError::OptionsTooLong { .. }), "{err}");
        assert!(err.to_string().contains("shorter snapshot paths"));
    }

    #[test]
    fn zero_lowers_use_an_empty_dir_next_to_work() {
        let dir = tempfile::tempdir().unwrap();
        let work = dir.path().join("work");
        std::fs::create_dir(&work).unwrap();
        let sys = FakeSyscall::default();
        mount_overlay_with(&sys, &[], Path::new("/u"), &work, Path::new("/m")).unwrap();
        let empty = dir.path().join(EMPTY_LOWER_NAME);
        assert!(empty.is_dir());
        let calls = sys.calls.lock().unwrap();
        assert_eq!(
            calls[0],
            Call::Mount {
                data: format!(
                    "lowerdir={},upperdir=/u,workdir={},index=off,redirect_dir=off,metacopy=off",
                    empty.display(),
                    work.display()
                ),
                cwd: None
            }
        );
    }

    #[test]
    fn rejects_relative_and_unrepresentable_paths() {
        let sys = FakeSyscall::default();
        let bad = [PathBuf::from("rel")];
        assert!(matches!(
            mount_overlay_with(
                &sys,
                &bad,
                Path::new("/u"),
                Path::new("/w"),
                Path::new("/m")
            ),
            Err(OverlayError::NotAbsolute { .. })
        ));
        let bad = [PathBuf::from("/a:b")];
        assert!(matches!(
            mount_overlay_with(
                &sys,
                &bad,
                Path::new("/u"),
                Path::new("/w"),
                Path::new("/m")
            ),
            Err(OverlayError::UnsupportedPath { .. })
        ));
        assert!(sys.calls.lock().unwrap().is_empty());
    }

    #[test]
    fn common_parent_of_siblings() {
        let l = vec![PathBuf::from("/a/b/c/fs"), PathBuf::from("/a/b/d/fs")];
        assert_eq!(common_parent(&l), Some(PathBuf::from("/a/b")));
        assert_eq!(
            common_parent(&[PathBuf::from("/x/y")]),
            Some(PathBuf::from("/x"))
        );
    }
}
