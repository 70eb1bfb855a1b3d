//! A file's node tree → the typed [`ComposeFile`]: every key checked, short forms turned into long ones.
//!
//! Written by hand rather than with serde so that each wrong type names its file, line and key path, and each
//! unknown key becomes a warning with its line (serde can only fail on one, or ignore it silently).
mod networks;
mod ports;
mod service;
mod values;
mod volumes;

use std::collections::BTreeMap;

use crate::error::{Error, Result, Warning};
use crate::model::ComposeFile;
use crate::yaml::{Node, Value};

pub(crate) use values::*;

/// Collects warnings while decoding one file.
pub struct Decoder<'w> {
    pub warnings: &'w mut Vec<Warning>,
}

/// Keys of the Compose Specification that hoist reads but does not act on: a warning says so.
const UNSUPPORTED_TOP: &[&str] = &["secrets", "configs", "include"];

impl Decoder<'_> {
    /// A key the specification does not have (or this level does not take): never silently ignored.
    pub fn unknown(&mut self, path: &str, key: &Node) {
        let name = key.as_str().unwrap_or("?");
        if name.starts_with("x-") {
            return;
        }
        self.warnings.push(Warning {
            message: format!("{}: unknown key (line {})", join(path, name), key.pos.line),
            pos: Some(key.pos.clone()),
        });
    }

    /// A key of the specification that hoist does not implement.
    pub fn unsupported(&mut self, path: &str, key: &Node) {
        let name = key.as_str().unwrap_or("?");
        self.warnings.push(Warning {
            message: format!(
                "{}: not supported by hoist, ignored (line {})",
                join(path, name),
                key.pos.line
            ),
            pos: Some(key.pos.clone()),
        });
    }

    /// The whole file.
    pub fn file(&mut self, root: &Node) -> Result<ComposeFile> {
        let mut out = ComposeFile::default();
        if root.value == Value::Null {
            return Ok(out);
        }
        for (key, value) in entries(root, "")? {
            let name = key.as_str().unwrap_or_default();
            match name {
                "version" => self.warnings.push(Warning {
                    message: "the attribute `version` is obsolete, it will be ignored, please remove it to avoid potential confusion".into(),
                    pos: Some(key.pos.clone()),
                }),
                "name" => out.name = opt_string(value, "name")?,
                "services" => {
                    for (svc_key, svc) in entries(value, "services")? {
                        let svc_name = svc_key.as_str().unwrap_or_default().to_string();
                        let path = format!("services.{svc_name}");
                        let service = self.service(svc, &path, svc_key)?;
                        out.services.insert(svc_name, service);
                    }
                }
                "networks" => {
                    for (net_key, net) in entries(value, "networks")? {
                        let net_name = net_key.as_str().unwrap_or_default().to_string();
                        let network = self.network(net, &format!("networks.{net_name}"))?;
                        out.networks.insert(net_name, network);
                    }
                }
                "volumes" => {
                    for (vol_key, vol) in entries(value, "volumes")? {
                        let vol_name = vol_key.as_str().unwrap_or_default().to_string();
                        let volume = self.volume(vol, &format!("volumes.{vol_name}"))?;
                        out.volumes.insert(vol_name, volume);
                    }
                }
                _ if UNSUPPORTED_TOP.contains(&name) => self.unsupported("", key),
                _ => self.unknown("", key),
            }
        }
        Ok(out)
    }
}

/// `a.b` (or `b` at the top).
pub fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// A mapping's entries; `null` is an empty mapping (`web:` with nothing under it).
pub fn entries<'a>(node: &'a Node, path: &str) -> Result<&'a [(Node, Node)]> {
    match &node.value {
        Value::Map(entries) => Ok(entries),
        Value::Null => Ok(&[]),
        _ => Err(wrong(node, path, "a mapping")),
    }
}

/// The error for a node of the wrong kind.
pub fn wrong(node: &Node, path: &str, expected: &str) -> Error {
    let path = if path.is_empty() { "(top level)" } else { path };
    Error::invalid(
        &node.pos,
        path,
        format!("must be {expected}, not {}", node.kind()),
    )
}

/// Map entries as (key text, value node) pairs, in file order.
pub fn keyed<'a>(node: &'a Node, path: &str) -> Result<BTreeMap<String, &'a Node>> {
    Ok(entries(node, path)?
        .iter()
        .map(|(k, v)| (k.as_str().unwrap_or_default().to_string(), v))
        .collect())
}
