//! `network connect` / `disconnect` for a running container: another veth (`eth1`, `eth2` …, no
//! default route) and a section in the hosts files. What `connect` adds lives as long as the
//! container's init: its lease and member file are stale once that pid is gone, and the other
//! members' hosts files lose its entry at the network's next change.

use std::path::Path;

use super::hosts::{self, Member};
use super::{find, ipam, link, FileLock};
use crate::runtime::state::{self, Status};
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

/// Put running container `container` on network `network`.
pub fn connect(
    root: &Path,
    network: &str,
    container: &str,
    ip: Option<&str>,
    aliases: &[String],
) -> Result<()> {
    let net = find(root, network)?;
    let (dir, record) = state::find(root, container)?;
    let st = dir.current_state()?;
    let (Status::Running, Some(pid)) = (st.status, st.pid) else {
        return Err(invalid(format!(
            "container {container} is not running: hoist connects running containers only (start it with --network {network})"
        )));
    };
    if record.network == crate::runtime::config::NetworkMode::Host {
        return Err(invalid(format!(
            "container {container} uses the host network: it cannot be connected to {network}"
        )));
    }
    let lock = FileLock::exclusive(&net.dir(root).join(".lock"))?;
    if hosts::members(root, &net)?
        .iter()
        .any(|m| m.id == record.id)
    {
        return Err(invalid(format!(
            "endpoint with name {} already exists in network {}",
            record.name, net.name
        )));
    }
    let wanted = match ip {
        Some(ip) => Some(
            ip.parse()
                .map_err(|_| invalid(format!("invalid --ip {ip:?}: not an IPv4 address")))?,
        ),
        None => None,
    };
    let lease = ipam::lease(&net, &net.dir(root), &record.id, pid, wanted)?;
    let host_end = format!("v{}{}", &record.id[..8], &net.id[..6]);
    let ifname = format!("eth{}", eth_count(pid));
    link::attach(&net, pid, &host_end, &ifname, lease.ip, false)?;
    let bundle = dir.runc_root().join(format!(
        "{}.bundle",
        crate::runtime::monitor::libcontainer_id_of(&record.id)
    ));
    hosts::add(
        root,
        &net,
        &Member {
            id: record.id.clone(),
            name: record.name.clone(),
            ip: lease.ip,
            aliases: aliases.to_vec(),
            pid,
            hosts_file: bundle.join("hosts"),
            host_end,
        },
    )?;
    // The lease stays (its file names the init pid): it is given back by `disconnect`, or taken
    // back as stale once the container is gone.
    std::mem::forget(lease);
    hosts::rewrite_all(root, &net)?;
    drop(lock);
    Ok(())
}

/// Take running container `container` off network `network`.
pub fn disconnect(root: &Path, network: &str, container: &str) -> Result<()> {
    let net = find(root, network)?;
    let (_, record) = state::find(root, container)?;
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
