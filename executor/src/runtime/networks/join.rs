//! A container's side of networking set up by its monitor once its init exists: joining a
//! user-defined network (`--network NAME`, `--ip`, `--network-alias`), and the files `--dns`,
//! `--dns-search`, `--dns-option` and `--add-host` decide (its bundle's `resolv.conf` and `hosts`,
//! bind-mounted read-only into it).

use std::net::Ipv4Addr;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::hosts::{self, Member};
use super::ipam::{self, Lease};
use super::{find, link, FileLock, NetworkRecord};
use crate::runtime::state::ContainerRecord;
use crate::runtime::{Result, RuntimeError};

/// `hoist run`'s network settings beyond `--network host|none|bridge` (one field of `RunOptions`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetOptions {
    /// A user-defined network (`--network NAME`).
    #[serde(default)]
    pub network: Option<String>,
    /// `--ip`: a fixed address on that network.
    #[serde(default)]
    pub ip: Option<String>,
    /// `--network-alias`: more names the other members reach it by.
    #[serde(default)]
    pub aliases: Vec<String>,
    #[serde(default)]
    pub dns: Vec<String>,
    #[serde(default)]
    pub dns_search: Vec<String>,
    #[serde(default)]
    pub dns_options: Vec<String>,
    /// `--add-host NAME:IP` (IP may be `host-gateway`).
    #[serde(default)]
    pub add_hosts: Vec<String>,
    /// `-P`: every EXPOSEd port of the image to a free host port.
    #[serde(default)]
    pub publish_all: bool,
    /// `--expose PORT[/PROTO]` (or a range): exposed besides the image's EXPOSE, so `-P` publishes them too.
    #[serde(default)]
    pub expose: Vec<String>,
    /// Networks besides `network`, joined at each start (`eth1`, `eth2` …): `network connect` of a
    /// container that is not running (as docker's, and how compose puts a service on several networks).
    #[serde(default)]
    pub more: Vec<MoreNetwork>,
}

/// One of [`NetOptions::more`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MoreNetwork {
    pub network: String,
    #[serde(default)]
    pub ip: Option<String>,
    #[serde(default)]
    pub aliases: Vec<String>,
}

fn invalid(msg: String) -> RuntimeError {
    RuntimeError::Invalid(msg)
}

/// `NAME:IP` or `NAME=IP` (docker takes both); the address may be `host-gateway`.
fn parse_add_host(spec: &str) -> Result<(String, String)> {
    let (name, ip) = spec
        .split_once('=')
        .or_else(|| spec.split_once(':'))
        .ok_or_else(|| invalid(format!("invalid --add-host {spec:?}: expected NAME:IP")))?;
    if name.is_empty() || (ip != "host-gateway" && ip.parse::<std::net::IpAddr>().is_err()) {
        return Err(invalid(format!(
            "invalid --add-host {spec:?}: expected NAME:IP (IP an address or host-gateway)"
        )));
    }
    Ok((name.to_string(), ip.to_string()))
}

/// Checks done when the container is created, so a bad flag fails `run` with 125 before it starts.
pub fn validate(root: &Path, opts: &NetOptions) -> Result<()> {
    for spec in &opts.add_hosts {
        parse_add_host(spec)?;
    }
    for dns in &opts.dns {
        dns.parse::<std::net::IpAddr>()
            .map_err(|_| invalid(format!("invalid --dns {dns:?}: not an IP address")))?;
    }
    match &opts.network {
        Some(name) => {
            let net = find(root, name)?;
            if let Some(ip) = &opts.ip {
                let ip: Ipv4Addr = ip
                    .parse()
                    .map_err(|_| invalid(format!("invalid --ip {ip:?}: not an IPv4 address")))?;
                if !net.subnet.is_host_address(ip) || ip == net.gateway {
                    return Err(invalid(format!(
                        "--ip {ip}: not a usable address of network {} ({})",
                        net.name, net.subnet
                    )));
                }
            }
        }
        None if opts.ip.is_some() || !opts.aliases.is_empty() => {
            return Err(invalid(
                "--ip and --network-alias need a user-defined network (hoist network create NAME; --network NAME)"
                    .into(),
            ))
        }
        None => {}
    }
    Ok(())
}

/// A container on a user-defined network; leaving it (drop) removes it from the other members'
/// hosts files and gives its address back.
pub struct Attachment {
    root: std::path::PathBuf,
    net: NetworkRecord,
    id: String,
    host_end: String,
    lease: Option<Lease>,
}

impl Attachment {
    pub fn ip(&self) -> Option<Ipv4Addr> {
        self.lease.as_ref().map(|l| l.ip)
    }
    pub fn network(&self) -> &NetworkRecord {
        &self.net
    }
}

impl Drop for Attachment {
    fn drop(&mut self) {
        let lock = FileLock::exclusive(&self.net.dir(&self.root).join(".lock"));
        hosts::remove(&self.root, &self.net, &self.id);
        let _ = hosts::rewrite_all(&self.root, &self.net);
        drop(self.lease.take());
        drop(lock);
        link::detach(&self.host_end);
    }
}

