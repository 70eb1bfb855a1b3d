//! A build cache held elsewhere (a registry, for `--cache-from type=registry`): consulted when the store misses,
//! and only for the steps the build reaches; a layer is fetched only when the build uses it.
//!
//! The solver knows no registry: the CLI hands it a [`RemoteCache`] that has read the remote records.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use hoist_store::{CacheRecord, Digest, Store};

use crate::image::LayerDesc;
use crate::stage::Build;
use crate::{BuildError, Result};

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

/// Layers of steps taken from a remote cache that are not fetched yet: fetched when something mounts them
/// (a step that runs on top, `COPY --from`, `RUN --mount from=`) or the image is written, so a build fetches
/// only what it uses. Their records enter the store once the layer is in.
#[derive(Default)]
pub(crate) struct PendingLayers {
    layers: Mutex<HashMap<Digest, Pending>>,
}

struct Pending {
    remote: RemoteCacheHandle,
    records: Vec<CacheRecord>,
    fetched: Arc<OnceLock<std::result::Result<(), String>>>,
}

impl Build<'_> {
    /// Step `key`'s result from the remote caches: the record, and whether its layer is still to be fetched
    /// (see [`PendingLayers`]). A record whose layer the store has is added to the store at once.
    pub(crate) fn remote_record(&self, key: &str) -> Result<Option<CacheRecord>> {
        for remote in &self.options.remote_caches {
            let Some(mut record) = remote.0.record(key) else {
                continue;
            };
            let now = chrono::Utc::now().timestamp();
            record.last_used = now;
            record.used_count = 0;
            match &record.layer {
                Some(layer) if !self.store.has_blob(layer) => {
                    let mut pending = self
                        .pending_layers
                        .layers
                        .lock()
                        .unwrap_or_else(|e| e.into_inner());
                    pending
                        .entry(layer.clone())
                        .or_insert_with(|| Pending {
                            remote: remote.clone(),
                            records: Vec::new(),
                            fetched: Arc::default(),
                        })
                        .records
                        .push(record.clone());
                }
                _ => self.store.cache_insert(&record)?,
            }
            return Ok(Some(record));
        }
        Ok(None)
    }

    /// Fetch the layers among `layers` that came from a remote cache and are not in the store yet (each once,
    /// however many threads ask), and record their steps. A layer the remote cannot deliver fails the build:
    /// the steps that used it are already counted as cached.
    pub(crate) fn fetch_pending_layers(&self, layers: &[LayerDesc]) -> Result<()> {
        for layer in layers {
            let (remote, records, fetched) = {
                let pending = self
                    .pending_layers
                    .layers
                    .lock()
                    .unwrap_or_else(|e| e.into_inner());
                match pending.get(&layer.diff_id) {
                    Some(p) => (p.remote.clone(), p.records.clone(), p.fetched.clone()),
                    None => continue,
                }
            };
            let result = fetched.get_or_init(|| {
                if !self.store.has_blob(&layer.diff_id) {
                    remote.0.fetch_layer(self.store, &layer.diff_id)?;
                }
                for record in &records {
                    self.store.cache_insert(record).map_err(|e| e.to_string())?;
                }
                Ok(())
            });
            if let Err(message) = result {
                return Err(BuildError::other(format!(
                    "the remote build cache could not deliver layer {} (of {}): {message}; build again without --cache-from to run those steps",
                    layer.diff_id,
                    records.first().map_or("a cached step", |r| r.description.as_str())
                )));
            }
        }
        Ok(())
    }
}
