//! The `hoist0` bridge network shared by `hoist run --network bridge` and the build's `RUN` steps
//! (BuildKit's default network): a container's own network namespace joined to the bridge by a
//! veth pair, NATed (iptables MASQUERADE) to the host's network.
//!
//! Uses `ip` (iproute2) and `iptables`. Addresses come from 10.89.0.0/16, shared by every state root
//! on the host: an address is taken by creating `/run/hoist/network/<ip>` (holding a path that exists
//! while its container lives) and given back when the container ends. The veth pair disappears by
//! itself with the container's network namespace.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Why a container could not be put on the bridge.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BridgeError(String);

type Result<T> = std::result::Result<T, BridgeError>;

pub const BRIDGE: &str = "hoist0";
/// The bridge's address: the host as containers on the bridge reach it (`--add-host NAME:host-gateway`).
pub const GATEWAY: Ipv4Addr = Ipv4Addr::new(10, 89, 0, 1);
const PREFIX: u8 = 16;

/// Whether this host has what the bridge needs (`ip` and `iptables` on `PATH`); looked up once per process.
pub fn tools_available() -> bool {
    static FOUND: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *FOUND.get_or_init(|| {
        let path = std::env::var_os("PATH").unwrap_or_default();
        ["ip", "iptables"].iter().all(|tool| {
            std::env::split_paths(&path).any(|dir| {
                use std::os::unix::fs::PermissionsExt;
                std::fs::metadata(dir.join(tool))
                    .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            })
        })
    })
}

pub(crate) fn run(program: &str, args: &[&str]) -> Result<()> {
    run_batch(program, args, "")
}

