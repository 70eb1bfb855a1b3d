//! The container's network as far as a build step goes: `lo` up in a network namespace of its own
//! (on the `hoist0` bridge for [`Network::Bridge`]), and read-only `resolv.conf`, `hosts` and
//! `hostname` files in the bundle.

use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use super::error::{io_err, ContainerError, Result};
use super::request::{InitRequest, Network};

/// Puts a build step's container (init `pid`) on the bridge; its address is leased until the
/// returned lease drops. The veth's host end is named after the container id (15 bytes at most).
pub(super) fn attach_to_bridge(
    request: &InitRequest,
    bundle: &Path,
    pid: i32,
) -> Result<crate::bridge::Lease> {
    // FNV-1a: the build's container ids share their first characters (`hoist-PID-`).
    let hash = request.id.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    let host_end = format!("hb{:012x}", hash & 0xffff_ffff_ffff);
    crate::bridge::attach(bundle, &host_end, pid).map_err(|e| ContainerError::Failed(e.to_string()))
}

/// `ip link set lo up` inside the container's fresh network namespace, from this thread.
pub(super) fn bring_up_loopback(pid: i32) -> Result<()> {
    use nix::sched::{setns, CloneFlags};
    let ns_path = PathBuf::from(format!("/proc/{pid}/ns/net"));
    let own_path = Path::new("/proc/thread-self/ns/net");
    let own = std::fs::File::open(own_path).map_err(io_err("open", own_path))?;
    let target = std::fs::File::open(&ns_path).map_err(io_err("open", &ns_path))?;
    setns(&target, CloneFlags::CLONE_NEWNET)
        .map_err(|e| io_err("enter the network namespace", &ns_path)(e.into()))?;
    let up = set_interface_up("lo");
    let back = setns(&own, CloneFlags::CLONE_NEWNET);
    up.map_err(io_err("bring up the loopback interface in", &ns_path))?;
    back.map_err(|e| io_err("return to our network namespace", own_path)(e.into()))
}

fn set_interface_up(name: &str) -> io::Result<()> {
    // SAFETY: a plain socket; closed by OwnedFd.
    let sock = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if sock < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the descriptor was just created and is owned only here.
    let sock = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(sock) };
    use std::os::fd::AsRawFd;
    // SAFETY: ifreq is plain old data; all-zero is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(name.bytes()) {
        *dst = src as libc::c_char;
    }
    // SAFETY: valid socket and ifreq; the kernel fills ifru_flags.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req) } < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: union field written by SIOCGIFFLAGS just above.
    unsafe {
        req.ifr_ifru.ifru_flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
    }
    // SAFETY: as above.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &req) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Read-only copies of `/etc/resolv.conf`, `/etc/hosts`, `/etc/hostname` for the container.
pub(super) fn write_network_files(request: &InitRequest, bundle: &Path) -> Result<()> {
    let resolv = host_resolv_conf(request.network);
    let mut hosts = format!(
        "127.0.0.1\tlocalhost {0}\n::1\tlocalhost ip6-localhost ip6-loopback\n",
        request.hostname
    );
    // `--add-host` entries follow the defaults, as Docker writes them.
    for (name, ip) in &request.options.extra_hosts {
        hosts.push_str(&format!("{ip}\t{name}\n"));
    }
    let hostname = format!("{}\n", request.hostname);
    for (name, content) in [
        ("resolv.conf", resolv),
        ("hosts", hosts),
        ("hostname", hostname),
    ] {
        let path = bundle.join(name);
        std::fs::write(&path, content).map_err(io_err("write", &path))?;
    }
    Ok(())
}

/// The host's resolver config; with a network of its own, a loopback resolver on the host
/// (systemd-resolved) is unreachable, so use the upstream list or public servers as Docker does.
fn host_resolv_conf(network: Network) -> String {
    let host = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    resolv_conf_for(network, host, || {
        std::fs::read_to_string("/run/systemd/resolve/resolv.conf").ok()
    })
}

/// BuildKit's choice: the host's file for the host network; otherwise the host's file unless
/// it names only loopback servers, then the upstream list, then Google's public servers.
fn resolv_conf_for(
    network: Network,
    host: String,
    upstream: impl FnOnce() -> Option<String>,
) -> String {
    let only_loopback = |conf: &str| {
        conf.lines()
            .filter_map(|l| l.trim().strip_prefix("nameserver"))
            .map(str::trim)
            .all(|s| s.starts_with("127.") || s == "::1")
    };
    if network == Network::Host || !only_loopback(&host) {
        return host;
    }
    match upstream() {
        Some(upstream) if !only_loopback(&upstream) => upstream,
        _ => "nameserver 8.8.8.8\nnameserver 8.8.4.4\n".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolv_conf_avoids_unreachable_loopback_servers() {
        let stub = "nameserver 127.0.0.53\noptions edns0\n".to_string();
        let real = "nameserver 10.0.0.2\n".to_string();
        assert_eq!(resolv_conf_for(Network::Host, stub.clone(), || None), stub);
        assert_eq!(resolv_conf_for(Network::None, real.clone(), || None), real);
        assert_eq!(
            resolv_conf_for(Network::None, stub.clone(), || Some(real.clone())),
            real
        );
        assert_eq!(
            resolv_conf_for(Network::None, stub, || None),
            "nameserver 8.8.8.8\nnameserver 8.8.4.4\n"
        );
    }
}