/// Join `record`'s user-defined network, if it has one, with init `pid`; `hosts_file` is the
/// container's (its bundle's `hosts`).
pub fn join(
    root: &Path,
    record: &ContainerRecord,
    hosts_file: &Path,
    pid: i32,
) -> Result<Option<Attachment>> {
    let opts = &record.options.net;
    let Some(name) = &opts.network else {
        return Ok(None);
    };
    let net = find(root, name)?;
    let wanted = opts.ip.as_deref().and_then(|ip| ip.parse().ok());
    let host_end = format!("v{}{}", &record.id[..8], &net.id[..6]);
    let lock = FileLock::exclusive(&net.dir(root).join(".lock"))?;
    let lease = ipam::lease(&net, &net.dir(root), &record.id, pid, wanted)?;
    let ip = lease.ip;
    let attachment = Attachment {
        root: root.to_path_buf(),
        net: net.clone(),
        id: record.id.clone(),
        host_end: host_end.clone(),
        lease: Some(lease),
    };
    link::attach(&net, pid, &host_end, "eth0", ip, true)?;
    let mut aliases = opts.aliases.clone();
    if record.hostname != record.id[..12] && !aliases.contains(&record.hostname) {
        aliases.push(record.hostname.clone());
    }
    hosts::add(
        root,
        &net,
        &Member {
            id: record.id.clone(),
            name: record.name.clone(),
            ip,
            aliases,
            pid,
            hosts_file: hosts_file.to_path_buf(),
            host_end,
        },
    )?;
    hosts::rewrite_all(root, &net)?;
    drop(lock);
    Ok(Some(attachment))
}

/// `--dns*` into `resolv.conf` and `--add-host` into `hosts` of the bundle, before the command
/// starts; `gateway` is what `host-gateway` stands for.
pub fn write_files(bundle: &Path, opts: &NetOptions, gateway: Ipv4Addr) -> Result<()> {
    if !opts.dns.is_empty() || !opts.dns_search.is_empty() || !opts.dns_options.is_empty() {
        let path = bundle.join("resolv.conf");
        let old = std::fs::read_to_string(&path).unwrap_or_default();
        let text = resolv_conf(&old, opts);
        hosts::write_in_place(&path, &text)?;
    }
    if !opts.add_hosts.is_empty() {
        let path = bundle.join("hosts");
        let mut text = std::fs::read_to_string(&path).unwrap_or_default();
        for spec in &opts.add_hosts {
            let (name, ip) = parse_add_host(spec)?;
            let ip = if ip == "host-gateway" {
                gateway.to_string()
            } else {
                ip
            };
            text.push_str(&format!("{ip}\t{name}\n"));
        }
        hosts::write_in_place(&path, &text)?;
    }
    Ok(())
}

/// Docker's rule: each of `--dns`, `--dns-search`, `--dns-option` replaces its kind of line of the
/// host's file; what is not given is kept.
fn resolv_conf(old: &str, opts: &NetOptions) -> String {
    let keep = |line: &&str| {
        let t = line.trim_start();
        !((!opts.dns.is_empty() && t.starts_with("nameserver"))
            || (!opts.dns_search.is_empty()
                && (t.starts_with("search") || t.starts_with("domain")))
            || (!opts.dns_options.is_empty() && t.starts_with("options")))
    };
    let mut text: String = old.lines().filter(keep).map(|l| format!("{l}\n")).collect();
    for ns in &opts.dns {
        text.push_str(&format!("nameserver {ns}\n"));
    }
    if !opts.dns_search.is_empty() {
        text.push_str(&format!("search {}\n", opts.dns_search.join(" ")));
    }
    if !opts.dns_options.is_empty() {
        text.push_str(&format!("options {}\n", opts.dns_options.join(" ")));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolv_conf_replaces_what_is_given() {
        let host = "nameserver 1.1.1.1\nsearch example.com\noptions ndots:2\n";
        let opts = NetOptions {
            dns: vec!["8.8.8.8".into(), "9.9.9.9".into()],
            ..Default::default()
        };
        assert_eq!(
            resolv_conf(host, &opts),
            "search example.com\noptions ndots:2\nnameserver 8.8.8.8\nnameserver 9.9.9.9\n"
        );
        let opts = NetOptions {
            dns_search: vec!["a.test".into()],
            dns_options: vec!["ndots:5".into()],
            ..Default::default()
        };
        assert_eq!(
            resolv_conf(host, &opts),
            "nameserver 1.1.1.1\nsearch a.test\noptions ndots:5\n"
        );
    }

    #[test]
    fn add_host_specs() {
        assert_eq!(
            parse_add_host("db:10.0.0.5").unwrap(),
            ("db".into(), "10.0.0.5".into())
        );
        assert_eq!(parse_add_host("gw:host-gateway").unwrap().1, "host-gateway");
        assert!(parse_add_host("db:notanip").is_err());
        assert!(parse_add_host("noip").is_err());
    }
}
