//! `hoist push`: every layer gzip-compressed once (`Store::compressed_layer`, remembered) or, when it came from
//! this registry, its original blob; each blob HEADed first and sent only when the registry lacks it; a
//! cross-repository mount when the store knows the blob is in another repository of the same registry; then the
//! config and a Docker v2 schema 2 manifest, as `docker push` writes them.

use std::io::Read;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use hoist_store::{Digest, ImageRecord, LayerCompression, LayerSource, Store};
use oci_client::Reference;
use serde::Serialize;

use crate::client::{Endpoint, Operation, Registry};
use crate::error::{RegistryError, Result};
use crate::manifest::{DOCKER_CONFIG, DOCKER_LAYER_GZIP, DOCKER_MANIFEST};
use crate::progress::{TransferEvent, TransferProgress};
use crate::pull::repository_name;
use crate::reference::ImageReference;

/// Layers uploaded at the same time.
const PARALLEL_LAYERS: usize = 3;
/// Read size when streaming a layer file to the registry.
const UPLOAD_CHUNK: usize = 1 << 20;
/// Media types whose blobs can be named in a Docker schema 2 manifest as they are.
const GZIP_TYPES: &[&str] = &[
    DOCKER_LAYER_GZIP,
    "application/vnd.oci.image.layer.v1.tar+gzip",
];

/// What a push did.
#[derive(Debug, Clone)]
pub struct Pushed {
    pub manifest_digest: Digest,
    /// The manifest's size in bytes.
    pub size: u64,
    /// Blobs uploaded (layers and config).
    pub blobs_sent: usize,
    /// Blobs the registry had already, or mounted from another repository.
    pub blobs_skipped: usize,
    pub bytes_sent: u64,
    /// The tag pushed (`latest`).
    pub tag: String,
}

/// One pushed layer: its descriptor and how it got there.
struct LayerPushed {
    digest: Digest,
    size: u64,
    sent: u64,
}

#[derive(Serialize)]
struct DescriptorJson<'a> {
    #[serde(rename = "mediaType")]
    media_type: &'a str,
    size: u64,
    digest: String,
}

#[derive(Serialize)]
struct ManifestJson<'a> {
    #[serde(rename = "schemaVersion")]
    schema_version: u32,
    #[serde(rename = "mediaType")]
    media_type: &'a str,
    config: DescriptorJson<'a>,
    layers: Vec<DescriptorJson<'a>>,
}

