//! Capabilities as Docker hands them out: its default set, `--cap-add`/`--cap-drop` (`ALL`
//! included), everything with `--privileged`, never more than hoist itself has.

use super::error::{ContainerError, Result};
use super::request::RuntimeOptions;

/// Docker's default capability set.
const DEFAULT_CAPABILITIES: [oci_spec::runtime::Capability; 14] = {
    use oci_spec::runtime::Capability::*;
    [
        Chown,
        DacOverride,
        Fsetid,
        Fowner,
        Mknod,
        NetRaw,
        Setgid,
        Setuid,
        Setfcap,
        Setpcap,
        NetBindService,
        SysChroot,
        Kill,
        AuditWrite,
    ]
};

/// Every capability, in the kernel's numbering (index = capability number).
const ALL_CAPABILITIES: [&str; 41] = [
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "KILL",
    "SETGID",
    "SETUID",
    "SETPCAP",
    "LINUX_IMMUTABLE",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_ADMIN",
    "NET_RAW",
    "IPC_LOCK",
    "IPC_OWNER",
    "SYS_MODULE",
    "SYS_RAWIO",
    "SYS_CHROOT",
    "SYS_PTRACE",
    "SYS_PACCT",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_NICE",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "MKNOD",
    "LEASE",
    "AUDIT_WRITE",
    "AUDIT_CONTROL",
    "SETFCAP",
    "MAC_OVERRIDE",
    "MAC_ADMIN",
    "SYSLOG",
    "WAKE_ALARM",
    "BLOCK_SUSPEND",
    "AUDIT_READ",
    "PERFMON",
    "BPF",
    "CHECKPOINT_RESTORE",
];

/// Our own bounding set (`CapBnd` of /proc/self/status): a container cannot get more than we
/// have (hoist may itself run in a container), so `ALL` means these.
fn own_bounding_set() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("CapBnd:"))
                .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        })
        .unwrap_or(u64::MAX)
}

/// A capability name as Docker takes it: `NET_ADMIN`, `cap_net_admin`, `CAP_NET_ADMIN`.
pub fn parse_capability(name: &str) -> Result<oci_spec::runtime::Capability> {
    serde_json::from_value(serde_json::Value::String(name.to_string())).map_err(|_| {
        ContainerError::InvalidSpec(format!(
            "unknown capability {name:?} (expected a name like NET_ADMIN or CAP_SYS_PTRACE, or ALL)"
        ))
    })
}

/// Docker's defaults, then `--cap-drop`, then `--cap-add` (so `--cap-drop ALL --cap-add X` is only X).
pub(super) fn effective_capabilities(
    options: &RuntimeOptions,
) -> Result<oci_spec::runtime::Capabilities> {
    let is_all = |c: &String| c.eq_ignore_ascii_case("ALL");
    let bounding = own_bounding_set();
    let all = || -> Result<oci_spec::runtime::Capabilities> {
        ALL_CAPABILITIES
            .iter()
            .enumerate()
            .filter(|(number, _)| bounding & (1u64 << number) != 0)
            .map(|(_, c)| parse_capability(c))
            .collect()
    };
    if options.privileged {
        return all();
    }
    let mut caps: oci_spec::runtime::Capabilities = DEFAULT_CAPABILITIES.into_iter().collect();
    if options.cap_drop.iter().any(is_all) {
        caps.clear();
    }
    for name in options.cap_drop.iter().filter(|c| !is_all(c)) {
        caps.remove(&parse_capability(name)?);
    }
    if options.cap_add.iter().any(is_all) {
        caps.extend(all()?);
    }
    for name in options.cap_add.iter().filter(|c| !is_all(c)) {
        caps.insert(parse_capability(name)?);
    }
    Ok(caps)
}

/// The capabilities a process of a container with `options` gets.
pub(crate) fn effective_capabilities_of(
    options: &RuntimeOptions,
) -> Result<oci_spec::runtime::Capabilities> {
    effective_capabilities(options)
}
