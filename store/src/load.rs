//! `docker load`: import a `docker save` archive or an OCI image layout tar (layers plain or compressed).

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::Path;

use oci_spec::image::{ImageIndex, ImageManifest, MediaType};
use serde::Deserialize;

use crate::digest::Digest;
use crate::error::{IoContext, Result, StoreError};
use crate::images::ImageRecord;
use crate::import::decompressing_reader;
use crate::reference::normalize_reference;
use crate::Store;

/// Files up to this size are also kept in memory while loading (manifests, configs, index.json).
const SMALL_FILE: u64 = 4 << 20;

#[derive(Deserialize)]
struct DockerManifestEntry {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "RepoTags", default)]
    repo_tags: Option<Vec<String>>,
    #[serde(rename = "Layers")]
    layers: Vec<String>,
}

/// Every regular file of the archive: stored (decompressed) as a blob, small ones also kept in memory.
struct ArchiveFiles {
    label: String,
    /// Path in the archive → digest of its decompressed content.
    blobs: HashMap<String, Digest>,
    small: HashMap<String, Vec<u8>>,
}

impl ArchiveFiles {
    fn bytes(&self, path: &str) -> Result<&[u8]> {
        self.small
            .get(&clean(path))
            .map(|v| v.as_slice())
            .ok_or_else(|| self.missing(path))
    }

    fn blob(&self, path: &str) -> Result<&Digest> {
        self.blobs
            .get(&clean(path))
            .ok_or_else(|| self.missing(path))
    }

    fn missing(&self, path: &str) -> StoreError {
        StoreError::InvalidImage(format!("{}: the archive has no file {path:?}", self.label))
    }
}

/// `./a//b` → `a/b`, so names from manifests match names from tar headers.
fn clean(path: &str) -> String {
    path.split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect::<Vec<_>>()
        .join("/")
}

fn parse<T: serde::de::DeserializeOwned>(bytes: &[u8], what: &str) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Json {
        what: what.to_string(),
        message: e.to_string(),
    })
}

impl Store {
    /// Load a `docker save` archive (`manifest.json`) or an OCI image layout tar (`index.json`), plain or
    /// compressed; `-` reads standard input. Layers are stored uncompressed and checked against the config's diff IDs; image IDs are
    /// kept. Returns each image with the tags it got.
    pub fn load_archive(&self, archive: &Path) -> Result<Vec<(Vec<String>, ImageRecord)>> {
        let label = archive.display().to_string();
        if archive == Path::new("-") {
            return self.load_archive_from(BufReader::new(io::stdin().lock()), "standard input");
        }
        let file = File::open(archive).io_ctx("opening archive", archive)?;
        self.load_archive_from(BufReader::new(file), &label)
    }

    /// [`Store::load_archive`] from a stream (for example stdin); `label` names it in errors.
    pub fn load_archive_from<R: io::BufRead>(
        &self,
        reader: R,
        label: &str,
    ) -> Result<Vec<(Vec<String>, ImageRecord)>> {
        let files = self.read_archive_files(reader, label)?;
        if files.small.contains_key("manifest.json") {
            self.load_docker_manifest(&files)
        } else if files.small.contains_key("index.json") {
            self.load_oci_index(&files)
        } else {
            Err(StoreError::InvalidImage(format!(
                "{label}: neither manifest.json (docker save) nor index.json (OCI layout) found; is this an image archive?"
            )))
        }
    }

    fn read_archive_files<R: io::BufRead>(&self, reader: R, label: &str) -> Result<ArchiveFiles> {
        let tar_err = |source: io::Error| StoreError::Tar {
            what: label.to_string(),
            source,
        };
        let mut archive = tar::Archive::new(decompressing_reader(reader, label)?);
        let mut files = ArchiveFiles {
            label: label.to_string(),
            blobs: HashMap::new(),
            small: HashMap::new(),
        };
        for entry in archive.entries().map_err(tar_err)? {
            let entry = entry.map_err(tar_err)?;
            if !matches!(
                entry.header().entry_type(),
                tar::EntryType::Regular | tar::EntryType::Continuous
            ) {
                continue;
            }
            let name = clean(&String::from_utf8_lossy(&entry.path_bytes()));
            let size = entry.size();
            let mut content =
                decompressing_reader(BufReader::new(entry), &format!("{label}: {name}"))?;
            let mut writer = self.blob_writer()?;
            if size <= SMALL_FILE {
                let mut bytes = Vec::new();
                content.read_to_end(&mut bytes).map_err(tar_err)?;
                io::Write::write_all(&mut writer, &bytes)
                    .io_ctx("writing blob", self.tmp_dir().to_path_buf())?;
                files.small.insert(name.clone(), bytes);
            } else {
                io::copy(&mut content, &mut writer).map_err(tar_err)?;
            }
            let (digest, _) = writer.commit()?;
            files.blobs.insert(name, digest);
        }
        Ok(files)
    }

