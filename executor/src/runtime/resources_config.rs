//! `hoist run`'s resource flags, checked as Docker's CLI and daemon check them and turned into the
//! container's [`ContainerTuning`]: `--cpu-shares`, `--cpuset-cpus`, `--cpuset-mems`,
//! `--memory-swap`, `--memory-reservation`, `--blkio-weight`, `--device-read-bps`,
//! `--device-write-bps`, `--oom-kill-disable`, `--ulimit`, `--shm-size`, `--sysctl`, `--device`.
//! The namespace flags are in [`super::namespaces_config`]; both live in one [`TuningFlags`].

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::config::{parse_size, NetworkMode};
use super::{Result, RuntimeError};
use crate::container::{ContainerTuning, DeviceRate, RuntimeOptions, Ulimit};

/// Docker's lower bound for `--memory-reservation` (and `--memory`).
const MIN_MEMORY_BYTES: i64 = 6 * 1024 * 1024;

/// The resource and namespace flags of `hoist run`, as the user wrote them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TuningFlags {
    /// `--network container:NAME`: the network namespace of that container (joined at the start).
    pub network_container: Option<String>,
    pub cpu_shares: Option<i64>,
    pub cpuset_cpus: Option<String>,
    pub cpuset_mems: Option<String>,
    pub memory_swap: Option<String>,
    pub memory_reservation: Option<String>,
    pub blkio_weight: Option<u16>,
    pub device_read_bps: Vec<String>,
    pub device_write_bps: Vec<String>,
    pub oom_kill_disable: bool,
    /// `NAME=SOFT[:HARD]`.
    pub ulimits: Vec<String>,
    pub shm_size: Option<String>,
    /// `NAME=VALUE`.
    pub sysctls: Vec<String>,
    /// `HOST[:CONTAINER][:PERMISSIONS]`.
    pub devices: Vec<String>,
    /// `CONTAINER[:ro|rw]`.
    pub volumes_from: Vec<String>,
    /// `host`, `private`, `shareable`, `container:NAME` (default private).
    pub ipc: Option<String>,
    /// `host`, `container:NAME`.
    pub pid: Option<String>,
    /// `host`.
    pub uts: Option<String>,
    /// `host` (the default on cgroup v1) or `private`.
    pub cgroupns: Option<String>,
    /// Group names (looked up in the image) or gids.
    pub group_add: Vec<String>,
}

fn invalid(message: String) -> RuntimeError {
    RuntimeError::Invalid(message)
}

