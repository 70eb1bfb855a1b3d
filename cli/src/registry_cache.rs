//! `--cache-to type=registry,ref=REF[,mode=min|max][,cache-mounts=true]` and `--cache-from type=registry,ref=REF`:
//! the build cache as an ordinary registry artifact, so CI runners with nothing in common but a registry share it.
//!
//! The artifact is one OCI image manifest:
//! - `config`: the cache records document ([`CACHE_RECORDS_MEDIA_TYPE`]), the same records `--cache-to
//!   type=local` writes (hoist's keys, which BuildKit's cache config cannot express);
//! - `layers`: every record's layer, gzip-compressed, annotated with its diff ID
//!   (`containerd.io/uncompressed`, as BuildKit's cache manifests do), then, with `cache-mounts=true`, each
//!   cache mount's contents as a tar annotated with its id ([`CACHE_MOUNT_ANNOTATION`]).
//!
//! Importing reads the manifest and the records only. A layer is fetched when the build reaches a step whose
//! record names it (see `hoist_solver::RemoteCache`), so a build pulls just the layers it uses.

use std::collections::HashMap;
use std::io::Write as _;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;
use hoist_registry::{NoProgress, Registry};
use hoist_solver::{BuildOutput, RemoteCache, RemoteCacheHandle};
use hoist_store::{CacheRecord, Digest, Store, CACHE_RECORDS_MEDIA_TYPE};
use serde::{Deserialize, Serialize};

const OCI_MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
const GZIP_LAYER_MEDIA_TYPE: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
/// The diff ID of a compressed layer, as BuildKit's cache manifests and containerd annotate it.
const UNCOMPRESSED_ANNOTATION: &str = "containerd.io/uncompressed";
/// Marks a layer holding the contents of the `RUN --mount=type=cache` mount with this id.
const CACHE_MOUNT_ANNOTATION: &str = "io.hoist.cache-mount.id";
/// The records document is small; anything bigger is not ours.
const MAX_RECORDS_SIZE: u64 = 256 << 20;

/// A parsed `type=registry` cache spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryCacheSpec {
    pub reference: String,
    /// `mode=max`: every stage's steps; `mode=min` (the default, as BuildKit): the final image's.
    pub mode_max: bool,
    /// `cache-mounts=true`: also carry the contents of the build's cache mounts.
    pub cache_mounts: bool,
}

/// `Some` for a `type=registry` spec (checked), `None` for other types.
pub fn parse_spec(flag: &str, spec: &str) -> anyhow::Result<Option<RegistryCacheSpec>> {
    let fields: Vec<(&str, &str)> = spec
        .split(',')
        .map(|f| f.split_once('=').unwrap_or((f, "")))
        .collect();
    if !fields.contains(&("type", "registry")) {
        return Ok(None);
    }
    let mut parsed = RegistryCacheSpec {
        reference: String::new(),
        mode_max: false,
        cache_mounts: false,
    };
    for (key, value) in fields {
        match (key, value) {
            ("type", _) => {}
            ("ref", v) if !v.is_empty() => parsed.reference = v.to_string(),
            ("mode", "min") => parsed.mode_max = false,
            ("mode", "max") => parsed.mode_max = true,
            ("cache-mounts", "true") => parsed.cache_mounts = true,
            ("cache-mounts", "false") => parsed.cache_mounts = false,
            // Accepted for buildx compatibility; hoist compresses layers with gzip, ignores the rest.
            ("oci-mediatypes" | "image-manifest" | "ignore-error" | "compression", _) => {}
            _ => anyhow::bail!(
                "{flag} {spec}: unknown or invalid field {key:?}; expected type=registry,ref=REGISTRY/REPO:TAG[,mode=min|max][,cache-mounts=true]"
            ),
        }
    }
    anyhow::ensure!(
        !parsed.reference.is_empty(),
        "{flag} {spec}: ref=REGISTRY/REPO:TAG is required"
    );
    hoist_store::normalize_reference(&parsed.reference)
        .with_context(|| format!("{flag} {spec}: invalid ref"))?;
    Ok(Some(parsed))
}

