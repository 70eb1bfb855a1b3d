//! The directory sink of the copy walk ([`super::walk`]): entries are made on disk under a root (the step's
//! merged rootfs, or an upper dir for [`super::deferred`]), with owner, mode, xattrs and times as
//! [`EntryAs`] says, and the files of a source hardlink set linked again.

use std::fs::{self, Metadata};
use std::io;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::copy::{CopyRequest, CopyStats};
use super::deferred::{DeferredDir, HardLinks};
use super::error::{CopyError, Result};
use super::meta;
use super::paths::display_in_root;
use super::securejoin::is_missing;
use super::walk::CopySink;
use crate::layer::EntryAs;

pub(super) struct DirSink<'r, 'a> {
    pub(super) req: &'r CopyRequest<'a>,
    /// The request's [`CopyRequest::entry_as`].
    pub(super) how: EntryAs,
    /// (device, inode) of a multiply-linked source file → where its first copy went (shared by the sinks
    /// of a [`super::deferred::DeferredCopy::finish`] on several threads).
    pub(super) hardlinks: Arc<Mutex<HardLinks>>,
    pub(super) stats: CopyStats,
    /// `Some` while [`super::copy_deferring`]: new directories are recorded here instead of filled.
    pub(super) defer: Option<Vec<DeferredDir>>,
    /// The root written to when it is not `req.dest_root` ([`super::deferred::DeferredCopy::finish`]).
    pub(super) root_override: Option<PathBuf>,
}

impl<'r, 'a> DirSink<'r, 'a> {
    /// A sink for `req`, writing entries as `how` (the request's [`CopyRequest::entry_as`], computed once
    /// per copy: it holds the time given to the context's directories).
    pub(super) fn new(req: &'r CopyRequest<'a>, how: EntryAs) -> Self {
        DirSink {
            req,
            how,
            hardlinks: Arc::default(),
            stats: CopyStats::default(),
            defer: None,
            root_override: None,
        }
    }

    pub(super) fn dest_root(&self) -> &Path {
        self.root_override.as_deref().unwrap_or(self.req.dest_root)
    }

    /// Records a directory just created (empty, with nothing below it in any layer) for
    /// [`super::deferred::DeferredCopy::finish`]; false when not deferring (the caller fills it now).
    pub(super) fn defer_dir(
        &mut self,
        src: &Path,
        rel: &str,
        dst: &Path,
        meta: Option<&Metadata>,
    ) -> bool {
        let Some(inner) = dst
            .strip_prefix(self.req.dest_root)
            .ok()
            .map(Path::to_path_buf)
        else {
            return false;
        };
        let Some(deferred) = self.defer.as_mut() else {
            return false;
        };
        deferred.push(DeferredDir {
            src: src.to_path_buf(),
            rel: rel.to_string(),
            dst: inner,
            meta: meta.cloned(),
        });
        true
    }

    /// Owner, mode, xattrs and times of the source, as [`CopyRequest::entry_as`] says.
    pub(super) fn apply_metadata(&self, src: &Path, dst: &Path, meta: &Metadata) -> Result<()> {
        meta::lchown(dst, self.how.owner_of(meta))?;
        let file_type = meta.file_type();
        if !file_type.is_symlink() {
            let mode = self.how.mode_of(meta.mode());
            // fs::copy already gave a regular file the source's mode; chown clears setuid/setgid though.
            if !file_type.is_file() || self.how.mode.is_some() || mode & 0o6000 != 0 {
                meta::chmod(dst, mode)?;
            }
            if self.how.xattrs {
                meta::copy_xattrs(src, dst);
            }
        }
        let mtime = match self.how.dir_mtime {
            Some(time) if file_type.is_dir() => (time, 0),
            _ => (meta.mtime(), meta.mtime_nsec()),
        };
        meta::set_times(dst, (meta.atime(), meta.atime_nsec()), mtime)
    }

    fn copy_file(&mut self, src: &Path, dst: &Path, meta: &Metadata) -> Result<()> {
        if meta.nlink() > 1 {
            // The map stays locked while the first copy is made, so that a sink on another thread links to
            // a finished file rather than copying the same inode twice.
            let key = (meta.dev(), meta.ino());
            let hardlinks = Arc::clone(&self.hardlinks);
            let mut links = hardlinks.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(first) = links.get(&key) {
                fs::hard_link(first, dst).map_err(|e| CopyError::io("create hardlink", dst, e))?;
                self.stats.hardlinks += 1;
                return Ok(());
            }
            let bytes = fs::copy(src, dst).map_err(|e| CopyError::io("copy to", dst, e))?;
            links.insert(key, dst.to_path_buf());
            drop(links);
            self.stats.files += 1;
            self.stats.bytes += bytes;
        } else {
            let bytes = fs::copy(src, dst).map_err(|e| CopyError::io("copy to", dst, e))?;
            self.stats.files += 1;
            self.stats.bytes += bytes;
        }
        self.apply_metadata(src, dst, meta)
    }
}

