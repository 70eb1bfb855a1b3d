//! The blocking [`Registry`]: a small tokio runtime, one oci-client `Client` per registry host (https, or plain
//! http for loopback and insecure registries), credentials, and the translation of oci-client's errors into
//! messages that say what to do.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::errors::{OciDistributionError, OciErrorCode};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};

use crate::config::{HoistConfig, Mirror};
use crate::error::{RegistryError, Result};
use crate::platform::Platform;
use crate::reference::ImageReference;

/// How a [`Registry`] is set up.
#[derive(Debug, Clone)]
pub struct RegistryOptions {
    /// hoist config files to search, first found wins (a directory means `DIR/config.json`); by default
    /// `$HOIST_ROOT/config.json`, then `/etc/hoist/config.json`.
    pub config_dirs: Vec<PathBuf>,
    /// Registries that may be reached over plain http (`--insecure-registry`), on top of the config's.
    pub insecure: Vec<String>,
    /// The platform to pick from a multi-platform image (`linux/arm64/v8`); the host's when `None`.
    pub platform: Option<String>,
}

impl Default for RegistryOptions {
    fn default() -> Self {
        RegistryOptions {
            config_dirs: vec![
                hoist_store::Store::default_root().join("config.json"),
                PathBuf::from("/etc/hoist/config.json"),
            ],
            insecure: Vec::new(),
            platform: None,
        }
    }
}

/// A connection to one registry host.
#[derive(Clone)]
pub(crate) struct Endpoint {
    pub host: String,
    pub client: Client,
    pub auth: RegistryAuth,
    /// Reached over plain http.
    pub plain_http: bool,
}

impl Endpoint {
    /// Hand this host's credentials to the client before a call that needs them (oci-client keeps them per
    /// registry; the blob calls do not look them up themselves).
    pub async fn authenticate(&self) {
        self.client
            .store_auth_if_needed(&self.host, &self.auth)
            .await;
    }

    /// oci-client's reference for repository `path` at `reference` (a tag or a digest) on this host.
    pub fn reference(&self, path: &str, reference: &str) -> Reference {
        if reference.starts_with("sha256:") {
            Reference::with_digest(self.host.clone(), path.to_string(), reference.to_string())
        } else {
            Reference::with_tag(self.host.clone(), path.to_string(), reference.to_string())
        }
    }
}

/// What an error is about, for its message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Operation {
    Pull,
    Push,
}

/// The registry client. `Send + Sync`; every method blocks the calling thread.
pub struct Registry {
    pub(crate) runtime: tokio::runtime::Runtime,
    pub(crate) config: HoistConfig,
    insecure: Vec<String>,
    pub(crate) platform: Platform,
    endpoints: Mutex<HashMap<String, Endpoint>>,
}

