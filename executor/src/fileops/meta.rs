//! Setting owner, mode, times and xattrs on created entries (never following a symlink at the path).

use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use nix::sys::stat::{utimensat, UtimensatFlags};
use nix::sys::time::TimeSpec;

use super::error::{CopyError, Result};

pub(crate) fn lchown(path: &Path, owner: (u32, u32)) -> Result<()> {
    std::os::unix::fs::lchown(path, Some(owner.0), Some(owner.1))
        .map_err(|e| CopyError::io("change owner of", path, e))
}

/// chmod; callers never pass a symlink (Linux has no lchmod).
pub(crate) fn chmod(path: &Path, mode: u32) -> Result<()> {
    fs::set_permissions(path, fs::Permissions::from_mode(mode & 0o7777))
        .map_err(|e| CopyError::io("change mode of", path, e))
}

/// Sets access and modification times without following a symlink at `path`.
pub(crate) fn set_times(path: &Path, atime: (i64, i64), mtime: (i64, i64)) -> Result<()> {
    let atime = TimeSpec::new(atime.0, atime.1);
    let mtime = TimeSpec::new(mtime.0, mtime.1);
    utimensat(None, path, &atime, &mtime, UtimensatFlags::NoFollowSymlink)
        .map_err(|e| CopyError::io("set times of", path, std::io::Error::from(e)))
}

/// Copies extended attributes (e.g. `security.capability`) from `src` to `dst`. Attributes the destination
/// file system refuses are skipped: BuildKit ignores those too, and a missing one never breaks the build.
pub(crate) fn copy_xattrs(src: &Path, dst: &Path) {
    let Ok(names) = xattr::list(src) else {
        return;
    };
    for name in names {
        if !is_portable_xattr(name.as_bytes()) {
            continue;
        }
        if let Ok(Some(value)) = xattr::get(src, &name) {
            let _ = xattr::set(dst, &name, &value);
        }
    }
}

/// Host-specific attributes never go into a layer: overlayfs' own (`trusted.overlay.opaque` in a snapshot would
/// hide the lower layers' files) and SELinux labels of the build host.
pub(crate) fn is_portable_xattr(name: &[u8]) -> bool {
    !name.starts_with(b"trusted.overlay.") && name != b"security.selinux"
}
