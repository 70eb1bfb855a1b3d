//! `-p` and `-P` as docker reads them: `[IP:][HOSTPORT:]CPORT[/tcp|/udp]`, `IP::CPORT`, ranges
//! (`8000-8001:80-81`), a container port alone (a free host port), and every EXPOSEd port of the
//! image with `-P`. The host side is a userland proxy in the monitor (as docker-proxy), TCP or UDP,
//! on all interfaces by default (one dual-stack `[::]` socket: docker's `0.0.0.0` and `::`).
//! Free host ports are chosen when the container is created, so `hoist port` and `ps` show them.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, UdpSocket};

use serde::{Deserialize, Serialize};

use crate::runtime::network::ProxyTarget;
use crate::runtime::{Result, RuntimeError};

/// One published port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortBinding {
    /// Empty: every interface (IPv4 and IPv6).
    pub host_ip: String,
    pub host_port: u16,
    pub container_port: u16,
    /// `tcp` or `udp`.
    pub proto: String,
}

impl PortBinding {
    /// Docker's PORTS text: `0.0.0.0:8080->80/tcp, :::8080->80/tcp` for all interfaces.
    pub fn ps_text(&self) -> String {
        let (h, c, p) = (self.host_port, self.container_port, &self.proto);
        if self.host_ip.is_empty() {
            format!("0.0.0.0:{h}->{c}/{p}, :::{h}->{c}/{p}")
        } else {
            format!("{}:{h}->{c}/{p}", self.host_ip)
        }
    }
    /// `hoist port`'s host side: `0.0.0.0:8080` and `[::]:8080` for all interfaces.
    pub fn host_addresses(&self) -> Vec<String> {
        let h = self.host_port;
        if self.host_ip.is_empty() {
            vec![format!("0.0.0.0:{h}"), format!("[::]:{h}")]
        } else if self.host_ip.contains(':') {
            vec![format!("[{}]:{h}", self.host_ip)]
        } else {
            vec![format!("{}:{h}", self.host_ip)]
        }
    }
}

fn invalid(spec: &str, why: &str) -> RuntimeError {
    RuntimeError::Invalid(format!(
        "invalid -p {spec:?}: {why} (expected [IP:][HOSTPORT:]CONTAINERPORT[/tcp|/udp], ports or ranges)"
    ))
}

/// `80` or `8000-8010`: first and last.
fn range(text: &str, spec: &str) -> Result<(u16, u16)> {
    let port = |t: &str| {
        t.parse::<u16>()
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| invalid(spec, &format!("{t:?} is not a port")))
    };
    match text.split_once('-') {
        Some((a, b)) => {
            let (a, b) = (port(a)?, port(b)?);
            if b < a {
                return Err(invalid(spec, "a range ends before it starts"));
            }
            Ok((a, b))
        }
        None => port(text).map(|p| (p, p)),
    }
}

/// One `-p` spec; a host port 0 is to be chosen.
pub fn parse_publish(spec: &str) -> Result<Vec<PortBinding>> {
    let (rest, proto) = match spec.rsplit_once('/') {
        Some((r, p @ ("tcp" | "udp"))) => (r, p),
        Some((_, p)) => return Err(invalid(spec, &format!("protocol {p:?} is not supported"))),
        None => (spec, "tcp"),
    };
    // `[v6]:H:C` first, then from the right: C, H, IP.
    let (ip, rest) = match rest.strip_prefix('[') {
        Some(r) => {
            let (ip, r) = r
                .split_once("]:")
                .ok_or_else(|| invalid(spec, "unclosed ["))?;
            (Some(ip), r)
        }
        None => (None, rest),
    };
    let parts: Vec<&str> = rest.rsplitn(3, ':').collect();
    let (ip, host, ctr) = match (ip, parts.as_slice()) {
        (None, [c]) => (None, "", *c),
        (None, [c, h]) => (None, *h, *c),
        (None, [c, h, ip]) => (Some(*ip), *h, *c),
        (Some(ip), [c, h]) => (Some(ip), *h, *c),
        _ => return Err(invalid(spec, "too many fields")),
    };
    let host_ip = match ip {
        None | Some("") | Some("0.0.0.0") | Some("::") => String::new(),
        Some(ip) => {
            ip.parse::<IpAddr>()
                .map_err(|_| invalid(spec, &format!("{ip:?} is not an IP address")))?;
            ip.to_string()
        }
    };
    let (c0, c1) = range(ctr, spec)?;
    let (h0, h1) = if host.is_empty() {
        (0, 0)
    } else {
        range(host, spec)?
    };
    if h0 != 0 && h1 - h0 != c1 - c0 && c0 != c1 {
        return Err(invalid(
            spec,
            "the host and container ranges differ in size",
        ));
    }
    Ok((c0..=c1)
        .enumerate()
        .map(|(i, c)| PortBinding {
            host_ip: host_ip.clone(),
            // A host range for one container port: its first port (docker takes the first free).
            host_port: if h0 == 0 { 0 } else { h0 + i as u16 },
            container_port: c,
            proto: proto.to_string(),
        })
        .collect())
}

