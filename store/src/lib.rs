//! hoist-store: hoist's state directory.
//!
//! ```text
//! blobs/sha256/<hex>   configs, manifests, uncompressed layer tars (an OCI image layout: oci-layout, index.json),
//!                      and gzip/zstd copies of layers made once for export (table compressed_layers)
//! snapshots/<id>/      an unpacked layer in overlay format (the overlay lower dir); <id> is a small integer
//! cache.db             SQLite (WAL): snapshots, images, tags, the build cache index, the context stat cache
//! tmp/                 staging: everything is written there and renamed into place (+ per-layer compression locks)
//! owners/              one lock file per hoist process that staged something in tmp/, held while it lives
//! lock                 flock file for callers that need the whole store (garbage collection)
//! ```
//!
//! Every write goes through `tmp/` and a rename, so a killed hoist leaves a valid store; multi-step database
//! mutations run in `BEGIN IMMEDIATE` transactions, so concurrent hoists on one root are safe.

mod blobs;
mod cache;
mod cache_admin;
mod cache_filter;
mod cache_transfer;
mod check;
mod compress;
mod db;
mod delta;
mod delta_read;
mod delta_tee;
mod digest;
mod error;
mod export;
mod fsutil;
mod full_twin;
mod gc;
mod gzip;
mod images;
mod import;
mod layer_index;
mod load;
mod load_entries;
mod lock;
mod owner;
mod reference;
mod registry_records;
mod reports;
mod shadow;
mod snapshot_stack;
mod snapshots;
mod sweep;
mod tmpdir;
mod unpack;
mod unpack_pool;
mod unpack_write;

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

pub use blobs::BlobWriter;
pub use cache::{CacheRecord, ContextTree, StatCacheReader, StatEntry};
pub use cache_admin::{
    step_kind, CacheDiskUsage, CacheItem, CacheItemKind, PruneOptions, PruneReport, UsageLine,
    CONTEXT_CHECKSUMS_ID,
};
pub use cache_filter::{parse_duration, parse_size, CacheFilter, FilterError};
pub use cache_transfer::{
    decode_cache_records, encode_cache_records, CacheExportReport, CACHE_RECORDS_MEDIA_TYPE,
};
pub use check::{CheckOptions, CheckReport, Outcome, Problem};
pub use compress::LayerCompression;
pub use delta_tee::LayerWriter;
pub use digest::Digest;
pub use error::{Result, StoreError};
pub use gc::GcReport;
pub use images::ImageRecord;
pub use import::{decompressing_reader, Compression};
pub use lock::{StoreLock, WorkLock};
pub use owner::entry_is_owned;
pub use reference::normalize_reference;
pub use registry_records::LayerSource;
pub use tmpdir::TempDir;
pub use unpack::{apply_layer, unpack_layer, unpack_tar, UnpackOptions, PARALLEL_AFTER_ENTRIES};

use error::IoContext;

/// Staging entries of older hoists (named without an owner token, see [`owner`]) older than this are
/// leftovers of a killed hoist and are removed by [`Store::open`]. Entries with an owner token are removed by
/// [`Store::sweep_stale_tmp`] once their owner is gone, however old they are.
const STALE_TMP_AGE: Duration = Duration::from_secs(24 * 60 * 60);

/// hoist's state directory. `Send + Sync`: share one `Store` (for example in an `Arc`) between threads.
pub struct Store {
    root: PathBuf,
    tmp: PathBuf,
    blobs: PathBuf,
    snapshots: PathBuf,
    db_path: PathBuf,
    conn: Mutex<rusqlite::Connection>,
    /// One lock per layer being unpacked, so threads of one process unpack a layer once.
    unpacking: Mutex<HashMap<Digest, Arc<Mutex<()>>>>,
    /// This boot's id (`/proc/sys/kernel/random/boot_id`), `None` where it cannot be read.
    boot_id: Option<String>,
    /// Snapshots this process made and has not synced yet (see [`Store::sync_snapshots`]).
    unsynced_snapshots: Mutex<Vec<i64>>,
    /// Deltas found while their layers were written ([`Store::layer_writer`]), waiting for their snapshots.
    pending_diffs: delta_tee::PendingDiffs,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("root", &self.root).finish()
    }
}

