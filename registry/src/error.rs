//! The registry client's errors: each says what failed, with which registry or reference, and what to do.

/// Errors of the registry client.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("invalid reference format {reference:?}: {reason}")]
    InvalidReference { reference: String, reason: String },

    #[error(transparent)]
    Store(#[from] hoist_store::StoreError),

    #[error("manifest for {reference} not found: manifest unknown")]
    ManifestNotFound { reference: String },

    #[error("pull access denied for {repository}, repository does not exist or may require 'hoist login'")]
    PullDenied { repository: String },

    #[error("push access denied for {repository}: {detail}; run 'hoist login {registry}' with an account that may push there")]
    PushDenied {
        repository: String,
        registry: String,
        detail: String,
    },

    #[error("no matching manifest for {wanted} in the manifest list entries: {available}")]
    NoMatchingPlatform { wanted: String, available: String },

    #[error(
        "{what} {digest} from {repository} is corrupt: got {got} ({detail}nothing was stored)"
    )]
    Corrupt {
        what: &'static str,
        digest: String,
        repository: String,
        got: String,
        detail: String,
    },

    #[error("layer {digest} from {repository} decompresses to {got}, but the image config says diff ID {expected}; the image is inconsistent (nothing was stored)")]
    DiffIdMismatch {
        digest: String,
        repository: String,
        expected: String,
        got: String,
    },

    #[error("{what} from {repository} is larger than {limit} bytes; refusing it")]
    TooLarge {
        what: String,
        repository: String,
        limit: u64,
    },

    #[error("{registry}: http: server gave HTTP response to HTTPS client; if this registry serves plain http, pass --insecure-registry {registry} or add it to \"insecure-registries\" in hoist's config.json")]
    HttpToHttps { registry: String },

    #[error("cannot reach registry {registry}: {detail}")]
    Unreachable { registry: String, detail: String },

    #[error("{registry}: {detail}")]
    Protocol { registry: String, detail: String },

    #[error("{reference}: unsupported {what} {media_type:?}")]
    Unsupported {
        reference: String,
        what: &'static str,
        media_type: String,
    },

    #[error("login to {registry} failed: {detail}")]
    LoginFailed { registry: String, detail: String },

    #[error("credentials for {registry}: {detail}")]
    Credentials { registry: String, detail: String },

    #[error("{path}: {detail}")]
    Config { path: String, detail: String },

    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// The registry client's result type.
pub type Result<T> = std::result::Result<T, RegistryError>;