/// The image's `ExposedPorts` (`80/tcp`, `53/udp`) as `-P` publishes them.
pub fn exposed(config: &serde_json::Value) -> Vec<PortBinding> {
    let Some(ports) = config
        .get("config")
        .and_then(|c| c.get("ExposedPorts"))
        .and_then(|p| p.as_object())
    else {
        return Vec::new();
    };
    let mut out: Vec<PortBinding> = ports
        .keys()
        .filter_map(|k| parse_publish(k).ok())
        .flatten()
        .collect();
    out.sort_by_key(|b| (b.container_port, b.proto.clone()));
    out
}

fn bind_address(host_ip: &str, port: u16) -> Vec<SocketAddr> {
    if host_ip.is_empty() {
        // `[::]` takes IPv4 too where IPv6 is on (bindv6only=0); else `0.0.0.0`.
        vec![
            SocketAddr::new(IpAddr::from([0u16; 8]), port),
            SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port),
        ]
    } else {
        host_ip
            .parse::<IpAddr>()
            .map(|ip| vec![SocketAddr::new(ip, port)])
            .unwrap_or_default()
    }
}

/// A host socket listening for a published port.
pub enum Listener {
    Tcp(TcpListener),
    Udp(UdpSocket),
}

/// Listen for `b` (before the container starts, so a taken port fails the run).
pub fn listen(b: &PortBinding) -> Result<Listener> {
    let mut last = None;
    for addr in bind_address(&b.host_ip, b.host_port) {
        let bound = if b.proto == "udp" {
            UdpSocket::bind(addr).map(Listener::Udp)
        } else {
            TcpListener::bind(addr).map(Listener::Tcp)
        };
        match bound {
            Ok(l) => return Ok(l),
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
                return Err(RuntimeError::Invalid(format!(
                    "-p {}: cannot listen on {addr}/{}: {e}",
                    b.host_port, b.proto
                )))
            }
            Err(e) => last = Some((addr, e)),
        }
    }
    let (addr, e) = last.unwrap_or((
        SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), b.host_port),
        std::io::Error::other("no address to listen on"),
    ));
    Err(RuntimeError::Invalid(format!(
        "-p {}: cannot listen on {addr}/{}: {e}",
        b.host_port, b.proto
    )))
}

/// Give every `0` host port of `bindings` a free one (bound and let go, as docker's allocator
/// picks from the ephemeral range).
pub fn choose_free_ports(bindings: &mut [PortBinding]) -> Result<()> {
    for b in bindings.iter_mut().filter(|b| b.host_port == 0) {
        let l = listen(b)?;
        let port = match &l {
            Listener::Tcp(t) => t.local_addr(),
            Listener::Udp(u) => u.local_addr(),
        }
        .map_err(|e| RuntimeError::Invalid(format!("choosing a free port: {e}")))?
        .port();
        b.host_port = port;
    }
    Ok(())
}