#[derive(Debug, Serialize, Deserialize)]
struct Descriptor {
    #[serde(rename = "mediaType")]
    media_type: String,
    digest: Digest,
    size: u64,
    #[serde(default, skip_serializing_if = "HashMap::is_empty")]
    annotations: HashMap<String, String>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Manifest {
    #[serde(rename = "schemaVersion")]
    schema_version: u32,
    #[serde(rename = "mediaType")]
    media_type: String,
    config: Descriptor,
    layers: Vec<Descriptor>,
}

/// Push the build's cache to `spec.reference`, replacing what the tag named.
pub fn export(
    store: &Store,
    registry: &Registry,
    spec: &RegistryCacheSpec,
    out: &BuildOutput,
) -> anyhow::Result<()> {
    let keys: Vec<String> = out
        .report
        .iter()
        .filter(|s| spec.mode_max || out.final_lineage.contains(&s.stage))
        .map(|s| s.key.clone())
        .collect();
    let _lock = store.lock_shared().context("locking the state directory")?;
    let records = store.cache_records_for_export(&keys)?;
    let reference = spec.reference.as_str();
    let mut layers = Vec::new();
    let mut pushed = std::collections::HashSet::new();
    for record in &records {
        let Some(diff_id) = &record.layer else {
            continue;
        };
        if !pushed.insert(diff_id.clone()) {
            continue;
        }
        let d = registry
            .push_layer(store, reference, diff_id, &NoProgress)
            .with_context(|| format!("pushing cached layer {diff_id} to {reference}"))?;
        layers.push(layer_descriptor(
            &d,
            UNCOMPRESSED_ANNOTATION,
            diff_id.as_str(),
        )?);
    }
    let mut mounts = 0;
    if spec.cache_mounts {
        for id in &out.cache_mounts {
            let dir = store
                .root()
                .join("cachemounts")
                .join(hoist_solver::cache_mount_dir_name(id));
            if !dir.is_dir() {
                continue;
            }
            let tar = tar_into_store(store, &dir)
                .with_context(|| format!("packing cache mount {id} ({})", dir.display()))?;
            let d = registry
                .push_layer(store, reference, &tar, &NoProgress)
                .with_context(|| format!("pushing cache mount {id} to {reference}"))?;
            layers.push(layer_descriptor(&d, CACHE_MOUNT_ANNOTATION, id)?);
            mounts += 1;
        }
    }
    let record_count = records.len();
    let document = hoist_store::encode_cache_records(records)?;
    let config = registry
        .push_blob_bytes(reference, &document)
        .with_context(|| format!("pushing the cache records to {reference}"))?;
    let manifest = Manifest {
        schema_version: 2,
        media_type: OCI_MANIFEST_MEDIA_TYPE.to_string(),
        config: Descriptor {
            media_type: CACHE_RECORDS_MEDIA_TYPE.to_string(),
            digest: config.digest().to_string().parse()?,
            size: config.size(),
            annotations: HashMap::new(),
        },
        layers,
    };
    let manifest_bytes = serde_json::to_vec(&manifest)?;
    let digest = registry
        .put_manifest(reference, OCI_MANIFEST_MEDIA_TYPE, &manifest_bytes)
        .with_context(|| format!("pushing the cache manifest to {reference}"))?;
    errln!(
        "exporting cache to {reference}: {} records, {} layers, {mounts} cache mounts, manifest {digest}",
        record_count,
        pushed.len(),
    );
    Ok(())
}

fn layer_descriptor(
    pushed: &oci_spec::image::Descriptor,
    annotation: &str,
    value: &str,
) -> anyhow::Result<Descriptor> {
    Ok(Descriptor {
        media_type: GZIP_LAYER_MEDIA_TYPE.to_string(),
        digest: pushed.digest().to_string().parse()?,
        size: pushed.size(),
        annotations: HashMap::from([(annotation.to_string(), value.to_string())]),
    })
}

/// A tar of `dir`'s contents (owners, modes and times kept) as an uncompressed blob of the store.
fn tar_into_store(store: &Store, dir: &Path) -> anyhow::Result<Digest> {
    let writer = store.blob_writer()?;
    let mut tar = tar::Builder::new(writer);
    tar.follow_symlinks(false);
    tar.mode(tar::HeaderMode::Complete);
    tar.append_dir_all(".", dir)?;
    let mut writer = tar.into_inner()?;
    writer.flush()?;
    let (digest, _) = writer.commit()?;
    Ok(digest)
}

/// A registry cache read by `--cache-from`: its records by key, and the compressed layer of each diff ID.
struct RegistryCache {
    registry: Arc<Registry>,
    reference: String,
    records: HashMap<String, CacheRecord>,
    layers: HashMap<Digest, oci_spec::image::Descriptor>,
}

impl RemoteCache for RegistryCache {
    fn record(&self, key: &str) -> Option<CacheRecord> {
        let record = self.records.get(key)?;
        // A record whose layer the manifest does not carry cannot be used here.
        match &record.layer {
            Some(layer) if !self.layers.contains_key(layer) => None,
            _ => Some(record.clone()),
        }
    }

