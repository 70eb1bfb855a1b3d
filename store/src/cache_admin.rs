//! Build cache administration behind `hoist cache ls/du/prune`: the cache as a list of items (step records,
//! `RUN --mount=type=cache` directories, the context stat cache), its disk usage, and pruning.
//!
//! Pruning removes cache records, cache mount directories and stat cache rows, then lets [`Store::gc`] free the
//! blobs and snapshots nothing refers to any more. Layers of images stay: `gc` treats every image as a root.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::cache_filter::CacheFilter;
use crate::db::now;
use crate::digest::Digest;
use crate::error::{IoContext, Result};
use crate::fsutil::remove_any;
use crate::gc::GcReport;
use crate::Store;

/// Directory under the root holding `RUN --mount=type=cache` directories (one per cache id).
const CACHE_MOUNTS_DIR: &str = "cachemounts";
/// The id of the single item standing for the whole context stat cache.
pub const CONTEXT_CHECKSUMS_ID: &str = "context-checksums";

/// What kind of cache item this is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CacheItemKind {
    /// A build step's record; the step's instruction (`RUN`, `COPY`, `ADD`, `WORKDIR` …) in upper case.
    Step(String),
    /// A `RUN --mount=type=cache` directory.
    CacheMount,
    /// The context stat cache (path, stat → content digest), as one item.
    ContextChecksums,
}

impl CacheItemKind {
    /// BuildKit's record type name: `regular`, `exec.cachemount`, `source.local`.
    pub fn record_type(&self) -> &'static str {
        match self {
            CacheItemKind::Step(_) => "regular",
            CacheItemKind::CacheMount => "exec.cachemount",
            CacheItemKind::ContextChecksums => "source.local",
        }
    }
}

/// One entry of the build cache, as `hoist cache ls` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheItem {
    /// The record's key (`sha256:…`), the cache mount's directory name, or [`CONTEXT_CHECKSUMS_ID`].
    pub id: String,
    pub kind: CacheItemKind,
    /// The step's progress name (`[stage-1 2/7] RUN …`), or what the item is.
    pub description: String,
    /// Bytes: the layer's (uncompressed) size for a step, the files' sizes for a cache mount, the rows' size
    /// for the stat cache.
    pub size: u64,
    /// Unix seconds.
    pub created: i64,
    /// Unix seconds.
    pub last_used: i64,
    pub used_count: u64,
    /// The layer is also used by an image, or by another record.
    pub shared: bool,
    /// The layer is part of an image, so pruning the item frees nothing (and plain `prune` keeps it).
    pub in_image: bool,
    /// The step's layer.
    pub layer: Option<Digest>,
}

/// Disk usage of one group of cache items.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UsageLine {
    pub name: String,
    pub items: usize,
    pub size: u64,
    pub reclaimable: u64,
}

/// What the build cache occupies on disk (`hoist cache du`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CacheDiskUsage {
    pub total: u64,
    /// Bytes pruning everything would free: all but the layers images use.
    pub reclaimable: u64,
    /// `layers`, `cache mounts`, `context checksums`.
    pub by_type: Vec<UsageLine>,
    /// Layers by the instruction that made them (`RUN`, `COPY` …), sorted by name.
    pub by_step: Vec<UsageLine>,
}

/// Where a layer's bytes are besides its blob: its snapshot's size, its compressed copies.
struct LayerSizes {
    snapshots: HashMap<Digest, u64>,
    compressed: HashMap<Digest, Vec<Digest>>,
}

/// What to prune.
#[derive(Debug, Clone, Default)]
pub struct PruneOptions {
    /// Also remove records whose layers back images (the layers themselves stay with the images).
    pub all: bool,
    /// Remove least recently used items only until the reclaimable cache is at most this many bytes.
    pub keep_storage: Option<u64>,
    pub filter: CacheFilter,
    /// Blobs and snapshots younger than this are left to the next prune (see [`Store::gc`]).
    pub gc_grace: Duration,
}

/// What a prune removed.
#[derive(Debug, Clone, Default)]
pub struct PruneReport {
    pub removed: Vec<CacheItem>,
    pub gc: GcReport,
    /// Bytes freed: blobs, snapshots, cache mount files, stat cache rows.
    pub reclaimed_bytes: u64,
}

