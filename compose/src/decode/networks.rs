//! Top-level `networks:` and `volumes:` entries.
use crate::error::{Error, Result};
use crate::model::{Ipam, IpamPool, Network, Volume};
use crate::yaml::{Node, Value};

use super::*;

impl Decoder<'_> {
    pub fn network(&mut self, node: &Node, path: &str) -> Result<Network> {
        let mut n = Network::default();
        for (key, value) in entries(node, path)? {
            let name = key.as_str().unwrap_or_default();
            let p = join(path, name);
            match name {
                "name" => n.name = opt_string(value, &p)?,
                "driver" => n.driver = opt_string(value, &p)?,
                "driver_opts" => n.driver_opts = string_map(value, &p)?,
                "external" => n.external = Some(self.external(value, &p, &mut n.name)?),
                "internal" => n.internal = Some(boolean(value, &p)?),
                "labels" => n.labels = string_map_or_list(value, &p)?,
                "ipam" => n.ipam = Some(self.ipam(value, &p)?),
                "attachable" | "enable_ipv4" | "enable_ipv6" => self.unsupported(path, key),
                _ => self.unknown(path, key),
            }
        }
        Ok(n)
    }

    fn ipam(&mut self, node: &Node, path: &str) -> Result<Ipam> {
        let mut ipam = Ipam::default();
        for (key, value) in entries(node, path)? {
            let name = key.as_str().unwrap_or_default();
            let p = join(path, name);
            match name {
                "driver" => ipam.driver = opt_string(value, &p)?,
                "config" => {
                    let Value::Seq(items) = &value.value else {
                        return Err(wrong(value, &p, "a list"));
                    };
                    for item in items {
                        let mut pool = IpamPool::default();
                        for (k, v) in entries(item, &p)? {
                            let field = k.as_str().unwrap_or_default();
                            let fp = join(&p, field);
                            match field {
                                "subnet" => pool.subnet = Some(subnet(v, &fp)?),
                                "gateway" => pool.gateway = opt_string(v, &fp)?,
                                "ip_range" => pool.ip_range = opt_string(v, &fp)?,
                                "aux_addresses" => self.unsupported(&p, k),
                                _ => self.unknown(&p, k),
                            }
                        }
                        ipam.config.push(pool);
                    }
                }
                "options" => self.unsupported(path, key),
                _ => self.unknown(path, key),
            }
        }
        Ok(ipam)
    }

    /// `external: true`, or the legacy `external: {name: x}` (which sets the name).
    fn external(&mut self, node: &Node, path: &str, name: &mut Option<String>) -> Result<bool> {
        if let Value::Map(_) = node.value {
            for (k, v) in entries(node, path)? {
                match k.as_str().unwrap_or_default() {
                    "name" => *name = opt_string(v, &join(path, "name"))?,
                    _ => self.unknown(path, k),
                }
            }
            return Ok(true);
        }
        boolean(node, path)
    }

    pub fn volume(&mut self, node: &Node, path: &str) -> Result<Volume> {
        let mut v = Volume::default();
        for (key, value) in entries(node, path)? {
            let name = key.as_str().unwrap_or_default();
            let p = join(path, name);
            match name {
                "name" => v.name = opt_string(value, &p)?,
                "driver" => v.driver = opt_string(value, &p)?,
                "driver_opts" => v.driver_opts = string_map(value, &p)?,
                "external" => v.external = Some(self.external(value, &p, &mut v.name)?),
                "labels" => v.labels = string_map_or_list(value, &p)?,
                _ => self.unknown(path, key),
            }
        }
        Ok(v)
    }
}

/// An IPv4 or IPv6 CIDR (`10.10.10.0/16`).
fn subnet(node: &Node, path: &str) -> Result<String> {
    let text = string(node, path)?;
    let valid = text.split_once('/').is_some_and(|(addr, bits)| {
        let bits: Option<u8> = bits.parse().ok();
        match addr.parse::<std::net::IpAddr>() {
            Ok(std::net::IpAddr::V4(_)) => bits.is_some_and(|b| b <= 32),
            Ok(std::net::IpAddr::V6(_)) => bits.is_some_and(|b| b <= 128),
            Err(_) => false,
        }
    });
    if !valid {
        return Err(Error::invalid(
            &node.pos,
            path,
            format!("{text:?} is not a subnet in CIDR form (like 10.10.0.0/16)"),
        ));
    }
    Ok(text)
}

fn string_map(node: &Node, path: &str) -> Result<std::collections::BTreeMap<String, String>> {
    let mut out = std::collections::BTreeMap::new();
    for (k, v) in entries(node, path)? {
        let key = k.as_str().unwrap_or_default().to_string();
        let value = string(v, &join(path, &key))?;
        out.insert(key, value);
    }
    Ok(out)
}

fn string_map_or_list(
    node: &Node,
    path: &str,
) -> Result<std::collections::BTreeMap<String, String>> {
    Ok(list_or_map(node, path, &['='])?
        .into_iter()
        .map(|(k, v)| (k, v.unwrap_or_default()))
        .collect())
}
