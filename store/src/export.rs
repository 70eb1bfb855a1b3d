//! `docker save` archives and OCI image layout tars.

use std::collections::{BTreeMap, HashSet};
use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::Path;

use oci_spec::image::{Descriptor, ImageIndexBuilder, ImageManifest, MediaType};
use serde::Serialize;
use sha2::{Digest as _, Sha256};

use crate::digest::Digest;
use crate::error::{IoContext, Result, StoreError};
use crate::fsutil::sibling_tmp;
use crate::images::{canonical_json, ImageRecord, REF_NAME_ANNOTATION};
use crate::reference::{normalize_reference, split_tag};
use crate::{LayerCompression, Store};

/// One entry of a docker-save `manifest.json`.
#[derive(Serialize)]
struct DockerManifestEntry {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "RepoTags")]
    repo_tags: Vec<String>,
    #[serde(rename = "Layers")]
    layers: Vec<String>,
}

/// An image to export and the tags to export it under.
struct ExportImage {
    image: ImageRecord,
    tags: Vec<String>,
}

/// Appends entries to a tar, each path once.
struct TarOut<W: Write> {
    builder: tar::Builder<W>,
    written: HashSet<String>,
    what: String,
}

impl<W: Write> TarOut<W> {
    fn new(w: W, what: &str) -> Self {
        TarOut {
            builder: tar::Builder::new(w),
            written: HashSet::new(),
            what: what.to_string(),
        }
    }

    fn err(&self, source: std::io::Error) -> StoreError {
        StoreError::Io {
            action: "writing archive",
            path: self.what.clone().into(),
            source,
        }
    }

    fn dir(&mut self, path: &str) -> Result<()> {
        if !self.written.insert(path.to_string()) {
            return Ok(());
        }
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Directory);
        header.set_mode(0o755);
        header.set_size(0);
        header.set_mtime(0);
        self.builder
            .append_data(&mut header, path, std::io::empty())
            .map_err(|e| self.err(e))
    }

    fn file<R: std::io::Read>(&mut self, path: &str, size: u64, data: R) -> Result<()> {
        if !self.written.insert(path.to_string()) {
            return Ok(());
        }
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_mode(0o644);
        header.set_size(size);
        header.set_mtime(0);
        self.builder
            .append_data(&mut header, path, data)
            .map_err(|e| self.err(e))
    }

    fn bytes(&mut self, path: &str, bytes: &[u8]) -> Result<()> {
        self.file(path, bytes.len() as u64, bytes)
    }

    fn finish(self) -> Result<W> {
        let what = self.what.clone();
        self.builder.into_inner().map_err(|source| StoreError::Io {
            action: "finishing archive",
            path: what.into(),
            source,
        })
    }
}

fn to_json<T: Serialize>(value: &T, what: &str) -> Result<Vec<u8>> {
    serde_json::to_vec(value).map_err(|e| StoreError::Json {
        what: what.to_string(),
        message: e.to_string(),
    })
}

/// Docker's legacy per-layer directory names: unique per position in the layer stack.
fn legacy_layer_ids(diff_ids: &[Digest]) -> Vec<String> {
    let mut ids: Vec<String> = Vec::with_capacity(diff_ids.len());
    for diff in diff_ids {
        let id = match ids.last() {
            None => diff.hex().to_string(),
            Some(parent) => hex::encode(Sha256::digest(format!("{parent} {diff}").as_bytes())),
        };
        ids.push(id);
    }
    ids
}

impl Store {
    /// Resolve references to images, grouping the tags of one image; an ID exports the image untagged.
    fn export_set(&self, references: &[String]) -> Result<Vec<ExportImage>> {
        let mut out: Vec<ExportImage> = Vec::new();
        for reference in references {
            let image = self
                .resolve(reference)?
                .ok_or_else(|| StoreError::ImageNotFound(reference.clone()))?;
            let tag = normalize_reference(reference)
                .ok()
                .filter(|n| split_tag(n).is_some() && !reference.trim().starts_with("sha256:"))
                .filter(|n| {
                    self.image_tags(&image.id)
                        .map(|t| t.contains(n))
                        .unwrap_or(false)
                });
            match out.iter_mut().find(|e| e.image.id == image.id) {
                Some(existing) => {
                    if let Some(tag) = tag {
                        if !existing.tags.contains(&tag) {
                            existing.tags.push(tag);
                        }
                    }
                }
                None => out.push(ExportImage {
                    image,
                    tags: tag.into_iter().collect(),
                }),
            }
        }
        Ok(out)
    }