impl Registry {
    pub fn new(options: RegistryOptions) -> Result<Registry> {
        let files: Vec<PathBuf> = options
            .config_dirs
            .iter()
            .map(|p| {
                if p.is_dir() {
                    p.join("config.json")
                } else {
                    p.clone()
                }
            })
            .collect();
        let config = HoistConfig::load(&files)?;
        let platform = match &options.platform {
            Some(text) => Platform::parse(text).map_err(|detail| RegistryError::Config {
                path: "--platform".into(),
                detail,
            })?,
            None => Platform::host(),
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("hoist-registry")
            .enable_all()
            .build()
            .map_err(|source| RegistryError::Io {
                action: "starting the registry client's runtime",
                path: String::new(),
                source,
            })?;
        let mut insecure = options.insecure.clone();
        insecure.extend(config.insecure_registries.iter().cloned());
        Ok(Registry {
            runtime,
            config,
            insecure,
            platform,
            endpoints: Mutex::new(HashMap::new()),
        })
    }

    /// The hosts to try for `reference`, in order: Docker Hub's mirrors first, then the registry itself.
    pub(crate) fn hosts_for(&self, reference: &ImageReference) -> Vec<(String, Option<Mirror>)> {
        let mut hosts = Vec::new();
        if reference.is_docker_hub() {
            for mirror in self.config.mirrors() {
                hosts.push((mirror.host.clone(), Some(mirror)));
            }
        }
        hosts.push((reference.registry_host().to_string(), None));
        hosts
    }

    /// Whether `host` may be reached over plain http: loopback, or named insecure.
    fn may_use_http(&self, host: &str) -> bool {
        let name = host_without_port(host);
        let loopback = name == "localhost"
            || name
                .parse::<IpAddr>()
                .map(|ip| ip.is_loopback())
                .unwrap_or(false);
        loopback
            || self
                .insecure
                .iter()
                .any(|i| i == host || i == name || i.trim_start_matches("http://") == host)
    }

    /// The connection to `host` (made once per process): https, or for loopback and insecure registries https
    /// when the host answers it and plain http otherwise, as Docker does.
    pub(crate) fn endpoint(&self, host: &str, mirror: Option<&Mirror>) -> Result<Endpoint> {
        if let Some(found) = self.lock_endpoints().get(host) {
            return Ok(found.clone());
        }
        let insecure = self.may_use_http(host);
        let plain_http = match mirror {
            Some(m) if m.plain_http => true,
            _ => insecure && !self.answers_https(host),
        };
        let config = ClientConfig {
            protocol: if plain_http {
                ClientProtocol::Http
            } else {
                ClientProtocol::Https
            },
            accept_invalid_certificates: insecure,
            platform_resolver: None,
            // One PUT per blob, streamed (chunked PATCHes would buffer each chunk in memory).
            use_monolithic_push: true,
            connect_timeout: Some(Duration::from_secs(30)),
            // A registry that stops sending mid-blob fails the pull instead of hanging it.
            read_timeout: Some(Duration::from_secs(120)),
            user_agent: concat!("hoist/", env!("CARGO_PKG_VERSION")),
            ..ClientConfig::default()
        };
        let client = Client::try_from(config).map_err(|e| RegistryError::Protocol {
            registry: host.to_string(),
            detail: format!("setting up the http client: {e}"),
        })?;
        let endpoint = Endpoint {
            host: host.to_string(),
            client,
            auth: crate::auth::credentials_for(host)?,
            plain_http,
        };
        self.lock_endpoints()
            .insert(host.to_string(), endpoint.clone());
        Ok(endpoint)
    }

    fn lock_endpoints(&self) -> std::sync::MutexGuard<'_, HashMap<String, Endpoint>> {
        self.endpoints.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether `host` speaks TLS on its registry port (any http answer counts, even 401 or 404).
    fn answers_https(&self, host: &str) -> bool {
        let Ok(client) = reqwest::Client::builder()
            .danger_accept_invalid_certs(true)
            .timeout(Duration::from_secs(5))
            .build()
        else {
            return false;
        };
        let url = format!("https://{host}/v2/");
        self.runtime
            .block_on(async { client.get(&url).send().await })
            .is_ok()
    }

    /// Check `user`/`password` against `server`'s `/v2/` (basic auth, or the token its `WWW-Authenticate`
    /// names), then save them as `docker login` does. Returns the config file written.
    pub fn login(&self, server: Option<&str>, user: &str, password: &str) -> Result<PathBuf> {
        let key = crate::auth::server_key(server);
        let host = login_host(&key);
        let endpoint = self.endpoint(&host, None)?;
        let scheme = if endpoint.plain_http { "http" } else { "https" };
        let url = format!("{scheme}://{host}/v2/");
        let failed = |detail: String| RegistryError::LoginFailed {
            registry: host.clone(),
            detail,
        };
        let http = reqwest::Client::builder()
            .danger_accept_invalid_certs(self.may_use_http(&host))
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| failed(e.to_string()))?;
        let outcome: std::result::Result<(), String> = self.runtime.block_on(async {
            let first = http
                .get(&url)
                .send()
                .await
                .map_err(|e| describe_reqwest(&e))?;
            if first.status().is_success() {
                return Ok(());
            }
            let challenge = first
                .headers()
                .get(reqwest::header::WWW_AUTHENTICATE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string();
            let answer = if challenge.to_ascii_lowercase().starts_with("bearer") {
                let params = challenge_params(&challenge);
                let realm = params.get("realm").cloned().unwrap_or_default();
                let mut query = vec![("account", user.to_string())];
                if let Some(service) = params.get("service") {
                    query.push(("service", service.clone()));
                }
                http.get(&realm)
                    .query(&query)
                    .basic_auth(user, Some(password))
                    .send()
                    .await
            } else {
                http.get(&url).basic_auth(user, Some(password)).send().await
            }
            .map_err(|e| describe_reqwest(&e))?;
            match answer.status() {
                s if s.is_success() => Ok(()),
                reqwest::StatusCode::UNAUTHORIZED | reqwest::StatusCode::FORBIDDEN => {
                    Err("unauthorized: incorrect username or password".to_string())
                }
                s => Err(format!("the registry answered {s}")),
            }
        });
        outcome.map_err(failed)?;
        // Later calls in this process use the new credentials.
        self.lock_endpoints().remove(&host);
        crate::auth::store_credentials(&key, user, password)
    }

    /// Forget the saved credentials of `server` (Docker Hub when `None`). Returns whether there were any.
    pub fn logout(&self, server: Option<&str>) -> Result<bool> {
        let key = crate::auth::server_key(server);
        self.lock_endpoints().remove(&login_host(&key));
        crate::auth::erase_credentials(&key)
    }

    /// Translate an oci-client error about `what` (a reference or repository) on `host`.
    pub(crate) fn error(
        &self,
        error: OciDistributionError,
        host: &str,
        repository: &str,
        what: &str,
        operation: Operation,
    ) -> RegistryError {
        let denied = |detail: String| match operation {
            Operation::Pull => RegistryError::PullDenied {
                repository: repository.to_string(),
            },
            Operation::Push => RegistryError::PushDenied {
                repository: repository.to_string(),
                registry: host.to_string(),
                detail,
            },
        };
        match error {
            OciDistributionError::RegistryError { envelope, .. } => {
                let first = envelope.errors.first();
                let message = envelope
                    .errors
                    .iter()
                    .map(|e| e.message.clone())
                    .collect::<Vec<_>>()
                    .join("; ");
                match first.map(|e| &e.code) {
                    Some(OciErrorCode::ManifestUnknown) | Some(OciErrorCode::NotFound)
                        if operation == Operation::Pull =>
                    {
                        RegistryError::ManifestNotFound {
                            reference: what.to_string(),
                        }
                    }
                    Some(OciErrorCode::NameUnknown)
                    | Some(OciErrorCode::Unauthorized)
                    | Some(OciErrorCode::Denied) => denied(message),
                    _ => RegistryError::Protocol {
                        registry: host.to_string(),
                        detail: format!("{what}: {message}"),
                    },
                }
            }
            OciDistributionError::UnauthorizedError { .. } => {
                denied("unauthorized: authentication required".into())
            }
            OciDistributionError::AuthenticationFailure(reason) => RegistryError::Protocol {
                registry: host.to_string(),
                detail: format!(
                    "authentication failed ({}); check the credentials with 'hoist login {host}'",
                    reason.trim()
                ),
            },
            OciDistributionError::ServerError { code: 404, .. } if operation == Operation::Pull => {
                RegistryError::ManifestNotFound {
                    reference: what.to_string(),
                }
            }
            OciDistributionError::ServerError { code, message, .. } => RegistryError::Protocol {
                registry: host.to_string(),
                detail: format!(
                    "{what}: the registry answered HTTP {code}: {}",
                    message.trim()
                ),
            },
            // oci-client's HEAD of a blob reports its status through reqwest.
            OciDistributionError::RequestError(e)
                if matches!(e.status().map(|s| s.as_u16()), Some(401) | Some(403)) =>
            {
                denied("unauthorized: authentication required".into())
            }
            OciDistributionError::RequestError(e) => self.transport_error(host, &e),
            other => RegistryError::Protocol {
                registry: host.to_string(),
                detail: format!("{what}: {other}"),
            },
        }
    }

    fn transport_error(&self, host: &str, error: &reqwest::Error) -> RegistryError {
        let detail = describe_reqwest(error);
        let lower = detail.to_ascii_lowercase();
        if lower.contains("invalidcontenttype")
            || lower.contains("corrupt message")
            || lower.contains("http response to https")
            || lower.contains("wrong version number")
        {
            return RegistryError::HttpToHttps {
                registry: host.to_string(),
            };
        }
        RegistryError::Unreachable {
            registry: host.to_string(),
            detail,
        }
    }
}

/// The host `docker login` talks to for a config key.
fn login_host(key: &str) -> String {
    if key == crate::reference::DOCKER_HUB_AUTH_KEY {
        crate::reference::DOCKER_HUB_REGISTRY.to_string()
    } else {
        key.to_string()
    }
}

fn host_without_port(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) && !name.contains(':') => {
            name
        }
        _ => host,
    }
}

