//! hoist-registry: the OCI distribution protocol for hoist — pull, push, auth (`~/.docker/config.json`,
//! credential helpers, bearer tokens), Docker Hub mirrors — on top of oci-client, streaming verified blobs
//! into the store.
//!
//! The API is blocking (the solver and the CLI are thread-based): a [`Registry`] owns a small tokio runtime.
//!
//! ```text
//! reference.rs  references as Docker reads them      config.rs   hoist's config.json (mirrors, insecure)
//! auth.rs       Docker's credentials, login/logout   client.rs   Registry: transport rules, endpoints, errors
//! platform.rs   os/arch/variant, index choice        manifest.rs manifest and index documents
//! fetch.rs      one blob streamed into the store     pull.rs     pull         push.rs   push
//! ```

mod auth;
mod client;
mod config;
mod error;
mod fetch;
mod manifest;
mod platform;
mod progress;
mod pull;
mod push;
mod reference;

pub use auth::{docker_config_path, server_key};
pub use client::{Registry, RegistryOptions};
pub use config::{HoistConfig, Mirror};
pub use error::{RegistryError, Result};
pub use manifest::{
    DOCKER_CONFIG, DOCKER_LAYER_GZIP, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, OCI_INDEX,
    OCI_MANIFEST,
};
pub use platform::Platform;
pub use progress::{NoProgress, TransferEvent, TransferProgress};
pub use pull::Pulled;
pub use push::Pushed;
pub use reference::{ImageReference, DOCKER_HUB_AUTH_KEY, DOCKER_HUB_DOMAIN, DOCKER_HUB_REGISTRY};

use hoist_store::{Digest, Store};

use crate::fetch::LayerOrigin;
use crate::manifest::BlobRef;

impl Registry {
    /// Fetch one layer into the store by its compressed descriptor (gzip, zstd or plain tar, verified) and
    /// return its diff ID. A layer the store knows by that compressed digest is not fetched again.
    pub fn fetch_layer(
        &self,
        store: &Store,
        reference: &str,
        layer: &oci_spec::image::Descriptor,
        progress: &dyn TransferProgress,
    ) -> Result<Digest> {
        let reference = ImageReference::parse(reference)?;
        let blob = BlobRef {
            media_type: layer.media_type().to_string(),
            digest: layer.digest().to_string(),
            size: layer.size() as i64,
        };
        let mut last_error = None;
        for (host, mirror) in self.hosts_for(&reference) {
            let endpoint = match self.endpoint(&host, mirror.as_ref()) {
                Ok(e) => e,
                Err(e) if mirror.is_some() => {
                    last_error = Some(e);
                    continue;
                }
                Err(e) => return Err(e),
            };
            let origin = LayerOrigin {
                endpoint: &endpoint,
                path: &reference.path,
                registry: reference.registry_host(),
            };
            match self.fetch_layer_into(store, &origin, &blob, None, progress) {
                Ok(fetched) => return Ok(fetched.diff_id),
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

    /// Upload `bytes` as a blob of `reference`'s repository unless the registry has it. The descriptor's media
    /// type is `application/octet-stream`: set the real one.
    pub fn push_blob_bytes(
        &self,
        reference: &str,
        bytes: &[u8],
    ) -> Result<oci_spec::image::Descriptor> {
        let reference = ImageReference::parse(reference)?;
        let endpoint = self.endpoint(reference.registry_host(), None)?;
        let digest = Digest::of_bytes(bytes);
        self.send_blob(&endpoint, &reference, &digest, bytes)?;
        Ok(oci_spec::image::Descriptor::new(
            oci_spec::image::MediaType::Other("application/octet-stream".into()),
            bytes.len() as u64,
            digest,
        ))
    }

    /// Download blob `digest` of `reference`'s repository whole (at most `max_size` bytes), verified.
    pub fn fetch_blob_bytes(
        &self,
        reference: &str,
        digest: &Digest,
        max_size: u64,
    ) -> Result<Vec<u8>> {
        let reference = ImageReference::parse(reference)?;
        let endpoint = self.endpoint(reference.registry_host(), None)?;
        self.fetch_small_blob(&endpoint, &reference.path, digest, max_size)
    }

    /// PUT a manifest under `reference`'s tag (or digest); returns its digest.
    pub fn put_manifest(&self, reference: &str, media_type: &str, bytes: &[u8]) -> Result<Digest> {
        let reference = ImageReference::parse(reference)?;
        let endpoint = self.endpoint(reference.registry_host(), None)?;
        self.put_manifest_on_public(&endpoint, &reference, media_type, bytes)
    }

    /// GET `reference`'s manifest as stored: `(bytes, media type, digest)`, `None` when the registry has none.
    pub fn get_manifest(&self, reference: &str) -> Result<Option<(Vec<u8>, String, Digest)>> {
        let reference = ImageReference::parse(reference)?;
        let endpoint = self.endpoint(reference.registry_host(), None)?;
        self.manifest_on(
            &endpoint,
            &reference.path,
            &reference.manifest_reference(),
            &reference.familiar(),
        )
    }
}

#[cfg(test)]
mod tests {
    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn registry_is_send_and_sync() {
        assert_send_sync::<super::Registry>();
    }
}
