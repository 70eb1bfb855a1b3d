//! What to run: the caller's [`ContainerSpec`] and [`RuntimeOptions`], checked and turned into the
//! [`InitRequest`] that the helper process (or `hoist run`'s monitor) receives, with a fresh
//! container id, and the bundle dir that goes with it.

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

use super::error::{io_err, ContainerError, Result};

/// `PATH` given to the process when its environment has none (Docker's and BuildKit's default).
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Network {
    /// Share the host's network namespace.
    Host,
    /// A network namespace of its own with only `lo`, up.
    None,
    /// A network namespace of its own on the `hoist0` bridge (NAT to the host's network), as
    /// BuildKit's default for `RUN`; see [`crate::bridge`].
    Bridge,
}

/// A resource limit (`--ulimit nofile=1024:2048`): `name` as Docker spells it (`nofile`, `nproc` …).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ulimit {
    pub name: String,
    pub soft: u64,
    pub hard: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExtraMount {
    Bind {
        source: PathBuf,
        destination: PathBuf,
        readonly: bool,
    },
    Tmpfs {
        destination: PathBuf,
    },
    /// A tmpfs with mount options (`size=64m`, `mode=1777`, `noexec` …), as `docker run --tmpfs`.
    TmpfsWith {
        destination: PathBuf,
        options: Vec<String>,
    },
}

impl ExtraMount {
    pub fn destination(&self) -> &Path {
        match self {
            ExtraMount::Bind { destination, .. }
            | ExtraMount::Tmpfs { destination }
            | ExtraMount::TmpfsWith { destination, .. } => destination,
        }
    }
}

/// What `hoist run` adds to a build step's container; everything off by default.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuntimeOptions {
    /// Capabilities added to Docker's defaults (`NET_ADMIN`, `CAP_NET_ADMIN` or `ALL`).
    pub cap_add: Vec<String>,
    /// Capabilities removed from Docker's defaults (or `ALL`).
    pub cap_drop: Vec<String>,
    /// Every capability, no masked or read-only /proc paths, all devices allowed.
    pub privileged: bool,
    /// Memory limit in bytes (swap included, so the limit is hard).
    pub memory: Option<i64>,
    /// CPU limit in thousandths of a CPU (`--cpus 1.5` = 1500).
    pub cpu_millis: Option<i64>,
    /// Maximum number of processes.
    pub pids_limit: Option<i64>,
    /// Give the process a pty; its master is sent to `console_socket`.
    pub terminal: bool,
    pub console_socket: Option<PathBuf>,
    /// pid 1 is a tiny reaper that runs the command as its child and forwards signals.
    pub init: bool,
    /// Docker's default seccomp profile (the `seccomp_profile` module): on for `hoist run` (but
    /// `--security-opt seccomp=unconfined`) and for build steps. Ignored with `privileged`.
    #[serde(default)]
    pub seccomp: bool,
    /// `--security-opt no-new-privileges`: setuid binaries and file capabilities grant nothing.
    #[serde(default)]
    pub no_new_privileges: bool,
    /// `--add-host NAME:IP`: lines appended to the container's `/etc/hosts`.
    #[serde(default)]
    pub extra_hosts: Vec<(String, String)>,
    /// `--shm-size`: the size of `/dev/shm` in bytes (default 64 MiB).
    #[serde(default)]
    pub shm_size: Option<u64>,
    /// `--ulimit`: resource limits of the process (default: inherited from hoist).
    #[serde(default)]
    pub ulimits: Vec<Ulimit>,
    /// `hoist run`'s resource and namespace flags (`--cpu-shares`, `--device`, `--pid` …).
    #[serde(default)]
    pub tuning: super::tuning::ContainerTuning,
}

/// One process to run. Stdio left `None` is inherited from the calling process.
#[derive(Debug)]
pub struct ContainerSpec {
    /// The merged overlay dir (read-write unless `readonly_rootfs`).
    pub rootfs: PathBuf,
    /// argv; `args[0]` without a `/` is looked up in `PATH` from `env`, inside the container.
    pub args: Vec<String>,
    /// `KEY=VALUE`; `PATH` is added with [`DEFAULT_PATH`] when missing.
    pub env: Vec<String>,
    /// Absolute working directory, created (root-owned, 0755) when missing.
    pub cwd: String,
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
    pub hostname: String,
    pub network: Network,
    pub mounts: Vec<ExtraMount>,
    pub readonly_rootfs: bool,
    /// Run under Docker's default seccomp profile, as BuildKit runs every `RUN`, its compiled
    /// program cached in this directory (the state root's `containers/.seccomp`, which the runtime's
    /// `seccomp_cache_for` names); `None`: without a filter.
    pub seccomp_cache: Option<PathBuf>,
    /// What the step adds to the defaults (`--add-host`, `--shm-size`, `--ulimit`, `privileged` for
    /// `RUN --security=insecure`); `seccomp` is set from `seccomp_cache`.
    pub options: RuntimeOptions,
    pub stdin: Option<OwnedFd>,
    pub stdout: Option<OwnedFd>,
    pub stderr: Option<OwnedFd>,
}