    /// `docker save` to a file, written next to `out` and renamed into place; layers uncompressed.
    pub fn save_docker_archive(&self, references: &[String], out: &Path) -> Result<()> {
        self.save_docker_archive_compressed(references, out, None)
    }

    /// [`Store::save_docker_archive`] with the layers compressed (gzip only: `docker load` reads no zstd
    /// layers from a docker-archive). Compressed layers are made once and cached, see
    /// [`Store::compressed_layer`].
    pub fn save_docker_archive_compressed(
        &self,
        references: &[String],
        out: &Path,
        compression: Option<LayerCompression>,
    ) -> Result<()> {
        check_docker_compression(compression, out)?;
        write_file_atomically(out, |w| {
            self.write_docker_archive_compressed(references, w, compression)
        })
    }

    /// `docker save` format: `manifest.json`, `<config hex>.json`, `<layer id>/layer.tar` (+ `VERSION`, `json`),
    /// `repositories`.
    pub fn write_docker_archive<W: Write>(&self, references: &[String], w: W) -> Result<W> {
        self.write_docker_archive_compressed(references, w, None)
    }

    /// [`Store::write_docker_archive`] with gzip layers (`<layer id>/layer.tar.gz`) when `compression` is
    /// `Some(Gzip)`; `Some(Zstd)` is refused.
    pub fn write_docker_archive_compressed<W: Write>(
        &self,
        references: &[String],
        w: W,
        compression: Option<LayerCompression>,
    ) -> Result<W> {
        check_docker_compression(compression, Path::new("docker archive"))?;
        let images = self.export_set(references)?;
        self.write_docker_images(&images, w, compression)
    }

    /// A docker-archive of one image under `names` (each `name:tag`; none: untagged), for a build's
    /// `--output type=docker`, where the names need not be tags in the store.
    pub fn write_named_docker_archive<W: Write>(
        &self,
        image: &ImageRecord,
        names: &[String],
        w: W,
        compression: Option<LayerCompression>,
    ) -> Result<W> {
        check_docker_compression(compression, Path::new("docker archive"))?;
        let images = [named_export(image, names)?];
        self.write_docker_images(&images, w, compression)
    }

    fn write_docker_images<W: Write>(
        &self,
        images: &[ExportImage],
        w: W,
        compression: Option<LayerCompression>,
    ) -> Result<W> {
        let mut tar = TarOut::new(w, "docker archive");
        let mut manifest = Vec::new();
        let mut repositories: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        for entry in images {
            let image = &entry.image;
            let config_name = format!("{}.json", image.id.hex());
            let config_bytes = self.read_blob(&image.id)?;
            tar.bytes(&config_name, &config_bytes)?;
            let diff_ids = image.diff_ids()?;
            let ids = legacy_layer_ids(&diff_ids);
            let mut layers = Vec::new();
            for (i, (diff, id)) in diff_ids.iter().zip(&ids).enumerate() {
                tar.dir(&format!("{id}/"))?;
                tar.bytes(&format!("{id}/VERSION"), b"1.0")?;
                let mut legacy = serde_json::Map::new();
                legacy.insert("id".into(), id.clone().into());
                if i > 0 {
                    legacy.insert("parent".into(), ids[i - 1].clone().into());
                }
                tar.bytes(&format!("{id}/json"), &to_json(&legacy, "layer json")?)?;
                let layer = self.export_layer(diff, compression)?;
                let path = match compression {
                    None => format!("{id}/layer.tar"),
                    Some(c) => format!("{id}/layer.{}", c.tar_extension()),
                };
                tar.file(&path, layer.size, self.open_blob(&layer.digest)?)?;
                layers.push(path);
            }
            if let Some(top) = ids.last() {
                for tag in &entry.tags {
                    if let Some((name, t)) = split_tag(tag) {
                        repositories
                            .entry(name.to_string())
                            .or_default()
                            .insert(t.to_string(), top.clone());
                    }
                }
            }
            manifest.push(DockerManifestEntry {
                config: config_name,
                repo_tags: entry.tags.clone(),
                layers,
            });
        }
        tar.bytes("manifest.json", &to_json(&manifest, "manifest.json")?)?;
        if !repositories.is_empty() {
            tar.bytes("repositories", &to_json(&repositories, "repositories")?)?;
        }
        tar.finish()
    }