impl Store {
    /// Open (creating if missing) the store at `root` and bring its database schema up to date.
    pub fn open(root: &Path) -> Result<Store> {
        let root = if root.is_absolute() {
            root.to_path_buf()
        } else {
            std::env::current_dir()
                .io_ctx("reading current directory for", root)?
                .join(root)
        };
        let tmp = root.join("tmp");
        let blobs = root.join("blobs").join("sha256");
        let snapshots = root.join("snapshots");
        for dir in [&root, &tmp, &owner::owners_dir(&tmp), &blobs, &snapshots] {
            fs::create_dir_all(dir).io_ctx("creating store directory", dir)?;
        }
        let db_path = root.join("cache.db");
        let conn = db::open(&db_path)?;
        let store = Store {
            root,
            tmp,
            blobs,
            snapshots,
            db_path,
            conn: Mutex::new(conn),
            unpacking: Mutex::new(HashMap::new()),
            boot_id: std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
                .ok()
                .map(|id| id.trim().to_string())
                .filter(|id| !id.is_empty()),
            unsynced_snapshots: Mutex::new(Vec::new()),
            pending_diffs: delta_tee::PendingDiffs::default(),
        };
        store.write_oci_layout_file()?;
        store.remove_stale_tmp();
        Ok(store)
    }

    /// `$HOIST_ROOT`, or `/var/lib/hoist`.
    pub fn default_root() -> PathBuf {
        match std::env::var_os("HOIST_ROOT") {
            Some(v) if !v.is_empty() => PathBuf::from(v),
            _ => PathBuf::from("/var/lib/hoist"),
        }
    }

    /// The state directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Staging directory on the store's filesystem: files made here can be renamed into the store.
    pub fn tmp_dir(&self) -> &Path {
        &self.tmp
    }

    /// `snapshots/`: the parent of every snapshot directory (mount relative to it to keep `lowerdir=` short).
    pub fn snapshots_dir(&self) -> &Path {
        &self.snapshots
    }

    /// A fresh directory under `tmp/`, removed on drop unless [`TempDir::keep`] is called.
    pub fn new_tmp_dir(&self, prefix: &str) -> Result<TempDir> {
        let path = self.tmp.join(owner::owned_name(&self.tmp, prefix)?);
        fs::create_dir(&path).io_ctx("creating staging directory", &path)?;
        Ok(TempDir::new(path))
    }

    /// Exclusive `flock` on `<root>/lock`, released on drop. Take it for store-wide work such as garbage
    /// collection; builds take [`Store::lock_shared`]. Store methods never take it themselves.
    pub fn lock(&self) -> Result<StoreLock> {
        StoreLock::acquire(&self.root.join("lock"), true)
    }

    /// [`Store::lock`] if nobody holds `<root>/lock` now; `None` (at once) while someone does.
    pub fn try_lock(&self) -> Result<Option<StoreLock>> {
        StoreLock::try_exclusive(&self.root.join("lock"))
    }

    /// Shared `flock` on `<root>/lock`: many holders at once, none while someone holds [`Store::lock`].
    pub fn lock_shared(&self) -> Result<StoreLock> {
        StoreLock::acquire(&self.root.join("lock"), false)
    }

    pub(crate) fn conn(&self) -> MutexGuard<'_, rusqlite::Connection> {
        // A panic while holding the lock cannot leave SQLite inconsistent (transactions roll back on drop).
        self.conn
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Waits for and takes the lock on running the build step whose cache key is `key`: a hoist about to run a
    /// step that another hoist is running right now (two services of one compose project sharing a first step)
    /// waits, then finds the step in the cache instead of running it twice.
    pub fn step_lock(&self, key: &str) -> Result<WorkLock> {
        // Keys are hex digests (maybe with an algorithm prefix); anything else is hashed into a file name.
        let name: String = if key.chars().all(|c| c.is_ascii_alphanumeric() || c == ':') {
            key.replace(':', "-")
        } else {
            use sha2::Digest as _;
            hex::encode(sha2::Sha256::digest(key.as_bytes()))
        };
        WorkLock::acquire(&self.tmp.join(format!("steplock-{name}.lock")))
    }

