//! Staging directories under the store's `tmp/`.

use std::path::{Path, PathBuf};

/// A fresh directory under the store's `tmp/`; removed (recursively) on drop unless [`TempDir::keep`] is called.
#[derive(Debug)]
pub struct TempDir {
    path: Option<PathBuf>,
}

impl TempDir {
    pub(crate) fn new(path: PathBuf) -> TempDir {
        TempDir { path: Some(path) }
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        self.path.as_deref().unwrap_or_else(|| Path::new(""))
    }

    /// Keep the directory on disk (for example after renaming it elsewhere) and return its path.
    pub fn keep(mut self) -> PathBuf {
        self.path.take().unwrap_or_default()
    }
}

impl AsRef<Path> for TempDir {
    fn as_ref(&self) -> &Path {
        self.path()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if let Some(path) = self.path.take() {
            // An overlay upper dir may hold immutable-looking modes; remove_dir_all copes as root.
            let _ = crate::fsutil::remove_any(&path);
        }
    }
}
