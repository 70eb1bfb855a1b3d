//! Images (config + manifest blobs, rows in `images`) and their tags.

use std::collections::HashMap;
use std::str::FromStr;

use oci_spec::image::{
    Descriptor, ImageConfiguration, ImageIndexBuilder, ImageManifest, ImageManifestBuilder,
    MediaType,
};
use rusqlite::{OptionalExtension, Transaction, TransactionBehavior};
use serde::Serialize;

use crate::db::now;
use crate::digest::Digest;
use crate::error::{Result, StoreError};
use crate::fsutil::write_atomic;
use crate::reference::normalize_reference;
use crate::Store;

/// OCI annotation naming a manifest in an `index.json`.
pub(crate) const REF_NAME_ANNOTATION: &str = "org.opencontainers.image.ref.name";

/// An image in the store.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageRecord {
    /// The config digest: the image ID.
    pub id: Digest,
    pub manifest_digest: Digest,
    pub config: ImageConfiguration,
    pub manifest: ImageManifest,
    pub created: Option<String>,
    /// Sum of the (uncompressed) layer sizes.
    pub size: u64,
}

impl ImageRecord {
    /// The layers' diff IDs (equal to their blob digests: hoist stores layers uncompressed), base first.
    pub fn diff_ids(&self) -> Result<Vec<Digest>> {
        self.config
            .rootfs()
            .diff_ids()
            .iter()
            .map(|d| d.parse())
            .collect()
    }
}

/// Serialise with object keys sorted, so equal values give equal bytes (and digests) in every process:
/// oci-spec keeps labels and annotations in `HashMap`s, whose order is random.
pub(crate) fn canonical_json<T: Serialize>(value: &T, what: &str) -> Result<Vec<u8>> {
    let json_err = |e: serde_json::Error| StoreError::Json {
        what: what.to_string(),
        message: e.to_string(),
    };
    let value = sort_keys(serde_json::to_value(value).map_err(json_err)?);
    serde_json::to_vec(&value).map_err(json_err)
}

fn sort_keys(value: serde_json::Value) -> serde_json::Value {
    match value {
        serde_json::Value::Object(map) => {
            let mut entries: Vec<(String, serde_json::Value)> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            serde_json::Value::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k, sort_keys(v)))
                    .collect(),
            )
        }
        serde_json::Value::Array(items) => {
            serde_json::Value::Array(items.into_iter().map(sort_keys).collect())
        }
        other => other,
    }
}

fn parse_json<T: serde::de::DeserializeOwned>(bytes: &[u8], what: &str) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Json {
        what: what.to_string(),
        message: e.to_string(),
    })
}

impl Store {
    /// Store an image: the config blob, and a manifest naming the config and each layer in
    /// `config.rootfs().diff_ids()` (every one must already be a blob). Idempotent.
    pub fn write_image(&self, config: &ImageConfiguration) -> Result<ImageRecord> {
        self.write_image_config(&canonical_json(config, "image config")?)
    }

    /// Like [`Store::write_image`], from the config's JSON bytes, stored exactly as given (so fields oci-spec
    /// does not model, such as Docker's `Healthcheck`, `OnBuild` and `Shell`, survive; the image ID is the
    /// sha256 of these bytes). The bytes must parse as an OCI image configuration.
    pub fn write_image_config(&self, config_json: &[u8]) -> Result<ImageRecord> {
        let config: ImageConfiguration = parse_json(config_json, "image config")?;
        let mut layers = Vec::new();
        let mut size = 0u64;
        for diff in config.rootfs().diff_ids() {
            let digest: Digest = diff.parse().map_err(|_| {
                StoreError::InvalidImage(format!("diff ID {diff:?} is not a sha256 digest"))
            })?;
            if !self.has_blob(&digest) {
                return Err(StoreError::InvalidImage(format!(
                    "layer {digest} has no blob in {}; store the layer tar before writing the image",
                    self.blobs.display()
                )));
            }
            let layer_size = self.blob_size(&digest)?;
            size += layer_size;
            layers.push(Descriptor::new(MediaType::ImageLayer, layer_size, digest));
        }
        let id = self.put_blob(config_json)?;
        let manifest = ImageManifestBuilder::default()
            .schema_version(2u32)
            .media_type(MediaType::ImageManifest)
            .config(Descriptor::new(
                MediaType::ImageConfig,
                config_json.len() as u64,
                id.clone(),
            ))
            .layers(layers)
            .build()
            .map_err(|e| StoreError::InvalidImage(format!("building manifest: {e}")))?;
        let manifest_bytes = canonical_json(&manifest, "image manifest")?;
        let manifest_digest = self.put_blob(&manifest_bytes)?;
        let created = config.created().clone();
        {
            let conn = self.conn();
            conn.execute(
                "INSERT INTO images (id, manifest_digest, created, size, added) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT(id) DO UPDATE SET manifest_digest = excluded.manifest_digest",
                rusqlite::params![id.as_str(), manifest_digest.as_str(), created, size as i64, now()],
            )
            .map_err(self.db_err())?;
        }
        Ok(ImageRecord {
            id,
            manifest_digest,
            config,
            manifest,
            created,
            size,
        })
    }