    /// An OCI image layout tar, written next to `out` and renamed into place; layers uncompressed.
    pub fn save_oci_layout(&self, references: &[String], out: &Path) -> Result<()> {
        self.save_oci_layout_compressed(references, out, None)
    }

    /// [`Store::save_oci_layout`] with gzip or zstd layers (made once and cached, see
    /// [`Store::compressed_layer`]).
    pub fn save_oci_layout_compressed(
        &self,
        references: &[String],
        out: &Path,
        compression: Option<LayerCompression>,
    ) -> Result<()> {
        write_file_atomically(out, |w| {
            self.write_oci_layout_compressed(references, w, compression)
        })
    }

    /// OCI image layout (`oci-layout`, `index.json`, `blobs/sha256/…`), plus a docker `manifest.json` so that
    /// `docker load` accepts it too.
    pub fn write_oci_layout<W: Write>(&self, references: &[String], w: W) -> Result<W> {
        self.write_oci_layout_compressed(references, w, None)
    }

    /// [`Store::write_oci_layout`] with compressed layers: each manifest is rewritten with the compressed
    /// blobs' media type, digest and size (the config, and so its diff IDs and the image ID, are unchanged).
    pub fn write_oci_layout_compressed<W: Write>(
        &self,
        references: &[String],
        w: W,
        compression: Option<LayerCompression>,
    ) -> Result<W> {
        let images = self.export_set(references)?;
        self.write_oci_images(&images, w, compression)
    }

    /// An OCI layout tar of one image under `names` (each `name:tag`; none: untagged), for a build's
    /// `--output type=oci`.
    pub fn write_named_oci_layout<W: Write>(
        &self,
        image: &ImageRecord,
        names: &[String],
        w: W,
        compression: Option<LayerCompression>,
    ) -> Result<W> {
        let images = [named_export(image, names)?];
        self.write_oci_images(&images, w, compression)
    }

