//! What `hoist run`'s resource and namespace flags add to a container's spec, as Docker's daemon
//! puts them in runc's: CPU shares and cpusets, swap, soft memory limit, OOM killer, block I/O
//! weight and throttles (`--cpu-shares` … `--device-write-bps`), devices (`--device`, and every
//! host device with `--privileged`), sysctls, and which namespaces are new, the host's, or
//! another container's (`--pid`, `--ipc`, `--uts`, `--cgroupns`).
//!
//! Everything here is already checked and resolved (device numbers, namespace paths) by the
//! runtime (`runtime::resources_config`, `runtime::namespaces_config`); this only shapes the spec.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::error::{spec_err, Result};

/// A block device's limit (`--device-read-bps /dev/vda:1mb` = 254:0 at 1048576 bytes a second).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceRate {
    pub major: i64,
    pub minor: i64,
    pub rate: u64,
}

/// A device node made in the container's /dev (`--device`), and the cgroup rule that lets it be used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceNode {
    /// Where it is in the container.
    pub path: PathBuf,
    /// `c` or `b`.
    pub kind: char,
    pub major: i64,
    pub minor: i64,
    /// Permission bits of the node (the host's).
    pub file_mode: u32,
    pub uid: u32,
    pub gid: u32,
    /// cgroup access: any of `r`, `w`, `m`.
    pub access: String,
}

/// A namespace of the container: its own (the default), the host's, or one to join.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum NamespaceMode {
    #[default]
    New,
    Host,
    /// `/proc/<pid>/ns/<kind>` of another container's init.
    Join(PathBuf),
}

/// The pid, IPC, UTS and cgroup namespaces (network is the `Network` of the request).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamespaceModes {
    pub pid: NamespaceMode,
    pub ipc: NamespaceMode,
    pub uts: NamespaceMode,
    /// Docker's default on a cgroup v1 host is the host's.
    pub cgroup: NamespaceMode,
    /// `--network container:NAME`: join this network namespace instead of making one (with a
    /// private network only).
    #[serde(default)]
    pub network_join: Option<PathBuf>,
}

impl Default for NamespaceModes {
    fn default() -> Self {
        NamespaceModes {
            pid: NamespaceMode::New,
            ipc: NamespaceMode::New,
            uts: NamespaceMode::New,
            cgroup: NamespaceMode::Host,
            network_join: None,
        }
    }
}

/// The settings of `hoist run`'s resource and namespace flags; all off by default.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ContainerTuning {
    pub cpu_shares: Option<u64>,
    pub cpuset_cpus: Option<String>,
    pub cpuset_mems: Option<String>,
    /// Memory + swap in bytes; -1 unlimited. Unset: the same as the memory limit.
    pub memory_swap: Option<i64>,
    /// The soft limit, in bytes.
    pub memory_reservation: Option<i64>,
    pub blkio_weight: Option<u16>,
    pub device_read_bps: Vec<DeviceRate>,
    pub device_write_bps: Vec<DeviceRate>,
    pub oom_kill_disable: bool,
    pub sysctls: BTreeMap<String, String>,
    pub devices: Vec<DeviceNode>,
    pub namespaces: NamespaceModes,
    /// `/dev/shm` bind-mounted from here instead of a tmpfs of its own (`--ipc host` or
    /// `container:NAME`: the shared memory of the IPC namespace joined).
    pub shm_source: Option<PathBuf>,
    /// Supplementary groups added to the user's (`--group-add`), resolved to gids.
    pub group_add: Vec<u32>,
}

