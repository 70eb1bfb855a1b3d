//! hoist's registry settings: a JSON file with Docker's `daemon.json` key names, the first found of
//! `$HOIST_ROOT/config.json` and `/etc/hoist/config.json` (the search list is an option, so tests bring their own):
//!
//! ```json
//! {"registry-mirrors": ["http://127.0.0.1:5000"], "insecure-registries": ["myregistry:5000"]}
//! ```

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{RegistryError, Result};

/// The registry part of hoist's config file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct HoistConfig {
    /// Mirrors of Docker Hub, tried in order before it (`http://host:port` or `https://host`).
    #[serde(rename = "registry-mirrors", default)]
    pub registry_mirrors: Vec<String>,
    /// Registries that may be reached over plain http (or https without a valid certificate).
    #[serde(rename = "insecure-registries", default)]
    pub insecure_registries: Vec<String>,
}

impl HoistConfig {
    /// The first config file of `candidates` that exists, or the defaults when none does.
    pub fn load(candidates: &[PathBuf]) -> Result<HoistConfig> {
        for path in candidates {
            match std::fs::read(path) {
                Ok(bytes) => return HoistConfig::parse(&bytes, path),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(source) => {
                    return Err(RegistryError::Io {
                        action: "reading hoist config",
                        path: path.display().to_string(),
                        source,
                    })
                }
            }
        }
        Ok(HoistConfig::default())
    }

    fn parse(bytes: &[u8], path: &Path) -> Result<HoistConfig> {
        let config: HoistConfig =
            serde_json::from_slice(bytes).map_err(|e| RegistryError::Config {
                path: path.display().to_string(),
                detail: format!("not a valid hoist config ({e}); expected JSON like {{\"registry-mirrors\": [\"https://mirror.example\"], \"insecure-registries\": [\"host:5000\"]}}"),
            })?;
        for mirror in &config.registry_mirrors {
            Mirror::parse(mirror).map_err(|detail| RegistryError::Config {
                path: path.display().to_string(),
                detail,
            })?;
        }
        Ok(config)
    }

    /// The mirrors, parsed (each was validated on load).
    pub fn mirrors(&self) -> Vec<Mirror> {
        self.registry_mirrors
            .iter()
            .filter_map(|m| Mirror::parse(m).ok())
            .collect()
    }
}

/// One Docker Hub mirror.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mirror {
    /// `127.0.0.1:5000`.
    pub host: String,
    /// The mirror was given as `http://`: reach it over plain http.
    pub plain_http: bool,
}

impl Mirror {
    /// `http://host[:port][/]` or `https://host[:port][/]` (a bare host means https).
    pub fn parse(text: &str) -> std::result::Result<Mirror, String> {
        let (plain_http, rest) = if let Some(rest) = text.strip_prefix("http://") {
            (true, rest)
        } else if let Some(rest) = text.strip_prefix("https://") {
            (false, rest)
        } else {
            (false, text)
        };
        let host = rest.trim_end_matches('/');
        if host.is_empty() || host.contains('/') || host.contains(char::is_whitespace) {
            return Err(format!(
                "registry mirror {text:?} is not a URL like https://mirror.example or http://127.0.0.1:5000 (no path)"
            ));
        }
        Ok(Mirror {
            host: host.to_string(),
            plain_http,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_existing_file_wins_and_bad_files_say_where() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.json");
        let b = dir.path().join("b.json");
        std::fs::write(
            &b,
            br#"{"registry-mirrors": ["http://127.0.0.1:5000/"], "insecure-registries": ["r:1"]}"#,
        )
        .unwrap();
        let config = HoistConfig::load(&[a.clone(), b.clone()]).unwrap();
        assert_eq!(config.insecure_registries, vec!["r:1"]);
        assert_eq!(
            config.mirrors(),
            vec![Mirror {
                host: "127.0.0.1:5000".into(),
                plain_http: true
            }]
        );
        assert_eq!(
            HoistConfig::load(std::slice::from_ref(&a)).unwrap(),
            HoistConfig::default()
        );
        std::fs::write(&a, b"{not json").unwrap();
        let msg = HoistConfig::load(&[a.clone(), b]).unwrap_err().to_string();
        assert!(
            msg.contains("a.json") && msg.contains("registry-mirrors"),
            "{msg}"
        );
        std::fs::write(&a, br#"{"registry-mirrors": ["http://m/path"]}"#).unwrap();
        assert!(HoistConfig::load(&[a]).is_err());
    }
}
