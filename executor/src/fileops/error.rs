//! The error type of file operations.
//!
//! Display and Error are written by hand because the variant the solver matches on carries a field named
//! `source` (the COPY source as written), which `thiserror` would take for the error's cause.

use std::fmt;
use std::io;
use std::path::PathBuf;

pub type Result<T> = std::result::Result<T, CopyError>;

#[derive(Debug)]
#[non_exhaustive]
pub enum CopyError {
    /// A COPY/ADD source does not exist in the source root, or `.dockerignore` / `--exclude` drops it.
    SourceNotFound { source: String },
    /// A system call failed on a path.
    Io {
        action: &'static str,
        path: PathBuf,
        error: io::Error,
    },
    /// Following symlinks while resolving `path` did not end (more than 255 links).
    SymlinkLoop { path: String },
    /// A directory was needed at `path` (inside the root) but something else is there.
    NotADirectory { path: String },
    /// A file (or symlink, device) would replace the directory at `path`.
    CannotReplaceDirectory { path: String },
    /// A wildcard source is malformed.
    InvalidPattern {
        pattern: String,
        reason: &'static str,
    },
    /// An archive entry would land outside the extraction directory (`..`, a hardlink or symlink out).
    ArchiveEntryOutside {
        archive: String,
        entry: String,
        reason: &'static str,
    },
    /// The archive could not be read (truncated, corrupt compression, bad tar header).
    Archive { archive: String, error: io::Error },
}

impl CopyError {
    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>, error: io::Error) -> Self {
        CopyError::Io {
            action,
            path: path.into(),
            error,
        }
    }
}

impl fmt::Display for CopyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CopyError::SourceNotFound { source } => {
                let shown = format!("/{}", super::paths::clean_relative(source));
                write!(
                    f,
                    "{shown:?} not found in the copy source (the build context, or the --from stage or image); \
                     check the path, and .dockerignore for the context"
                )
            }
            CopyError::Io { action, path, error } => {
                write!(f, "failed to {action} {}: {error}", path.display())
            }
            CopyError::SymlinkLoop { path } => {
                write!(f, "too many levels of symbolic links while resolving {path:?}")
            }
            CopyError::NotADirectory { path } => write!(
                f,
                "cannot use {path:?} as a directory: it exists and is not one (remove it first, or pick another path)"
            ),
            CopyError::CannotReplaceDirectory { path } => write!(
                f,
                "cannot replace directory {path:?} with a file (copy into it with a trailing slash, or remove it first)"
            ),
            CopyError::InvalidPattern { pattern, reason } => {
                write!(f, "invalid wildcard in source {pattern:?}: {reason}")
            }
            CopyError::ArchiveEntryOutside { archive, entry, reason } => write!(
                f,
                "refusing to extract {archive:?}: entry {entry:?} {reason} (the archive is unsafe; rebuild it with relative paths)"
            ),
            CopyError::Archive { archive, error } => {
                write!(f, "failed to extract archive {archive:?}: {error}")
            }
        }
    }
}

// The io::Error is already part of the message, so `source()` stays `None` to avoid printing it twice.
impl std::error::Error for CopyError {}
