//! The layer tar sink of the copy walk ([`super::walk`]): a deferred copy's new directories written into the
//! layer tar straight from the source, as [`crate::layer::LayerTar::add_as`] writes a copied entry.

use std::collections::HashMap;
use std::fs::Metadata;
use std::io;
use std::path::{Path, PathBuf};

use super::deferred::DeferredDir;
use super::walk::{CopySink, Walker};
use crate::layer::{self, EntryAs, LayerError, LayerTar};

/// See [`super::DeferredCopy::into_graft`].
pub struct CopyGraft<E> {
    /// By the new directory's path relative to the rootfs (its name in the layer).
    dirs: HashMap<PathBuf, DeferredDir>,
    how: EntryAs,
    excluded: E,
}

impl<E: Fn(&str) -> bool> CopyGraft<E> {
    pub(super) fn new(dirs: HashMap<PathBuf, DeferredDir>, how: EntryAs, excluded: E) -> Self {
        CopyGraft {
            dirs,
            how,
            excluded,
        }
    }

    /// For [`layer::write_layer_tar_grafted`]: writes the deferred directory at `name` (`path` in the upper
    /// dir) and its contents; false for any other directory.
    pub fn graft(&mut self, path: &Path, name: &Path, tar: &mut LayerTar) -> layer::Result<bool> {
        let Some(dir) = self.dirs.remove(name) else {
            return Ok(false);
        };
        match &dir.meta {
            Some(meta) => tar.add_as(&dir.src, name, meta, self.how)?,
            // The destination directory the copy created keeps what it was created with.
            None => tar.add_path(path, name)?,
        }
        let sink = TarSink { tar, how: self.how };
        let mut walker = Walker::new(sink, &self.excluded);
        walker.children(
            &mut dir.src.clone(),
            &mut name.to_path_buf(),
            &mut dir.rel.clone(),
            true,
        )?;
        Ok(true)
    }
}

/// Entries go into the tar by their name in the layer (`dst`); nothing is ever replaced in a new directory.
struct TarSink<'t, 'w> {
    tar: &'t mut LayerTar<'w>,
    how: EntryAs,
}

impl CopySink for TarSink<'_, '_> {
    type Error = LayerError;

    fn source_error(&self, _what: &'static str, path: &Path, source: io::Error) -> LayerError {
        LayerError::Read {
            path: path.to_path_buf(),
            source,
        }
    }

    fn enter_dir(
        &mut self,
        src: &Path,
        _rel: &str,
        dst: &Path,
        meta: &Metadata,
        _known_absent: bool,
        _inside_excluded: bool,
    ) -> layer::Result<Option<bool>> {
        self.tar.add_as(src, dst, meta, self.how)?;
        Ok(Some(true))
    }

    fn leave_dir(&mut self, _src: &Path, _dst: &Path, _meta: &Metadata) -> layer::Result<()> {
        Ok(())
    }

    fn open_excluded_dir(
        &mut self,
        src: &Path,
        dst: &Path,
        _known_absent: bool,
    ) -> layer::Result<()> {
        let meta =
            std::fs::symlink_metadata(src).map_err(|e| self.source_error("inspect", src, e))?;
        self.tar.add_as(src, dst, &meta, self.how)
    }

    fn close_excluded_dir(&mut self, _src: &Path, _dst: &Path) -> layer::Result<()> {
        Ok(())
    }

    fn add_entry(
        &mut self,
        src: &Path,
        dst: &Path,
        meta: &Metadata,
        _known_absent: bool,
    ) -> layer::Result<()> {
        self.tar.add_as(src, dst, meta, self.how)
    }
}