    /// The image with this exact ID.
    pub fn image_by_id(&self, id: &Digest) -> Result<Option<ImageRecord>> {
        let row: Option<(String, Option<String>, i64)> = {
            let conn = self.conn();
            conn.query_row(
                "SELECT manifest_digest, created, size FROM images WHERE id = ?1",
                [id.as_str()],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()
            .map_err(self.db_err())?
        };
        let Some((manifest_digest, created, size)) = row else {
            return Ok(None);
        };
        let manifest_digest: Digest = manifest_digest.parse()?;
        let config: ImageConfiguration =
            parse_json(&self.read_blob(id)?, &format!("image config {id}"))?;
        let manifest: ImageManifest = parse_json(
            &self.read_blob(&manifest_digest)?,
            &format!("image manifest {manifest_digest}"),
        )?;
        Ok(Some(ImageRecord {
            id: id.clone(),
            manifest_digest,
            config,
            manifest,
            created,
            size: size as u64,
        }))
    }

    /// Point `reference` (normalised: `name` → `name:latest`) at `image`, replacing what it pointed at.
    pub fn tag(&self, reference: &str, image: &ImageRecord) -> Result<()> {
        let reference = normalize_reference(reference)?;
        let mut conn = self.conn();
        let err = self.db_err();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(&err)?;
        let known: bool = tx
            .query_row(
                "SELECT 1 FROM images WHERE id = ?1",
                [image.id.as_str()],
                |_| Ok(true),
            )
            .optional()
            .map_err(&err)?
            .unwrap_or(false);
        if !known {
            return Err(StoreError::ImageNotFound(format!(
                "{} (write the image with Store::write_image before tagging it)",
                image.id
            )));
        }
        let current: Option<String> = tx
            .query_row(
                "SELECT image_id FROM tags WHERE reference = ?1",
                [reference.as_str()],
                |r| r.get(0),
            )
            .optional()
            .map_err(&err)?;
        if current.as_deref() == Some(image.id.as_str()) {
            // A no-op rebuild re-tags the same image: nothing changes, index.json is not rewritten.
            return Ok(());
        }
        tx.execute(
            "INSERT INTO tags (reference, image_id) VALUES (?1, ?2)
             ON CONFLICT(reference) DO UPDATE SET image_id = excluded.image_id",
            [reference.as_str(), image.id.as_str()],
        )
        .map_err(&err)?;
        self.write_index_json(&tx)?;
        tx.commit().map_err(&err)?;
        Ok(())
    }

    /// Find an image by `name[:tag]`, by full ID (`sha256:<hex>`), or by a unique ID prefix (`3f2a…`).
    pub fn resolve(&self, reference: &str) -> Result<Option<ImageRecord>> {
        let reference = reference.trim();
        if let Some(hex) = reference.strip_prefix("sha256:") {
            return self.resolve_id_prefix(hex, reference);
        }
        let normalized = normalize_reference(reference);
        if let Ok(normalized) = &normalized {
            let id: Option<String> = {
                let conn = self.conn();
                conn.query_row(
                    "SELECT image_id FROM tags WHERE reference = ?1",
                    [normalized.as_str()],
                    |r| r.get(0),
                )
                .optional()
                .map_err(self.db_err())?
            };
            if let Some(id) = id {
                return self.image_by_id(&id.parse()?);
            }
            // `name@sha256:…` (or `name:tag@sha256:…`): an image pulled or pushed by that manifest digest.
            if let Some((name_and_tag, digest)) = normalized.split_once('@') {
                let name =
                    crate::reference::split_tag(name_and_tag).map_or(name_and_tag, |(n, _)| n);
                if let Some(id) = self.image_by_repo_digest(name, &digest.parse()?)? {
                    return self.image_by_id(&id);
                }
            }
        }
        let is_hex = !reference.is_empty()
            && reference
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if is_hex {
            return self.resolve_id_prefix(reference, reference);
        }
        normalized.map(|_| None)
    }

    fn resolve_id_prefix(&self, hex: &str, reference: &str) -> Result<Option<ImageRecord>> {
        if hex.is_empty()
            || hex.len() > 64
            || !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        {
            return Err(StoreError::InvalidReference {
                reference: reference.to_string(),
                reason: "an image ID is sha256: followed by up to 64 lowercase hex digits".into(),
            });
        }
        let ids: Vec<String> = {
            let conn = self.conn();
            let err = self.db_err();
            let mut stmt = conn
                .prepare("SELECT id FROM images WHERE substr(id, 8, ?1) = ?2")
                .map_err(&err)?;
            let rows = stmt
                .query_map(rusqlite::params![hex.len() as i64, hex], |r| r.get(0))
                .map_err(&err)?;
            rows.collect::<std::result::Result<_, _>>().map_err(&err)?
        };
        match ids.as_slice() {
            [] => Ok(None),
            [id] => self.image_by_id(&id.parse()?),
            many => Err(StoreError::AmbiguousImageId {
                prefix: hex.to_string(),
                count: many.len(),
            }),
        }
    }

    /// Every tag with its image, sorted by reference, then images without a tag as `<none>:<none>`.
    pub fn list_images(&self) -> Result<Vec<(String, ImageRecord)>> {
        let rows: Vec<(String, String)> = {
            let conn = self.conn();
            let err = self.db_err();
            let mut stmt = conn
                .prepare(
                    "SELECT reference, image_id FROM (
                         SELECT reference, image_id, 0 AS dangling FROM tags
                         UNION ALL
                         SELECT '<none>:<none>', id, 1 FROM images WHERE id NOT IN (SELECT image_id FROM tags)
                     ) ORDER BY dangling, reference, image_id",
                )
                .map_err(&err)?;
            let rows = stmt
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
                .map_err(&err)?;
            rows.collect::<std::result::Result<_, _>>().map_err(&err)?
        };
        let mut cache: HashMap<String, ImageRecord> = HashMap::new();
        let mut out = Vec::with_capacity(rows.len());
        for (reference, id) in rows {
            let record = match cache.get(&id) {
                Some(r) => r.clone(),
                None => {
                    let Some(r) = self.image_by_id(&id.parse()?)? else {
                        continue;
                    };
                    cache.insert(id, r.clone());
                    r
                }
            };
            out.push((reference, record));
        }
        Ok(out)
    }