/// The instruction of a step from its progress name: `[stage-1 2/7] RUN echo` → `RUN`.
pub fn step_kind(description: &str) -> String {
    let rest = match description.strip_prefix('[') {
        Some(r) => r.split_once("] ").map(|(_, r)| r).unwrap_or(r),
        None => description,
    };
    let word = rest.split_whitespace().next().unwrap_or("");
    if word.is_empty() {
        "OTHER".to_string()
    } else {
        word.to_uppercase()
    }
}

impl Store {
    /// `<root>/cachemounts`: the directories of `RUN --mount=type=cache`.
    pub fn cache_mounts_dir(&self) -> PathBuf {
        self.root.join(CACHE_MOUNTS_DIR)
    }

    /// The layers (diff IDs) of every image in the store, tagged or not: garbage collection keeps them.
    pub fn image_layers(&self) -> Result<HashSet<Digest>> {
        let ids: Vec<String> = {
            let conn = self.conn();
            let err = self.db_err();
            let mut stmt = conn.prepare("SELECT id FROM images").map_err(&err)?;
            let rows = stmt.query_map([], |r| r.get(0)).map_err(&err)?;
            rows.collect::<std::result::Result<_, _>>().map_err(&err)?
        };
        let mut layers = HashSet::new();
        for id in ids {
            if let Some(image) = self.image_by_id(&id.parse()?)? {
                layers.extend(image.diff_ids()?);
            }
        }
        Ok(layers)
    }

    /// Every cache item: step records (oldest first), then cache mounts, then the stat cache (if not empty).
    pub fn cache_items(&self) -> Result<Vec<CacheItem>> {
        let records = self.cache_records()?;
        let image_layers = self.image_layers()?;
        let mut users: HashMap<&Digest, usize> = HashMap::new();
        for layer in records.iter().filter_map(|r| r.layer.as_ref()) {
            *users.entry(layer).or_default() += 1;
        }
        let mut items: Vec<CacheItem> = records
            .iter()
            .map(|r| {
                let in_image = r.layer.as_ref().is_some_and(|l| image_layers.contains(l));
                let shared_by_records = r
                    .layer
                    .as_ref()
                    .is_some_and(|l| users.get(l).copied().unwrap_or(0) > 1);
                CacheItem {
                    id: r.key.clone(),
                    kind: CacheItemKind::Step(step_kind(&r.description)),
                    description: r.description.clone(),
                    size: r.size,
                    created: r.created,
                    last_used: r.last_used,
                    used_count: r.used_count,
                    shared: in_image || shared_by_records,
                    in_image,
                    layer: r.layer.clone(),
                }
            })
            .collect();
        items.extend(self.cache_mount_items()?);
        let (rows, bytes) = self.stat_cache_usage()?;
        if rows > 0 {
            let t = now();
            items.push(CacheItem {
                id: CONTEXT_CHECKSUMS_ID.to_string(),
                kind: CacheItemKind::ContextChecksums,
                description: format!("context checksums ({rows} files)"),
                size: bytes,
                created: t,
                last_used: t,
                used_count: 0,
                shared: false,
                in_image: false,
                layer: None,
            });
        }
        Ok(items)
    }

