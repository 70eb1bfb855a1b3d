//! Build cache export and import (`--cache-to type=local,dest=DIR`, `--cache-from type=local,src=DIR`), so CI
//! can carry the cache between machines.
//!
//! The directory is an OCI image layout: `oci-layout`, `blobs/sha256/<hex>` (the layer tars, uncompressed as the
//! store keeps them, and one JSON document listing the cache records) and `index.json`, whose single entry
//! (media type [`CACHE_RECORDS_MEDIA_TYPE`]) points at that document. `index.json` is replaced last, so a reader
//! never sees records whose blobs are not there yet.

use std::collections::{HashMap, HashSet};
use std::fs::{self, File};
use std::io::{self, BufReader};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::cache::CacheRecord;
use crate::db::now;
use crate::digest::Digest;
use crate::error::{IoContext, Result, StoreError};
use crate::fsutil::{unique_name, write_atomic};
use crate::Store;

/// Media type of the cache records document.
pub const CACHE_RECORDS_MEDIA_TYPE: &str = "application/vnd.hoist.cache.records.v1+json";
const INDEX_MEDIA_TYPE: &str = "application/vnd.oci.image.index.v1+json";
const REF_NAME_ANNOTATION: &str = "org.opencontainers.image.ref.name";

/// The cache records document.
#[derive(Debug, Serialize, Deserialize)]
struct RecordsDocument {
    version: u32,
    records: Vec<CacheRecord>,
}

/// The document of [`CACHE_RECORDS_MEDIA_TYPE`] holding `records`, as every cache export (a directory or a
/// registry) writes it.
pub fn encode_cache_records(records: Vec<CacheRecord>) -> Result<Vec<u8>> {
    serde_json::to_vec_pretty(&RecordsDocument {
        version: 1,
        records,
    })
    .map_err(|e| StoreError::Json {
        what: "cache records".into(),
        message: e.to_string(),
    })
}

/// The records of a document [`encode_cache_records`] wrote; `what` names where it came from in the errors.
pub fn decode_cache_records(bytes: &[u8], what: &str) -> Result<Vec<CacheRecord>> {
    let document: RecordsDocument =
        serde_json::from_slice(bytes).map_err(|e| StoreError::Json {
            what: format!("build cache records {what}"),
            message: e.to_string(),
        })?;
    if document.version != 1 {
        return Err(StoreError::Json {
            what: format!("build cache records {what}"),
            message: format!(
                "cache records version {} is newer than this hoist understands (1)",
                document.version
            ),
        });
    }
    Ok(document.records)
}

#[derive(Debug, Serialize, Deserialize)]
struct IndexDescriptor {
    #[serde(rename = "mediaType")]
    media_type: String,
    digest: Digest,
    size: u64,
    #[serde(default, skip_serializing_if = "HashMap::is_empty")]
    annotations: HashMap<String, String>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Index {
    #[serde(rename = "schemaVersion")]
    schema_version: u32,
    #[serde(rename = "mediaType", default)]
    media_type: String,
    manifests: Vec<IndexDescriptor>,
}

/// What [`Store::export_cache`] wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CacheExportReport {
    /// Records written (the requested ones and their ancestors).
    pub records: usize,
    /// Layer blobs copied (blobs already in the directory are kept).
    pub blobs_copied: usize,
    /// Bytes copied.
    pub bytes_copied: u64,
}

fn bad_cache_dir(dir: &Path, message: String) -> StoreError {
    StoreError::Io {
        action: "reading build cache directory",
        path: dir.to_path_buf(),
        source: io::Error::new(io::ErrorKind::InvalidData, message),
    }
}

