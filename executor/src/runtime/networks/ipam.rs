//! Addresses: subnets for new networks (free on the host, checked against its routes under a
//! host-wide lock) and leases of container addresses inside a network (files made with
//! `O_EXCL`, under the network's lock, so two hoist processes never hand out one address twice).

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{FileLock, NetworkRecord};
use crate::runtime::{io_err, Result, RuntimeError};

/// An IPv4 network, `a.b.c.d/len` (the address masked to the network's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Subnet {
    pub network: Ipv4Addr,
    pub prefix: u8,
}

impl Subnet {
    fn mask(&self) -> u32 {
        u32::MAX
            .checked_shl(32 - u32::from(self.prefix))
            .unwrap_or(0)
    }
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & self.mask() == u32::from(self.network)
    }
    pub fn overlaps(&self, other: &Subnet) -> bool {
        let mask = self.mask() & other.mask();
        u32::from(self.network) & mask == u32::from(other.network) & mask
    }
    pub fn first_host(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.network) + 1)
    }
    fn broadcast(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.network) | !self.mask())
    }
    /// Whether a container may have `ip` (inside, neither the network nor the broadcast address).
    pub fn is_host_address(&self, ip: Ipv4Addr) -> bool {
        self.contains(ip) && ip != self.network && ip != self.broadcast()
    }
}

impl std::fmt::Display for Subnet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

impl std::str::FromStr for Subnet {
    type Err = RuntimeError;
    fn from_str(s: &str) -> Result<Subnet> {
        let bad = || {
            RuntimeError::Invalid(format!(
                "invalid subnet {s:?}: expected an IPv4 CIDR such as 10.10.0.0/16"
            ))
        };
        let (ip, prefix) = s.split_once('/').ok_or_else(bad)?;
        let ip: Ipv4Addr = ip.parse().map_err(|_| bad())?;
        let prefix: u8 = prefix.parse().map_err(|_| bad())?;
        if !(8..=30).contains(&prefix) {
            return Err(RuntimeError::Invalid(format!(
                "invalid subnet {s:?}: the prefix length must be between 8 and 30"
            )));
        }
        let mut subnet = Subnet {
            network: ip,
            prefix,
        };
        subnet.network = Ipv4Addr::from(u32::from(ip) & subnet.mask());
        Ok(subnet)
    }
}

impl TryFrom<String> for Subnet {
    type Error = RuntimeError;
    fn try_from(s: String) -> Result<Subnet> {
        s.parse()
    }
}

impl From<Subnet> for String {
    fn from(s: Subnet) -> String {
        s.to_string()
    }
}

/// Held while a subnet is chosen and its bridge made: bridges and routes are the host's.
pub(crate) fn host_lock() -> Result<FileLock> {
    FileLock::exclusive(Path::new("/run/hoist/network/subnets.lock"))
}

/// The IPv4 routes of the host (`/proc/net/route`), as subnets: what is taken already.
fn host_routes() -> Vec<Subnet> {
    let text = std::fs::read_to_string("/proc/net/route").unwrap_or_default();
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let dest = u32::from_str_radix(f.get(1)?, 16).ok()?;
            let mask = u32::from_str_radix(f.get(7)?, 16).ok()?;
            // Little-endian hex in the file.
            let (dest, mask) = (u32::from_be(dest.to_le()), u32::from_be(mask.to_le()));
            let prefix = mask.count_ones() as u8;
            (prefix > 0).then_some(Subnet {
                network: Ipv4Addr::from(dest),
                prefix,
            })
        })
        .collect()
}

/// What `subnet` overlaps among the host's routes and this root's networks.
pub fn overlapping(subnet: &Subnet, networks: &[NetworkRecord]) -> Option<String> {
    if let Some(n) = networks.iter().find(|n| n.subnet.overlaps(subnet)) {
        return Some(format!("network {}", n.name));
    }
    host_routes()
        .into_iter()
        .find(|r| r.overlaps(subnet))
        .map(|r| format!("a route of the host to {r}"))
}

