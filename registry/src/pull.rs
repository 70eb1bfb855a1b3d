//! `hoist pull`: resolve a reference (through Docker Hub's mirrors first), pick the platform's manifest from a
//! list, fetch the config byte for byte and the layers (three at a time, streamed and verified), then write the
//! image, tag it with its familiar name and remember its repo digest.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use hoist_store::{Digest, ImageRecord, Store};

use crate::client::{Endpoint, Operation, Registry};
use crate::error::{RegistryError, Result};
use crate::fetch::LayerOrigin;
use crate::manifest::{BlobRef, Document, ManifestDocument, ACCEPTED_MANIFESTS, MAX_DOCUMENT_SIZE};
use crate::platform::describe;
use crate::progress::{TransferEvent, TransferProgress};
use crate::reference::ImageReference;

/// Layers downloaded at the same time.
const PARALLEL_LAYERS: usize = 3;

/// What a pull did.
#[derive(Debug, Clone)]
pub struct Pulled {
    pub image: ImageRecord,
    /// The familiar name the image was tagged with (`busybox:latest`), or the digest reference it was pulled by.
    pub name: String,
    /// `busybox@sha256:…`: the digest of the manifest (or list) the reference resolved to.
    pub repo_digest: String,
    /// Compressed bytes downloaded.
    pub downloaded_bytes: u64,
    /// Layers downloaded (the others were in the store).
    pub layers_fetched: usize,
    /// The tag already named this image: nothing changed (Docker's "Image is up to date").
    pub up_to_date: bool,
    /// The full name Docker prints last: `docker.io/library/busybox:latest`.
    pub full_name: String,
}

/// A reference resolved to one image manifest.
pub(crate) struct Resolved {
    pub endpoint: Endpoint,
    /// The registry the endpoint stands for (a mirror stands for Docker Hub).
    pub registry: String,
    /// The digest of what the reference named (a list's digest for a multi-platform image).
    pub top_digest: Digest,
    pub config: BlobRef,
    pub layers: Vec<BlobRef>,
}

impl Registry {
    /// Resolve and download `reference` into the store (every byte verified), tag it with its familiar name
    /// (`busybox:latest`) and record its repo digest. Layers the store has (by diff ID or compressed digest)
    /// are not fetched again.
    pub fn pull(
        &self,
        store: &Store,
        reference: &str,
        progress: &dyn TransferProgress,
    ) -> Result<Pulled> {
        let reference = ImageReference::parse(reference)?;
        let resolved = self.resolve(&reference)?;
        let config_digest: Digest = parse_digest(&resolved.config.digest, &resolved.endpoint.host)?;
        let tag = reference.familiar_tag();
        let previous = match &tag {
            Some(tag) => store.resolve(tag)?.map(|i| i.id),
            None => None,
        };
        let (image, downloaded, fetched) = match self.image_if_complete(store, &config_digest)? {
            Some(image) => {
                for layer in &resolved.layers {
                    if let Ok(d) = layer.digest.parse::<Digest>() {
                        progress.event(TransferEvent::Exists { id: &d });
                    }
                }
                (image, 0, 0)
            }
            None => self.download_image(store, &reference, &resolved, &config_digest, progress)?,
        };
        if let Some(tag) = &tag {
            store.tag(tag, &image)?;
        }
        let name = reference.familiar_name();
        store.record_repo_digest(&image.id, &name, &resolved.top_digest)?;
        Ok(Pulled {
            up_to_date: previous.as_ref() == Some(&image.id),
            name: tag.unwrap_or_else(|| reference.familiar()),
            repo_digest: format!("{name}@{}", resolved.top_digest),
            downloaded_bytes: downloaded,
            layers_fetched: fetched,
            full_name: reference.full(),
            image,
        })
    }

    /// The image with this config, if the store has it with every layer.
    fn image_if_complete(&self, store: &Store, id: &Digest) -> Result<Option<ImageRecord>> {
        let Some(image) = store.image_by_id(id)? else {
            return Ok(None);
        };
        let complete = image.diff_ids()?.iter().all(|d| store.has_blob(d));
        Ok(complete.then_some(image))
    }