/// Add the tuning's limits to `resources` (memory and CPU settings merge with `--memory`/`--cpus`).
pub(super) fn tune_resources(
    resources: &mut oci_spec::runtime::LinuxResources,
    tuning: &ContainerTuning,
) -> Result<()> {
    use oci_spec::runtime::*;
    if tuning.memory_swap.is_some()
        || tuning.memory_reservation.is_some()
        || tuning.oom_kill_disable
    {
        let mut memory = resources.memory().unwrap_or_default();
        if let Some(swap) = tuning.memory_swap {
            memory.set_swap(Some(swap));
        }
        if let Some(reservation) = tuning.memory_reservation {
            memory.set_reservation(Some(reservation));
        }
        if tuning.oom_kill_disable {
            memory.set_disable_oom_killer(Some(true));
        }
        resources.set_memory(Some(memory));
    }
    if tuning.cpu_shares.is_some() || tuning.cpuset_cpus.is_some() || tuning.cpuset_mems.is_some() {
        let mut cpu = resources.cpu().clone().unwrap_or_default();
        if let Some(shares) = tuning.cpu_shares {
            cpu.set_shares(Some(shares));
        }
        cpu.set_cpus(tuning.cpuset_cpus.clone());
        cpu.set_mems(tuning.cpuset_mems.clone());
        resources.set_cpu(Some(cpu));
    }
    if tuning.blkio_weight.is_some()
        || !tuning.device_read_bps.is_empty()
        || !tuning.device_write_bps.is_empty()
    {
        let throttles = |rates: &[DeviceRate]| -> Result<Option<Vec<LinuxThrottleDevice>>> {
            if rates.is_empty() {
                return Ok(None);
            }
            rates
                .iter()
                .map(|r| {
                    LinuxThrottleDeviceBuilder::default()
                        .major(r.major)
                        .minor(r.minor)
                        .rate(r.rate)
                        .build()
                        .map_err(spec_err)
                })
                .collect::<Result<Vec<_>>>()
                .map(Some)
        };
        let mut block_io = LinuxBlockIo::default();
        block_io.set_weight(tuning.blkio_weight);
        block_io.set_throttle_read_bps_device(throttles(&tuning.device_read_bps)?);
        block_io.set_throttle_write_bps_device(throttles(&tuning.device_write_bps)?);
        resources.set_block_io(Some(block_io));
    }
    if !tuning.devices.is_empty() {
        let mut rules = resources.devices().clone().unwrap_or_default();
        for device in &tuning.devices {
            rules.push(
                LinuxDeviceCgroupBuilder::default()
                    .allow(true)
                    .typ(device_type(device.kind))
                    .major(device.major)
                    .minor(device.minor)
                    .access(device.access.clone())
                    .build()
                    .map_err(spec_err)?,
            );
        }
        resources.set_devices(Some(rules));
    }
    Ok(())
}

fn device_type(kind: char) -> oci_spec::runtime::LinuxDeviceType {
    match kind {
        'b' => oci_spec::runtime::LinuxDeviceType::B,
        _ => oci_spec::runtime::LinuxDeviceType::C,
    }
}

/// The device nodes of the spec: `--device`s, and with `privileged` every device of the host's /dev
/// (as runc's `HostDevices`, which Docker gives a privileged container).
pub(super) fn spec_devices(
    tuning: &ContainerTuning,
    privileged: bool,
) -> Result<Vec<oci_spec::runtime::LinuxDevice>> {
    let mut nodes = tuning.devices.clone();
    if privileged {
        for node in host_devices(Path::new("/dev")) {
            if !nodes.iter().any(|n| n.path == node.path) {
                nodes.push(node);
            }
        }
    }
    nodes
        .iter()
        .map(|n| {
            oci_spec::runtime::LinuxDeviceBuilder::default()
                .path(n.path.clone())
                .typ(device_type(n.kind))
                .major(n.major)
                .minor(n.minor)
                .file_mode(n.file_mode)
                .uid(n.uid)
                .gid(n.gid)
                .build()
                .map_err(spec_err)
        })
        .collect()
}

/// The device node at `path` (following no symlink), if it is one.
pub fn device_node(path: &Path, in_container: &Path, access: &str) -> Option<DeviceNode> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let meta = std::fs::symlink_metadata(path).ok()?;
    let kind = if meta.file_type().is_char_device() {
        'c'
    } else if meta.file_type().is_block_device() {
        'b'
    } else {
        return None;
    };
    let rdev = meta.rdev();
    Some(DeviceNode {
        path: in_container.to_path_buf(),
        kind,
        major: libc::major(rdev) as i64,
        minor: libc::minor(rdev) as i64,
        file_mode: meta.mode() & 0o7777,
        uid: meta.uid(),
        gid: meta.gid(),
        access: access.to_string(),
    })
}

/// Every device node under `dir`, as runc's `HostDevices`: not in pts, shm, mqueue and fd (the
/// container has its own), and not /dev/console nor /dev/ptmx (the runtime's own).
fn host_devices(dir: &Path) -> Vec<DeviceNode> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let Ok(file_type) = entry.file_type() else {
            continue;
        };
        if file_type.is_dir() {
            if !matches!(
                name.as_ref(),
                "pts" | "shm" | "mqueue" | "fd" | ".lxc" | ".lxd-mounts" | ".udev"
            ) {
                found.extend(host_devices(&path));
            }
            continue;
        }
        if dir == Path::new("/dev") && matches!(name.as_ref(), "console" | "ptmx") {
            continue;
        }
        if let Some(node) = device_node(&path, &path, "rwm") {
            found.push(node);
        }
    }
    found
}

