//! What `hoist build` sets for every `RUN` step besides the Dockerfile (BuildKit's exec options and
//! entitlements): the default network, `--add-host`, `--shm-size`, `--ulimit`, the SSH agents for
//! `RUN --mount=type=ssh`, and what `--allow` grants.
use std::path::PathBuf;

pub use hoist_executor::container::Ulimit;

/// A RUN step's network, as `--network` and `RUN --network=` name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NetworkMode {
    /// `default`: a network namespace of its own on the `hoist0` bridge, NATed to the host's
    /// network (BuildKit's sandbox network).
    #[default]
    Sandbox,
    /// `host`: the host's network namespace; needs the `network.host` entitlement.
    Host,
    /// `none`: a network namespace with only `lo`.
    None,
}

impl NetworkMode {
    /// `default`, `host` or `none`; `None` for anything else.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "default" => Some(NetworkMode::Sandbox),
            "host" => Some(NetworkMode::Host),
            "none" => Some(NetworkMode::None),
            _ => None,
        }
    }

    /// The name in the cache key (and in messages).
    pub fn name(self) -> &'static str {
        match self {
            NetworkMode::Sandbox => "default",
            NetworkMode::Host => "host",
            NetworkMode::None => "none",
        }
    }
}

/// The options `hoist build` gives every RUN step.
#[derive(Debug, Clone, Default)]
pub struct RunStepOptions {
    /// `--network`: the network of RUN steps without `RUN --network=`.
    pub network: NetworkMode,
    /// `--allow network.host` (implied by `--network host`, as buildx does).
    pub allow_network_host: bool,
    /// `--allow security.insecure`: `RUN --security=insecure` may run privileged.
    pub allow_security_insecure: bool,
    /// `--add-host NAME:IP` (host-gateway already resolved): appended to `/etc/hosts`.
    pub extra_hosts: Vec<(String, String)>,
    /// `--shm-size` in bytes.
    pub shm_size: Option<u64>,
    /// `--ulimit`.
    pub ulimits: Vec<Ulimit>,
    /// `--ssh`: an agent socket per id, for `RUN --mount=type=ssh,id=ID`. Never part of a cache key.
    pub ssh_agents: Vec<(String, PathBuf)>,
}

impl RunStepOptions {
    /// What of these options enters each RUN's cache key: what changes what the step sees, as
    /// BuildKit keeps extra hosts, ulimits and the shm size in the exec op. Empty by default.
    pub(crate) fn key_parts(&self) -> Vec<String> {
        let mut parts: Vec<String> = self
            .extra_hosts
            .iter()
            .map(|(name, ip)| format!("host {name}={ip}"))
            .collect();
        if let Some(size) = self.shm_size {
            parts.push(format!("shm {size}"));
        }
        for u in &self.ulimits {
            parts.push(format!("ulimit {}={}:{}", u.name, u.soft, u.hard));
        }
        parts
    }

    /// The executor's options for one step; `insecure` for `RUN --security=insecure`.
    pub(crate) fn runtime(&self, insecure: bool) -> hoist_executor::container::RuntimeOptions {
        hoist_executor::container::RuntimeOptions {
            privileged: insecure,
            extra_hosts: self.extra_hosts.clone(),
            shm_size: self.shm_size,
            ulimits: self.ulimits.clone(),
            ..Default::default()
        }
    }
}