/// `program args…` with `commands` on its standard input (`ip -batch -`: one process for several
/// changes, each a fork and exec of `ip` otherwise, ~3 ms apiece).
pub(crate) fn run_batch(program: &str, args: &[&str], commands: &str) -> Result<()> {
    use std::io::Write;
    use std::process::Stdio;
    let cannot = |e: std::io::Error| {
        BridgeError(format!(
            "bridge network: cannot run {program} (install iproute2 and iptables): {e}"
        ))
    };
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(cannot)?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(commands.as_bytes()).map_err(cannot)?;
    }
    let out = child.wait_with_output().map_err(cannot)?;
    if !out.status.success() {
        return Err(BridgeError(format!(
            "bridge network: `{program} {}`{} failed: {}",
            args.join(" "),
            if commands.is_empty() {
                String::new()
            } else {
                format!(" with {commands:?}")
            },
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

pub(crate) fn succeeds(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// The bridge, its address, forwarding and the NAT rule; idempotent.
fn ensure_bridge() -> Result<()> {
    if !Path::new(&format!("/sys/class/net/{BRIDGE}")).exists() {
        // A concurrent hoist may create it first: ignore "exists".
        let _ = run("ip", &["link", "add", BRIDGE, "type", "bridge"]);
        let _ = run(
            "ip",
            &["addr", "add", &format!("{GATEWAY}/{PREFIX}"), "dev", BRIDGE],
        );
    }
    if !bridge_is_up() {
        run("ip", &["link", "set", BRIDGE, "up"])?;
    }
    let _ = std::fs::write("/proc/sys/net/ipv4/ip_forward", "1");
    // Checked once per boot (an `iptables` run is ~5 ms), as Docker adds its rules when its
    // daemon starts; remove the marker to have the rule checked (and added) again.
    let marker = boot_id().map(|id| Path::new(LEASE_DIR).join(format!("rules-{id}")));
    if marker.as_ref().is_some_and(|m| m.exists()) {
        return Ok(());
    }
    let subnet = format!("{}/{PREFIX}", Ipv4Addr::new(10, 89, 0, 0));
    ensure_rule(
        &["-t", "nat"],
        "POSTROUTING",
        &["-s", &subnet, "!", "-o", BRIDGE, "-j", "MASQUERADE"],
        false,
    )?;
    // As Docker does for docker0: forwarded traffic of the bridge passes even where the FORWARD
    // chain's policy is DROP (which Docker itself sets on the hosts it runs on).
    ensure_rule(&[], "FORWARD", &["-i", BRIDGE, "-j", "ACCEPT"], true)?;
    ensure_rule(
        &[],
        "FORWARD",
        &[
            "-o",
            BRIDGE,
            "-m",
            "conntrack",
            "--ctstate",
            "RELATED,ESTABLISHED",
            "-j",
            "ACCEPT",
        ],
        true,
    )?;
    if let Some(marker) = marker {
        let _ = std::fs::create_dir_all(LEASE_DIR);
        let _ = std::fs::write(marker, "");
    }
    Ok(())
}

/// `iptables [table] -C chain rule…`, and when that fails `-I` (first, `insert`) or `-A` (last).
pub(crate) fn ensure_rule(table: &[&str], chain: &str, rule: &[&str], insert: bool) -> Result<()> {
    let with = |action: &'static str| -> Vec<&str> {
        table
            .iter()
            .copied()
            .chain([action, chain])
            .chain(rule.iter().copied())
            .collect()
    };
    if !succeeds("iptables", &with("-C")) {
        run("iptables", &with(if insert { "-I" } else { "-A" }))?;
    }
    Ok(())
}

fn boot_id() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .ok()
        .map(|id| id.trim().to_string())
        .filter(|id| !id.is_empty() && !id.contains('/'))
}

/// Whether the bridge's IFF_UP flag is set (`/sys/class/net/<bridge>/flags`, hex).
fn bridge_is_up() -> bool {
    std::fs::read_to_string(format!("/sys/class/net/{BRIDGE}/flags"))
        .ok()
        .and_then(|f| u32::from_str_radix(f.trim().trim_start_matches("0x"), 16).ok())
        .is_some_and(|flags| flags & libc::IFF_UP as u32 != 0)
}

/// A taken address; given back on drop.
pub struct Lease {
    pub ip: Ipv4Addr,
    file: PathBuf,
}

impl Drop for Lease {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.file);
    }
}

/// Where address leases live: one bridge per host, so one lease dir per host.
const LEASE_DIR: &str = "/run/hoist/network";

/// First line of a lease file: the container's init as `LEASE_TAG PID STARTTIME`; the owner path follows.
const LEASE_TAG: &str = "hoist-lease";

/// A process's start time (clock ticks since boot, `/proc/PID/stat` field 22): with the pid, it names one
/// process even after its pid is reused.
fn start_time(pid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold anything: fields resume after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// Whether the lease in `file` is held by nobody: its container's init has ended. (A lease written before
/// the init was recorded falls back on its owner path, which a deleted state dir takes with it although the
/// container may still run.)
fn lease_is_stale(file: &Path) -> bool {
    let text = std::fs::read_to_string(file).unwrap_or_default();
    let first = text.lines().next().unwrap_or("");
    match first.strip_prefix(LEASE_TAG) {
        Some(init) => {
            let mut fields = init.split_whitespace().map(str::parse::<u64>);
            match (fields.next(), fields.next()) {
                (Some(Ok(pid)), Some(Ok(start))) => {
                    i32::try_from(pid).map_or(true, |pid| start_time(pid) != Some(start))
                }
                _ => false,
            }
        }
        // Being written (empty), or an older lease naming its owner path only.
        None => !first.is_empty() && !Path::new(&text).exists(),
    }
}

fn lease(owner: &Path, pid: i32) -> Result<Lease> {
    let dir = Path::new(LEASE_DIR);
    std::fs::create_dir_all(dir).map_err(|e| {
        BridgeError(format!(
            "bridge network: cannot create {}: {e}",
            dir.display()
        ))
    })?;
    for n in 2u32..65_534 {
        let ip = Ipv4Addr::from(u32::from(GATEWAY) - 1 + n);
        let file = dir.join(ip.to_string());
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&file)
        {
            Ok(mut f) => {
                let init = format!("{LEASE_TAG} {pid} {}\n", start_time(pid).unwrap_or(0));
                let mut text = init.into_bytes();
                text.extend_from_slice(owner.as_os_str().as_encoded_bytes());
                let _ = std::io::Write::write_all(&mut f, &text);
                return Ok(Lease { ip, file });
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                // Taken, unless its container is gone.
                if lease_is_stale(&file) {
                    let _ = std::fs::remove_file(&file);
                }
            }
            Err(e) => {
                return Err(BridgeError(format!(
                    "bridge network: cannot create {}: {e}",
                    file.display()
                )))
            }
        }
    }
    Err(BridgeError(
        "bridge network: no free address in 10.89.0.0/16".into(),
    ))
}

/// Put the process `pid` (a container's init, in a network namespace of its own) on the bridge: a
/// veth pair whose host end is `host_end` (at most 15 bytes, unique on the host), the other end
/// `eth0` with a leased address and the bridge as its default route. `owner` is a path that exists
/// while the container lives (its lease is reclaimed once it is gone).
pub fn attach(owner: &Path, host_end: &str, pid: i32) -> Result<Lease> {
    ensure_bridge()?;
    let lease = lease(owner, pid)?;
    let netns = format!("/proc/{pid}/ns/net");
    // One `ip` for the host's side; the container's side by ioctls from this thread, which is
    // cheaper than a second `nsenter ip` (two more programs to start for every RUN step).
    let pid_s = pid.to_string();
    run_batch(
        "ip",
        &["-batch", "-"],
        &format!(
            "link add {host_end} type veth peer name eth0 address {} netns {pid_s}\n\
             link set {host_end} master {BRIDGE} up\n",
            mac_of(lease.ip)
        ),
    )?;
    configure_container_end(&netns, "eth0", lease.ip, PREFIX, Some(GATEWAY))
        .map_err(|e| BridgeError(format!("bridge network: configuring eth0 in {netns}: {e}")))?;
    Ok(lease)
}

/// The MAC address of a container's end, made from its IPv4 address as Docker makes it (`02:42` and the four
/// bytes): an address given back and leased again to another container keeps its MAC, so the host's neighbour
/// entry for it stays right. With a random MAC the host went on sending to the previous holder's for seconds
/// (until its entry went stale and was probed again), and a new container's published port did not answer.
pub fn mac_of(ip: Ipv4Addr) -> String {
    let [a, b, c, d] = ip.octets();
    format!("02:42:{a:02x}:{b:02x}:{c:02x}:{d:02x}")
}

/// `ifname` in the network namespace `netns`: address `ip`/`prefix`, up, and with `gateway` the
/// default route through it. Done from this thread, which enters the namespace and returns (other
/// threads keep theirs).
pub(crate) fn configure_container_end(
    netns: &str,
    ifname: &str,
    ip: Ipv4Addr,
    prefix: u8,
    gateway: Option<Ipv4Addr>,
) -> std::io::Result<()> {
    use nix::sched::{setns, CloneFlags};
    let own = std::fs::File::open("/proc/thread-self/ns/net")?;
    let target = std::fs::File::open(netns)?;
    setns(&target, CloneFlags::CLONE_NEWNET)?;
    let configured = configure_interface(ifname, ip, prefix, gateway);
    let back = setns(&own, CloneFlags::CLONE_NEWNET);
    configured?;
    back.map_err(|e| std::io::Error::other(format!("returning to our network namespace: {e}")))
}

fn sockaddr_in(ip: Ipv4Addr) -> libc::sockaddr {
    let sin = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: 0,
        sin_addr: libc::in_addr {
            s_addr: u32::from(ip).to_be(),
        },
        sin_zero: [0; 8],
    };
    // SAFETY: sockaddr_in and sockaddr have the same size; the bytes are a valid sockaddr.
    unsafe { std::mem::transmute::<libc::sockaddr_in, libc::sockaddr>(sin) }
}

