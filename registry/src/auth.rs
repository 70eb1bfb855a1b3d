//! Credentials as Docker keeps them: `$DOCKER_CONFIG/config.json` or `~/.docker/config.json` (`auths`,
//! `credsStore`, `credHelpers`), read through `docker_credential`; `hoist login`/`logout` write them back the way
//! `docker login`/`logout` do (into the helper when one is configured, else base64 `auths`, file mode 0600).
//! Credentials are never printed or logged: errors name the registry and the config file, not the secret.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use base64::Engine as _;
use docker_credential::{CredentialRetrievalError, DockerCredential};
use oci_client::secrets::RegistryAuth;

use crate::error::{RegistryError, Result};
use crate::reference::{DOCKER_HUB_AUTH_KEY, DOCKER_HUB_DOMAIN, DOCKER_HUB_REGISTRY};

/// `$DOCKER_CONFIG/config.json`, else `$HOME/.docker/config.json`.
pub fn docker_config_path() -> PathBuf {
    let dir = match std::env::var_os("DOCKER_CONFIG") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => std::env::var_os("HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/root"))
            .join(".docker"),
    };
    dir.join("config.json")
}

/// The `config.json` key of a registry given as `docker login` accepts it: none, `docker.io`,
/// `https://index.docker.io/v1/` → Docker Hub's key; `http://localhost:5000/` → `localhost:5000`.
pub fn server_key(server: Option<&str>) -> String {
    let Some(server) = server.map(str::trim).filter(|s| !s.is_empty()) else {
        return DOCKER_HUB_AUTH_KEY.to_string();
    };
    let host = server
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    let host = host.split('/').next().unwrap_or(host);
    if [DOCKER_HUB_DOMAIN, "index.docker.io", DOCKER_HUB_REGISTRY].contains(&host) {
        DOCKER_HUB_AUTH_KEY.to_string()
    } else {
        host.to_string()
    }
}

/// The key to look a registry host up under (`registry-1.docker.io` is Docker Hub).
pub(crate) fn key_for_host(host: &str) -> String {
    server_key(Some(host))
}

/// The credentials for registry `host`, anonymous when none are configured.
pub(crate) fn credentials_for(host: &str) -> Result<RegistryAuth> {
    let path = docker_config_path();
    let file = match std::fs::File::open(&path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(RegistryAuth::Anonymous),
        Err(source) => {
            return Err(RegistryError::Io {
                action: "reading Docker credentials",
                path: path.display().to_string(),
                source,
            })
        }
    };
    let key = key_for_host(host);
    match docker_credential::get_credential_from_reader(std::io::BufReader::new(file), &key) {
        Ok(DockerCredential::UsernamePassword(user, password)) => {
            Ok(RegistryAuth::Basic(user, password))
        }
        // An identity token is an OAuth refresh token, which oci-client cannot exchange: go anonymous and let
        // the registry say whether that is enough.
        Ok(DockerCredential::IdentityToken(_)) => Ok(RegistryAuth::Anonymous),
        Err(CredentialRetrievalError::NoCredentialConfigured)
        | Err(CredentialRetrievalError::ConfigNotFound) => Ok(RegistryAuth::Anonymous),
        // A helper that has nothing for this registry answers "credentials not found in native keychain".
        Err(CredentialRetrievalError::HelperFailure { stdout, .. })
            if stdout.to_lowercase().contains("not found") =>
        {
            Ok(RegistryAuth::Anonymous)
        }
        Err(CredentialRetrievalError::HelperFailure { helper, .. }) => {
            Err(RegistryError::Credentials {
                registry: host.to_string(),
                detail: format!(
                    "credential helper {helper} failed (configured in {})",
                    path.display()
                ),
            })
        }
        Err(e) => Err(RegistryError::Credentials {
            registry: host.to_string(),
            detail: format!("{e} (in {})", path.display()),
        }),
    }
}