impl Store {
    /// Write the records for `keys`, their ancestors (following `parent`), and their layer blobs to `dir`,
    /// replacing the records a previous export left there. Keys not in the cache are skipped. Blobs no
    /// longer listed are removed, so the directory does not grow without bound.
    pub fn export_cache(&self, keys: &[String], dir: &Path) -> Result<CacheExportReport> {
        let records = self.records_with_ancestors(keys)?;
        let blobs_dir = dir.join("blobs").join("sha256");
        fs::create_dir_all(&blobs_dir).io_ctx("creating cache export directory", &blobs_dir)?;
        let mut report = CacheExportReport {
            records: records.len(),
            ..Default::default()
        };
        let mut wanted: HashSet<String> = HashSet::new();
        let mut exported = Vec::with_capacity(records.len());
        for record in records {
            if let Some(layer) = &record.layer {
                if !self.has_blob(layer) {
                    // Its layer was garbage collected: a record without it is useless elsewhere.
                    continue;
                }
                let dest = blobs_dir.join(layer.hex());
                if wanted.insert(layer.hex().to_string())
                    && !same_size(&dest, self.blob_size(layer)?)
                {
                    report.bytes_copied += copy_atomic(&self.blob_path(layer), &dest, &blobs_dir)?;
                    report.blobs_copied += 1;
                }
            }
            exported.push(record);
        }
        report.records = exported.len();
        let document = encode_cache_records(exported)?;
        let document_digest = Digest::of_bytes(&document);
        write_atomic(
            &blobs_dir,
            &blobs_dir.join(document_digest.hex()),
            &document,
        )?;
        wanted.insert(document_digest.hex().to_string());

        let index = Index {
            schema_version: 2,
            media_type: INDEX_MEDIA_TYPE.into(),
            manifests: vec![IndexDescriptor {
                media_type: CACHE_RECORDS_MEDIA_TYPE.into(),
                digest: document_digest,
                size: document.len() as u64,
                annotations: HashMap::from([(
                    REF_NAME_ANNOTATION.to_string(),
                    "cache".to_string(),
                )]),
            }],
        };
        let index_bytes = serde_json::to_vec_pretty(&index).map_err(|e| StoreError::Json {
            what: "cache index.json".into(),
            message: e.to_string(),
        })?;
        write_atomic(
            &blobs_dir,
            &dir.join("oci-layout"),
            br#"{"imageLayoutVersion":"1.0.0"}"#,
        )?;
        write_atomic(&blobs_dir, &dir.join("index.json"), &index_bytes)?;

        // Only after index.json names the new set: drop blobs of earlier exports.
        if let Ok(entries) = fs::read_dir(&blobs_dir) {
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if Digest::from_hex(&name).is_ok() && !wanted.contains(&name) {
                    let _ = fs::remove_file(entry.path());
                }
            }
        }
        Ok(report)
    }

    /// Read a directory written by [`Store::export_cache`] and add its records (and layer blobs, verified
    /// against their digests) to this store. Records whose key is already cached here are left alone.
    /// Returns how many records were added.
    pub fn import_cache(&self, dir: &Path) -> Result<usize> {
        let index_path = dir.join("index.json");
        let index_bytes = fs::read(&index_path).io_ctx("reading build cache index", &index_path)?;
        let index: Index = serde_json::from_slice(&index_bytes).map_err(|e| StoreError::Json {
            what: format!("build cache index {}", index_path.display()),
            message: e.to_string(),
        })?;
        let descriptor = index
            .manifests
            .iter()
            .find(|d| d.media_type == CACHE_RECORDS_MEDIA_TYPE)
            .ok_or_else(|| {
                bad_cache_dir(
                    dir,
                    format!("index.json lists no {CACHE_RECORDS_MEDIA_TYPE}; was it written by hoist --cache-to?"),
                )
            })?;
        let blobs_dir = dir.join("blobs").join("sha256");
        let document_path = blobs_dir.join(descriptor.digest.hex());
        let document_bytes =
            fs::read(&document_path).io_ctx("reading build cache records", &document_path)?;
        if Digest::of_bytes(&document_bytes) != descriptor.digest {
            return Err(bad_cache_dir(
                dir,
                format!(
                    "{} does not match its digest; export the cache again",
                    document_path.display()
                ),
            ));
        }
        let records = decode_cache_records(&document_bytes, &document_path.display().to_string())?;

        let existing: HashSet<String> = self.cache_records()?.into_iter().map(|r| r.key).collect();
        let t = now();
        let mut added = 0;
        for mut record in records {
            if existing.contains(&record.key) {
                continue;
            }
            if let Some(layer) = &record.layer {
                if !self.has_blob(layer) {
                    self.import_blob(&blobs_dir.join(layer.hex()), layer)?;
                }
            }
            record.last_used = t;
            record.used_count = 0;
            self.cache_insert(&record)?;
            added += 1;
        }
        Ok(added)
    }

    /// Copy `path` into the content store, checking that its content has digest `expected`.
    fn import_blob(&self, path: &Path, expected: &Digest) -> Result<()> {
        let file = File::open(path).io_ctx("opening cached layer", path)?;
        let mut writer = self.blob_writer()?;
        io::copy(&mut BufReader::new(file), &mut writer).io_ctx("copying cached layer", path)?;
        let (digest, _) = writer.commit()?;
        if &digest != expected {
            // Committed under its real digest: unreferenced, so the next gc removes it.
            return Err(StoreError::Io {
                action: "importing cached layer",
                path: path.to_path_buf(),
                source: io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("content has digest {digest}, expected {expected}; the cache directory is damaged, export it again"),
                ),
            });
        }
        Ok(())
    }

    /// The records a cache export of `keys` carries: those keys and their ancestors still cached, ancestors
    /// first, each once, without records whose layer blob is gone (useless elsewhere).
    pub fn cache_records_for_export(&self, keys: &[String]) -> Result<Vec<CacheRecord>> {
        Ok(self
            .records_with_ancestors(keys)?
            .into_iter()
            .filter(|r| r.layer.as_ref().is_none_or(|layer| self.has_blob(layer)))
            .collect())
    }

    /// The records for `keys` and every ancestor still cached, ancestors first, each once.
    fn records_with_ancestors(&self, keys: &[String]) -> Result<Vec<CacheRecord>> {
        let all: HashMap<String, CacheRecord> = self
            .cache_records()?
            .into_iter()
            .map(|r| (r.key.clone(), r))
            .collect();
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        for key in keys {
            let mut chain = Vec::new();
            let mut next = Some(key.as_str());
            while let Some(k) = next {
                if !seen.insert(k.to_string()) {
                    break;
                }
                let Some(record) = all.get(k) else { break };
                chain.push(record.clone());
                next = record.parent.as_deref();
            }
            chain.reverse();
            out.extend(chain);
        }
        Ok(out)
    }
}

