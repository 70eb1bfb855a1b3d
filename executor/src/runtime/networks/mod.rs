//! User-defined networks (`hoist network create|ls|inspect|rm|prune`, `hoist run --network NAME`),
//! without a daemon: each network is a Linux bridge of its own with its own subnet, NATed out as
//! `hoist0` is, and described by files under the state root:
//!
//! ```text
//! <root>/networks/.lock                 held while a network is created or removed (unique names)
//! <root>/networks/<id>/network.json     the record (name, subnet, gateway, labels, bridge)
//! <root>/networks/<id>/.lock            held while an address is leased or the members change
//! <root>/networks/<id>/leases/<ip>      an address in use: "<container id> <init pid>"
//! <root>/networks/<id>/members/<id>     a container on the network (name, aliases, address, hosts file)
//! ```
//!
//! Bridges, routes and iptables rules are the host's, shared by every state root, so a subnet is
//! chosen under a host-wide lock (`/run/hoist/network/subnets.lock`) against the host's routes.
//! Name resolution is `/etc/hosts`: every member's hosts file (its bundle's, bind-mounted read-only
//! into it) has a section per network listing all members, rewritten in place when one comes or
//! goes ([`hosts`]). A lease or member whose init pid is gone is stale and taken back.

pub mod connect;
pub mod hosts;
pub mod ipam;
pub mod join;
mod link;
pub mod ports;

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::state;
use super::{io_err, Result, RuntimeError};
pub use ipam::Subnet;

const RECORD_FILE: &str = "network.json";

/// The networks every host has, as `docker network ls` lists them (not stored).
pub const PREDEFINED: [(&str, &str); 3] =
    [("bridge", "bridge"), ("host", "host"), ("none", "null")];

/// A user-defined network.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NetworkRecord {
    /// 64 hex digits.
    pub id: String,
    pub name: String,
    pub driver: String,
    pub subnet: Subnet,
    pub gateway: Ipv4Addr,
    /// RFC 3339.
    pub created: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// The Linux bridge's name (`hn-` and 12 hex digits of the id).
    pub bridge: String,
    /// `--subnet` was given (docker shows no gateway then unless `--gateway` was given too).
    #[serde(default)]
    pub subnet_given: bool,
    #[serde(default)]
    pub gateway_given: bool,
}

/// What `network create` takes.
#[derive(Debug, Clone, Default)]
pub struct CreateOptions {
    pub name: String,
    pub driver: Option<String>,
    pub subnet: Option<String>,
    pub gateway: Option<String>,
    pub labels: BTreeMap<String, String>,
}

pub fn networks_dir(root: &Path) -> PathBuf {
    root.join("networks")
}

fn invalid(msg: String) -> RuntimeError {
    RuntimeError::Invalid(msg)
}

/// An exclusive `flock` on `path` (created when missing), released on drop.
pub(crate) struct FileLock(#[allow(dead_code)] std::fs::File);

impl FileLock {
    pub(crate) fn exclusive(path: &Path) -> Result<FileLock> {
        use std::os::fd::AsRawFd;
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io_err("create", parent))?;
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .map_err(io_err("open the lock file", path))?;
        // SAFETY: flock(2) on a descriptor this function owns.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } != 0 {
            return Err(io_err("lock", path)(std::io::Error::last_os_error()));
        }
        Ok(FileLock(file))
    }
}

impl NetworkRecord {
    pub fn dir(&self, root: &Path) -> PathBuf {
        networks_dir(root).join(&self.id)
    }
    pub fn short_id(&self) -> &str {
        &self.id[..12]
    }
}

/// Every user-defined network of this state root, by name.
pub fn list(root: &Path) -> Result<Vec<NetworkRecord>> {
    let dir = networks_dir(root);
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_err("read", &dir)(e)),
    };
    let mut out: Vec<NetworkRecord> = entries
        .flatten()
        .filter_map(|e| std::fs::read(e.path().join(RECORD_FILE)).ok())
        .filter_map(|b| serde_json::from_slice(&b).ok())
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// The network named `name_or_id` (a name, a full id or an id prefix), as docker finds it.
pub fn find(root: &Path, name_or_id: &str) -> Result<NetworkRecord> {
    let all = list(root)?;
    if let Some(n) = all
        .iter()
        .find(|n| n.name == name_or_id || n.id == name_or_id)
    {
        return Ok(n.clone());
    }
    let by_prefix: Vec<&NetworkRecord> = all
        .iter()
        .filter(|n| !name_or_id.is_empty() && n.id.starts_with(name_or_id))
        .collect();
    match by_prefix.as_slice() {
        [one] => Ok((*one).clone()),
        [] => Err(invalid(format!(
            "network {name_or_id} not found (hoist network ls lists the networks)"
        ))),
        _ => Err(invalid(format!(
            "network {name_or_id} is ambiguous ({} matches): give more of its id or its name",
            by_prefix.len()
        ))),
    }
}