    fn cache_mount_items(&self) -> Result<Vec<CacheItem>> {
        let dir = self.cache_mounts_dir();
        let entries = match fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e).io_ctx("listing", dir),
        };
        let mut items = Vec::new();
        for entry in entries {
            let entry = entry.io_ctx("listing", dir.clone())?;
            let meta = entry.metadata().io_ctx("inspecting", entry.path())?;
            if !meta.is_dir() {
                continue;
            }
            let name = entry.file_name().to_string_lossy().into_owned();
            let created = unix_secs(meta.created().or_else(|_| meta.modified()).ok());
            // The mount's `id=`, if the solver left it beside the directory (`<name>.id`).
            let description = match fs::read_to_string(dir.join(format!("{name}.id"))) {
                Ok(id) if !id.trim().is_empty() => format!("cache mount id={}", id.trim()),
                _ => format!("cache mount {name}"),
            };
            items.push(CacheItem {
                description,
                id: name,
                kind: CacheItemKind::CacheMount,
                size: tree_size(&entry.path()),
                created,
                // A cache mount's directory changes whenever a RUN writes to it.
                last_used: unix_secs(meta.modified().ok()).max(created),
                used_count: 0,
                shared: false,
                in_image: false,
                layer: None,
            });
        }
        items.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(items)
    }

    /// (rows, approximate bytes) of the context stat cache.
    pub fn stat_cache_usage(&self) -> Result<(u64, u64)> {
        let conn = self.conn();
        let (rows, bytes): (i64, i64) = conn
            .query_row(
                // Five integers (8 bytes each) plus the two strings per row.
                "SELECT COUNT(*), COALESCE(SUM(LENGTH(path) + LENGTH(digest) + 40), 0) FROM stat_cache",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .map_err(self.db_err())?;
        Ok((rows.max(0) as u64, bytes.max(0) as u64))
    }

    /// Delete every stat cache row; the next build hashes its context files again.
    pub fn stat_cache_clear(&self) -> Result<u64> {
        let conn = self.conn();
        let n = conn
            .execute("DELETE FROM stat_cache", [])
            .map_err(self.db_err())?;
        // Tree signatures stand for the stat cache's digests: they go with them.
        conn.execute("DELETE FROM context_trees", [])
            .map_err(self.db_err())?;
        Ok(n as u64)
    }

    /// Bytes the layer takes in the store: its blob, its compressed copies (made by save/push) and its unpacked
    /// snapshot (measured as the tar's size) — what garbage collection frees with it.
    fn layer_disk_size(&self, layer: &Digest, sizes: &LayerSizes) -> u64 {
        let blob_size = |d: &Digest| {
            fs::metadata(self.blob_path(d))
                .map(|m| m.len())
                .unwrap_or(0)
        };
        let compressed: u64 = sizes
            .compressed
            .get(layer)
            .into_iter()
            .flatten()
            .map(blob_size)
            .sum();
        blob_size(layer) + compressed + sizes.snapshots.get(layer).copied().unwrap_or(0)
    }

    fn snapshot_sizes(&self) -> Result<HashMap<Digest, u64>> {
        Ok(self
            .list_snapshots()?
            .into_iter()
            .filter(|(id, _, _)| self.snapshot_dir(*id).is_dir())
            .map(|(_, diff, size)| (diff, size))
            .collect())
    }

    fn layer_sizes(&self) -> Result<LayerSizes> {
        let mut compressed: HashMap<Digest, Vec<Digest>> = HashMap::new();
        for (diff, digest) in self.compressed_layer_rows()? {
            if let (Ok(diff), Ok(digest)) = (diff.parse(), digest.parse()) {
                compressed.entry(diff).or_default().push(digest);
            }
        }
        Ok(LayerSizes {
            snapshots: self.snapshot_sizes()?,
            compressed,
        })
    }

    /// What the build cache occupies: each layer counted once, whoever refers to it.
    pub fn cache_disk_usage(&self) -> Result<CacheDiskUsage> {
        let items = self.cache_items()?;
        let layer_sizes = self.layer_sizes()?;
        let mut layers = UsageLine {
            name: "layers".into(),
            ..Default::default()
        };
        let mut mounts = UsageLine {
            name: "cache mounts".into(),
            ..Default::default()
        };
        let mut context = UsageLine {
            name: "context checksums".into(),
            ..Default::default()
        };
        let mut by_step: HashMap<String, UsageLine> = HashMap::new();
        let mut counted: HashSet<&Digest> = HashSet::new();
        for item in &items {
            match &item.kind {
                CacheItemKind::Step(step) => {
                    let line = by_step.entry(step.clone()).or_insert_with(|| UsageLine {
                        name: step.clone(),
                        ..Default::default()
                    });
                    line.items += 1;
                    layers.items += 1;
                    let Some(layer) = item.layer.as_ref().filter(|l| counted.insert(*l)) else {
                        continue;
                    };
                    let size = self.layer_disk_size(layer, &layer_sizes);
                    let reclaimable = if item.in_image { 0 } else { size };
                    for l in [&mut layers, line] {
                        l.size += size;
                        l.reclaimable += reclaimable;
                    }
                }
                CacheItemKind::CacheMount => {
                    mounts.items += 1;
                    mounts.size += item.size;
                    mounts.reclaimable += item.size;
                }
                CacheItemKind::ContextChecksums => {
                    context.items += 1;
                    context.size += item.size;
                    context.reclaimable += item.size;
                }
            }
        }
        // What a prune frees beyond the records' own rows is what garbage collection then removes: the layers
        // only records kept (with their compressed copies), and what nothing refers to already (left by rmi,
        // by an earlier prune's grace period, by a killed build). The same measure as the prune's report.
        let (garbage_items, garbage) = self.gc_would_free(true)?;
        let (_, freed_without_records) = self.gc_would_free(false)?;
        layers.reclaimable = freed_without_records.saturating_sub(garbage);
        let unreferenced = UsageLine {
            name: "unreferenced".into(),
            items: garbage_items,
            size: garbage,
            reclaimable: garbage,
        };
        let by_type = vec![layers, mounts, context, unreferenced];
        let mut by_step: Vec<UsageLine> = by_step.into_values().collect();
        by_step.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(CacheDiskUsage {
            total: by_type.iter().map(|l| l.size).sum(),
            reclaimable: by_type.iter().map(|l| l.reclaimable).sum(),
            by_type,
            by_step,
        })
    }

    /// Remove the cache items `options` select, then unreferenced blobs and snapshots.
    ///
    /// Hold [`Store::lock`] (exclusive) while calling this: builds hold [`Store::lock_shared`], so nothing
    /// pruned is in use by a running build. Layers of images are never removed (only, with `all`, the records
    /// pointing at them).
    pub fn cache_prune_items(&self, options: &PruneOptions) -> Result<PruneReport> {
        let t = now();
        let items = self.cache_items()?;
        let snapshot_sizes = self.snapshot_sizes()?;
        let layer_sizes = self.layer_sizes()?;
        let mut candidates: Vec<&CacheItem> = items
            .iter()
            .filter(|i| options.all || !i.in_image)
            .filter(|i| options.filter.matches(i, t))
            .collect();

        if let Some(limit) = options.keep_storage {
            // Least recently used first, until what only the cache holds fits in `limit`.
            candidates.sort_by_key(|i| (i.last_used, i.created));
            let mut layer_users: HashMap<&Digest, usize> = HashMap::new();
            for layer in items.iter().filter_map(|i| i.layer.as_ref()) {
                *layer_users.entry(layer).or_default() += 1;
            }
            let mut usage = self.cache_disk_usage()?.reclaimable;
            let mut chosen = Vec::new();
            for item in candidates {
                if usage <= limit {
                    break;
                }
                let freed = match (&item.kind, &item.layer) {
                    (CacheItemKind::Step(_), Some(layer)) => {
                        let users = layer_users.entry(layer).or_default();
                        *users = users.saturating_sub(1);
                        if *users == 0 && !item.in_image {
                            self.layer_disk_size(layer, &layer_sizes)
                        } else {
                            0
                        }
                    }
                    (CacheItemKind::Step(_), None) => 0,
                    _ => item.size,
                };
                usage = usage.saturating_sub(freed);
                chosen.push(item);
            }
            candidates = chosen;
        }

        let mut report = PruneReport::default();
        for item in candidates {
            match item.kind {
                CacheItemKind::Step(_) => self.cache_remove(&item.id)?,
                CacheItemKind::CacheMount => {
                    // The name comes from our own directory listing; never follow it anywhere else.
                    let path = self.cache_mounts_dir().join(&item.id);
                    if Path::new(&item.id).components().count() == 1 {
                        remove_any(&path)?;
                        // Its sidecars: the id, and the lock `sharing=locked` takes.
                        for sidecar in ["id", "lock"] {
                            remove_any(&path.with_extension(sidecar))?;
                        }
                        report.reclaimed_bytes += item.size;
                    }
                }
                CacheItemKind::ContextChecksums => {
                    self.stat_cache_clear()?;
                    report.reclaimed_bytes += item.size;
                }
            }
            report.removed.push(item.clone());
        }

        report.gc = self.gc(options.gc_grace)?;
        report.reclaimed_bytes += report.gc.freed_bytes;
        for snapshot in &report.gc.removed_snapshots {
            report.reclaimed_bytes += snapshot_sizes.get(snapshot).copied().unwrap_or(0);
        }
        Ok(report)
    }
}

