//! `ports:` short syntax (`[HOST_IP:][HOST[-HOST_END]:]CONTAINER[-END][/PROTOCOL]`) and long syntax.
use crate::error::{Error, Result};
use crate::model::Port;
use crate::yaml::{Node, Value};

use super::*;

impl Decoder<'_> {
    pub fn ports(&mut self, node: &Node, path: &str) -> Result<Vec<Port>> {
        let Value::Seq(items) = &node.value else {
            if node.value == Value::Null {
                return Ok(Vec::new());
            }
            return Err(wrong(node, path, "a list"));
        };
        let mut out = Vec::new();
        for item in items {
            match &item.value {
                Value::Scalar(s) => {
                    let ports = short_port(&s.text)
                        .map_err(|message| Error::invalid(&item.pos, path, message))?;
                    out.extend(ports);
                }
                Value::Map(_) => out.push(self.long_port(item, path)?),
                _ => return Err(wrong(item, path, "a string, a number or a mapping")),
            }
        }
        Ok(out)
    }

    fn long_port(&mut self, node: &Node, path: &str) -> Result<Port> {
        let mut port = Port {
            mode: "ingress".into(),
            host_ip: None,
            target: 0,
            published: None,
            protocol: "tcp".into(),
        };
        let mut has_target = false;
        for (key, value) in entries(node, path)? {
            let name = key.as_str().unwrap_or_default();
            let p = join(path, name);
            match name {
                "target" => {
                    port.target = port_number(&string(value, &p)?)
                        .map_err(|m| Error::invalid(&value.pos, &p, m))?;
                    has_target = true;
                }
                "published" => {
                    let text = string(value, &p)?;
                    port_range(&text).map_err(|m| Error::invalid(&value.pos, &p, m))?;
                    port.published = Some(text);
                }
                "host_ip" => port.host_ip = opt_string(value, &p)?,
                "protocol" => {
                    port.protocol = protocol(&string(value, &p)?)
                        .map_err(|m| Error::invalid(&value.pos, &p, m))?
                }
                "mode" => port.mode = string(value, &p)?,
                "name" | "app_protocol" => self.unsupported(path, key),
                _ => self.unknown(path, key),
            }
        }
        if !has_target {
            return Err(Error::invalid(
                &node.pos,
                path,
                "a port mapping needs `target`",
            ));
        }
        Ok(port)
    }
}

fn protocol(text: &str) -> std::result::Result<String, String> {
    match text {
        "tcp" | "udp" | "sctp" => Ok(text.to_string()),
        _ => Err(format!("{text:?} is not a protocol: use tcp, udp or sctp")),
    }
}

fn port_number(text: &str) -> std::result::Result<u16, String> {
    match text.parse::<u16>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!("{text:?} is not a port number (1-65535)")),
    }
}

/// `N` or `N-M` → (N, M).
fn port_range(text: &str) -> std::result::Result<(u16, u16), String> {
    match text.split_once('-') {
        Some((a, b)) => {
            let (a, b) = (port_number(a)?, port_number(b)?);
            if b < a {
                return Err(format!(
                    "invalid port range {text:?}: the end is below the start"
                ));
            }
            Ok((a, b))
        }
        None => port_number(text).map(|n| (n, n)),
    }
}

/// Parses one short-syntax entry; a container port range becomes one entry per port.
pub fn short_port(text: &str) -> std::result::Result<Vec<Port>, String> {
    let bad = |why: &str| format!("invalid port {text:?}: {why}");
    let (spec, proto) = match text.rsplit_once('/') {
        Some((spec, proto)) => (spec, protocol(proto).map_err(|e| bad(&e))?),
        None => (text, "tcp".to_string()),
    };
    // An IPv6 host address is written in brackets: `[::1]:8080:80`.
    let (host_ip, rest) = if let Some(after) = spec.strip_prefix('[') {
        let (ip, rest) = after.split_once(']').ok_or_else(|| bad("missing ']'"))?;
        let rest = rest
            .strip_prefix(':')
            .ok_or_else(|| bad("expected ':' after ']'"))?;
        (Some(ip.to_string()), rest)
    } else {
        (None, spec)
    };
    let parts: Vec<&str> = rest.split(':').collect();
    let (host_ip, published, container) = match (host_ip, parts.as_slice()) {
        (None, [c]) => (None, None, *c),
        (None, [h, c]) => (None, Some(*h), *c),
        (None, [ip, h, c]) => (Some(ip.to_string()), Some(*h), *c),
        (Some(ip), [h, c]) => (Some(ip), Some(*h), *c),
        _ => {
            return Err(bad(
                "expected [HOST_IP:][HOST_PORT:]CONTAINER_PORT[/PROTOCOL]",
            ))
        }
    };
    let published = published.filter(|p| !p.is_empty());
    let (c_start, c_end) = port_range(container).map_err(|e| bad(&e))?;
    let host = published
        .map(|p| port_range(p).map_err(|e| bad(&e)))
        .transpose()?;
    let count = c_end - c_start;
    let make = |target: u16, published: Option<String>| Port {
        mode: "ingress".into(),
        host_ip: host_ip.clone(),
        target,
        published,
        protocol: proto.clone(),
    };
    let mut out = Vec::new();
    match host {
        Some((h_start, h_end)) if count > 0 => {
            if h_end - h_start != count {
                return Err(bad("the host and container port ranges differ in size"));
            }
            for i in 0..=count {
                out.push(make(c_start + i, Some((h_start + i).to_string())));
            }
        }
        Some(_) => out.push(make(c_start, published.map(str::to_string))),
        None => {
            for i in 0..=count {
                out.push(make(c_start + i, None));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(text: &str) -> Port {
        let mut ports = short_port(text).unwrap();
        assert_eq!(ports.len(), 1, "{text}");
        ports.remove(0)
    }

    #[test]
    fn short_forms() {
        let p = one("8080:80");
        assert_eq!(
            (p.target, p.published.as_deref(), p.protocol.as_str()),
            (80, Some("8080"), "tcp")
        );
        let p = one("127.0.0.1:8080:80/udp");
        assert_eq!(p.host_ip.as_deref(), Some("127.0.0.1"));
        assert_eq!(
            (p.target, p.published.as_deref(), p.protocol.as_str()),
            (80, Some("8080"), "udp")
        );
        let p = one("80");
        assert_eq!((p.target, p.published), (80, None));
        let p = one("127.0.0.1::80");
        assert_eq!(
            (p.host_ip.as_deref(), p.published),
            (Some("127.0.0.1"), None)
        );
        let p = one("[::1]:6000:6001");
        assert_eq!((p.host_ip.as_deref(), p.target), (Some("::1"), 6001));
        let p = one("9000-9010:80");
        assert_eq!(p.published.as_deref(), Some("9000-9010"));
    }

    #[test]
    fn ranges_expand() {
        let ports = short_port("8000-8001:80-81").unwrap();
        let pairs: Vec<_> = ports
            .iter()
            .map(|p| (p.published.clone().unwrap(), p.target))
            .collect();
        assert_eq!(
            pairs,
            vec![("8000".to_string(), 80), ("8001".to_string(), 81)]
        );
        assert_eq!(short_port("3000-3002").unwrap().len(), 3);
        assert!(short_port("8000-8002:80-81").is_err());
    }

    #[test]
    fn bad_ports() {
        for bad in ["x:80", "80/icmp", "70000", "1:2:3:4", "0", "90-80"] {
            assert!(short_port(bad).is_err(), "{bad}");
        }
    }
}