/// Forward what reaches `listener` to `target:port`; runs until the monitor exits.
pub fn proxy(listener: Listener, target: ProxyTarget, port: u16) {
    match listener {
        Listener::Tcp(l) => crate::runtime::network::proxy(l, target, port),
        Listener::Udp(socket) => {
            std::thread::spawn(move || udp_proxy(socket, target, port));
        }
    }
}

/// The monitor's published ports, bound by the container's first run and kept for its life: a
/// restart (`--restart`) must not bind them again while the proxies hold them, and a client
/// connecting between two runs waits for the next.
static PUBLISHED: std::sync::Mutex<Option<ProxyTarget>> = std::sync::Mutex::new(None);

/// Bind (`listeners`, on the first call of this process) and proxy the published ports; the target
/// the caller points at the container's address of each run.
pub fn publish_once(
    listeners: impl FnOnce() -> Result<Vec<(Listener, u16)>>,
) -> Result<ProxyTarget> {
    let mut published = PUBLISHED.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(target) = &*published {
        return Ok(target.clone());
    }
    let target = ProxyTarget::default();
    for (listener, port) in listeners()? {
        proxy(listener, target.clone(), port);
    }
    *published = Some(target.clone());
    Ok(target)
}

/// One upstream socket per client address; replies go back from the host socket.
fn udp_proxy(socket: UdpSocket, target: ProxyTarget, port: u16) {
    let mut upstreams: std::collections::HashMap<SocketAddr, (Ipv4Addr, UdpSocket)> =
        Default::default();
    let mut buf = vec![0u8; 65_536];
    while let Ok((n, client)) = socket.recv_from(&mut buf) {
        // Between two runs of a restarting container a datagram has nowhere to go.
        let Some(address) = target.read().ok().and_then(|t| *t) else {
            continue;
        };
        let target = SocketAddr::from((address, port));
        // A restart may give the container another address: a new upstream then.
        if upstreams.get(&client).is_some_and(|(a, _)| *a != address) {
            upstreams.remove(&client);
        }
        if let std::collections::hash_map::Entry::Vacant(slot) = upstreams.entry(client) {
            let Ok(up) = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)) else {
                continue;
            };
            if up.connect(target).is_err() {
                continue;
            }
            let (Ok(reader), Ok(back)) = (up.try_clone(), socket.try_clone()) else {
                continue;
            };
            std::thread::spawn(move || {
                let mut buf = vec![0u8; 65_536];
                while let Ok(n) = reader.recv(&mut buf) {
                    if back.send_to(&buf[..n], client).is_err() {
                        break;
                    }
                }
            });
            slot.insert((address, up));
        }
        if let Some((_, up)) = upstreams.get(&client) {
            let _ = up.send(&buf[..n]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(spec: &str) -> (String, u16, u16, String) {
        let b = parse_publish(spec).unwrap().remove(0);
        (b.host_ip, b.host_port, b.container_port, b.proto)
    }

    #[test]
    fn publish_specs() {
        assert_eq!(one("8080:80"), ("".into(), 8080, 80, "tcp".into()));
        assert_eq!(
            one("127.0.0.1:8080:80/udp"),
            ("127.0.0.1".into(), 8080, 80, "udp".into())
        );
        assert_eq!(
            one("127.0.0.1::80"),
            ("127.0.0.1".into(), 0, 80, "tcp".into())
        );
        assert_eq!(one("0.0.0.0:1:2"), ("".into(), 1, 2, "tcp".into()));
        assert_eq!(one("80"), ("".into(), 0, 80, "tcp".into()));
        assert_eq!(one("[::1]:5:6"), ("::1".into(), 5, 6, "tcp".into()));
        let r = parse_publish("8000-8001:80-81").unwrap();
        assert_eq!((r[1].host_port, r[1].container_port), (8001, 81));
        assert!(parse_publish("8000-8002:80-81").is_err());
        assert!(parse_publish("80/sctp").is_err());
        assert!(parse_publish("x:80").is_err());
        assert!(parse_publish("a.b:1:80").is_err());
        let b = parse_publish("8080:80").unwrap().remove(0);
        assert_eq!(b.ps_text(), "0.0.0.0:8080->80/tcp, :::8080->80/tcp");
    }
}