impl Registry {
    /// Push `image` as `reference` (a tag; `latest` when none).
    pub fn push(
        &self,
        store: &Store,
        image: &ImageRecord,
        reference: &str,
        progress: &dyn TransferProgress,
    ) -> Result<Pushed> {
        let reference = ImageReference::parse(reference)?;
        let endpoint = self.endpoint(reference.registry_host(), None)?;
        let path = reference.path.as_str();
        let diff_ids = image.diff_ids()?;
        for diff_id in &diff_ids {
            progress.event(TransferEvent::Waiting { id: diff_id });
        }
        let next = AtomicUsize::new(0);
        let results: Mutex<Vec<Option<Result<LayerPushed>>>> =
            Mutex::new((0..diff_ids.len()).map(|_| None).collect());
        std::thread::scope(|scope| {
            for _ in 0..PARALLEL_LAYERS.min(diff_ids.len()) {
                scope.spawn(|| loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    if i >= diff_ids.len() {
                        break;
                    }
                    let outcome =
                        self.push_layer_on(store, &endpoint, &reference, &diff_ids[i], progress);
                    results.lock().unwrap_or_else(|p| p.into_inner())[i] = Some(outcome);
                });
            }
        });
        let mut layers = Vec::new();
        let (mut sent, mut skipped, mut bytes_sent) = (0, 0, 0);
        for outcome in results.into_inner().unwrap_or_else(|p| p.into_inner()) {
            let layer = outcome.unwrap_or_else(|| {
                Err(RegistryError::Protocol {
                    registry: endpoint.host.clone(),
                    detail: "a layer upload did not run".into(),
                })
            })?;
            if layer.sent > 0 {
                sent += 1;
                bytes_sent += layer.sent;
            } else {
                skipped += 1;
            }
            layers.push(layer);
        }
        let config_bytes = store.read_blob(&image.id)?;
        if self.send_blob(&endpoint, &reference, &image.id, &config_bytes)? {
            sent += 1;
            bytes_sent += config_bytes.len() as u64;
        } else {
            skipped += 1;
        }
        let manifest = ManifestJson {
            schema_version: 2,
            media_type: DOCKER_MANIFEST,
            config: DescriptorJson {
                media_type: DOCKER_CONFIG,
                size: config_bytes.len() as u64,
                digest: image.id.to_string(),
            },
            layers: layers
                .iter()
                .map(|l| DescriptorJson {
                    media_type: DOCKER_LAYER_GZIP,
                    size: l.size,
                    digest: l.digest.to_string(),
                })
                .collect(),
        };
        let bytes = serde_json::to_vec_pretty(&manifest).map_err(|e| RegistryError::Protocol {
            registry: endpoint.host.clone(),
            detail: format!("serialising the manifest: {e}"),
        })?;
        let tag = reference.tag_or_latest().to_string();
        let manifest_digest =
            self.put_manifest_on(&endpoint, path, &tag, DOCKER_MANIFEST, &bytes)?;
        store.record_repo_digest(&image.id, &reference.familiar_name(), &manifest_digest)?;
        Ok(Pushed {
            manifest_digest,
            size: bytes.len() as u64,
            blobs_sent: sent,
            blobs_skipped: skipped,
            bytes_sent,
            tag,
        })
    }

    /// Push one store layer gzip-compressed (compressed once, HEAD first, mounted when the store knows it in
    /// another repository of this registry) and return its descriptor.
    pub fn push_layer(
        &self,
        store: &Store,
        reference: &str,
        diff_id: &Digest,
        progress: &dyn TransferProgress,
    ) -> Result<oci_spec::image::Descriptor> {
        let reference = ImageReference::parse(reference)?;
        let endpoint = self.endpoint(reference.registry_host(), None)?;
        let layer = self.push_layer_on(store, &endpoint, &reference, diff_id, progress)?;
        Ok(oci_spec::image::Descriptor::new(
            oci_spec::image::MediaType::ImageLayerGzip,
            layer.size,
            layer.digest,
        ))
    }

    fn push_layer_on(
        &self,
        store: &Store,
        endpoint: &Endpoint,
        reference: &ImageReference,
        diff_id: &Digest,
        progress: &dyn TransferProgress,
    ) -> Result<LayerPushed> {
        let registry = reference.registry_host();
        let path = reference.path.as_str();
        let oci_ref = endpoint.reference(path, "latest");
        let sources: Vec<LayerSource> = store
            .layer_sources_of(diff_id)?
            .into_iter()
            .filter(|s| s.registry == registry && GZIP_TYPES.contains(&s.media_type.as_str()))
            .collect();
        // The original compressed blob, when this registry has it: HEAD in this repository, else a mount.
        for source in &sources {
            if source.repository == path && self.blob_exists(endpoint, &oci_ref, &source.digest)? {
                progress.event(TransferEvent::Exists { id: diff_id });
                return Ok(LayerPushed {
                    digest: source.digest.clone(),
                    size: source.size,
                    sent: 0,
                });
            }
        }
        for source in sources.iter().filter(|s| s.repository != path) {
            let from = Reference::with_tag(
                endpoint.host.clone(),
                source.repository.clone(),
                "latest".into(),
            );
            let mounted = self.runtime.block_on(async {
                endpoint.authenticate().await;
                endpoint
                    .client
                    .mount_blob(&oci_ref, &from, source.digest.as_str())
                    .await
            });
            if mounted.is_ok() {
                self.remember_layer(store, reference, diff_id, &source.digest, source.size)?;
                progress.event(TransferEvent::Mounted {
                    id: diff_id,
                    from: &source.repository,
                });
                return Ok(LayerPushed {
                    digest: source.digest.clone(),
                    size: source.size,
                    sent: 0,
                });
            }
        }
        let (digest, size) = store.compressed_layer(diff_id, LayerCompression::Gzip)?;
        if self.blob_exists(endpoint, &oci_ref, &digest)? {
            self.remember_layer(store, reference, diff_id, &digest, size)?;
            progress.event(TransferEvent::Exists { id: diff_id });
            return Ok(LayerPushed {
                digest,
                size,
                sent: 0,
            });
        }
        progress.event(TransferEvent::Started {
            id: diff_id,
            total: size,
        });
        self.upload_file(store, endpoint, reference, &digest, size, diff_id, progress)?;
        self.remember_layer(store, reference, diff_id, &digest, size)?;
        progress.event(TransferEvent::Done { id: diff_id });
        Ok(LayerPushed {
            digest,
            size,
            sent: size,
        })
    }

    fn remember_layer(
        &self,
        store: &Store,
        reference: &ImageReference,
        diff_id: &Digest,
        digest: &Digest,
        size: u64,
    ) -> Result<()> {
        Ok(store.record_layer_source(&LayerSource {
            diff_id: diff_id.clone(),
            digest: digest.clone(),
            media_type: DOCKER_LAYER_GZIP.to_string(),
            size,
            registry: reference.registry_host().to_string(),
            repository: reference.path.clone(),
        })?)
    }

    pub(crate) fn blob_exists(
        &self,
        endpoint: &Endpoint,
        oci_ref: &Reference,
        digest: &Digest,
    ) -> Result<bool> {
        self.runtime
            .block_on(async {
                endpoint.authenticate().await;
                endpoint.client.blob_exists(oci_ref, digest.as_str()).await
            })
            .map_err(|e| {
                let repository = repository_name(&endpoint.host, oci_ref.repository());
                self.error(
                    e,
                    &endpoint.host,
                    &repository,
                    digest.as_str(),
                    Operation::Push,
                )
            })
    }

    /// Stream blob `digest` (a file of the store) to the registry in one PUT.
    #[allow(clippy::too_many_arguments)]
    fn upload_file(
        &self,
        store: &Store,
        endpoint: &Endpoint,
        reference: &ImageReference,
        digest: &Digest,
        size: u64,
        id: &Digest,
        progress: &dyn TransferProgress,
    ) -> Result<()> {
        let path = reference.path.as_str();
        let oci_ref = endpoint.reference(path, "latest");
        let file = store.open_blob(digest)?;
        // The file is read on a plain thread and handed over through a small channel: no whole-blob buffer.
        let (tx, rx) = tokio::sync::mpsc::channel::<oci_client::errors::Result<bytes::Bytes>>(4);
        let stream = futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|item| (item, rx))
        });
        let result = std::thread::scope(|scope| {
            scope.spawn(move || {
                let mut file = file;
                let mut done = 0u64;
                loop {
                    let mut buf = vec![0u8; UPLOAD_CHUNK];
                    match file.read(&mut buf) {
                        Ok(0) => break,
                        Ok(n) => {
                            buf.truncate(n);
                            done += n as u64;
                            if tx.blocking_send(Ok(bytes::Bytes::from(buf))).is_err() {
                                break;
                            }
                            progress.event(TransferEvent::Bytes {
                                id,
                                done,
                                total: size,
                            });
                        }
                        Err(e) => {
                            let _ = tx.blocking_send(Err(e.into()));
                            break;
                        }
                    }
                }
            });
            self.runtime.block_on(async {
                endpoint.authenticate().await;
                endpoint
                    .client
                    .push_blob_stream(&oci_ref, stream, digest.as_str(), Some(size))
                    .await
            })
        });
        result.map(drop).map_err(|e| {
            let repository = repository_name(&endpoint.host, path);
            self.error(
                e,
                &endpoint.host,
                &repository,
                digest.as_str(),
                Operation::Push,
            )
        })
    }

    /// Send a small blob unless the registry has it. Returns whether it was sent.
    pub(crate) fn send_blob(
        &self,
        endpoint: &Endpoint,
        reference: &ImageReference,
        digest: &Digest,
        bytes: &[u8],
    ) -> Result<bool> {
        let oci_ref = endpoint.reference(&reference.path, "latest");
        if self.blob_exists(endpoint, &oci_ref, digest)? {
            return Ok(false);
        }
        self.runtime
            .block_on(
                endpoint
                    .client
                    .push_blob(&oci_ref, bytes.to_vec(), digest.as_str()),
            )
            .map_err(|e| {
                let repository = repository_name(&endpoint.host, &reference.path);
                self.error(
                    e,
                    &endpoint.host,
                    &repository,
                    digest.as_str(),
                    Operation::Push,
                )
            })?;
        Ok(true)
    }

    pub(crate) fn put_manifest_on_public(
        &self,
        endpoint: &Endpoint,
        reference: &ImageReference,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<Digest> {
        self.put_manifest_on(
            endpoint,
            &reference.path,
            &reference.manifest_reference(),
            media_type,
            bytes,
        )
    }

    fn put_manifest_on(
        &self,
        endpoint: &Endpoint,
        path: &str,
        tag: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<Digest> {
        let oci_ref = endpoint.reference(path, tag);
        let content_type = media_type.parse().map_err(|_| RegistryError::Unsupported {
            reference: format!("{}/{path}", endpoint.host),
            what: "media type",
            media_type: media_type.to_string(),
        })?;
        self.runtime
            .block_on(async {
                endpoint.authenticate().await;
                endpoint
                    .client
                    .push_manifest_raw(&oci_ref, bytes.to_vec(), content_type)
                    .await
            })
            .map_err(|e| {
                let repository = repository_name(&endpoint.host, path);
                self.error(e, &endpoint.host, &repository, tag, Operation::Push)
            })?;
        Ok(Digest::of_bytes(bytes))
    }
}
