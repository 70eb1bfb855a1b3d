//! The manifest documents a registry serves, read loosely enough for both spellings (Docker v2 schema 2 and
//! OCI): image manifests, and manifest lists / OCI indexes.

use serde::Deserialize;

use crate::error::{RegistryError, Result};

pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

/// What hoist asks registries for, in order of preference.
pub const ACCEPTED_MANIFESTS: &[&str] = &[
    DOCKER_MANIFEST,
    DOCKER_MANIFEST_LIST,
    OCI_MANIFEST,
    OCI_INDEX,
];

/// Configs and manifests above this size are refused (Docker's limit for manifests is 4 MB).
pub const MAX_DOCUMENT_SIZE: u64 = 16 << 20;

/// A content descriptor as both formats write it.
#[derive(Debug, Clone, Deserialize)]
pub struct BlobRef {
    #[serde(rename = "mediaType", default)]
    pub media_type: String,
    pub digest: String,
    #[serde(default)]
    pub size: i64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct EntryPlatform {
    #[serde(default)]
    pub os: String,
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub variant: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct IndexEntry {
    pub digest: String,
    #[serde(default)]
    pub platform: Option<EntryPlatform>,
}

/// A manifest or an index: which one is told by `mediaType`, or by which fields it has.
#[derive(Debug, Clone, Deserialize)]
pub struct ManifestDocument {
    #[serde(rename = "schemaVersion", default)]
    pub schema_version: u32,
    #[serde(rename = "mediaType", default)]
    pub media_type: Option<String>,
    #[serde(default)]
    pub config: Option<BlobRef>,
    #[serde(default)]
    pub layers: Option<Vec<BlobRef>>,
    #[serde(default)]
    pub manifests: Option<Vec<IndexEntry>>,
}

/// A parsed document with its media type.
pub enum Document {
    Image {
        config: BlobRef,
        layers: Vec<BlobRef>,
    },
    Index(Vec<IndexEntry>),
}

impl ManifestDocument {
    /// Parse `bytes` served for `reference` (`header_type` is the Content-Type, when known).
    pub fn parse(bytes: &[u8], reference: &str) -> Result<(Document, String)> {
        let doc: ManifestDocument =
            serde_json::from_slice(bytes).map_err(|e| RegistryError::Protocol {
                registry: reference.to_string(),
                detail: format!("the manifest is not valid JSON: {e}"),
            })?;
        if doc.schema_version == 1 {
            return Err(RegistryError::Unsupported {
                reference: reference.to_string(),
                what: "manifest format",
                media_type: "Docker image manifest v2 schema 1 (deprecated; push the image again with a current client)".into(),
            });
        }
        let media_type = doc.media_type.clone().unwrap_or_else(|| {
            if doc.manifests.is_some() {
                OCI_INDEX.to_string()
            } else {
                OCI_MANIFEST.to_string()
            }
        });
        match (doc.manifests, doc.config, doc.layers) {
            (Some(entries), _, _) => Ok((Document::Index(entries), media_type)),
            (None, Some(config), layers) => Ok((
                Document::Image {
                    config,
                    layers: layers.unwrap_or_default(),
                },
                media_type,
            )),
            _ => Err(RegistryError::Unsupported {
                reference: reference.to_string(),
                what: "manifest media type",
                media_type,
            }),
        }
    }
}