/// Fill `runtime` (which has `--memory` already) from `flags`; `network` decides which sysctls
/// are allowed.
pub fn apply(
    mut runtime: RuntimeOptions,
    flags: &TuningFlags,
    network: NetworkMode,
) -> Result<RuntimeOptions> {
    let mut tuning = ContainerTuning {
        cpu_shares: flags
            .cpu_shares
            .filter(|s| *s != 0)
            .map(|s| s.max(0) as u64),
        oom_kill_disable: flags.oom_kill_disable,
        ..Default::default()
    };
    if let Some(shares) = flags.cpu_shares {
        if shares < 0 {
            return Err(invalid(format!(
                "invalid --cpu-shares {shares}: shares must be a positive number"
            )));
        }
    }
    if let Some(cpus) = &flags.cpuset_cpus {
        check_cpuset(cpus, "cpus", "CPUs", &available_cpuset("cpuset.cpus"))?;
        tuning.cpuset_cpus = Some(cpus.clone());
    }
    if let Some(mems) = &flags.cpuset_mems {
        check_cpuset(
            mems,
            "mems",
            "memory nodes",
            &available_cpuset("cpuset.mems"),
        )?;
        tuning.cpuset_mems = Some(mems.clone());
    }
    if let Some(swap) = &flags.memory_swap {
        let swap = if swap.trim() == "-1" {
            -1
        } else {
            parse_size(swap)?
        };
        match runtime.memory {
            None => {
                return Err(invalid(
                    "You should always set the Memory limit when using Memoryswap limit, see usage"
                        .into(),
                ))
            }
            Some(memory) if swap != -1 && swap < memory => {
                return Err(invalid(
                    "Minimum memoryswap limit should be larger than memory limit, see usage".into(),
                ))
            }
            Some(_) => {}
        }
        tuning.memory_swap = Some(swap);
    } else if let Some(memory) = runtime.memory {
        // Docker's `-m` alone: as much swap again (memory + swap = twice the limit), where
        // swap is accounted (else the limit is memory alone).
        if crate::container::swap_accounting_enabled() {
            tuning.memory_swap = Some(memory.saturating_mul(2));
        }
    }
    if let Some(reservation) = &flags.memory_reservation {
        let reservation = parse_size(reservation)?;
        if reservation < MIN_MEMORY_BYTES {
            return Err(invalid("Minimum memory reservation allowed is 6MB".into()));
        }
        if runtime.memory.is_some_and(|m| m < reservation) {
            return Err(invalid(
                "Minimum memory limit can not be less than memory reservation limit, see usage"
                    .into(),
            ));
        }
        tuning.memory_reservation = Some(reservation);
    }
    if let Some(weight) = flags.blkio_weight {
        if weight != 0 {
            if !(10..=1000).contains(&weight) {
                return Err(invalid("Range of blkio weight is from 10 to 1000".into()));
            }
            if !blkio_weight_supported() {
                return Err(invalid(format!(
                    "--blkio-weight {weight}: this kernel's blkio cgroup has no weight file \
                     (blkio.weight needs the CFQ or BFQ I/O scheduler), so the weight cannot \
                     be applied; leave the flag out"
                )));
            }
            tuning.blkio_weight = Some(weight);
        }
    }
    for spec in &flags.device_read_bps {
        tuning
            .device_read_bps
            .push(parse_device_rate(spec, "--device-read-bps")?);
    }
    for spec in &flags.device_write_bps {
        tuning
            .device_write_bps
            .push(parse_device_rate(spec, "--device-write-bps")?);
    }
    for spec in &flags.ulimits {
        runtime.ulimits.push(parse_ulimit(spec)?);
    }
    if let Some(size) = &flags.shm_size {
        let bytes = parse_size(size)?;
        if bytes <= 0 {
            return Err(invalid(format!(
                "invalid --shm-size {size:?}: SHM size must be greater than 0"
            )));
        }
        runtime.shm_size = Some(bytes as u64);
    }
    for spec in &flags.sysctls {
        let (key, value) = parse_sysctl(spec, network, flags.ipc.as_deref())?;
        tuning.sysctls.insert(key, value);
    }
    for spec in &flags.devices {
        tuning.devices.push(parse_device(spec)?);
    }
    tuning.namespaces = super::namespaces_config::static_modes(flags)?;
    runtime.tuning = tuning;
    Ok(runtime)
}

/// `--ulimit nofile=1024:2048` (or `nofile=1024`, soft = hard), as Docker's `units.ParseUlimit`.
pub fn parse_ulimit(spec: &str) -> Result<Ulimit> {
    let bad = |why: &str| invalid(format!("invalid --ulimit {spec:?}: {why}"));
    let (name, limits) = spec
        .split_once('=')
        .ok_or_else(|| bad("expected NAME=SOFT[:HARD], like nofile=1024:2048"))?;
    if !crate::container::is_ulimit_name(name) {
        return Err(bad(&format!("invalid ulimit type: {name}")));
    }
    let number = |s: &str| -> Result<u64> {
        match s.parse::<i64>() {
            Ok(-1) => Ok(u64::MAX),
            Ok(n) if n >= 0 => Ok(n as u64),
            _ => Err(bad(&format!("{s:?} is not a number"))),
        }
    };
    let (soft, hard) = match limits.split_once(':') {
        Some((soft, hard)) => (number(soft)?, number(hard)?),
        None => {
            let n = number(limits)?;
            (n, n)
        }
    };
    if soft > hard {
        return Err(bad(&format!(
            "ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}"
        )));
    }
    Ok(Ulimit {
        name: name.to_string(),
        soft,
        hard,
    })
}

/// The sysctls that are namespaced (Docker's `opts.ValidateSysctl`): IPC ones and `fs.mqueue.*`
/// need a private IPC namespace, `net.*` a private network namespace (runc's check).
fn parse_sysctl(spec: &str, network: NetworkMode, ipc: Option<&str>) -> Result<(String, String)> {
    const IPC_KEYS: [&str; 8] = [
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
        "kernel.shmmni",
        "kernel.shm_rmid_forced",
    ];
    let not_allowed = || {
        invalid(format!(
            "invalid argument {spec:?} for \"--sysctl\" flag: sysctl '{spec}' is not allowed \
             (only namespaced sysctls can be set: net.*, fs.mqueue.*, kernel.msg*, kernel.sem, \
             kernel.shm*)"
        ))
    };
    let (key, value) = spec.split_once('=').ok_or_else(not_allowed)?;
    let key = key.trim();
    let is_ipc = IPC_KEYS.contains(&key) || key.starts_with("fs.mqueue.");
    if is_ipc {
        if ipc == Some("host") {
            return Err(invalid(format!(
                "sysctl {key:?} is not allowed in host IPC namespace (--ipc host)"
            )));
        }
    } else if key.starts_with("net.") {
        if network == NetworkMode::Host {
            return Err(invalid(format!(
                "sysctl {key:?} not allowed in host network namespace: use --network none or \
                 bridge"
            )));
        }
    } else {
        return Err(not_allowed());
    }
    Ok((key.to_string(), value.to_string()))
}