    /// The tags pointing at image `id`, sorted.
    pub fn image_tags(&self, id: &Digest) -> Result<Vec<String>> {
        let conn = self.conn();
        let err = self.db_err();
        let mut stmt = conn
            .prepare("SELECT reference FROM tags WHERE image_id = ?1 ORDER BY reference")
            .map_err(&err)?;
        let rows = stmt.query_map([id.as_str()], |r| r.get(0)).map_err(&err)?;
        rows.collect::<std::result::Result<_, _>>().map_err(&err)
    }

    /// Remove a tag. Returns whether it existed. The image stays (untagged) until `remove_image` or GC.
    pub fn untag(&self, reference: &str) -> Result<bool> {
        let reference = normalize_reference(reference)?;
        let mut conn = self.conn();
        let err = self.db_err();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(&err)?;
        let removed = tx
            .execute(
                "DELETE FROM tags WHERE reference = ?1",
                [reference.as_str()],
            )
            .map_err(&err)?;
        if removed > 0 {
            self.write_index_json(&tx)?;
        }
        tx.commit().map_err(&err)?;
        Ok(removed > 0)
    }

    /// `rmi`: given a tag, remove it, and the image too if no other tag points at it; given an image ID (or
    /// unique prefix), remove the image and every tag pointing at it. Returns what happened, one line each:
    /// `Untagged: name:tag`, `Deleted: sha256:…`. Blobs and snapshots stay until garbage collection.
    pub fn remove_image(&self, reference: &str) -> Result<Vec<String>> {
        let reference = reference.trim();
        let by_tag: Option<(String, String)> = match normalize_reference(reference) {
            Ok(normalized) if !reference.starts_with("sha256:") => {
                let conn = self.conn();
                conn.query_row(
                    "SELECT reference, image_id FROM tags WHERE reference = ?1",
                    [normalized.as_str()],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()
                .map_err(self.db_err())?
            }
            _ => None,
        };
        let (image_id, only_tag) = match by_tag {
            Some((tag, id)) => (id, Some(tag)),
            None => match self.resolve(reference)? {
                Some(image) => (image.id.to_string(), None),
                None => return Err(StoreError::ImageNotFound(reference.to_string())),
            },
        };
        let mut report = Vec::new();
        let mut conn = self.conn();
        let err = self.db_err();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(&err)?;
        let tags: Vec<String> = match &only_tag {
            Some(tag) => vec![tag.clone()],
            None => {
                let mut stmt = tx
                    .prepare("SELECT reference FROM tags WHERE image_id = ?1 ORDER BY reference")
                    .map_err(&err)?;
                let rows = stmt
                    .query_map([image_id.as_str()], |r| r.get(0))
                    .map_err(&err)?;
                rows.collect::<std::result::Result<_, _>>().map_err(&err)?
            }
        };
        for tag in &tags {
            tx.execute("DELETE FROM tags WHERE reference = ?1", [tag.as_str()])
                .map_err(&err)?;
            report.push(format!("Untagged: {tag}"));
        }
        let still_tagged: bool = tx
            .query_row(
                "SELECT 1 FROM tags WHERE image_id = ?1 LIMIT 1",
                [image_id.as_str()],
                |_| Ok(true),
            )
            .optional()
            .map_err(&err)?
            .unwrap_or(false);
        if !still_tagged {
            tx.execute("DELETE FROM images WHERE id = ?1", [image_id.as_str()])
                .map_err(&err)?;
            report.push(format!("Deleted: {image_id}"));
        }
        self.write_index_json(&tx)?;
        tx.commit().map_err(&err)?;
        Ok(report)
    }

    /// Rewrite `<root>/index.json` (OCI image layout) from the tags, inside the caller's write transaction so
    /// concurrent writers cannot interleave.
    pub(crate) fn write_index_json(&self, tx: &Transaction<'_>) -> Result<()> {
        let err = self.db_err();
        let rows: Vec<(String, String)> = {
            let mut stmt = tx
                .prepare(
                    "SELECT t.reference, i.manifest_digest FROM tags t JOIN images i ON i.id = t.image_id
                     ORDER BY t.reference",
                )
                .map_err(&err)?;
            let rows = stmt
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
                .map_err(&err)?;
            rows.collect::<std::result::Result<_, _>>().map_err(&err)?
        };
        let mut manifests = Vec::with_capacity(rows.len());
        for (reference, manifest_digest) in rows {
            let digest = Digest::from_str(&manifest_digest)?;
            let size = self.blob_size(&digest)?;
            let mut desc = Descriptor::new(MediaType::ImageManifest, size, digest);
            desc.set_annotations(Some(HashMap::from([(
                REF_NAME_ANNOTATION.to_string(),
                reference,
            )])));
            manifests.push(desc);
        }
        let index = ImageIndexBuilder::default()
            .schema_version(2u32)
            .media_type(MediaType::ImageIndex)
            .manifests(manifests)
            .build()
            .map_err(|e| StoreError::InvalidImage(format!("building index.json: {e}")))?;
        let bytes = canonical_json(&index, "index.json")?;
        write_atomic(&self.tmp, &self.root.join("index.json"), &bytes)
    }
}
