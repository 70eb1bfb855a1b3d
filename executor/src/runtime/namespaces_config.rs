//! `hoist run`'s namespace and sharing flags, as Docker has them: `--pid host|container:NAME`,
//! `--ipc host|private|shareable|container:NAME`, `--uts host`, `--cgroupns host|private`,
//! `--volumes-from CTR[:ro|rw]` and `--group-add`.
//!
//! What needs no other container is decided when the container is made ([`static_modes`]);
//! joining another container's namespace needs its init's pid, so that is resolved when the
//! container starts ([`resolve_at_start`]) — as Docker's daemon does, with its errors.

use std::path::{Path, PathBuf};

use super::resources_config::TuningFlags;
use super::state::{self, ContainerRecord, MountRecord, Status};
use super::{Result, RuntimeError};
use crate::container::{NamespaceMode, NamespaceModes, RuntimeOptions};

fn invalid(message: String) -> RuntimeError {
    RuntimeError::Invalid(message)
}

/// The name in `container:NAME`, if `mode` is one.
fn container_of(mode: Option<&str>) -> Option<&str> {
    mode.and_then(|m| m.strip_prefix("container:"))
}

/// The modes that need no other container; `container:NAME` is a new namespace until the start.
pub fn static_modes(flags: &TuningFlags) -> Result<NamespaceModes> {
    let ipc = match flags.ipc.as_deref() {
        None | Some("" | "private" | "shareable") => NamespaceMode::New,
        Some("host") => NamespaceMode::Host,
        Some(m) if container_of(Some(m)).is_some_and(|n| !n.is_empty()) => NamespaceMode::New,
        Some(m) => {
            return Err(invalid(format!(
                "invalid IPC mode: {m} (use host, private, shareable or container:NAME)"
            )))
        }
    };
    let pid = match flags.pid.as_deref() {
        None | Some("") => NamespaceMode::New,
        Some("host") => NamespaceMode::Host,
        Some(m) if container_of(Some(m)).is_some_and(|n| !n.is_empty()) => NamespaceMode::New,
        Some(m) => {
            return Err(invalid(format!(
                "invalid PID mode: {m} (use host or container:NAME)"
            )))
        }
    };
    let uts = match flags.uts.as_deref() {
        None | Some("") => NamespaceMode::New,
        Some("host") => NamespaceMode::Host,
        Some(m) => return Err(invalid(format!("invalid UTS mode: {m} (use host)"))),
    };
    let cgroup = match flags.cgroupns.as_deref() {
        None | Some("" | "host") => NamespaceMode::Host,
        Some("private") => NamespaceMode::New,
        Some(m) => {
            return Err(invalid(format!(
                "invalid cgroup namespace mode: {m} (use host or private)"
            )))
        }
    };
    Ok(NamespaceModes {
        pid,
        ipc,
        uts,
        cgroup,
        network_join: None,
    })
}

/// Docker refuses a hostname with the host's UTS namespace.
pub fn check_hostname(flags: &TuningFlags, hostname: Option<&str>) -> Result<()> {
    if flags.uts.as_deref() == Some("host") && hostname.is_some() {
        return Err(invalid(
            "Conflicting options: hostname and the UTS mode (--uts host keeps the host's hostname)"
                .into(),
        ));
    }
    Ok(())
}

/// The hostname a container with `--uts host` has: the host's.
pub fn host_hostname() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_default()
}

/// The mounts `--volumes-from` adds: every volume and bind of each container named, read-only
/// or read-write as `:ro`/`:rw` says (else as they are there), but where `taken` (the container's
/// own `-v`/`--mount`) already mounts something. Their volumes are not the new container's
/// anonymous ones: removing it leaves them.
pub fn volumes_from(
    root: &Path,
    specs: &[String],
    taken: &[MountRecord],
) -> Result<Vec<MountRecord>> {
    let mut added: Vec<MountRecord> = Vec::new();
    for spec in specs {
        let (name, mode) = match spec.rsplit_once(':') {
            Some((name, mode @ ("ro" | "rw"))) => (name, Some(mode == "ro")),
            Some((_, mode)) => {
                return Err(invalid(format!(
                    "invalid --volumes-from {spec:?}: invalid mode: {mode} (use ro or rw)"
                )))
            }
            None => (spec.as_str(), None),
        };
        let (_, donor) = state::find(root, name)?;
        for mount in donor.mounts {
            let destination = super::volumes::destination(&mount)
                .trim_end_matches('/')
                .to_string();
            let mounted = |m: &MountRecord| {
                super::volumes::destination(m).trim_end_matches('/') == destination
            };
            if taken.iter().any(mounted) || added.iter().any(mounted) {
                continue;
            }
            added.push(match mount {
                MountRecord::Bind {
                    source,
                    destination,
                    readonly,
                } => MountRecord::Bind {
                    source,
                    destination,
                    readonly: mode.unwrap_or(readonly),
                },
                MountRecord::Volume {
                    name,
                    source,
                    destination,
                    readonly,
                    ..
                } => MountRecord::Volume {
                    name,
                    source,
                    destination,
                    readonly: mode.unwrap_or(readonly),
                    anonymous: false,
                },
                // A tmpfs is the donor's own memory: nothing to share.
                MountRecord::Tmpfs { .. } => continue,
            });
        }
    }
    Ok(added)
}

