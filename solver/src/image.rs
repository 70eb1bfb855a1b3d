//! The image being built: its config (oci-spec types plus Docker's extensions), layers and history.
//!
//! oci-spec's `Config` has no `Healthcheck`, `OnBuild` or `Shell` (Docker extensions that BuildKit writes), and it
//! keeps ports, volumes and labels in hash maps whose order would make image IDs change from run to run. So the
//! working state lives in [`ImageState`]; it is turned into oci-spec types at the boundary and serialized through
//! `serde_json::Value` (sorted keys) so that the same build always gives the same config digest.
use std::collections::{BTreeMap, BTreeSet};

use hoist_store::Digest;
use oci_spec::image::{
    Arch, ConfigBuilder, HistoryBuilder, ImageConfiguration, ImageConfigurationBuilder, Os,
    RootFsBuilder,
};
use serde_json::{json, Map, Value};

use crate::error::{BuildError, Result};

pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// A layer of the image: its diff ID (= its blob digest: layers are stored uncompressed) and size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerDesc {
    pub diff_id: Digest,
    pub size: u64,
}

#[derive(Debug, Clone, Default)]
pub struct ImageState {
    pub env: Vec<String>,
    pub cmd: Option<Vec<String>>,
    pub entrypoint: Option<Vec<String>>,
    pub working_dir: String,
    pub user: String,
    pub exposed_ports: BTreeSet<String>,
    pub volumes: BTreeSet<String>,
    pub labels: BTreeMap<String, String>,
    pub stop_signal: Option<String>,
    /// Docker's `Healthcheck` object, as it goes into the config.
    pub healthcheck: Option<Value>,
    pub onbuild: Vec<String>,
    pub shell: Option<Vec<String>>,
    pub author: Option<String>,
    pub layers: Vec<LayerDesc>,
    pub history: Vec<HistoryEntry>,
}

#[derive(Debug, Clone)]
pub struct HistoryEntry {
    pub created: String,
    pub created_by: String,
    pub comment: Option<String>,
    pub empty_layer: bool,
}

impl ImageState {
    /// `FROM scratch`: what BuildKit starts from (PATH set, WorkingDir `/`).
    pub fn scratch() -> Self {
        ImageState {
            env: vec![format!("PATH={DEFAULT_PATH}")],
            working_dir: "/".into(),
            ..Default::default()
        }
    }