    fn fetch_layer(&self, store: &Store, diff_id: &Digest) -> Result<(), String> {
        let descriptor = self
            .layers
            .get(diff_id)
            .ok_or_else(|| format!("{} does not carry layer {diff_id}", self.reference))?;
        let got = self
            .registry
            .fetch_layer(store, &self.reference, descriptor, &NoProgress)
            .map_err(|e| e.to_string())?;
        if &got != diff_id {
            return Err(format!(
                "layer {} of {} unpacks to {got}, not {diff_id}",
                descriptor.digest(),
                self.reference
            ));
        }
        Ok(())
    }
}

/// Read the cache at `spec.reference` for the build. A cache that is not there yet (the first CI run) is a
/// warning, as in BuildKit; so is one that cannot be read (the build then runs without it).
pub fn import(
    store: &Store,
    registry: Arc<Registry>,
    spec: &str,
    reference: &str,
) -> anyhow::Result<Option<RemoteCacheHandle>> {
    let manifest = match registry.get_manifest(reference) {
        Ok(Some((bytes, _, _))) => bytes,
        Ok(None) => {
            errln!("WARNING: --cache-from {spec}: no build cache at {reference} yet; building without it");
            return Ok(None);
        }
        Err(e) => {
            errln!("WARNING: --cache-from {spec}: {e}; building without it");
            return Ok(None);
        }
    };
    let manifest: Manifest = serde_json::from_slice(&manifest)
        .with_context(|| format!("--cache-from {spec}: {reference} is not a cache manifest"))?;
    anyhow::ensure!(
        manifest.config.media_type == CACHE_RECORDS_MEDIA_TYPE,
        "--cache-from {spec}: {reference} is not a hoist build cache (its config is {}); was it written by hoist --cache-to type=registry?",
        manifest.config.media_type
    );
    let document = registry
        .fetch_blob_bytes(reference, &manifest.config.digest, MAX_RECORDS_SIZE)
        .with_context(|| format!("--cache-from {spec}: reading the cache records"))?;
    let records = hoist_store::decode_cache_records(&document, reference)
        .with_context(|| format!("--cache-from {spec}: reading the cache records"))?;
    let mut layers = HashMap::new();
    let mut mounts = 0;
    for layer in &manifest.layers {
        let descriptor = oci_descriptor(layer)?;
        if let Some(diff_id) = layer.annotations.get(UNCOMPRESSED_ANNOTATION) {
            if let Ok(diff_id) = diff_id.parse::<Digest>() {
                layers.insert(diff_id, descriptor);
            }
        } else if let Some(id) = layer.annotations.get(CACHE_MOUNT_ANNOTATION) {
            if restore_cache_mount(store, &registry, reference, id, &descriptor)
                .with_context(|| format!("--cache-from {spec}: restoring cache mount {id}"))?
            {
                mounts += 1;
            }
        }
    }
    let records: HashMap<String, CacheRecord> =
        records.into_iter().map(|r| (r.key.clone(), r)).collect();
    errln!(
        "importing cache from {reference}: {} records, {} layers available, {mounts} cache mounts restored",
        records.len(),
        layers.len()
    );
    Ok(Some(RemoteCacheHandle(Arc::new(RegistryCache {
        registry,
        reference: reference.to_string(),
        records,
        layers,
    }))))
}

fn oci_descriptor(layer: &Descriptor) -> anyhow::Result<oci_spec::image::Descriptor> {
    let digest = oci_spec::image::Digest::try_from(layer.digest.as_str())
        .map_err(|e| anyhow::anyhow!("digest {}: {e}", layer.digest))?;
    Ok(oci_spec::image::Descriptor::new(
        oci_spec::image::MediaType::from(layer.media_type.as_str()),
        layer.size,
        digest,
    ))
}

/// Unpack a cache mount's contents where the build will find it, unless this machine has it already (its own
/// contents are newer than a CI cache's). Returns whether it was restored.
fn restore_cache_mount(
    store: &Store,
    registry: &Registry,
    reference: &str,
    id: &str,
    layer: &oci_spec::image::Descriptor,
) -> anyhow::Result<bool> {
    let parent = store.root().join("cachemounts");
    let dir = parent.join(hoist_solver::cache_mount_dir_name(id));
    if dir.exists() {
        return Ok(false);
    }
    let diff_id = registry.fetch_layer(store, reference, layer, &NoProgress)?;
    std::fs::create_dir_all(&parent)?;
    let staging = store.new_tmp_dir("cachemount")?;
    let staged = staging.path().join("d");
    std::fs::create_dir(&staged)?;
    let blob = store.open_blob(&diff_id)?;
    hoist_store::unpack_tar(
        std::io::BufReader::new(blob),
        &staged,
        &format!("cache mount {id}"),
        hoist_store::UnpackOptions {
            overlay_whiteouts: false,
            ..Default::default()
        },
    )?;
    // Another build may have made it meanwhile: the first rename wins.
    let _ = std::fs::rename(&staged, &dir);
    Ok(true)
}