/// An error and its causes on one line (reqwest's own message is only the outermost).
pub(crate) fn describe_reqwest(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// `Bearer realm="…",service="…"` → its parameters.
fn challenge_params(challenge: &str) -> HashMap<String, String> {
    let rest = challenge.split_once(' ').map_or("", |(_, r)| r);
    let mut params = HashMap::new();
    for part in rest.split(',') {
        if let Some((k, v)) = part.split_once('=') {
            params.insert(
                k.trim().to_ascii_lowercase(),
                v.trim().trim_matches('"').to_string(),
            );
        }
    }
    params
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registry(insecure: &[&str]) -> Registry {
        Registry::new(RegistryOptions {
            config_dirs: vec![],
            insecure: insecure.iter().map(|s| s.to_string()).collect(),
            platform: None,
        })
        .unwrap()
    }

    #[test]
    fn plain_http_only_for_loopback_and_insecure_hosts() {
        let r = registry(&["myreg:5000"]);
        for ok in [
            "localhost:5000",
            "localhost",
            "127.0.0.1:5000",
            "127.9.9.9",
            "[::1]:5000",
            "myreg:5000",
        ] {
            assert!(r.may_use_http(ok), "{ok}");
        }
        for no in [
            "registry-1.docker.io",
            "example.com:5000",
            "myreg:5001",
            "10.0.0.1:5000",
            "localhost.example.com",
        ] {
            assert!(!r.may_use_http(no), "{no}");
        }
    }

    #[test]
    fn bearer_challenges_parse() {
        let p = challenge_params(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io""#,
        );
        assert_eq!(p["realm"], "https://auth.docker.io/token");
        assert_eq!(p["service"], "registry.docker.io");
    }
}
