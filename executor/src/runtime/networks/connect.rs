//! `network connect` / `disconnect`: for a running container another veth (`eth1`, `eth2` …, no
//! default route) and a section in the hosts files; for one that is not running, a network its monitor
//! joins at each start. What `connect` adds lives as long as the
//! container's init: its lease and member file are stale once that pid is gone, and the other
//! members' hosts files lose its entry at the network's next change.

use std::net::Ipv4Addr;
use std::path::Path;

use super::hosts::{self, Member};
use super::join::MoreNetwork;
use super::{find, ipam, link, FileLock, NetworkRecord};
use crate::runtime::state::{self, ContainerRecord, Status};
use crate::runtime::{Result, RuntimeError};

fn invalid(msg: String) -> RuntimeError {
    RuntimeError::Invalid(msg)
}

/// The interfaces named `eth*` in the network namespace of `pid`.
fn eth_count(pid: i32) -> usize {
    std::fs::read_to_string(format!("/proc/{pid}/net/dev"))
        .unwrap_or_default()
        .lines()
        .filter(|l| l.trim_start().starts_with("eth"))
        .count()
}

/// Put container `container` on network `network`: at once when it runs; else (created or exited)
/// recorded in its options, and joined at each start after its first network, as docker does.
pub fn connect(
    root: &Path,
    network: &str,
    container: &str,
    ip: Option<&str>,
    aliases: &[String],
) -> Result<()> {
    let net = find(root, network)?;
    let (dir, mut record) = state::find(root, container)?;
    if record.network == crate::runtime::config::NetworkMode::Host {
        return Err(invalid(format!(
            "container {container} uses the host network: it cannot be connected to {network}"
        )));
    }
    let wanted: Option<Ipv4Addr> = match ip {
        Some(ip) => Some(
            ip.parse()
                .map_err(|_| invalid(format!("invalid --ip {ip:?}: not an IPv4 address")))?,
        ),
        None => None,
    };
    let st = dir.current_state()?;
    if let (Status::Running, Some(pid)) = (st.status, st.pid) {
        let bundle = dir.runc_root().join(format!(
            "{}.bundle",
            crate::runtime::monitor::libcontainer_id_of(&record.id)
        ));
        return attach_member(
            root,
            &net,
            &record,
            pid,
            wanted,
            aliases,
            &bundle.join("hosts"),
        );
    }
    if st.status == Status::Created && state::monitor_alive(&st) {
        return Err(invalid(format!(
            "container {container} is being started: connect it once it runs"
        )));
    }
    let opts = &mut record.options.net;
    let already = opts.network.as_deref() == Some(net.name.as_str())
        || opts.more.iter().any(|m| m.network == net.name);
    if already {
        return Err(invalid(format!(
            "endpoint with name {} already exists in network {}",
            record.name, net.name
        )));
    }
    if let Some(ip) = wanted {
        if !net.subnet.is_host_address(ip) {
            return Err(invalid(format!(
                "invalid --ip {ip}: not an address of network {}'s subnet {}",
                net.name, net.subnet
            )));
        }
    }
    opts.more.push(MoreNetwork {
        network: net.name.clone(),
        ip: wanted.map(|ip| ip.to_string()),
        aliases: aliases.to_vec(),
    });
    dir.write_record(&record)
}

/// The networks a container was connected to while it was not running, joined by its monitor once
/// its init is `pid` (after its first network: `eth1`, `eth2` …).
pub(crate) fn join_more(
    root: &Path,
    record: &ContainerRecord,
    pid: i32,
    hosts_file: &Path,
) -> Result<()> {
    for more in &record.options.net.more {
        let net = find(root, &more.network)?;
        let wanted = more.ip.as_deref().and_then(|ip| ip.parse().ok());
        attach_member(root, &net, record, pid, wanted, &more.aliases, hosts_file)?;
    }
    Ok(())
}

/// Another veth for init `pid` on `net`, its address leased and its names in the members' hosts files.
fn attach_member(
    root: &Path,
    net: &NetworkRecord,
    record: &ContainerRecord,
    pid: i32,
    wanted: Option<Ipv4Addr>,
    aliases: &[String],
    hosts_file: &Path,
) -> Result<()> {
    let lock = FileLock::exclusive(&net.dir(root).join(".lock"))?;
    if hosts::members(root, net)?.iter().any(|m| m.id == record.id) {
        return Err(invalid(format!(
            "endpoint with name {} already exists in network {}",
            record.name, net.name
        )));
    }
    let lease = ipam::lease(net, &net.dir(root), &record.id, pid, wanted)?;
    let host_end = format!("v{}{}", &record.id[..8], &net.id[..6]);
    let ifname = format!("eth{}", eth_count(pid));
    link::attach(net, pid, &host_end, &ifname, lease.ip, false)?;
    hosts::add(
        root,
        net,
        &Member {
            id: record.id.clone(),
            name: record.name.clone(),
            ip: lease.ip,
            aliases: aliases.to_vec(),
            pid,
            hosts_file: hosts_file.to_path_buf(),
            host_end,
        },
    )?;
    // The lease stays (its file names the init pid): it is given back by `disconnect`, or taken
    // back as stale once the container is gone.
    std::mem::forget(lease);
    hosts::rewrite_all(root, net)?;
    drop(lock);
    Ok(())
}

/// Take container `container` off network `network`.
pub fn disconnect(root: &Path, network: &str, container: &str) -> Result<()> {
    let net = find(root, network)?;
    let (dir, mut record) = state::find(root, container)?;
    if dir.current_state()?.status != Status::Running {
        let more = &mut record.options.net.more;
        if let Some(at) = more.iter().position(|m| m.network == net.name) {
            more.remove(at);
            return dir.write_record(&record);
        }
    }
    let lock = FileLock::exclusive(&net.dir(root).join(".lock"))?;
    let Some(member) = hosts::members(root, &net)?
        .into_iter()
        .find(|m| m.id == record.id)
    else {
        return Err(invalid(format!(
            "container {container} is not connected to network {}",
            net.name
        )));
    };
    link::detach(&member.host_end);
    let _ = std::fs::remove_file(net.dir(root).join("leases").join(member.ip.to_string()));
    hosts::remove(root, &net, &record.id);
    hosts::rewrite_all(root, &net)?;
    // Its own hosts file loses the network's section too.
    if let Ok(old) = std::fs::read_to_string(&member.hosts_file) {
        let header = format!("# hoist network {}\n", net.name);
        let text = hosts::replace_section(&old, &header, "");
        hosts::write_in_place(&member.hosts_file, &text)?;
    }
    drop(lock);
    Ok(())
}
