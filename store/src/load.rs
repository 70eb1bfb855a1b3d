//! `docker load`: import a `docker save` archive or an OCI image layout tar (layers plain or compressed).

use std::fs::File;
use std::io::{self, BufReader};
use std::path::Path;

use oci_spec::image::{ImageIndex, ImageManifest, MediaType};
use serde::Deserialize;

use crate::digest::Digest;
use crate::error::{IoContext, Result, StoreError};
use crate::images::ImageRecord;
use crate::load_entries::ArchiveFiles;
use crate::reference::normalize_reference;
use crate::Store;

#[derive(Deserialize)]
struct DockerManifestEntry {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "RepoTags", default)]
    repo_tags: Option<Vec<String>>,
    #[serde(rename = "Layers")]
    layers: Vec<String>,
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
        if files.has("manifest.json") {
            self.load_docker_manifest(&files)
        } else if files.has("index.json") {
            self.load_oci_index(&files)
        } else {
            Err(StoreError::InvalidImage(format!(
                "{label}: neither manifest.json (docker save) nor index.json (OCI layout) found; is this an image archive?"
            )))
        }
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
        // Unpacking checks every entry: a layer that would escape its root is refused now, not at `run`.
        for layer in layers {
            self.ensure_snapshot(layer)?;
        }
        self.sync_snapshots()?;
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