    fn write_oci_images<W: Write>(
        &self,
        images: &[ExportImage],
        w: W,
        compression: Option<LayerCompression>,
    ) -> Result<W> {
        let mut tar = TarOut::new(w, "OCI layout");
        tar.bytes("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)?;
        tar.dir("blobs/")?;
        tar.dir("blobs/sha256/")?;
        let mut descriptors = Vec::new();
        let mut docker_manifest = Vec::new();
        for entry in images {
            let image = &entry.image;
            let blob_name = |d: &Digest| format!("blobs/sha256/{}", d.hex());
            let mut layers = Vec::new();
            let mut exported = Vec::new();
            for diff in image.diff_ids()? {
                let layer = self.export_layer(&diff, compression)?;
                tar.file(
                    &blob_name(&layer.digest),
                    layer.size,
                    self.open_blob(&layer.digest)?,
                )?;
                layers.push(blob_name(&layer.digest));
                exported.push(layer);
            }
            tar.bytes(&blob_name(&image.id), &self.read_blob(&image.id)?)?;
            let (manifest_digest, manifest_bytes) = match compression {
                None => (
                    image.manifest_digest.clone(),
                    self.read_blob(&image.manifest_digest)?,
                ),
                Some(_) => {
                    let bytes = compressed_manifest(&image.manifest, &exported)?;
                    (Digest::of_bytes(&bytes), bytes)
                }
            };
            tar.bytes(&blob_name(&manifest_digest), &manifest_bytes)?;
            let descriptor = || {
                Descriptor::new(
                    MediaType::ImageManifest,
                    manifest_bytes.len() as u64,
                    manifest_digest.clone(),
                )
            };
            if entry.tags.is_empty() {
                descriptors.push(descriptor());
            }
            for tag in &entry.tags {
                let mut d = descriptor();
                let short_tag = split_tag(tag).map(|(_, t)| t).unwrap_or(tag);
                let full_name = if tag.contains('/')
                    && tag
                        .split('/')
                        .next()
                        .is_some_and(|h| h.contains('.') || h.contains(':'))
                {
                    tag.clone()
                } else if tag.contains('/') {
                    format!("docker.io/{tag}")
                } else {
                    format!("docker.io/library/{tag}")
                };
                d.set_annotations(Some(
                    [
                        ("io.containerd.image.name".to_string(), full_name),
                        (REF_NAME_ANNOTATION.to_string(), short_tag.to_string()),
                    ]
                    .into_iter()
                    .collect(),
                ));
                descriptors.push(d);
            }
            docker_manifest.push(DockerManifestEntry {
                config: blob_name(&image.id),
                repo_tags: entry.tags.clone(),
                layers,
            });
        }
        let index = ImageIndexBuilder::default()
            .schema_version(2u32)
            .media_type(MediaType::ImageIndex)
            .manifests(descriptors)
            .build()
            .map_err(|e| StoreError::InvalidImage(format!("building index.json: {e}")))?;
        tar.bytes("index.json", &canonical_json(&index, "index.json")?)?;
        tar.bytes(
            "manifest.json",
            &to_json(&docker_manifest, "manifest.json")?,
        )?;
        tar.finish()
    }
}

/// `image` to export under `names`, normalised (`app` → `app:latest`); a digest reference is no name.
fn named_export(image: &ImageRecord, names: &[String]) -> Result<ExportImage> {
    let mut tags: Vec<String> = Vec::new();
    for name in names {
        let tag = normalize_reference(name)?;
        if split_tag(&tag).is_some() && !tags.contains(&tag) {
            tags.push(tag);
        }
    }
    Ok(ExportImage {
        image: image.clone(),
        tags,
    })
}

/// A layer as it goes into an archive.
struct ExportedLayer {
    digest: Digest,
    size: u64,
    media_type: MediaType,
}

impl Store {
    /// The blob to export for layer `diff`: itself, or its cached compressed copy.
    fn export_layer(
        &self,
        diff: &Digest,
        compression: Option<LayerCompression>,
    ) -> Result<ExportedLayer> {
        Ok(match compression {
            None => ExportedLayer {
                digest: diff.clone(),
                size: self.blob_size(diff)?,
                media_type: MediaType::ImageLayer,
            },
            Some(c) => {
                let (digest, size) = self.compressed_layer(diff, c)?;
                ExportedLayer {
                    digest,
                    size,
                    media_type: c.oci_media_type(),
                }
            }
        })
    }
}

/// The stored manifest with its layer descriptors replaced by the exported (compressed) ones; annotations
/// and everything else are kept.
fn compressed_manifest(manifest: &ImageManifest, layers: &[ExportedLayer]) -> Result<Vec<u8>> {
    if manifest.layers().len() != layers.len() {
        return Err(StoreError::InvalidImage(format!(
            "the manifest lists {} layers but the config {} diff IDs",
            manifest.layers().len(),
            layers.len()
        )));
    }
    let mut manifest = manifest.clone();
    let descriptors = manifest
        .layers()
        .iter()
        .zip(layers)
        .map(|(old, layer)| {
            let mut d = Descriptor::new(layer.media_type.clone(), layer.size, layer.digest.clone());
            d.set_annotations(old.annotations().clone());
            d
        })
        .collect();
    manifest.set_layers(descriptors);
    canonical_json(&manifest, "image manifest")
}

/// zstd layers are OCI-only: refuse them for a docker-archive before writing anything.
fn check_docker_compression(compression: Option<LayerCompression>, out: &Path) -> Result<()> {
    if compression == Some(LayerCompression::Zstd) {
        return Err(StoreError::Io {
            action: "writing docker archive",
            path: out.to_path_buf(),
            source: std::io::Error::new(
                std::io::ErrorKind::Unsupported,
                "zstd layers are for OCI layouts only (docker load reads gzip or plain layers from a \
                 docker-archive); use the OCI format or gzip",
            ),
        });
    }
    Ok(())
}

/// Write `out` through a temporary sibling file: fsync, then rename; a failure leaves `out` untouched.
fn write_file_atomically(
    out: &Path,
    write: impl FnOnce(BufWriter<File>) -> Result<BufWriter<File>>,
) -> Result<()> {
    let tmp = sibling_tmp(out);
    let result = (|| {
        let file = File::create(&tmp).io_ctx("creating", &tmp)?;
        let writer = write(BufWriter::new(file))?;
        let file = writer
            .into_inner()
            .map_err(|e| e.into_error())
            .io_ctx("writing", &tmp)?;
        file.sync_all().io_ctx("syncing", &tmp)?;
        fs::rename(&tmp, out).io_ctx("renaming into place", out)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}
