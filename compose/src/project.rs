//! What the runtime side (`up`, `down`, …) asks of a loaded project: start order, engine-side names, labels,
//! and a hash of each service's configuration to recreate only what changed.
use std::collections::{BTreeMap, BTreeSet};

use sha2::{Digest, Sha256};

use crate::model::{Project, Service};

/// The labels compose puts on what it creates, so that a later process finds them again.
pub const LABEL_PROJECT: &str = "com.docker.compose.project";
pub const LABEL_SERVICE: &str = "com.docker.compose.service";
pub const LABEL_NUMBER: &str = "com.docker.compose.container-number";
pub const LABEL_CONFIG_HASH: &str = "com.docker.compose.config-hash";
pub const LABEL_NETWORK: &str = "com.docker.compose.network";
pub const LABEL_VOLUME: &str = "com.docker.compose.volume";

impl Project {
    /// Service names with every service after the ones it depends on; services with no order between them
    /// come alphabetically. (Validation has refused cycles.)
    pub fn dependency_order(&self) -> Vec<&str> {
        let mut placed: BTreeSet<&str> = BTreeSet::new();
        let mut order = Vec::new();
        while order.len() < self.services.len() {
            let ready: Vec<&str> = self
                .services
                .iter()
                .filter(|(name, _)| !placed.contains(name.as_str()))
                .filter(|(_, s)| {
                    s.depends_on
                        .keys()
                        .all(|d| placed.contains(d.as_str()) || !self.services.contains_key(d))
                })
                .map(|(name, _)| name.as_str())
                .collect();
            if ready.is_empty() {
                // A cycle (only in a project that skipped validation): the rest alphabetically.
                order.extend(
                    self.services
                        .keys()
                        .map(String::as_str)
                        .filter(|n| !placed.contains(n)),
                );
                break;
            }
            for name in ready {
                placed.insert(name);
                order.push(name);
            }
        }
        order
    }

    /// The reverse of [`Project::dependency_order`]: the order to stop and remove in.
    pub fn shutdown_order(&self) -> Vec<&str> {
        let mut order = self.dependency_order();
        order.reverse();
        order
    }

    /// `PROJECT-SERVICE-N` (N from 1), or the service's `container_name`.
    pub fn container_name(&self, service: &str, number: u32) -> String {
        match self
            .services
            .get(service)
            .and_then(|s| s.container_name.clone())
        {
            Some(name) => name,
            None => format!("{}-{service}-{number}", self.name),
        }
    }

    /// The engine-side name of network `key`: `PROJECT_KEY` unless the file named it (or it is external).
    pub fn network_name(&self, key: &str) -> String {
        self.networks
            .get(key)
            .and_then(|n| n.name.clone())
            .unwrap_or_else(|| format!("{}_{key}", self.name))
    }

    /// The engine-side name of volume `key`: `PROJECT_KEY` unless the file named it (or it is external).
    pub fn volume_name(&self, key: &str) -> String {
        self.volumes
            .get(key)
            .and_then(|v| v.name.clone())
            .unwrap_or_else(|| format!("{}_{key}", self.name))
    }

    /// The labels of container `number` of `service`.
    pub fn container_labels(&self, service: &str, number: u32) -> BTreeMap<String, String> {
        let mut labels = BTreeMap::new();
        if let Some(s) = self.services.get(service) {
            labels.extend(s.labels.clone());
            labels.insert(LABEL_CONFIG_HASH.into(), s.config_hash());
        }
        labels.insert(LABEL_PROJECT.into(), self.name.clone());
        labels.insert(LABEL_SERVICE.into(), service.to_string());
        labels.insert(LABEL_NUMBER.into(), number.to_string());
        labels
    }
}

impl Service {
    /// sha256 (hex) of the service's resolved configuration, as JSON with sorted keys. `build` is left out
    /// (as compose does): a rebuild shows as a new image ID, which the runtime compares on its own.
    pub fn config_hash(&self) -> String {
        let mut hashed = self.clone();
        hashed.build = None;
        // Serializing plain data to JSON cannot fail; an empty text would only make the hash change.
        let json = serde_json::to_vec(&hashed).unwrap_or_default();
        hex::encode(Sha256::digest(&json))
    }
}