fn unix_secs(t: Option<SystemTime>) -> i64 {
    t.and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Sum of the sizes of the files under `dir` (symlinks not followed; unreadable parts count as empty).
fn tree_size(dir: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(meta) = entry.metadata() else { continue };
            if meta.is_dir() {
                stack.push(entry.path());
            } else {
                total += meta.len();
            }
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::CacheRecord;
    use crate::StatEntry;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        (dir, store)
    }

    /// A record whose layer is a blob of `size` bytes, last used `age` seconds ago.
    fn record(store: &Store, key: &str, description: &str, size: usize, age: i64) -> CacheRecord {
        let layer = store.put_blob(&vec![key.as_bytes()[0]; size]).unwrap();
        let t = now() - age;
        let rec = CacheRecord {
            key: key.into(),
            parent: None,
            description: description.into(),
            layer: Some(layer),
            payload: "{}".into(),
            size: size as u64,
            created: t,
            last_used: t,
            used_count: 1,
        };
        store.cache_insert(&rec).unwrap();
        rec
    }

    fn tag_image_with(store: &Store, layer: &Digest) {
        let config = oci_spec::image::ImageConfigurationBuilder::default()
            .rootfs(
                oci_spec::image::RootFsBuilder::default()
                    .typ("layers")
                    .diff_ids(vec![layer.to_string()])
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap();
        let image = store.write_image(&config).unwrap();
        store.tag("app:1", &image).unwrap();
    }

    fn keys(report: &PruneReport) -> Vec<String> {
        let mut k: Vec<String> = report.removed.iter().map(|i| i.id.clone()).collect();
        k.sort();
        k
    }

    #[test]
    fn step_kinds_come_from_the_progress_name() {
        assert_eq!(step_kind("[stage-1 2/7] RUN apt-get update"), "RUN");
        assert_eq!(step_kind("[3/3] COPY . /app"), "COPY");
        assert_eq!(step_kind("WORKDIR /x"), "WORKDIR");
        assert_eq!(step_kind(""), "OTHER");
    }

    #[test]
    fn items_say_what_is_shared_and_what_images_use() {
        let (_d, store) = store();
        let a = record(&store, "a", "[1/2] RUN make", 10, 0);
        record(&store, "b", "[2/2] COPY . /app", 20, 0);
        // Another record with the same layer as `b`.
        let mut twin = a.clone();
        twin.key = "c".into();
        store.cache_insert(&twin).unwrap();
        tag_image_with(&store, a.layer.as_ref().unwrap());
        store
            .stat_cache_put(&[StatEntry {
                path: "/ctx/file".into(),
                size: 1,
                mtime_ns: 0,
                ctime_ns: 0,
                inode: 1,
                digest: "sha256:x".into(),
            }])
            .unwrap();
        fs::create_dir_all(store.cache_mounts_dir().join("0123abcd")).unwrap();
        fs::write(store.cache_mounts_dir().join("0123abcd/f"), b"12345").unwrap();

        let items = store.cache_items().unwrap();
        let by_id: HashMap<&str, &CacheItem> = items.iter().map(|i| (i.id.as_str(), i)).collect();
        assert!(by_id["a"].in_image && by_id["a"].shared);
        assert!(by_id["c"].in_image && by_id["c"].shared);
        assert!(!by_id["b"].in_image && !by_id["b"].shared);
        assert_eq!(by_id["b"].kind, CacheItemKind::Step("COPY".into()));
        assert_eq!(by_id["0123abcd"].kind, CacheItemKind::CacheMount);
        assert_eq!(by_id["0123abcd"].size, 5);
        assert_eq!(
            by_id[CONTEXT_CHECKSUMS_ID].kind,
            CacheItemKind::ContextChecksums
        );

        let du = store.cache_disk_usage().unwrap();
        let layers = &du.by_type[0];
        assert_eq!(
            (layers.items, layers.size, layers.reclaimable),
            (3, 30, 20),
            "each layer counted once"
        );
        assert_eq!(du.by_type[1].size, 5);
        assert!(du.by_type[2].size > 0);
        assert_eq!(du.total, du.by_type.iter().map(|l| l.size).sum::<u64>());
        assert_eq!(du.reclaimable, du.total - 10);
        let steps: Vec<(&str, u64)> = du
            .by_step
            .iter()
            .map(|l| (l.name.as_str(), l.size))
            .collect();
        assert_eq!(steps, vec![("COPY", 20), ("RUN", 10)]);
    }

    #[test]
    fn du_reclaimable_is_what_prune_then_frees() {
        let (_d, store) = store();
        let kept = record(&store, "a", "[1/2] RUN make", 100, 0);
        record(&store, "b", "[2/2] COPY . /app", 200, 0);
        tag_image_with(&store, kept.layer.as_ref().unwrap());
        // What nothing refers to any more (an rmi'd image's layers and config): gc takes it, so du counts it.
        let orphan = vec![7u8; 3000];
        fs::write(store.blob_path(&Digest::of_bytes(&orphan)), &orphan).unwrap();
        let du = store.cache_disk_usage().unwrap();
        let unreferenced = du
            .by_type
            .iter()
            .find(|l| l.name == "unreferenced")
            .unwrap();
        assert_eq!((unreferenced.items, unreferenced.size), (1, 3000));
        let report = store.cache_prune_items(&PruneOptions::default()).unwrap();
        assert_eq!(du.reclaimable, report.reclaimed_bytes);
        assert!(report.reclaimed_bytes >= 3200, "{}", report.reclaimed_bytes);
    }

    #[test]
    fn prune_keeps_image_layers_and_frees_the_rest() {
        let (_d, store) = store();
        let kept = record(&store, "a", "[1/2] RUN make", 100, 0);
        let gone = record(&store, "b", "[2/2] COPY . /app", 200, 0);
        tag_image_with(&store, kept.layer.as_ref().unwrap());

        let report = store.cache_prune_items(&PruneOptions::default()).unwrap();
        assert_eq!(keys(&report), vec!["b"]);
        assert_eq!(report.reclaimed_bytes, 200);
        assert!(!store.has_blob(gone.layer.as_ref().unwrap()));
        assert!(store.cache_lookup("a").unwrap().is_some());

        // --all drops the record too, but the image keeps its layer.
        let report = store
            .cache_prune_items(&PruneOptions {
                all: true,
                ..Default::default()
            })
            .unwrap();
        assert_eq!(keys(&report), vec!["a"]);
        assert_eq!(report.reclaimed_bytes, 0);
        assert!(store.has_blob(kept.layer.as_ref().unwrap()));
    }

    #[test]
    fn prune_until_and_keep_storage() {
        let (_d, store) = store();
        record(&store, "o", "[1/3] RUN old", 100, 3 * 86400);
        record(&store, "m", "[2/3] RUN middle", 100, 2 * 86400);
        record(&store, "n", "[3/3] RUN new", 100, 60);

        let filter = CacheFilter::parse(&["until=72h"]).unwrap();
        let report = store
            .cache_prune_items(&PruneOptions {
                filter,
                ..Default::default()
            })
            .unwrap();
        assert_eq!(keys(&report), vec!["o"]);

        // 200 bytes left; keep at most 150: the least recently used goes first, and one is enough.
        let report = store
            .cache_prune_items(&PruneOptions {
                keep_storage: Some(150),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(keys(&report), vec!["m"]);
        assert_eq!(report.reclaimed_bytes, 100);

        // Already within the limit: nothing to do.
        let report = store
            .cache_prune_items(&PruneOptions {
                keep_storage: Some(150),
                ..Default::default()
            })
            .unwrap();
        assert!(report.removed.is_empty());
    }

    #[test]
    fn prune_by_type_removes_cache_mounts_and_context_checksums() {
        let (_d, store) = store();
        record(&store, "a", "[1/1] RUN make", 10, 0);
        fs::create_dir_all(store.cache_mounts_dir().join("m1")).unwrap();
        fs::write(store.cache_mounts_dir().join("m1/f"), b"abc").unwrap();
        fs::write(store.cache_mounts_dir().join("m1.id"), b"apt\n").unwrap();
        fs::write(store.cache_mounts_dir().join("m1.lock"), b"").unwrap();
        let listed = store.cache_items().unwrap();
        assert!(
            listed.iter().any(|i| i.description == "cache mount id=apt"),
            "{listed:?}"
        );
        let filter = CacheFilter::parse(&["type=exec.cachemount"]).unwrap();
        let report = store
            .cache_prune_items(&PruneOptions {
                filter,
                ..Default::default()
            })
            .unwrap();
        assert_eq!(keys(&report), vec!["m1"]);
        assert_eq!(report.reclaimed_bytes, 3);
        assert!(!store.cache_mounts_dir().join("m1").exists());
        assert!(!store.cache_mounts_dir().join("m1.id").exists());
        assert!(!store.cache_mounts_dir().join("m1.lock").exists());
        assert!(store.cache_lookup("a").unwrap().is_some());
    }
}