/// The first free subnet of docker's pools: 172.18–31.0.0/16, then 10.90–255.0.0/16 (10.89 is
/// `hoist0`'s), then 192.168.N.0/24.
pub fn free_subnet(networks: &[NetworkRecord]) -> Result<Subnet> {
    let candidates = (18..=31)
        .map(|b| Subnet {
            network: Ipv4Addr::new(172, b, 0, 0),
            prefix: 16,
        })
        .chain((90..=255).map(|b| Subnet {
            network: Ipv4Addr::new(10, b, 0, 0),
            prefix: 16,
        }))
        .chain((0..=255).map(|c| Subnet {
            network: Ipv4Addr::new(192, 168, c, 0),
            prefix: 24,
        }));
    let routes = host_routes();
    candidates
        .into_iter()
        .find(|c| {
            !networks.iter().any(|n| n.subnet.overlaps(c)) && !routes.iter().any(|r| r.overlaps(c))
        })
        .ok_or_else(|| {
            RuntimeError::Invalid(
                "network create: all predefined address pools have been fully subnetted; give --subnet".into(),
            )
        })
}

/// An address of a network taken by a container; given back on drop.
#[derive(Debug)]
pub struct Lease {
    pub ip: Ipv4Addr,
    file: PathBuf,
}

impl Drop for Lease {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.file);
    }
}

fn pid_alive(pid: i32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// Whether the lease file at `path` belongs to a container whose init is gone.
fn stale(path: &Path) -> bool {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    match text.split_whitespace().nth(1).and_then(|p| p.parse().ok()) {
        Some(pid) => !pid_alive(pid),
        // Being written: not stale.
        None => false,
    }
}

/// Take `wanted` (`--ip`), else the first free address after the gateway, for container `id`
/// whose init is `pid`. The network's lock must be held.
pub fn lease(
    net: &NetworkRecord,
    net_dir: &Path,
    id: &str,
    pid: i32,
    wanted: Option<Ipv4Addr>,
) -> Result<Lease> {
    let dir = net_dir.join("leases");
    std::fs::create_dir_all(&dir).map_err(io_err("create", &dir))?;
    let take = |ip: Ipv4Addr| -> Result<Option<Lease>> {
        let file = dir.join(ip.to_string());
        if file.exists() && stale(&file) {
            let _ = std::fs::remove_file(&file);
        }
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&file)
        {
            Ok(mut f) => {
                std::io::Write::write_all(&mut f, format!("{id} {pid}\n").as_bytes())
                    .map_err(io_err("write", &file))?;
                Ok(Some(Lease { ip, file }))
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(None),
            Err(e) => Err(io_err("create", &file)(e)),
        }
    };
    if let Some(ip) = wanted {
        if !net.subnet.is_host_address(ip) || ip == net.gateway {
            return Err(RuntimeError::Invalid(format!(
                "--ip {ip}: not a free host address of network {} ({})",
                net.name, net.subnet
            )));
        }
        return take(ip)?.ok_or_else(|| {
            RuntimeError::Invalid(format!(
                "--ip {ip}: Address already in use on network {}",
                net.name
            ))
        });
    }
    let first = u32::from(net.subnet.network) + 1;
    let last = u32::from(net.subnet.broadcast());
    for n in first..last {
        let ip = Ipv4Addr::from(n);
        if ip == net.gateway {
            continue;
        }
        if let Some(lease) = take(ip)? {
            return Ok(lease);
        }
    }
    Err(RuntimeError::Invalid(format!(
        "no free address left on network {} ({})",
        net.name, net.subnet
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subnets() {
        let s: Subnet = "10.10.10.0/16".parse().unwrap();
        assert_eq!(s.to_string(), "10.10.0.0/16");
        assert!(s.contains("10.10.10.2".parse().unwrap()));
        assert!(!s.contains("10.11.0.1".parse().unwrap()));
        assert_eq!(s.first_host().to_string(), "10.10.0.1");
        assert!(!s.is_host_address("10.10.255.255".parse().unwrap()));
        let t: Subnet = "10.10.5.0/24".parse().unwrap();
        assert!(s.overlaps(&t) && t.overlaps(&s));
        assert!(!t.overlaps(&"10.10.6.0/24".parse().unwrap()));
        assert!("10.0.0.0".parse::<Subnet>().is_err());
        assert!("10.0.0.0/33".parse::<Subnet>().is_err());
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(json, "\"10.10.0.0/16\"");
    }
}
