//! Small filesystem helpers: unique names, fsync, atomic replace.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use rand::Rng;

use crate::error::{IoContext, Result};

/// A name that no other process will pick: prefix, pid and 64 random bits. For files outside the store's
/// `tmp/` (whose entries take [`crate::owner::owned_name`]).
pub(crate) fn unique_name(prefix: &str) -> String {
    let random: u64 = rand::thread_rng().gen();
    format!("{prefix}-{}-{random:016x}", std::process::id())
}

/// fsync a directory so that a rename inside it survives a crash.
pub(crate) fn fsync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|f| f.sync_all())
        .io_ctx("syncing directory", dir)
}

/// `syncfs(2)` of the filesystem holding `path`: everything written there reaches the disk.
pub(crate) fn sync_filesystem(path: &Path) -> Result<()> {
    use std::os::fd::AsRawFd as _;
    let dir = File::open(path).io_ctx("opening", path)?;
    // SAFETY: a plain syscall on a descriptor we own for the duration of the call.
    if unsafe { libc::syncfs(dir.as_raw_fd()) } != 0 {
        return Err(std::io::Error::last_os_error()).io_ctx("syncing the filesystem of", path);
    }
    Ok(())
}

/// Write `bytes` to `dest` atomically: write a file in `staging` (same filesystem), fsync, rename.
/// (The file lives for milliseconds; one a killed hoist left in the store's `tmp/` goes by the age rule.)
pub(crate) fn write_atomic(staging: &Path, dest: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = staging.join(unique_name("write"));
    let result = (|| {
        let mut f = File::create(&tmp).io_ctx("creating", &tmp)?;
        f.write_all(bytes).io_ctx("writing", &tmp)?;
        f.sync_all().io_ctx("syncing", &tmp)?;
        fs::rename(&tmp, dest).io_ctx("renaming into place", dest)?;
        if let Some(parent) = dest.parent() {
            fsync_dir(parent)?;
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Remove a file or a whole tree; a missing path is fine.
pub(crate) fn remove_any(path: &Path) -> Result<()> {
    let meta = match fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e).io_ctx("inspecting", path),
    };
    if meta.is_dir() {
        fs::remove_dir_all(path).io_ctx("removing directory", path)
    } else {
        fs::remove_file(path).io_ctx("removing", path)
    }
}

/// A path next to `dest` (same directory, so a rename onto `dest` is atomic).
pub(crate) fn sibling_tmp(dest: &Path) -> PathBuf {
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".to_string());
    dest.with_file_name(unique_name(&format!(".{name}.tmp")))
}
