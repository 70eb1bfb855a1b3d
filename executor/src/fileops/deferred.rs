//! The second part of a [`super::copy_deferring`]: the directories the first part created in the merged view
//! and left empty, filled after the overlay is unmounted, straight into the upper dir ([`DeferredCopy::finish`],
//! on all cores) or into the layer tar ([`DeferredCopy::into_graft`]).

use std::collections::HashMap;
use std::ffi::OsString;
use std::fs::{FileType, Metadata};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use super::copy::{CopyRequest, CopyStats};
use super::dirsink::DirSink;
use super::error::{CopyError, Result};
use super::graft::CopyGraft;
use super::walk::{join_rel, sorted_entries, Walker};
use crate::layer::EntryAs;

/// The directories a [`super::copy_deferring`] created and left to fill.
#[derive(Debug, Default)]
pub struct DeferredCopy {
    pub(super) dirs: Vec<DeferredDir>,
    /// The merged root the first part wrote to (hardlink targets are translated from it).
    pub(super) merged_root: PathBuf,
    pub(super) hardlinks: HardLinks,
}

/// (device, inode) of a multiply-linked source file → where its first copy went.
pub(super) type HardLinks = HashMap<(u64, u64), PathBuf>;

#[derive(Debug)]
pub(super) struct DeferredDir {
    pub(super) src: PathBuf,
    /// `src` relative to the source root, for the exclusion predicate.
    pub(super) rel: String,
    /// The new directory, relative to the rootfs (no symlinks: resolved in the merged view).
    pub(super) dst: PathBuf,
    /// The source directory's metadata, applied once its contents are in; `None` for a destination directory
    /// the copy created (left 0755, owned by --chown).
    pub(super) meta: Option<Metadata>,
}

impl DeferredCopy {
    pub fn is_empty(&self) -> bool {
        self.dirs.is_empty()
    }

    /// Fills the deferred directories inside `upper_root` (the upper dir of the unmounted overlay that
    /// [`super::copy_deferring`] wrote to), on all cores: every entry of a new directory is a subtree of its own.
    /// `req` is the same request, `dest_root` aside.
    pub fn finish(self, req: &CopyRequest, upper_root: &Path) -> Result<CopyStats> {
        let hardlinks: HardLinks = self
            .hardlinks
            .into_iter()
            .filter_map(|(key, first)| {
                let inner = first.strip_prefix(&self.merged_root).ok()?;
                Some((key, upper_root.join(inner)))
            })
            .collect();
        let hardlinks = Arc::new(Mutex::new(hardlinks));
        let how = req.entry_as();
        let sink = || DirSink {
            hardlinks: Arc::clone(&hardlinks),
            root_override: Some(upper_root.to_path_buf()),
            ..DirSink::new(req, how)
        };
        // One unit per entry of each new directory, in order.
        let mut units: Vec<(usize, OsString, FileType)> = Vec::new();
        for (index, dir) in self.dirs.iter().enumerate() {
            let entries = sorted_entries(&dir.src)
                .map_err(|e| CopyError::io("read directory", &dir.src, e))?;
            units.extend(
                entries
                    .into_iter()
                    .map(|(name, file_type)| (index, name, file_type)),
            );
        }
        let next = AtomicUsize::new(0);
        let failed = AtomicBool::new(false);
        let dirs = &self.dirs;
        let work = || -> Result<CopyStats> {
            let mut walker = Walker::new(sink(), req.excluded);
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some((index, name, file_type)) = units.get(i) else {
                    break;
                };
                if failed.load(Ordering::Relaxed) {
                    break;
                }
                let dir = &dirs[*index];
                let mut src = dir.src.join(name);
                let mut dst = upper_root.join(&dir.dst).join(name);
                let mut rel = join_rel(&dir.rel, &name.to_string_lossy());
                if let Err(e) = walker.child(&mut src, &mut dst, &mut rel, *file_type, true) {
                    failed.store(true, Ordering::Relaxed);
                    return Err(e);
                }
            }
            Ok(walker.sink.stats)
        };
        let threads = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
            .clamp(1, 8);
        let results: Vec<Result<CopyStats>> = std::thread::scope(|scope| {
            let handles: Vec<_> = (1..threads).map(|_| scope.spawn(work)).collect();
            let mut results = vec![work()];
            for handle in handles {
                results.push(handle.join().unwrap_or_else(|_| {
                    Err(CopyError::io(
                        "copy",
                        upper_root,
                        io::Error::other("a copying thread panicked"),
                    ))
                }));
            }
            results
        });
        let mut stats = CopyStats::default();
        for part in results {
            stats.add(&part?);
        }
        // The new directories' own metadata (and times) once everything is in them.
        let sink = sink();
        for dir in dirs {
            if let Some(meta) = &dir.meta {
                sink.apply_metadata(&dir.src, &upper_root.join(&dir.dst), meta)?;
            }
        }
        Ok(stats)
    }

    /// Whether [`DeferredCopy::into_graft`] can write this copy: not when a file the first part copied has
    /// other links inside the deferred directories (the graft would have to interleave with the upper dir).
    pub fn graftable(&self) -> bool {
        self.hardlinks.is_empty()
    }

    /// The deferred directories as a [`crate::layer::Graft`]: written into the layer tar straight from the
    /// source, entry for entry what [`DeferredCopy::finish`] followed by [`crate::layer::write_layer_tar`]
    /// would write, without creating the files. `how` ([`CopyRequest::entry_as`]) and `excluded` are the
    /// request's.
    pub fn into_graft<E: Fn(&str) -> bool>(self, how: EntryAs, excluded: E) -> CopyGraft<E> {
        CopyGraft::new(
            self.dirs
                .into_iter()
                .map(|dir| (dir.dst.clone(), dir))
                .collect(),
            how,
            excluded,
        )
    }
}