/// `--device-read-bps /dev/vda:1mb`, as Docker's `ValidateThrottleBpsDevice`.
fn parse_device_rate(spec: &str, flag: &str) -> Result<DeviceRate> {
    let Some((path, rate)) = spec.split_once(':') else {
        return Err(invalid(format!(
            "invalid {flag} {spec:?}: bad format, expected DEVICE-PATH:RATE like /dev/vda:1mb"
        )));
    };
    if !path.starts_with("/dev/") {
        return Err(invalid(format!(
            "invalid {flag} {spec:?}: bad format for device path: {path}"
        )));
    }
    let rate = parse_size(rate).ok().filter(|r| *r >= 0).ok_or_else(|| {
        invalid(format!(
            "invalid {flag} {spec:?}: invalid rate for device: {spec}. The correct format is \
                 <device-path>:<number>[<unit>]. Number must be a positive integer. Unit is \
                 optional and can be kb, mb, or gb"
        ))
    })?;
    let node = crate::container::device_node(Path::new(path), Path::new(path), "rwm")
        .filter(|n| n.kind == 'b')
        .ok_or_else(|| {
            invalid(format!(
                "invalid {flag} {spec:?}: {path} is not a block device on this host"
            ))
        })?;
    Ok(DeviceRate {
        major: node.major,
        minor: node.minor,
        rate: rate as u64,
    })
}

fn valid_device_permissions(s: &str) -> bool {
    !s.is_empty() && s.len() <= 3 && s.chars().all(|c| "rwm".contains(c))
}

/// `--device /dev/x[:/dev/y][:rwm]`, as Docker's `parseDevice`.
fn parse_device(spec: &str) -> Result<crate::container::DeviceNode> {
    let parts: Vec<&str> = spec.split(':').collect();
    let (host, container, permissions) = match parts.as_slice() {
        [host] => (*host, *host, "rwm"),
        [host, p] if valid_device_permissions(p) => (*host, *host, *p),
        [host, container] => (*host, *container, "rwm"),
        [host, container, p] if valid_device_permissions(p) => (*host, *container, *p),
        [_, _, p] => {
            return Err(invalid(format!(
                "invalid --device {spec:?}: bad mode specified: {p}"
            )))
        }
        _ => {
            return Err(invalid(format!(
                "invalid --device {spec:?}: too many colons"
            )))
        }
    };
    if !container.starts_with('/') {
        return Err(invalid(format!(
            "invalid --device {spec:?}: {container} is not an absolute path"
        )));
    }
    if !Path::new(host).exists() {
        return Err(invalid(format!(
            "error gathering device information while adding custom device {host:?}: no such \
             file or directory"
        )));
    }
    crate::container::device_node(Path::new(host), Path::new(container), permissions).ok_or_else(
        || {
            invalid(format!(
                "error gathering device information while adding custom device {host:?}: not a \
                 device node"
            ))
        },
    )
}

/// The CPUs or memory nodes of the root cpuset (`0-1`), or "" when there is no cpuset hierarchy.
fn available_cpuset(file: &str) -> String {
    for base in ["/sys/fs/cgroup/cpuset", "/sys/fs/cgroup"] {
        let name = if base.ends_with("cpuset") {
            file.to_string()
        } else {
            format!("{file}.effective")
        };
        if let Ok(text) = std::fs::read_to_string(Path::new(base).join(name)) {
            return text.trim().to_string();
        }
    }
    String::new()
}

/// `0-2,4` → [0, 1, 2, 4]; `None` when not a list.
fn parse_cpu_list(list: &str) -> Option<Vec<u32>> {
    let mut out = Vec::new();
    for part in list.split(',') {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (u32, u32) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
                if a > b {
                    return None;
                }
                out.extend(a..=b);
            }
            None => out.push(part.trim().parse().ok()?),
        }
    }
    Some(out)
}