    /// The state of a stored image, read from its raw config JSON (so Docker's extensions survive).
    pub fn from_config_json(raw: &[u8], layer_sizes: &[u64]) -> Result<Self> {
        let doc: Value = serde_json::from_slice(raw)
            .map_err(|e| BuildError::other(format!("base image config is not valid JSON: {e}")))?;
        let c = doc.get("config").cloned().unwrap_or(Value::Null);
        let strings = |v: Option<&Value>| -> Option<Vec<String>> {
            v.and_then(|v| v.as_array()).map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_string))
                    .collect()
            })
        };
        let keys = |v: Option<&Value>| -> BTreeSet<String> {
            v.and_then(|v| v.as_object())
                .map(|m| m.keys().cloned().collect())
                .unwrap_or_default()
        };
        let string = |v: Option<&Value>| v.and_then(|v| v.as_str()).map(str::to_string);
        let diff_ids = doc
            .pointer("/rootfs/diff_ids")
            .and_then(|v| v.as_array())
            .map(|a| a.iter().filter_map(|s| s.as_str()).collect::<Vec<_>>())
            .unwrap_or_default();
        let mut layers = Vec::new();
        for (i, d) in diff_ids.iter().enumerate() {
            let diff_id: Digest = d
                .parse()
                .map_err(|e| BuildError::other(format!("base image has a bad diff_id {d}: {e}")))?;
            layers.push(LayerDesc {
                diff_id,
                size: layer_sizes.get(i).copied().unwrap_or(0),
            });
        }
        let history = doc
            .get("history")
            .and_then(|v| v.as_array())
            .map(|a| {
                a.iter()
                    .map(|h| HistoryEntry {
                        created: string(h.get("created")).unwrap_or_default(),
                        created_by: string(h.get("created_by")).unwrap_or_default(),
                        comment: string(h.get("comment")),
                        empty_layer: h
                            .get("empty_layer")
                            .and_then(|v| v.as_bool())
                            .unwrap_or(false),
                    })
                    .collect()
            })
            .unwrap_or_default();
        Ok(ImageState {
            env: strings(c.get("Env")).unwrap_or_default(),
            cmd: strings(c.get("Cmd")),
            entrypoint: strings(c.get("Entrypoint")),
            working_dir: string(c.get("WorkingDir")).unwrap_or_default(),
            user: string(c.get("User")).unwrap_or_default(),
            exposed_ports: keys(c.get("ExposedPorts")),
            volumes: keys(c.get("Volumes")),
            labels: c
                .get("Labels")
                .and_then(|v| v.as_object())
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                        .collect()
                })
                .unwrap_or_default(),
            stop_signal: string(c.get("StopSignal")),
            healthcheck: c.get("Healthcheck").filter(|v| !v.is_null()).cloned(),
            onbuild: strings(c.get("OnBuild")).unwrap_or_default(),
            shell: strings(c.get("Shell")),
            author: string(doc.get("author")),
            layers,
            history,
        })
    }

    /// The oci-spec configuration (without Docker's extensions).
    fn oci(&self, created: &str) -> Result<ImageConfiguration> {
        let mut config = ConfigBuilder::default();
        if !self.env.is_empty() {
            config = config.env(self.env.clone());
        }
        if let Some(cmd) = &self.cmd {
            config = config.cmd(cmd.clone());
        }
        if let Some(ep) = &self.entrypoint {
            config = config.entrypoint(ep.clone());
        }
        if !self.working_dir.is_empty() {
            config = config.working_dir(self.working_dir.clone());
        }
        if !self.user.is_empty() {
            config = config.user(self.user.clone());
        }
        if !self.exposed_ports.is_empty() {
            config = config.exposed_ports(self.exposed_ports.iter().cloned().collect::<Vec<_>>());
        }
        if !self.volumes.is_empty() {
            config = config.volumes(self.volumes.iter().cloned().collect::<Vec<_>>());
        }
        if !self.labels.is_empty() {
            config = config.labels(
                self.labels
                    .clone()
                    .into_iter()
                    .collect::<std::collections::HashMap<_, _>>(),
            );
        }
        if let Some(s) = &self.stop_signal {
            config = config.stop_signal(s.clone());
        }
        let config = config
            .build()
            .map_err(|e| BuildError::other(format!("image config: {e}")))?;
        let rootfs = RootFsBuilder::default()
            .typ("layers")
            .diff_ids(
                self.layers
                    .iter()
                    .map(|l| l.diff_id.to_string())
                    .collect::<Vec<_>>(),
            )
            .build()
            .map_err(|e| BuildError::other(format!("image rootfs: {e}")))?;
        let mut history = Vec::new();
        for h in &self.history {
            let mut b = HistoryBuilder::default()
                .created(h.created.clone())
                .created_by(h.created_by.clone());
            if let Some(c) = &h.comment {
                b = b.comment(c.clone());
            }
            if h.empty_layer {
                b = b.empty_layer(true);
            }
            history.push(
                b.build()
                    .map_err(|e| BuildError::other(format!("image history: {e}")))?,
            );
        }
        let mut image = ImageConfigurationBuilder::default()
            .created(created.to_string())
            .architecture(Arch::from(crate::args::host_arch()))
            .os(Os::Linux)
            .config(config)
            .rootfs(rootfs)
            .history(history);
        if let Some(a) = &self.author {
            image = image.author(a.clone());
        }
        image
            .build()
            .map_err(|e| BuildError::other(format!("image config: {e}")))
    }

    /// The config blob, deterministic for the same state and `created`.
    pub fn to_config_json(&self, created: &str) -> Result<Vec<u8>> {
        let oci = self.oci(created)?;
        let mut doc = serde_json::to_value(&oci)
            .map_err(|e| BuildError::other(format!("image config: {e}")))?;
        if let Some(config) = doc.get_mut("config").and_then(|c| c.as_object_mut()) {
            if let Some(h) = &self.healthcheck {
                config.insert("Healthcheck".into(), h.clone());
            }
            if !self.onbuild.is_empty() {
                config.insert("OnBuild".into(), json!(self.onbuild));
            }
            if let Some(s) = &self.shell {
                config.insert("Shell".into(), json!(s));
            }
        } else {
            let mut config = Map::new();
            if let Some(h) = &self.healthcheck {
                config.insert("Healthcheck".into(), h.clone());
            }
            if !config.is_empty() {
                doc["config"] = Value::Object(config);
            }
        }
        serde_json::to_vec(&doc).map_err(|e| BuildError::other(format!("image config: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_json_is_deterministic_and_round_trips() {
        let mut s = ImageState::scratch();
        s.exposed_ports = ["80/tcp", "53/udp", "8080/tcp"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        s.labels = [("b", "2"), ("a", "1"), ("c", "3")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        s.onbuild = vec!["RUN echo hi".into()];
        s.shell = Some(vec!["/bin/bash".into(), "-c".into()]);
        s.healthcheck = Some(json!({"Test": ["NONE"]}));
        let a = s.to_config_json("2024-01-01T00:00:00Z").unwrap();
        let b = s.to_config_json("2024-01-01T00:00:00Z").unwrap();
        assert_eq!(a, b);
        let back = ImageState::from_config_json(&a, &[]).unwrap();
        assert_eq!(back.exposed_ports, s.exposed_ports);
        assert_eq!(back.labels, s.labels);
        assert_eq!(back.onbuild, s.onbuild);
        assert_eq!(back.shell, s.shell);
        assert_eq!(back.healthcheck, s.healthcheck);
        assert_eq!(back.working_dir, "/");
    }
}