/// `network create`: the record, then the bridge (so its subnet shows in the host's routes and
/// no other network takes it).
pub fn create(root: &Path, opts: &CreateOptions) -> Result<NetworkRecord> {
    let driver = opts.driver.clone().unwrap_or_else(|| "bridge".into());
    if driver != "bridge" {
        return Err(invalid(format!(
            "network create: driver {driver:?} is not supported (hoist has the bridge driver)"
        )));
    }
    if !super::container_create::valid_name(&opts.name) {
        return Err(invalid(format!(
            "invalid network name {:?}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed",
            opts.name
        )));
    }
    if PREDEFINED.iter().any(|(n, _)| *n == opts.name) {
        return Err(invalid(format!(
            "network create: {} is a pre-defined network and cannot be created",
            opts.name
        )));
    }
    let _names = FileLock::exclusive(&networks_dir(root).join(".lock"))?;
    let existing = list(root)?;
    if existing.iter().any(|n| n.name == opts.name) {
        return Err(invalid(format!(
            "network with name {} already exists",
            opts.name
        )));
    }
    let _host = ipam::host_lock()?;
    let subnet = match &opts.subnet {
        Some(s) => {
            let subnet: Subnet = s.parse()?;
            if let Some(taken) = ipam::overlapping(&subnet, &existing) {
                return Err(invalid(format!(
                    "network create --subnet {subnet}: Pool overlaps with other one on this address space ({taken})"
                )));
            }
            subnet
        }
        None => ipam::free_subnet(&existing)?,
    };
    let gateway = match &opts.gateway {
        Some(g) => {
            let ip: Ipv4Addr = g.parse().map_err(|_| {
                invalid(format!("network create --gateway {g}: not an IPv4 address"))
            })?;
            if !subnet.contains(ip) {
                return Err(invalid(format!(
                    "network create --gateway {ip}: not in the subnet {subnet}"
                )));
            }
            ip
        }
        None => subnet.first_host(),
    };
    let id = super::container_create::random_hex(32);
    let record = NetworkRecord {
        bridge: format!("hn-{}", &id[..12]),
        id,
        name: opts.name.clone(),
        driver,
        subnet,
        gateway,
        created: state::now_rfc3339(),
        labels: opts.labels.clone(),
        subnet_given: opts.subnet.is_some(),
        gateway_given: opts.gateway.is_some(),
    };
    let dir = record.dir(root);
    std::fs::create_dir_all(&dir).map_err(io_err("create", &dir))?;
    let bytes =
        serde_json::to_vec_pretty(&record).map_err(|e| invalid(format!("network record: {e}")))?;
    state::write_atomic(&dir.join(RECORD_FILE), &bytes)?;
    if let Err(e) = link::ensure_bridge(&record) {
        let _ = std::fs::remove_dir_all(&dir);
        return Err(e);
    }
    Ok(record)
}

/// `network rm`: refused while a running container is on it, as docker's.
pub fn remove(root: &Path, name_or_id: &str) -> Result<NetworkRecord> {
    if PREDEFINED.iter().any(|(n, _)| *n == name_or_id) {
        return Err(invalid(format!(
            "{name_or_id} is a pre-defined network and cannot be removed"
        )));
    }
    let _names = FileLock::exclusive(&networks_dir(root).join(".lock"))?;
    let record = find(root, name_or_id)?;
    let members = hosts::members(root, &record)?;
    if let Some(m) = members.first() {
        return Err(invalid(format!(
            "error while removing network: network {} has active endpoints (name:{:?} id:{:?}); stop the containers or disconnect them first",
            record.name,
            m.name,
            &m.id[..12]
        )));
    }
    link::remove_bridge(&record);
    let dir = record.dir(root);
    std::fs::remove_dir_all(&dir).map_err(io_err("remove", &dir))?;
    Ok(record)
}

/// `network prune`: every user-defined network without running containers; their names.
pub fn prune(root: &Path) -> Result<Vec<String>> {
    let mut removed = Vec::new();
    for n in list(root)? {
        if hosts::members(root, &n)?.is_empty() && remove(root, &n.id).is_ok() {
            removed.push(n.name);
        }
    }
    Ok(removed)
}