impl CopySink for DirSink<'_, '_> {
    type Error = CopyError;

    fn source_error(&self, what: &'static str, path: &Path, error: io::Error) -> CopyError {
        CopyError::io(what, path, error)
    }

    fn enter_dir(
        &mut self,
        src: &Path,
        rel: &str,
        dst: &Path,
        meta: &Metadata,
        known_absent: bool,
        inside_excluded: bool,
    ) -> Result<Option<bool>> {
        let created = ensure_dir(self.dest_root(), dst, known_absent)?;
        if created {
            self.stats.dirs += 1;
            // Inside an excluded directory, its creation waits on its entries: keep that path simple.
            if !inside_excluded && self.defer_dir(src, rel, dst, Some(meta)) {
                return Ok(None);
            }
        }
        Ok(Some(created))
    }

    fn leave_dir(&mut self, src: &Path, dst: &Path, meta: &Metadata) -> Result<()> {
        self.apply_metadata(src, dst, meta)
    }

    fn open_excluded_dir(&mut self, _src: &Path, dst: &Path, known_absent: bool) -> Result<()> {
        if ensure_dir(self.dest_root(), dst, known_absent)? {
            self.stats.dirs += 1;
        }
        Ok(())
    }

    fn close_excluded_dir(&mut self, src: &Path, dst: &Path) -> Result<()> {
        let meta = fs::symlink_metadata(src).map_err(|e| CopyError::io("inspect", src, e))?;
        self.apply_metadata(src, dst, &meta)
    }

    fn add_entry(
        &mut self,
        src: &Path,
        dst: &Path,
        meta: &Metadata,
        known_absent: bool,
    ) -> Result<()> {
        if !known_absent {
            remove_file_target(self.dest_root(), dst)?;
        }
        let file_type = meta.file_type();
        if file_type.is_file() {
            return self.copy_file(src, dst, meta);
        }
        if file_type.is_symlink() {
            let target = fs::read_link(src).map_err(|e| CopyError::io("read symlink", src, e))?;
            std::os::unix::fs::symlink(&target, dst)
                .map_err(|e| CopyError::io("create symlink", dst, e))?;
            self.stats.symlinks += 1;
        } else {
            // A device node: BuildKit's copy (Docker 20.10's fsutil) calls mknod with Go's mode bits, which
            // carry no file type, so it makes an empty regular file with the node's owner and mode.
            fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(dst)
                .map_err(|e| CopyError::io("create", dst, e))?;
            self.stats.files += 1;
        }
        self.apply_metadata(src, dst, meta)
    }
}

/// Makes sure a directory exists at `dst` (not following a symlink there). Returns true when it was created.
pub(super) fn ensure_dir(root: &Path, dst: &Path, known_absent: bool) -> Result<bool> {
    if !known_absent {
        match fs::symlink_metadata(dst) {
            Ok(m) if m.is_dir() => return Ok(false),
            Ok(_) => {
                return Err(CopyError::NotADirectory {
                    path: display_in_root(root, dst),
                })
            }
            Err(e) if is_missing(&e) => {}
            Err(e) => return Err(CopyError::io("inspect", dst, e)),
        }
    }
    fs::create_dir(dst).map_err(|e| CopyError::io("create directory", dst, e))?;
    Ok(true)
}

/// Clears the way for a non-directory at `dst`: an existing file or symlink is removed, a directory refused.
fn remove_file_target(root: &Path, dst: &Path) -> Result<()> {
    match fs::symlink_metadata(dst) {
        Ok(m) if m.is_dir() => Err(CopyError::CannotReplaceDirectory {
            path: display_in_root(root, dst),
        }),
        Ok(_) => fs::remove_file(dst).map_err(|e| CopyError::io("replace", dst, e)),
        Err(e) if is_missing(&e) => Ok(()),
        Err(e) => Err(CopyError::io("inspect", dst, e)),
    }
}