/// Docker's checks of `--cpuset-cpus`/`--cpuset-mems` against what the machine has.
fn check_cpuset(list: &str, which: &str, what: &str, available: &str) -> Result<()> {
    let requested = parse_cpu_list(list)
        .ok_or_else(|| invalid(format!("Invalid value {list} for cpuset {which}")))?;
    let have = parse_cpu_list(available).unwrap_or_default();
    if requested.iter().any(|n| !have.contains(n)) {
        return Err(invalid(format!(
            "Requested {what} are not available - requested {list}, available: {available}"
        )));
    }
    Ok(())
}

/// Whether the blkio hierarchy has a weight file (`blkio.weight`, or BFQ's `blkio.bfq.weight`).
fn blkio_weight_supported() -> bool {
    ["blkio.weight", "blkio.bfq.weight"]
        .iter()
        .any(|f| Path::new("/sys/fs/cgroup/blkio").join(f).exists())
        || Path::new("/sys/fs/cgroup/io.weight").exists()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_memory(memory: Option<i64>, flags: TuningFlags) -> Result<RuntimeOptions> {
        let runtime = RuntimeOptions {
            memory,
            ..Default::default()
        };
        apply(runtime, &flags, NetworkMode::None)
    }

    #[test]
    fn swap_and_reservation_follow_dockers_rules() {
        let swap = |s: &str| TuningFlags {
            memory_swap: Some(s.into()),
            ..Default::default()
        };
        let e = with_memory(None, swap("64m")).unwrap_err().to_string();
        assert!(
            e.starts_with("You should always set the Memory limit"),
            "{e}"
        );
        let e = with_memory(Some(64 << 20), swap("32m"))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("Minimum memoryswap limit"), "{e}");
        let r = with_memory(Some(64 << 20), swap("-1")).unwrap();
        assert_eq!(r.tuning.memory_swap, Some(-1));
        let reservation = |s: &str| TuningFlags {
            memory_reservation: Some(s.into()),
            ..Default::default()
        };
        assert!(with_memory(Some(16 << 20), reservation("32m")).is_err());
        assert!(with_memory(None, reservation("1m")).is_err());
        let r = with_memory(None, reservation("32m")).unwrap();
        assert_eq!(r.tuning.memory_reservation, Some(32 << 20));
    }

    #[test]
    fn ulimits_sysctls_devices() {
        let u = parse_ulimit("nofile=1024:2048").unwrap();
        assert_eq!((u.soft, u.hard), (1024, 2048));
        assert_eq!(parse_ulimit("nproc=7").unwrap().soft, 7);
        assert!(parse_ulimit("nofile=3:2").is_err());
        assert!(parse_ulimit("bogus=1").is_err());
        assert!(parse_sysctl("net.ipv4.ip_forward=1", NetworkMode::None, None).is_ok());
        let e = parse_sysctl("net.ipv4.ip_forward=1", NetworkMode::Host, None).unwrap_err();
        assert!(e.to_string().contains("host network namespace"), "{e}");
        let e = parse_sysctl("vm.swappiness=1", NetworkMode::None, None).unwrap_err();
        assert!(
            e.to_string()
                .contains("sysctl 'vm.swappiness=1' is not allowed"),
            "{e}"
        );
        assert!(parse_sysctl("kernel.shmmax=1", NetworkMode::Host, Some("host")).is_err());
        assert!(parse_sysctl("kernel.shmmax=1", NetworkMode::Host, None).is_ok());
        let d = parse_device("/dev/null:/dev/mynull:r").unwrap();
        assert_eq!((d.kind, d.major, d.minor), ('c', 1, 3));
        assert_eq!(d.path, Path::new("/dev/mynull"));
        assert_eq!(d.access, "r");
        assert_eq!(
            parse_device("/dev/null:rw").unwrap().path,
            Path::new("/dev/null")
        );
        assert!(parse_device("/dev/nope").is_err());
        assert!(parse_device("/dev/null:/dev/x:rwz").is_err());
        assert!(parse_device_rate("/dev/null:1mb", "--device-read-bps").is_err());
        assert!(parse_device_rate("vda:1mb", "--device-read-bps").is_err());
    }

    #[test]
    fn cpusets_are_checked_against_the_machine() {
        assert!(check_cpuset("0", "cpus", "CPUs", "0-1").is_ok());
        assert!(check_cpuset("0-1", "cpus", "CPUs", "0-1").is_ok());
        let e = check_cpuset("5", "cpus", "CPUs", "0-1")
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "Requested CPUs are not available - requested 5, available: 0-1"
        );
        assert!(check_cpuset("x", "cpus", "CPUs", "0-1").is_err());
    }
}