fn same_size(path: &Path, size: u64) -> bool {
    fs::symlink_metadata(path).is_ok_and(|m| m.is_file() && m.len() == size)
}

/// Copy `src` to `dest` through a temporary file in `staging` (same directory as `dest`), then rename.
fn copy_atomic(src: &Path, dest: &Path, staging: &Path) -> Result<u64> {
    let tmp: PathBuf = staging.join(format!(".{}", unique_name("copy")));
    let copied = fs::copy(src, &tmp).io_ctx("copying layer to", &tmp);
    let result = copied.and_then(|n| {
        File::open(&tmp)
            .and_then(|f| f.sync_all())
            .io_ctx("syncing", &tmp)?;
        fs::rename(&tmp, dest).io_ctx("renaming into place", dest)?;
        Ok(n)
    });
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(store: &Store, key: &str, parent: Option<&str>, content: &[u8]) -> CacheRecord {
        let layer = store.put_blob(content).unwrap();
        let rec = CacheRecord {
            key: key.into(),
            parent: parent.map(str::to_string),
            description: format!("[1/2] RUN make {key}"),
            layer: Some(layer),
            payload: "{}".into(),
            size: content.len() as u64,
            created: 1000,
            last_used: 1000,
            used_count: 3,
        };
        store.cache_insert(&rec).unwrap();
        rec
    }

    #[test]
    fn export_then_import_into_a_fresh_store() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let out = tempfile::tempdir().unwrap();
        let src = Store::open(a.path()).unwrap();
        let base = record(&src, "k1", Some("image"), b"layer one");
        let top = record(&src, "k2", Some("k1"), b"layer two");
        record(&src, "unrelated", None, b"layer three");

        let report = src
            .export_cache(&["k2".to_string(), "missing".to_string()], out.path())
            .unwrap();
        assert_eq!(report.records, 2, "k2 and its parent k1");
        assert_eq!(report.blobs_copied, 2);
        assert!(out.path().join("oci-layout").is_file());

        let dst = Store::open(b.path()).unwrap();
        assert_eq!(dst.import_cache(out.path()).unwrap(), 2);
        let got = dst.cache_lookup("k2").unwrap().unwrap();
        assert_eq!(got.layer, top.layer);
        assert_eq!(got.description, top.description);
        assert!(dst.has_blob(base.layer.as_ref().unwrap()));
        assert!(dst.cache_lookup("unrelated").unwrap().is_none());
        // Importing again adds nothing.
        assert_eq!(dst.import_cache(out.path()).unwrap(), 0);
    }

    #[test]
    fn re_export_drops_blobs_no_longer_listed() {
        let a = tempfile::tempdir().unwrap();
        let out = tempfile::tempdir().unwrap();
        let src = Store::open(a.path()).unwrap();
        let one = record(&src, "k1", None, b"one");
        let two = record(&src, "k2", None, b"two");
        src.export_cache(&["k1".to_string()], out.path()).unwrap();
        let blobs = out.path().join("blobs/sha256");
        assert!(blobs.join(one.layer.as_ref().unwrap().hex()).is_file());
        let again = src.export_cache(&["k2".to_string()], out.path()).unwrap();
        assert_eq!(again.records, 1);
        assert!(!blobs.join(one.layer.as_ref().unwrap().hex()).exists());
        assert!(blobs.join(two.layer.as_ref().unwrap().hex()).is_file());
        // Exporting the same set twice copies nothing.
        assert_eq!(
            src.export_cache(&["k2".to_string()], out.path())
                .unwrap()
                .blobs_copied,
            0
        );
    }

    #[test]
    fn a_tampered_layer_is_refused() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let out = tempfile::tempdir().unwrap();
        let src = Store::open(a.path()).unwrap();
        let rec = record(&src, "k1", None, b"honest bytes");
        src.export_cache(&["k1".to_string()], out.path()).unwrap();
        let blob = out
            .path()
            .join("blobs/sha256")
            .join(rec.layer.as_ref().unwrap().hex());
        fs::write(&blob, b"evil bytes").unwrap();
        let dst = Store::open(b.path()).unwrap();
        let err = dst.import_cache(out.path()).unwrap_err().to_string();
        assert!(err.contains("damaged"), "{err}");
        assert!(dst.cache_lookup("k1").unwrap().is_none());
        assert!(!dst.has_blob(rec.layer.as_ref().unwrap()));
    }

    #[test]
    fn a_directory_without_an_index_says_so() {
        let b = tempfile::tempdir().unwrap();
        let empty = tempfile::tempdir().unwrap();
        let dst = Store::open(b.path()).unwrap();
        let err = dst.import_cache(empty.path()).unwrap_err().to_string();
        assert!(err.contains("index.json"), "{err}");
    }
}
