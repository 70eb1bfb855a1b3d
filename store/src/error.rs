//! The store's error type: every message says what failed and where.

use std::path::PathBuf;

/// Errors returned by the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A filesystem operation failed.
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The SQLite database failed.
    #[error("state database {path}: {source}{}", db_hint(.source))]
    Db {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    /// A string is not a valid `sha256:<64 hex>` digest.
    #[error("invalid digest {0:?}: expected \"sha256:\" followed by 64 lowercase hex digits")]
    InvalidDigest(String),
    /// A blob that something refers to is not in the content store.
    #[error("blob {digest} is missing from {path}; the store may have been garbage collected, rebuild or re-import the image")]
    BlobNotFound { digest: String, path: PathBuf },
    /// A stored or supplied JSON document could not be (de)serialised.
    #[error("{what}: {message}")]
    Json { what: String, message: String },
    /// An image reference (`name[:tag]`) is malformed.
    #[error("invalid reference {reference:?}: {reason}")]
    InvalidReference { reference: String, reason: String },
    /// No image matches a reference.
    #[error("no such image: {0}")]
    ImageNotFound(String),
    /// An image ID prefix matches more than one image.
    #[error(
        "image ID prefix {prefix:?} is ambiguous: it matches {count} images; use more characters"
    )]
    AmbiguousImageId { prefix: String, count: usize },
    /// A layer tar contains an entry that would escape the snapshot or that hoist cannot represent.
    #[error("layer {layer}: entry {entry:?}: {reason}")]
    BadLayerEntry {
        layer: String,
        entry: String,
        reason: String,
    },
    /// A tar stream could not be read.
    #[error("reading tar {what}: {source}")]
    Tar {
        what: String,
        #[source]
        source: std::io::Error,
    },
    /// The store's database was written by a newer hoist.
    #[error("state database {path} has schema version {found}, this hoist understands up to {supported}; upgrade hoist or use another --root")]
    SchemaTooNew {
        path: PathBuf,
        found: i64,
        supported: i64,
    },
    /// An image configuration is not usable as given.
    #[error("invalid image: {0}")]
    InvalidImage(String),
}

/// The store's result type.
pub type Result<T> = std::result::Result<T, StoreError>;

/// Attach a path and an action to an `io::Error`.
pub(crate) trait IoContext<T> {
    fn io_ctx(self, action: &'static str, path: impl Into<PathBuf>) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn io_ctx(self, action: &'static str, path: impl Into<PathBuf>) -> Result<T> {
        self.map_err(|source| StoreError::Io {
            action,
            path: path.into(),
            source,
        })
    }
}

impl<T> IoContext<T> for nix::Result<T> {
    fn io_ctx(self, action: &'static str, path: impl Into<PathBuf>) -> Result<T> {
        self.map_err(|errno| StoreError::Io {
            action,
            path: path.into(),
            source: std::io::Error::from(errno),
        })
    }
}

/// What to do about a database error, where there is something to say.
fn db_hint(error: &rusqlite::Error) -> &'static str {
    match error.sqlite_error_code() {
        Some(rusqlite::ErrorCode::DiskFull) => {
            " (No space left on device: free space on the state directory's filesystem, for example with `hoist cache prune`)"
        }
        _ => "",
    }
}
