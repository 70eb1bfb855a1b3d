//! A build cache held elsewhere (a registry, for `--cache-from type=registry`): consulted when the store misses,
//! and only for the steps the build reaches, so a build fetches just the layers it uses.
//!
//! The solver knows no registry: the CLI hands it a [`RemoteCache`] that has read the remote records.

use std::sync::Arc;

use hoist_store::{CacheRecord, Digest, Store};

use crate::stage::Build;
use crate::Result;

/// Cache records and layers that are not in the store yet.
pub trait RemoteCache: Send + Sync {
    /// The remote record of step `key`, if there is one.
    fn record(&self, key: &str) -> Option<CacheRecord>;
    /// Put layer `diff_id` (of a record [`RemoteCache::record`] returned) into `store`, verified.
    fn fetch_layer(&self, store: &Store, diff_id: &Digest) -> std::result::Result<(), String>;
}

/// A [`RemoteCache`] in [`crate::BuildOptions`] (which must be `Debug` and `Clone`).
#[derive(Clone)]
pub struct RemoteCacheHandle(pub Arc<dyn RemoteCache>);

impl std::fmt::Debug for RemoteCacheHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RemoteCacheHandle")
    }
}

impl Build<'_> {
    /// Step `key`'s record from the remote caches, its layer fetched and the record added to the store (so the
    /// next build finds it locally). `None` when no remote cache has it, or its layer could not be fetched (a
    /// warning says why; the step then runs).
    pub(crate) fn remote_record(&self, key: &str) -> Result<Option<CacheRecord>> {
        for remote in &self.options.remote_caches {
            let Some(mut record) = remote.0.record(key) else {
                continue;
            };
            if let Some(layer) = &record.layer {
                if !self.store.has_blob(layer) {
                    if let Err(message) = remote.0.fetch_layer(self.store, layer) {
                        self.warn(&format!(
                            "remote cache: layer {layer} of a cached step could not be fetched, running the step: {message}"
                        ));
                        continue;
                    }
                }
            }
            let now = chrono::Utc::now().timestamp();
            record.last_used = now;
            record.used_count = 0;
            self.store.cache_insert(&record)?;
            return Ok(Some(record));
        }
        Ok(None)
    }
}