    fn download_image(
        &self,
        store: &Store,
        reference: &ImageReference,
        resolved: &Resolved,
        config_digest: &Digest,
        progress: &dyn TransferProgress,
    ) -> Result<(ImageRecord, u64, usize)> {
        let path = reference.path.as_str();
        let config_bytes =
            self.fetch_small_blob(&resolved.endpoint, path, config_digest, MAX_DOCUMENT_SIZE)?;
        let config: serde_json::Value =
            serde_json::from_slice(&config_bytes).map_err(|e| RegistryError::Protocol {
                registry: resolved.endpoint.host.clone(),
                detail: format!(
                    "{reference}: the image config {config_digest} is not valid JSON: {e}"
                ),
            })?;
        let diff_ids: Vec<Digest> = config
            .pointer("/rootfs/diff_ids")
            .and_then(|d| d.as_array())
            .map(|ids| {
                ids.iter()
                    .map(|d| parse_digest(d.as_str().unwrap_or(""), &resolved.endpoint.host))
                    .collect::<Result<Vec<_>>>()
            })
            .transpose()?
            .unwrap_or_default();
        if diff_ids.len() != resolved.layers.len() {
            return Err(RegistryError::Protocol {
                registry: resolved.endpoint.host.clone(),
                detail: format!(
                    "{reference}: the manifest has {} layers but the config names {} diff IDs",
                    resolved.layers.len(),
                    diff_ids.len()
                ),
            });
        }
        for layer in &resolved.layers {
            if let Ok(d) = layer.digest.parse::<Digest>() {
                progress.event(TransferEvent::Waiting { id: &d });
            }
        }
        let origin = LayerOrigin {
            endpoint: &resolved.endpoint,
            path,
            registry: &resolved.registry,
        };
        let next = AtomicUsize::new(0);
        let results: Mutex<Vec<Option<Result<u64>>>> =
            Mutex::new((0..diff_ids.len()).map(|_| None).collect());
        let workers = PARALLEL_LAYERS.min(diff_ids.len());
        std::thread::scope(|scope| {
            for _ in 0..workers {
                scope.spawn(|| loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    if i >= diff_ids.len() {
                        break;
                    }
                    let layer = &resolved.layers[i];
                    let outcome = self
                        .fetch_layer_into(store, &origin, layer, Some(&diff_ids[i]), progress)
                        .and_then(|fetched| {
                            // Unpacking checks every entry: a layer that would escape its root is refused now.
                            store.ensure_snapshot(&fetched.diff_id)?;
                            if fetched.downloaded > 0 {
                                if let Ok(d) = layer.digest.parse::<Digest>() {
                                    progress.event(TransferEvent::Done { id: &d });
                                }
                            }
                            Ok(fetched.downloaded)
                        });
                    results.lock().unwrap_or_else(|p| p.into_inner())[i] = Some(outcome);
                });
            }
        });
        let mut downloaded = 0;
        let mut fetched = 0;
        for outcome in results.into_inner().unwrap_or_else(|p| p.into_inner()) {
            let bytes = outcome.unwrap_or(Ok(0))?;
            downloaded += bytes;
            fetched += usize::from(bytes > 0);
        }
        store.sync_snapshots()?;
        let image = store.write_image_config(&config_bytes)?;
        Ok((image, downloaded, fetched))
    }

    /// Find the image manifest `reference` names, on the first host that has it (Docker Hub's mirrors, then
    /// Docker Hub); a list or index is narrowed to the wanted platform.
    pub(crate) fn resolve(&self, reference: &ImageReference) -> Result<Resolved> {
        let mut last_error = None;
        for (host, mirror) in self.hosts_for(reference) {
            let attempt = self
                .endpoint(&host, mirror.as_ref())
                .and_then(|endpoint| self.resolve_on(&endpoint, reference));
            match attempt {
                Ok(resolved) => return Ok(resolved),
                // A mirror that fails falls through to the next host.
                Err(e) if mirror.is_some() => last_error = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(
            last_error.unwrap_or_else(|| RegistryError::ManifestNotFound {
                reference: reference.familiar(),
            }),
        )
    }

    fn resolve_on(&self, endpoint: &Endpoint, reference: &ImageReference) -> Result<Resolved> {
        let (bytes, _, top_digest) = self
            .manifest_on(
                endpoint,
                &reference.path,
                &reference.manifest_reference(),
                &reference.familiar(),
            )?
            .ok_or_else(|| RegistryError::ManifestNotFound {
                reference: reference.familiar(),
            })?;
        if let Some(wanted) = &reference.digest {
            if &top_digest != wanted {
                return Err(RegistryError::Corrupt {
                    what: "manifest",
                    digest: wanted.to_string(),
                    repository: format!("{}/{}", endpoint.host, reference.path),
                    got: top_digest.to_string(),
                    detail: String::new(),
                });
            }
        }
        let registry = reference.registry_host().to_string();
        match ManifestDocument::parse(&bytes, &reference.familiar())?.0 {
            Document::Image { config, layers } => Ok(Resolved {
                endpoint: endpoint.clone(),
                registry,
                top_digest,
                config,
                layers,
            }),
            Document::Index(entries) => {
                let chosen = entries.iter().find(|e| {
                    e.platform.as_ref().is_some_and(|p| {
                        self.platform
                            .matches(&p.os, &p.architecture, p.variant.as_deref())
                    })
                });
                let Some(chosen) = chosen else {
                    let available: Vec<String> = entries
                        .iter()
                        .filter_map(|e| e.platform.as_ref())
                        .filter(|p| p.os != "unknown")
                        .map(|p| describe(&p.os, &p.architecture, p.variant.as_deref()))
                        .collect();
                    return Err(RegistryError::NoMatchingPlatform {
                        wanted: self.platform.to_string(),
                        available: available.join(", "),
                    });
                };
                let digest = parse_digest(&chosen.digest, &endpoint.host)?;
                let (bytes, _, got) = self
                    .manifest_on(
                        endpoint,
                        &reference.path,
                        digest.as_str(),
                        &reference.familiar(),
                    )?
                    .ok_or_else(|| RegistryError::ManifestNotFound {
                        reference: format!("{}@{digest}", reference.familiar_name()),
                    })?;
                if got != digest {
                    return Err(RegistryError::Corrupt {
                        what: "manifest",
                        digest: digest.to_string(),
                        repository: format!("{}/{}", endpoint.host, reference.path),
                        got: got.to_string(),
                        detail: String::new(),
                    });
                }
                match ManifestDocument::parse(&bytes, &reference.familiar())?.0 {
                    Document::Image { config, layers } => Ok(Resolved {
                        endpoint: endpoint.clone(),
                        registry,
                        top_digest,
                        config,
                        layers,
                    }),
                    Document::Index(_) => Err(RegistryError::Unsupported {
                        reference: reference.familiar(),
                        what: "manifest",
                        media_type: "an index inside an index".into(),
                    }),
                }
            }
        }
    }

    /// GET a manifest: `(bytes, media type, digest of the bytes)`, `None` when the registry does not have it.
    pub(crate) fn manifest_on(
        &self,
        endpoint: &Endpoint,
        path: &str,
        tag_or_digest: &str,
        what: &str,
    ) -> Result<Option<(Vec<u8>, String, Digest)>> {
        let oci_ref = endpoint.reference(path, tag_or_digest);
        let result = self.runtime.block_on(endpoint.client.pull_manifest_raw(
            &oci_ref,
            &endpoint.auth,
            ACCEPTED_MANIFESTS,
        ));
        let bytes = match result {
            Ok((bytes, _)) => bytes.to_vec(),
            Err(e) => {
                let repository = repository_name(&endpoint.host, path);
                return match self.error(e, &endpoint.host, &repository, what, Operation::Pull) {
                    RegistryError::ManifestNotFound { .. } => Ok(None),
                    other => Err(other),
                };
            }
        };
        let (_, media_type) = ManifestDocument::parse(&bytes, what)?;
        let digest = Digest::of_bytes(&bytes);
        Ok(Some((bytes, media_type, digest)))
    }
}

/// A repository as messages name it: `localhost:5000/app`, `library/busybox` on Docker Hub.
pub(crate) fn repository_name(host: &str, path: &str) -> String {
    if host == crate::reference::DOCKER_HUB_REGISTRY {
        path.trim_start_matches("library/").to_string()
    } else {
        format!("{host}/{path}")
    }
}

pub(crate) fn parse_digest(text: &str, host: &str) -> Result<Digest> {
    text.parse().map_err(|_| RegistryError::Protocol {
        registry: host.to_string(),
        detail: format!("{text:?} is not a sha256 digest hoist can verify"),
    })
}