/// The spec's namespaces: mount always, network as `network_private` says, the rest as `modes`.
pub(super) fn spec_namespaces(
    modes: &NamespaceModes,
    network_private: bool,
) -> Result<Vec<oci_spec::runtime::LinuxNamespace>> {
    use oci_spec::runtime::{LinuxNamespaceBuilder, LinuxNamespaceType as T};
    let mut wanted: Vec<(T, Option<PathBuf>)> = vec![(T::Mount, None)];
    for (typ, mode) in [
        (T::Pid, &modes.pid),
        (T::Ipc, &modes.ipc),
        (T::Uts, &modes.uts),
        (T::Cgroup, &modes.cgroup),
    ] {
        match mode {
            NamespaceMode::New => wanted.push((typ, None)),
            NamespaceMode::Join(path) => wanted.push((typ, Some(path.clone()))),
            NamespaceMode::Host => {}
        }
    }
    if network_private {
        wanted.push((T::Network, modes.network_join.clone()));
    }
    wanted
        .into_iter()
        .map(|(typ, path)| {
            let mut b = LinuxNamespaceBuilder::default().typ(typ);
            if let Some(path) = path {
                b = b.path(path);
            }
            b.build().map_err(spec_err)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tuning_reaches_the_resources() {
        let tuning = ContainerTuning {
            cpu_shares: Some(512),
            cpuset_cpus: Some("0".into()),
            memory_swap: Some(-1),
            memory_reservation: Some(32 << 20),
            oom_kill_disable: true,
            device_read_bps: vec![DeviceRate {
                major: 254,
                minor: 0,
                rate: 1 << 20,
            }],
            ..Default::default()
        };
        let mut resources = oci_spec::runtime::LinuxResources::default();
        tune_resources(&mut resources, &tuning).unwrap();
        let memory = resources.memory().unwrap();
        assert_eq!(memory.swap(), Some(-1));
        assert_eq!(memory.reservation(), Some(32 << 20));
        assert_eq!(memory.disable_oom_killer(), Some(true));
        let cpu = resources.cpu().clone().unwrap();
        assert_eq!(cpu.shares(), Some(512));
        assert_eq!(cpu.cpus().as_deref(), Some("0"));
        let io = resources.block_io().clone().unwrap();
        assert_eq!(
            io.throttle_read_bps_device().as_ref().unwrap()[0].rate(),
            1 << 20
        );
    }

    #[test]
    fn namespaces_follow_the_modes() {
        use oci_spec::runtime::LinuxNamespaceType as T;
        let modes = NamespaceModes {
            pid: NamespaceMode::Host,
            ipc: NamespaceMode::Join("/proc/1/ns/ipc".into()),
            uts: NamespaceMode::New,
            cgroup: NamespaceMode::New,
            network_join: None,
        };
        let ns = spec_namespaces(&modes, false).unwrap();
        let types: Vec<_> = ns.iter().map(|n| n.typ()).collect();
        assert!(!types.contains(&T::Pid) && !types.contains(&T::Network));
        assert!(types.contains(&T::Cgroup) && types.contains(&T::Uts));
        let ipc = ns.iter().find(|n| n.typ() == T::Ipc).unwrap();
        assert_eq!(ipc.path().as_deref(), Some(Path::new("/proc/1/ns/ipc")));
        let defaults = spec_namespaces(&NamespaceModes::default(), true).unwrap();
        assert_eq!(defaults.len(), 5, "mount, pid, ipc, uts, net");
        let joined = NamespaceModes {
            network_join: Some("/proc/7/ns/net".into()),
            ..NamespaceModes::default()
        };
        let ns = spec_namespaces(&joined, true).unwrap();
        let net = ns.iter().find(|n| n.typ() == T::Network).unwrap();
        assert_eq!(net.path().as_deref(), Some(Path::new("/proc/7/ns/net")));
    }

    #[test]
    fn privileged_gets_the_hosts_devices() {
        let devices = spec_devices(&ContainerTuning::default(), true).unwrap();
        assert!(devices.iter().any(|d| d.path() == Path::new("/dev/null")));
        assert!(!devices.iter().any(|d| d.path() == Path::new("/dev/ptmx")));
        assert!(spec_devices(&ContainerTuning::default(), false)
            .unwrap()
            .is_empty());
    }
}