    /// The in-process lock for unpacking `diff_id`.
    pub(crate) fn unpack_lock(&self, diff_id: &Digest) -> Arc<Mutex<()>> {
        let mut map = self.unpacking.lock().unwrap_or_else(|p| p.into_inner());
        // Drop entries nobody holds any more, so the map stays small.
        map.retain(|_, lock| Arc::strong_count(lock) > 1);
        Arc::clone(map.entry(diff_id.clone()).or_default())
    }

    pub(crate) fn db_err(&self) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
        db::db_err(&self.db_path)
    }

    fn remove_stale_tmp(&self) {
        let Ok(entries) = fs::read_dir(&self.tmp) else {
            return;
        };
        let now = SystemTime::now();
        for entry in entries.flatten() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if owner::token_of_entry(&name).is_some() {
                continue;
            }
            let old = entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|m| now.duration_since(m).ok())
                .is_some_and(|age| age > STALE_TMP_AGE);
            if old {
                let _ = fsutil::remove_any(&entry.path());
            }
        }
    }

    // ---- blobs ----

    /// A writer for a new blob: it hashes while writing into `tmp/`; `commit` moves it into place.
    pub fn blob_writer(&self) -> Result<BlobWriter> {
        BlobWriter::new(&self.tmp, &self.blobs)
    }

    /// Store `bytes` as a blob and return its digest.
    pub fn put_blob(&self, bytes: &[u8]) -> Result<Digest> {
        let digest = Digest::of_bytes(bytes);
        if self.has_blob(&digest) {
            return Ok(digest);
        }
        let mut writer = self.blob_writer()?;
        std::io::Write::write_all(&mut writer, bytes).io_ctx("writing blob", self.tmp.clone())?;
        Ok(writer.commit()?.0)
    }

    /// Where the blob lives (it may not exist).
    pub fn blob_path(&self, d: &Digest) -> PathBuf {
        self.blobs.join(d.hex())
    }

    /// Whether the blob is in the store.
    pub fn has_blob(&self, d: &Digest) -> bool {
        self.blob_path(d).is_file()
    }

    /// Size of a stored blob.
    pub fn blob_size(&self, d: &Digest) -> Result<u64> {
        let path = self.blob_path(d);
        match fs::metadata(&path) {
            Ok(m) => Ok(m.len()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(StoreError::BlobNotFound {
                digest: d.to_string(),
                path,
            }),
            Err(e) => Err(e).io_ctx("reading metadata of blob", path),
        }
    }

    /// The blob's bytes (not re-verified: the store only ever renames complete, hashed files into place).
    pub fn read_blob(&self, d: &Digest) -> Result<Vec<u8>> {
        let path = self.blob_path(d);
        match fs::read(&path) {
            Ok(b) => Ok(b),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(StoreError::BlobNotFound {
                digest: d.to_string(),
                path,
            }),
            Err(e) => Err(e).io_ctx("reading blob", path),
        }
    }

    /// Open a blob for streaming.
    pub fn open_blob(&self, d: &Digest) -> Result<fs::File> {
        let path = self.blob_path(d);
        match fs::File::open(&path) {
            Ok(f) => Ok(f),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(StoreError::BlobNotFound {
                digest: d.to_string(),
                path,
            }),
            Err(e) => Err(e).io_ctx("opening blob", path),
        }
    }

    /// `oci-layout` and `index.json`, so the root is an OCI image layout from the start.
    fn write_oci_layout_file(&self) -> Result<()> {
        let layout = self.root.join("oci-layout");
        if !layout.exists() {
            fsutil::write_atomic(&self.tmp, &layout, br#"{"imageLayoutVersion":"1.0.0"}"#)?;
        }
        if !self.root.join("index.json").exists() {
            // Under the database's write lock, like every other index.json writer, so a concurrent `tag` is
            // never overwritten by a stale list.
            let mut conn = self.conn();
            let tx = conn
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .map_err(self.db_err())?;
            self.write_index_json(&tx)?;
            tx.commit().map_err(self.db_err())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn store_is_send_and_sync() {
        assert_send_sync::<Store>();
    }
}
