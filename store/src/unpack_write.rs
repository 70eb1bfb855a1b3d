//! Writing one regular file of a layer and applying an entry's metadata to a descriptor: shared by the
//! unpacker's reader thread ([`crate::unpack`]) and its file workers ([`crate::unpack_pool`]).

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::{Duration, SystemTime};

use nix::errno::Errno;
use nix::fcntl::{openat, OFlag};
use nix::sys::stat::Mode;
use nix::sys::time::TimeSpec;
use nix::unistd::{Gid, Uid};

use crate::error::{Result, StoreError};

/// Metadata applied to a new node.
pub(crate) struct Meta {
    pub uid: u32,
    pub gid: u32,
    pub mode: u32,
    pub mtime: SystemTime,
    pub xattrs: Vec<(OsString, Vec<u8>)>,
}

/// The error for an entry of layer `label` that cannot be unpacked.
pub(crate) fn bad_entry(label: &str, entry: &Path, reason: impl Into<String>) -> StoreError {
    StoreError::BadLayerEntry {
        layer: label.to_string(),
        entry: entry.display().to_string(),
        reason: reason.into(),
    }
}

pub(crate) fn sys_error(label: &str, entry: &Path, action: &str, errno: Errno) -> StoreError {
    bad_entry(
        label,
        entry,
        format!("{action}: {}", io::Error::from(errno)),
    )
}

/// Create the regular file `name` in `parent` (which must not exist: `O_EXCL`, never following a symlink),
/// fill it from `data` and apply `meta`. `entry` (the tar path) and `label` name it in errors.
pub(crate) fn write_file(
    parent: &OwnedFd,
    name: &OsStr,
    data: &mut dyn Read,
    meta: &Meta,
    entry: &Path,
    label: &str,
) -> Result<()> {
    let fd = openat(
        Some(parent.as_raw_fd()),
        name,
        OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::from_bits_truncate(0o600),
    )
    .map_err(|e| sys_error(label, entry, "creating file", e))?;
    // SAFETY: openat returned a fresh descriptor that nothing else owns.
    let mut file = unsafe { File::from_raw_fd(fd) };
    io::copy(data, &mut file).map_err(|e| bad_entry(label, entry, format!("writing file: {e}")))?;
    apply_fd_meta(&OwnedFd::from(file), meta, entry, true, label)
}

/// Owner, mode, xattrs and (unless `set_mtime` is false, as for directories, whose times are set last) mtime.
pub(crate) fn apply_fd_meta(
    fd: &OwnedFd,
    meta: &Meta,
    entry: &Path,
    set_mtime: bool,
    label: &str,
) -> Result<()> {
    let raw = fd.as_raw_fd();
    // chown first: it clears setuid/setgid bits that chmod then restores.
    nix::unistd::fchown(
        raw,
        Some(Uid::from_raw(meta.uid)),
        Some(Gid::from_raw(meta.gid)),
    )
    .map_err(|e| sys_error(label, entry, "setting owner", e))?;
    nix::sys::stat::fchmod(raw, Mode::from_bits_truncate(meta.mode))
        .map_err(|e| sys_error(label, entry, "setting mode", e))?;
    for (name, value) in &meta.xattrs {
        xattr_set_fd(fd, name, value).map_err(|e| {
            bad_entry(
                label,
                entry,
                format!("setting xattr {}: {e}", name.to_string_lossy()),
            )
        })?;
    }
    if set_mtime {
        let t = timespec(meta.mtime);
        nix::sys::stat::futimens(raw, &t, &t)
            .map_err(|e| sys_error(label, entry, "setting mtime", e))?;
    }
    Ok(())
}

pub(crate) fn xattr_set_fd(fd: &OwnedFd, name: &OsStr, value: &[u8]) -> io::Result<()> {
    let name = std::ffi::CString::new(name.as_bytes()).map_err(io::Error::other)?;
    // SAFETY: valid descriptor, NUL-terminated name, value pointer and length from a live slice.
    let rc = unsafe {
        libc::fsetxattr(
            fd.as_raw_fd(),
            name.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

pub(crate) fn timespec(t: SystemTime) -> TimeSpec {
    let d = t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    TimeSpec::new(
        d.as_secs() as libc::time_t,
        d.subsec_nanos() as libc::c_long,
    )
}

/// PAX times are decimal seconds (`1700000000.123456789`); parse exactly, not through f64.
pub(crate) fn parse_pax_time(v: &str) -> Option<SystemTime> {
    let (secs, frac) = v.split_once('.').unwrap_or((v, ""));
    let secs: u64 = secs.parse().ok()?;
    let digits: String = frac.chars().take(9).collect();
    if !digits.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let nanos: u32 = if digits.is_empty() {
        0
    } else {
        format!("{digits:0<9}").parse().ok()?
    };
    Some(SystemTime::UNIX_EPOCH + Duration::new(secs, nanos))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pax_times_parse_exactly() {
        let t = |s| parse_pax_time(s).map(|t| t.duration_since(SystemTime::UNIX_EPOCH).unwrap());
        assert_eq!(t("1700000000"), Some(Duration::new(1_700_000_000, 0)));
        assert_eq!(
            t("1700000000.5"),
            Some(Duration::new(1_700_000_000, 500_000_000))
        );
        assert_eq!(
            t("1795603709.332145295"),
            Some(Duration::new(1_795_603_709, 332_145_295))
        );
        assert_eq!(t("1.1234567891"), Some(Duration::new(1, 123_456_789)));
        assert_eq!(t("-1"), None);
        assert_eq!(t("x"), None);
    }
}