    fn load_docker_manifest(
        &self,
        files: &ArchiveFiles,
    ) -> Result<Vec<(Vec<String>, ImageRecord)>> {
        let entries: Vec<DockerManifestEntry> =
            parse(files.bytes("manifest.json")?, "manifest.json")?;
        let mut out = Vec::new();
        for entry in entries {
            let config = files.bytes(&entry.config)?;
            let layers = entry
                .layers
                .iter()
                .map(|l| files.blob(l).cloned())
                .collect::<Result<Vec<_>>>()?;
            let image = self.store_loaded_image(config, &layers, &files.label)?;
            let tags = self.tag_loaded(&image, entry.repo_tags.unwrap_or_default())?;
            out.push((tags, image));
        }
        Ok(out)
    }

    fn load_oci_index(&self, files: &ArchiveFiles) -> Result<Vec<(Vec<String>, ImageRecord)>> {
        let index: ImageIndex = parse(files.bytes("index.json")?, "index.json")?;
        let blob_path =
            |d: &oci_spec::image::Digest| format!("blobs/{}/{}", d.algorithm(), d.digest());
        let mut out = Vec::new();
        for desc in index.manifests() {
            let mut manifest_bytes = files.bytes(&blob_path(desc.digest()))?.to_vec();
            if *desc.media_type() == MediaType::ImageIndex {
                // A multi-platform index: take the manifest for this host.
                let nested: ImageIndex = parse(&manifest_bytes, "nested image index")?;
                let host = oci_spec::image::Arch::default();
                let chosen = nested
                    .manifests()
                    .iter()
                    .find(|m| {
                        m.platform()
                            .as_ref()
                            .is_some_and(|p| *p.architecture() == host)
                    })
                    .or_else(|| nested.manifests().first())
                    .ok_or_else(|| {
                        StoreError::InvalidImage(format!("{}: empty image index", files.label))
                    })?;
                manifest_bytes = files.bytes(&blob_path(chosen.digest()))?.to_vec();
            }
            let manifest: ImageManifest = parse(&manifest_bytes, "image manifest")?;
            let config = files.bytes(&blob_path(manifest.config().digest()))?;
            let layers = manifest
                .layers()
                .iter()
                .map(|l| files.blob(&blob_path(l.digest())).cloned())
                .collect::<Result<Vec<_>>>()?;
            let image = self.store_loaded_image(config, &layers, &files.label)?;
            let annotations = desc.annotations().clone().unwrap_or_default();
            let name = annotations.get("io.containerd.image.name").or_else(|| {
                annotations
                    .get(crate::images::REF_NAME_ANNOTATION)
                    .filter(|n| n.contains(':') || n.contains('/'))
            });
            let tags = self.tag_loaded(&image, name.into_iter().cloned().collect())?;
            out.push((tags, image));
        }
        Ok(out)
    }

    /// Check each decompressed layer against the config's diff IDs, then store the config bytes unchanged.
    fn store_loaded_image(
        &self,
        config: &[u8],
        layers: &[Digest],
        label: &str,
    ) -> Result<ImageRecord> {
        let parsed: oci_spec::image::ImageConfiguration = parse(config, "image config")?;
        let diff_ids = parsed.rootfs().diff_ids();
        if diff_ids.len() != layers.len() {
            return Err(StoreError::InvalidImage(format!(
                "{label}: the config lists {} layers but the manifest has {}",
                diff_ids.len(),
                layers.len()
            )));
        }
        for (i, (diff, layer)) in diff_ids.iter().zip(layers).enumerate() {
            if diff != layer.as_str() {
                return Err(StoreError::InvalidImage(format!(
                    "{label}: layer {i} decompresses to {layer} but the config says {diff}; the archive is corrupt"
                )));
            }
        }
        self.write_image_config(config)
    }

    fn tag_loaded(&self, image: &ImageRecord, tags: Vec<String>) -> Result<Vec<String>> {
        let mut out = Vec::new();
        for tag in tags {
            self.tag(&tag, image)?;
            out.push(normalize_reference(&tag)?);
        }
        Ok(out)
    }
}
