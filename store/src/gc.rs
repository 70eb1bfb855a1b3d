//! Garbage collection: delete blobs and snapshots that no image and no cache record refers to.

use std::collections::HashSet;
use std::fs;
use std::str::FromStr;
use std::time::{Duration, SystemTime};

use crate::digest::Digest;
use crate::error::{IoContext, Result};
use crate::Store;

/// What [`Store::gc`] removed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct GcReport {
    pub removed_blobs: Vec<Digest>,
    pub removed_snapshots: Vec<Digest>,
    /// Bytes of blobs removed (snapshot sizes are not measured).
    pub freed_bytes: u64,
}

impl Store {
    /// Delete blobs and snapshots that no image (config, manifest, layers) and no cache record refers to,
    /// leaving anything younger than `grace` (a build in flight may be about to refer to it).
    /// Hold [`Store::lock`] while calling this if builds take [`Store::lock_shared`].
    pub fn gc(&self, grace: Duration) -> Result<GcReport> {
        let compressed = self.compressed_layer_rows()?;
        let (blob_refs, layer_refs) = self.referenced(true, &compressed)?;
        let now = SystemTime::now();
        let young = |t: SystemTime| now.duration_since(t).map(|age| age < grace).unwrap_or(true);
        let mut report = GcReport::default();

        let mut unreferenced = Vec::new();
        let mut kept = HashSet::new();
        for (id, diff, _) in self.list_snapshots()? {
            if layer_refs.contains(diff.as_str()) || young(self.snapshot_created(&diff)?) {
                kept.insert(id);
            } else {
                unreferenced.push((id, diff));
            }
        }
        // A delta that stays needs the full snapshot it is mounted over.
        let needed = self.snapshots_needed_by(&kept)?;
        for (id, diff) in unreferenced {
            if needed.contains(&id) {
                continue;
            }
            if self.remove_snapshot(&diff)? {
                report.removed_snapshots.push(diff);
            }
        }

        let entries = fs::read_dir(&self.blobs).io_ctx("listing", self.blobs.clone())?;
        for entry in entries {
            let entry = entry.io_ctx("listing", self.blobs.clone())?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let Ok(digest) = Digest::from_hex(&name) else {
                continue;
            };
            if blob_refs.contains(digest.as_str()) {
                continue;
            }
            let meta = entry.metadata().io_ctx("inspecting", entry.path())?;
            if young(meta.modified().unwrap_or(now)) {
                continue;
            }
            fs::remove_file(entry.path()).io_ctx("removing blob", entry.path())?;
            report.freed_bytes += meta.len();
            report.removed_blobs.push(digest);
        }
        self.forget_orphan_layer_indexes()?;
        self.forget_missing_compressed_layers(&compressed)?;
        self.forget_orphan_registry_records()?;
        Ok(report)
    }

    /// (every blob, every layer) something keeps: images, and the cache records when `cache_records`.
    fn referenced(
        &self,
        cache_records: bool,
        compressed: &[(String, String)],
    ) -> Result<(HashSet<String>, HashSet<String>)> {
        let (mut blob_refs, layer_refs) = self.gc_roots(cache_records)?;
        blob_refs.extend(layer_refs.iter().cloned());
        // A compressed copy of a layer lives exactly as long as the layer.
        blob_refs.extend(
            compressed
                .iter()
                .filter(|(diff, _)| layer_refs.contains(diff.as_str()))
                .map(|(_, digest)| digest.clone()),
        );
        Ok((blob_refs, layer_refs))
    }

    /// The bytes [`Store::gc`] would free once the cache records are gone too (`cache_records: false`: what
    /// `hoist cache prune` frees in all), or as things stand (`true`), measured as prune reports them: blob
    /// files' sizes plus unpacked snapshots' recorded sizes. `hoist cache du` uses this, so that its
    /// "reclaimable" is what a prune then says it freed.
    /// Returns (blobs and snapshots, bytes).
    pub fn gc_would_free(&self, cache_records: bool) -> Result<(usize, u64)> {
        let compressed = self.compressed_layer_rows()?;
        let (blob_refs, layer_refs) = self.referenced(cache_records, &compressed)?;
        let (mut items, mut bytes) = (0, 0);
        let snapshots = self.list_snapshots()?;
        let kept: HashSet<i64> = snapshots
            .iter()
            .filter(|(_, diff, _)| layer_refs.contains(diff.as_str()))
            .map(|(id, _, _)| *id)
            .collect();
        let needed = self.snapshots_needed_by(&kept)?;
        for (id, diff, size) in snapshots {
            if !layer_refs.contains(diff.as_str())
                && !needed.contains(&id)
                && self.snapshot_dir(id).is_dir()
            {
                items += 1;
                bytes += size;
            }
        }
        let entries = fs::read_dir(&self.blobs).io_ctx("listing", self.blobs.clone())?;
        for entry in entries {
            let entry = entry.io_ctx("listing", self.blobs.clone())?;
            let name = entry.file_name().to_string_lossy().into_owned();
            match Digest::from_hex(&name) {
                Ok(digest) if !blob_refs.contains(digest.as_str()) => {
                    items += 1;
                    bytes += entry.metadata().map(|m| m.len()).unwrap_or(0);
                }
                _ => {}
            }
        }
        Ok((items, bytes))
    }