/// The running init of container `name`, for joining one of its namespaces (`what`: IPC, PID).
fn running_init(root: &Path, name: &str, what: &str) -> Result<(i32, ContainerRecord)> {
    let (dir, record) = state::find(root, name)?;
    let state = dir.current_state()?;
    match (state.status, state.pid) {
        (Status::Running, Some(pid)) => Ok((pid, record)),
        _ => Err(invalid(format!(
            "cannot join {what} of a non running container: {name}"
        ))),
    }
}

/// Fill in what needs other containers or the rootfs, right before the container starts:
/// namespaces to join, `/dev/shm` of the IPC namespace used, and `--group-add`'s gids (into
/// `additional_gids`).
pub fn resolve_at_start(
    root: &Path,
    record: &ContainerRecord,
    runtime: &mut RuntimeOptions,
    rootfs: &Path,
    additional_gids: &mut Vec<u32>,
) -> Result<()> {
    let flags = &record.options.tuning;
    match container_of(flags.ipc.as_deref()) {
        Some(name) => {
            let (pid, donor) = running_init(root, name, "IPC")?;
            if !matches!(
                donor.options.tuning.ipc.as_deref(),
                Some("shareable" | "host")
            ) {
                return Err(invalid(format!(
                    "cannot join IPC of container {name}: non-shareable IPC (hint: use \
                     --ipc shareable for the donor container)"
                )));
            }
            runtime.tuning.namespaces.ipc = NamespaceMode::Join(ns_path(pid, "ipc"));
            runtime.tuning.shm_source = Some(PathBuf::from(format!("/proc/{pid}/root/dev/shm")));
        }
        None if flags.ipc.as_deref() == Some("host") => {
            runtime.tuning.shm_source = Some(PathBuf::from("/dev/shm"));
        }
        None => {}
    }
    if let Some(name) = container_of(flags.pid.as_deref()) {
        let (pid, _) = running_init(root, name, "PID")?;
        runtime.tuning.namespaces.pid = NamespaceMode::Join(ns_path(pid, "pid"));
    }
    if let Some(name) = flags.network_container.as_deref() {
        let (pid, _) = running_init(root, name, "network stack")?;
        runtime.tuning.namespaces.network_join = Some(ns_path(pid, "net"));
    }
    for group in &flags.group_add {
        let gid = match group.parse::<u32>() {
            Ok(gid) => gid,
            Err(_) => crate::user::resolve_user(rootfs, &format!("0:{group}"))?.gid,
        };
        if !additional_gids.contains(&gid) {
            additional_gids.push(gid);
        }
    }
    Ok(())
}

fn ns_path(pid: i32, kind: &str) -> PathBuf {
    PathBuf::from(format!("/proc/{pid}/ns/{kind}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_as_docker_spells_them() {
        let flags = |ipc: &str, pid: &str| TuningFlags {
            ipc: Some(ipc.into()),
            pid: Some(pid.into()),
            ..Default::default()
        };
        let m = static_modes(&flags("host", "host")).unwrap();
        assert_eq!((m.ipc, m.pid), (NamespaceMode::Host, NamespaceMode::Host));
        let m = static_modes(&flags("shareable", "container:x")).unwrap();
        assert_eq!((m.ipc, m.pid), (NamespaceMode::New, NamespaceMode::New));
        assert!(static_modes(&flags("bogus", "")).is_err());
        assert!(static_modes(&flags("", "container:")).is_err());
        assert_eq!(
            static_modes(&TuningFlags::default()).unwrap(),
            NamespaceModes::default()
        );
        let private = TuningFlags {
            cgroupns: Some("private".into()),
            ..Default::default()
        };
        assert_eq!(static_modes(&private).unwrap().cgroup, NamespaceMode::New);
        let uts = TuningFlags {
            uts: Some("host".into()),
            ..Default::default()
        };
        assert!(check_hostname(&uts, Some("x")).is_err());
        assert!(check_hostname(&uts, None).is_ok());
    }
}