fn read_config(path: &PathBuf) -> Result<serde_json::Map<String, serde_json::Value>> {
    match std::fs::read(path) {
        Ok(bytes) => match serde_json::from_slice::<serde_json::Value>(&bytes) {
            Ok(serde_json::Value::Object(map)) => Ok(map),
            _ => Err(RegistryError::Config {
                path: path.display().to_string(),
                detail: "not a JSON object; fix or remove it".into(),
            }),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(serde_json::Map::new()),
        Err(source) => Err(RegistryError::Io {
            action: "reading",
            path: path.display().to_string(),
            source,
        }),
    }
}

/// Write the config atomically, mode 0600 (it holds secrets).
fn write_config(path: &PathBuf, config: &serde_json::Map<String, serde_json::Value>) -> Result<()> {
    let io_err = |action: &'static str| {
        let path = path.display().to_string();
        move |source| RegistryError::Io {
            action,
            path,
            source,
        }
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io_err("creating the directory of"))?;
    }
    let tmp = path.with_extension(format!("json.tmp{}", std::process::id()));
    let mut bytes = serde_json::to_vec_pretty(config).unwrap_or_default();
    bytes.push(b'\n');
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(io_err("writing"))?;
    file.write_all(&bytes)
        .and_then(|_| file.sync_all())
        .map_err(io_err("writing"))?;
    std::fs::rename(&tmp, path).map_err(io_err("replacing"))
}

/// The helper that keeps `key`'s secrets: `credHelpers[key]`, else `credsStore`.
fn helper_for(config: &serde_json::Map<String, serde_json::Value>, key: &str) -> Option<String> {
    let by_registry = config
        .get("credHelpers")
        .and_then(|h| h.get(key))
        .and_then(|h| h.as_str());
    by_registry
        .or_else(|| config.get("credsStore").and_then(|s| s.as_str()))
        .filter(|h| !h.is_empty())
        .map(str::to_string)
}

fn run_helper(helper: &str, verb: &str, input: &[u8], registry: &str) -> Result<()> {
    let program = format!("docker-credential-{helper}");
    let fail = |detail: String| RegistryError::Credentials {
        registry: registry.to_string(),
        detail,
    };
    let mut child = Command::new(&program)
        .arg(verb)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| fail(format!("cannot run credential helper {program}: {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(input)
            .map_err(|e| fail(format!("writing to {program}: {e}")))?;
    }
    let output = child
        .wait_with_output()
        .map_err(|e| fail(format!("waiting for {program}: {e}")))?;
    if output.status.success() {
        Ok(())
    } else {
        // The helper's own message, never the input (which holds the secret).
        Err(fail(format!(
            "{program} {verb} failed: {}",
            String::from_utf8_lossy(&output.stdout).trim()
        )))
    }
}

/// Save `user`/`password` for `key` as `docker login` does. Returns the file written.
pub(crate) fn store_credentials(key: &str, user: &str, password: &str) -> Result<PathBuf> {
    let path = docker_config_path();
    let mut config = read_config(&path)?;
    let auths = config
        .entry("auths")
        .or_insert_with(|| serde_json::Value::Object(Default::default()));
    if !auths.is_object() {
        *auths = serde_json::Value::Object(Default::default());
    }
    let entry = match helper_for(&config, key) {
        Some(helper) => {
            let input = serde_json::json!({"ServerURL": key, "Username": user, "Secret": password});
            run_helper(&helper, "store", input.to_string().as_bytes(), key)?;
            serde_json::json!({})
        }
        None => {
            let encoded =
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
            serde_json::json!({ "auth": encoded })
        }
    };
    if let Some(auths) = config.get_mut("auths").and_then(|a| a.as_object_mut()) {
        auths.insert(key.to_string(), entry);
    }
    write_config(&path, &config)?;
    Ok(path)
}

/// Forget `key`'s credentials as `docker logout` does. Returns whether there were any.
pub(crate) fn erase_credentials(key: &str) -> Result<bool> {
    let path = docker_config_path();
    let mut config = read_config(&path)?;
    let removed = config
        .get_mut("auths")
        .and_then(|a| a.as_object_mut())
        .and_then(|auths| auths.remove(key))
        .is_some();
    let helper = helper_for(&config, key);
    if let Some(helper) = &helper {
        // Nothing stored there is not an error for logout.
        let _ = run_helper(helper, "erase", key.as_bytes(), key);
    }
    if removed {
        write_config(&path, &config)?;
    }
    Ok(removed || helper.is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_keys_as_docker_writes_them() {
        assert_eq!(server_key(None), "https://index.docker.io/v1/");
        assert_eq!(server_key(Some("docker.io")), "https://index.docker.io/v1/");
        assert_eq!(
            server_key(Some("https://index.docker.io/v1/")),
            "https://index.docker.io/v1/"
        );
        assert_eq!(
            key_for_host("registry-1.docker.io"),
            "https://index.docker.io/v1/"
        );
        assert_eq!(server_key(Some("http://localhost:5000/")), "localhost:5000");
        assert_eq!(server_key(Some("127.0.0.1:5000")), "127.0.0.1:5000");
    }
}