    /// Every `(diff_id, compressed digest)` row of `compressed_layers`.
    pub(crate) fn compressed_layer_rows(&self) -> Result<Vec<(String, String)>> {
        let conn = self.conn();
        let err = self.db_err();
        let mut stmt = conn
            .prepare("SELECT diff_id, digest FROM compressed_layers")
            .map_err(&err)?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(&err)?
            .collect::<std::result::Result<_, _>>()
            .map_err(&err)?;
        Ok(rows)
    }

    /// Drop the rows whose compressed blob is gone (collected above, or removed by hand).
    fn forget_missing_compressed_layers(&self, rows: &[(String, String)]) -> Result<()> {
        let gone: Vec<&String> = rows
            .iter()
            .map(|(_, digest)| digest)
            .filter(|digest| {
                Digest::from_str(digest)
                    .map(|d| !self.has_blob(&d))
                    .unwrap_or(true)
            })
            .collect();
        if gone.is_empty() {
            return Ok(());
        }
        let conn = self.conn();
        let err = self.db_err();
        for digest in gone {
            conn.execute(
                "DELETE FROM compressed_layers WHERE digest = ?1",
                [digest.as_str()],
            )
            .map_err(&err)?;
        }
        Ok(())
    }

    /// (every referenced blob, the referenced layers) as `sha256:` strings; the cache records' layers (and the
    /// blobs their payloads name, see [`payload_blob`]) count when `cache_records`.
    fn gc_roots(&self, cache_records: bool) -> Result<(HashSet<String>, HashSet<String>)> {
        let (images, cache_layers): (Vec<(String, String)>, Vec<RecordRoots>) = {
            let conn = self.conn();
            let err = self.db_err();
            let mut stmt = conn
                .prepare("SELECT id, manifest_digest FROM images")
                .map_err(&err)?;
            let images = stmt
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
                .map_err(&err)?
                .collect::<std::result::Result<_, _>>()
                .map_err(&err)?;
            let records: Vec<RecordRoots> = if cache_records {
                let mut stmt = conn
                    .prepare("SELECT layer, payload FROM cache")
                    .map_err(&err)?;
                let records = stmt
                    .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
                    .map_err(&err)?
                    .collect::<std::result::Result<_, _>>()
                    .map_err(&err)?;
                records
            } else {
                Vec::new()
            };
            (images, records)
        };
        let mut blobs = HashSet::new();
        let mut layers = HashSet::new();
        for (layer, payload) in cache_layers {
            layers.extend(layer);
            blobs.extend(payload_blob(&payload));
        }
        for (id, manifest) in images {
            if let Some(image) = self.image_by_id(&id.parse()?)? {
                layers.extend(image.config.rootfs().diff_ids().iter().cloned());
            }
            blobs.insert(id);
            blobs.insert(manifest);
        }
        Ok((blobs, layers))
    }

    /// The full snapshots that the delta snapshots among `kept` are mounted over.
    fn snapshots_needed_by(&self, kept: &HashSet<i64>) -> Result<HashSet<i64>> {
        Ok(self
            .snapshot_parents()?
            .into_iter()
            .filter(|(child, _)| kept.contains(child))
            .map(|(_, parent)| parent)
            .collect())
    }

    fn snapshot_created(&self, diff: &Digest) -> Result<SystemTime> {
        let conn = self.conn();
        let secs: i64 = conn
            .query_row(
                "SELECT created FROM snapshots WHERE diff_id = ?1",
                [diff.as_str()],
                |r| r.get(0),
            )
            .map_err(self.db_err())?;
        Ok(SystemTime::UNIX_EPOCH + Duration::from_secs(secs.max(0) as u64))
    }
}

/// A cache record's (layer, payload): what it keeps alive.
type RecordRoots = (Option<String>, String);

/// The blob a cache record's payload keeps alive: its `sources` field, the file list of the context a COPY/ADD
/// step copied (the solver stores it for `--explain`, which diffs it against the next build's). The payload is
/// the solver's JSON; this field is the one part of it the store relies on.
fn payload_blob(payload: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(payload).ok()?;
    let sources = value.get("sources")?.as_str()?;
    sources.starts_with("sha256:").then(|| sources.to_string())
}
