//! The Linux side of a user-defined network: its bridge with the gateway address, NAT out as
//! `hoist0` has it, and a container's veth pair on it.

use std::net::Ipv4Addr;
use std::path::Path;

use super::NetworkRecord;
use crate::bridge::{ensure_rule, run, run_batch, succeeds};
use crate::runtime::{Result, RuntimeError};

fn failed(e: impl std::fmt::Display) -> RuntimeError {
    RuntimeError::Invalid(e.to_string())
}

/// The iptables rules of a network: (table args, chain, rule, insert first).
fn rules(net: &NetworkRecord) -> Vec<(Vec<String>, &'static str, Vec<String>, bool)> {
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let subnet = net.subnet.to_string();
    vec![
        (
            s(&["-t", "nat"]),
            "POSTROUTING",
            s(&["-s", &subnet, "!", "-o", &net.bridge, "-j", "MASQUERADE"]),
            false,
        ),
        (
            vec![],
            "FORWARD",
            s(&["-i", &net.bridge, "-j", "ACCEPT"]),
            true,
        ),
        (
            vec![],
            "FORWARD",
            s(&[
                "-o",
                &net.bridge,
                "-m",
                "conntrack",
                "--ctstate",
                "RELATED,ESTABLISHED",
                "-j",
                "ACCEPT",
            ]),
            true,
        ),
    ]
}

/// The bridge, its gateway address, forwarding and NAT; idempotent (after a reboot the bridge is
/// made again by the first container that joins).
pub(super) fn ensure_bridge(net: &NetworkRecord) -> Result<()> {
    if !crate::bridge::tools_available() {
        return Err(RuntimeError::Invalid(
            "networks need iproute2 (ip) and iptables on PATH".into(),
        ));
    }
    let br = &net.bridge;
    if !Path::new(&format!("/sys/class/net/{br}")).exists() {
        // A concurrent hoist may make it first: "exists" is fine, a missing bridge after is not.
        let _ = run_batch(
            "ip",
            &["-batch", "-"],
            &format!(
                "link add {br} type bridge\naddr add {}/{} dev {br}\nlink set {br} up\n",
                net.gateway, net.subnet.prefix
            ),
        );
        if !Path::new(&format!("/sys/class/net/{br}")).exists() {
            return Err(RuntimeError::Invalid(format!(
                "network {}: could not create the bridge {br} (see `ip link`)",
                net.name
            )));
        }
        let _ = std::fs::write("/proc/sys/net/ipv4/ip_forward", "1");
        for (table, chain, rule, insert) in rules(net) {
            let table: Vec<&str> = table.iter().map(String::as_str).collect();
            let rule: Vec<&str> = rule.iter().map(String::as_str).collect();
            ensure_rule(&table, chain, &rule, insert).map_err(failed)?;
        }
    }
    Ok(())
}

/// Delete the bridge and its rules (what is already gone is fine).
pub(super) fn remove_bridge(net: &NetworkRecord) {
    let _ = run("ip", &["link", "del", &net.bridge]);
    for (table, chain, rule, _) in rules(net) {
        let args: Vec<&str> = table
            .iter()
            .map(String::as_str)
            .chain(["-D", chain])
            .chain(rule.iter().map(String::as_str))
            .collect();
        while succeeds("iptables", &args) {}
    }
}

/// Put the process `pid` (a container's init) on the network with address `ip`: a veth pair whose
/// host end is `host_end`, the container's end `ifname`; `default_route` through the gateway.
pub(super) fn attach(
    net: &NetworkRecord,
    pid: i32,
    host_end: &str,
    ifname: &str,
    ip: Ipv4Addr,
    default_route: bool,
) -> Result<()> {
    ensure_bridge(net)?;
    let br = &net.bridge;
    run_batch(
        "ip",
        &["-batch", "-"],
        &format!(
            "link add {host_end} type veth peer name {ifname} address {} netns {pid}\n\
             link set {host_end} master {br} up\n",
            crate::bridge::mac_of(ip)
        ),
    )
    .map_err(failed)?;
    crate::bridge::configure_container_end(
        &format!("/proc/{pid}/ns/net"),
        ifname,
        ip,
        net.subnet.prefix,
        default_route.then_some(net.gateway),
    )
    .map_err(|e| {
        RuntimeError::Invalid(format!(
            "network {}: configuring {ifname} of pid {pid}: {e}",
            net.name
        ))
    })
}

/// Remove a container's veth pair from the host's side (the other end goes with it).
pub(super) fn detach(host_end: &str) {
    let _ = run("ip", &["link", "del", host_end]);
}