/// Everything of a [`ContainerSpec`] but its descriptors; what the helper process receives.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct InitRequest {
    pub(crate) id: String,
    pub(crate) state_dir: PathBuf,
    pub(crate) rootfs: PathBuf,
    pub(crate) args: Vec<String>,
    pub(crate) env: Vec<String>,
    pub(crate) cwd: String,
    pub(crate) uid: u32,
    pub(crate) gid: u32,
    pub(crate) additional_gids: Vec<u32>,
    pub(crate) hostname: String,
    pub(crate) network: Network,
    pub(crate) mounts: Vec<ExtraMount>,
    pub(crate) readonly_rootfs: bool,
    #[serde(default)]
    pub(crate) options: RuntimeOptions,
    /// Where compiled seccomp filters are kept between runs (`containers/.seccomp`); sent to
    /// the helper of a build step with the rest.
    #[serde(default)]
    pub(crate) seccomp_cache: Option<PathBuf>,
}

pub(crate) struct Stdio3 {
    pub(crate) stdin: Option<OwnedFd>,
    pub(crate) stdout: Option<OwnedFd>,
    pub(crate) stderr: Option<OwnedFd>,
}

impl Stdio3 {
    pub(crate) fn inherit() -> Self {
        Stdio3 {
            stdin: None,
            stdout: None,
            stderr: None,
        }
    }
}

static NEXT_ID: AtomicU64 = AtomicU64::new(0);

pub(super) fn prepare(spec: ContainerSpec, state_dir: &Path) -> Result<(InitRequest, Stdio3)> {
    if spec.args.is_empty() {
        return Err(ContainerError::InvalidSpec(
            "no command to run (empty argv)".into(),
        ));
    }
    if !spec.cwd.starts_with('/') {
        return Err(ContainerError::InvalidSpec(format!(
            "working directory {:?} is not absolute",
            spec.cwd
        )));
    }
    if !spec.rootfs.is_dir() {
        return Err(ContainerError::InvalidSpec(format!(
            "rootfs {:?} is not a directory",
            spec.rootfs
        )));
    }
    for m in &spec.mounts {
        let dest = m.destination();
        if !dest.is_absolute() {
            return Err(ContainerError::InvalidSpec(format!(
                "mount destination {dest:?} is not absolute"
            )));
        }
    }
    std::fs::create_dir_all(state_dir).map_err(io_err("create the state dir", state_dir))?;
    let state_dir =
        std::fs::canonicalize(state_dir).map_err(io_err("resolve the state dir", state_dir))?;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let id = format!(
        "hoist-{}-{}-{nanos:08x}",
        std::process::id(),
        NEXT_ID.fetch_add(1, Ordering::Relaxed)
    );
    let mut env = spec.env;
    if !env.iter().any(|e| e.starts_with("PATH=")) {
        env.push(format!("PATH={DEFAULT_PATH}"));
    }
    let request = InitRequest {
        id,
        state_dir,
        rootfs: spec.rootfs,
        args: spec.args,
        env,
        cwd: spec.cwd,
        uid: spec.uid,
        gid: spec.gid,
        additional_gids: spec.additional_gids,
        hostname: spec.hostname,
        network: spec.network,
        mounts: spec.mounts,
        readonly_rootfs: spec.readonly_rootfs,
        options: RuntimeOptions {
            seccomp: spec.seccomp_cache.is_some(),
            ..spec.options
        },
        seccomp_cache: spec.seccomp_cache,
    };
    let stdio = Stdio3 {
        stdin: spec.stdin,
        stdout: spec.stdout,
        stderr: spec.stderr,
    };
    Ok((request, stdio))
}

/// Our files for one container (config.json, resolv.conf, hosts…), next to libcontainer's own
/// state dir `state_dir/<id>` (which libcontainer insists on creating itself).
pub(crate) fn bundle_dir(request: &InitRequest) -> PathBuf {
    request.state_dir.join(format!("{}.bundle", request.id))
}