fn configure_interface(
    ifname: &str,
    ip: Ipv4Addr,
    prefix: u8,
    gateway: Option<Ipv4Addr>,
) -> std::io::Result<()> {
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    // SAFETY: a plain socket; closed by OwnedFd.
    let sock = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if sock < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: the descriptor was just created and is owned only here.
    let sock = unsafe { OwnedFd::from_raw_fd(sock) };
    let check = |rc: libc::c_int, what: &str| {
        if rc < 0 {
            let e = std::io::Error::last_os_error();
            Err(std::io::Error::new(e.kind(), format!("{what}: {e}")))
        } else {
            Ok(())
        }
    };
    // SAFETY: ifreq is plain old data; all-zero is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(ifname.bytes().take(15)) {
        *dst = src as libc::c_char;
    }
    req.ifr_ifru.ifru_addr = sockaddr_in(ip);
    // SAFETY: valid socket and ifreq for each request below.
    check(
        unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFADDR, &req) },
        "setting the address",
    )?;
    req.ifr_ifru.ifru_netmask = sockaddr_in(Ipv4Addr::from(
        u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0),
    ));
    // SAFETY: as above.
    check(
        unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFNETMASK, &req) },
        "setting the netmask",
    )?;
    // SAFETY: as above; SIOCGIFFLAGS fills ifru_flags, read back just after.
    check(
        unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req) },
        "reading the flags",
    )?;
    // SAFETY: union field written by SIOCGIFFLAGS just above.
    unsafe {
        req.ifr_ifru.ifru_flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
    }
    // SAFETY: as above.
    check(
        unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &req) },
        "bringing it up",
    )?;
    let Some(gateway) = gateway else {
        return Ok(());
    };
    // SAFETY: rtentry is plain old data; all-zero is a valid value.
    let mut route: libc::rtentry = unsafe { std::mem::zeroed() };
    route.rt_dst = sockaddr_in(Ipv4Addr::UNSPECIFIED);
    route.rt_genmask = sockaddr_in(Ipv4Addr::UNSPECIFIED);
    route.rt_gateway = sockaddr_in(gateway);
    route.rt_flags = libc::RTF_UP | libc::RTF_GATEWAY;
    // SAFETY: valid socket and rtentry (no device name: the kernel picks eth0 by the gateway).
    check(
        unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCADDRT, &route) },
        "adding the default route",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lease_file(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("10.89.0.2");
        std::fs::write(&file, text).unwrap();
        (dir, file)
    }

    #[test]
    fn a_containers_mac_is_made_from_its_address_as_dockers() {
        assert_eq!(mac_of(Ipv4Addr::new(172, 17, 0, 2)), "02:42:ac:11:00:02");
        assert_eq!(mac_of(Ipv4Addr::new(10, 89, 1, 255)), "02:42:0a:59:01:ff");
    }

    #[test]
    fn a_lease_lasts_as_long_as_its_containers_init_not_its_state_dir() {
        let me = std::process::id() as i32;
        let start = start_time(me).unwrap();
        // The owner path is gone (a deleted state dir) but the init runs: the address is still in use.
        let (_d, live) = lease_file(&format!("{LEASE_TAG} {me} {start}\n/gone/container"));
        assert!(!lease_is_stale(&live));
        // Same pid, another process (the pid was reused).
        let (_d, reused) = lease_file(&format!("{LEASE_TAG} {me} {}\n/gone", start + 1));
        assert!(lease_is_stale(&reused));
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        let (_d, ended) = lease_file(&format!("{LEASE_TAG} {dead} 1\n/gone"));
        assert!(lease_is_stale(&ended));
        // Older leases: the owner path alone; an empty one is being written.
        let (d, old) = lease_file("");
        assert!(!lease_is_stale(&old));
        std::fs::write(&old, d.path().as_os_str().as_encoded_bytes()).unwrap();
        assert!(!lease_is_stale(&old));
        std::fs::write(&old, "/no/such/container").unwrap();
        assert!(lease_is_stale(&old));
    }
}
