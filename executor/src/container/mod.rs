//! Run one process in a container (youki's `libcontainer`), the way BuildKit runs a `RUN` step.
//!
//! libcontainer creates the container with a raw `clone3` and then runs plenty of Rust (allocation,
//! logging) in the child. In a multi-threaded process (the solver's step threads) another thread may hold
//! the allocator's lock at that moment and the child would deadlock, so [`run`] never does that
//! in-process: it re-executes the current program (`/proc/self/exe`, or `$HOIST_CONTAINER_INIT`)
//! with a hidden marker argument. The re-executed program turns into the helper before `main`
//! (an `.init_array` hook, glibc targets) or, failing that, in [`crate::maybe_run_container_init`] —
//! called first thing in `main`, before any thread exists. The helper runs libcontainer
//! single-threaded, reports the result over a pipe (`helper_channel`) and exits. [`run_in_process`] is that
//! single-threaded path, for callers that know they have one thread.
//!
//! Cleanup: the process dies with its helper, the helper with the thread that started it
//! (`PR_SET_PDEATHSIG`); pid 1 of the container dying takes every process and mount of its
//! namespaces along. [`run`] removes the container's state and cgroup whatever happened; for hoist
//! processes that were killed, the store's sweep hands their staging dirs to `crate::reap`.
//!
//! One module per concern, as youki's `libcontainer`; this file holds only the API:
//!
//! - what to run: [`ContainerSpec`] (a build step), [`RuntimeOptions`] (what `hoist run` adds),
//!   [`Network`], [`ExtraMount`] — `request`, which also makes the helper's request from them;
//! - how to run it: [`run`], [`run_cancellable`] with a [`CancelToken`] (`cancel`), [`run_in_process`];
//!   the helper process and its pre-`main` hook (`helper`); one container's life through
//!   libcontainer (`lifecycle`) and what runs in its init before the command (`workload`, `reaper`);
//! - what the container gets: its OCI spec (`spec`), capabilities (`capabilities`), device rules and
//!   limits (`resources`), `--ulimit` and `--shm-size` (`step_limits`), cgroups (`cgroups`), `lo` and resolv.conf/hosts (`network`), paths in its
//!   root (`rootfs`), Docker's seccomp profile (`seccomp_profile`) compiled and loaded (`seccomp`);
//! - cleaning up after processes that died: [`remove_stale_containers`] (`stale`);
//! - errors: [`ContainerError`] (`error`).
//!
//! The runtime behind `hoist run` (the `runtime` module) uses the crate-visible part too (the
//! request, the libcontainer core, cgroups); nothing here uses the runtime.

use std::path::Path;

mod cancel;
mod capabilities;
mod cgroups;
mod error;
mod helper;
mod lifecycle;
mod network;
mod reaper;
mod reexec;
mod request;
mod resources;
mod rootfs;
mod seccomp;
mod seccomp_profile;
mod spec;
mod stale;
mod step_limits;
mod tuning;
mod workload;

pub use cancel::CancelToken;
pub use capabilities::parse_capability;
pub use error::{ContainerError, Result, SeccompError};
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub(crate) use reexec::marker_arguments;
pub use reexec::{INIT_MARKER, INIT_PROGRAM_ENV};
pub use request::{ContainerSpec, ExtraMount, Network, RuntimeOptions, Ulimit, DEFAULT_PATH};
pub(crate) use resources::swap_accounting_enabled;
pub use rootfs::resolve_in_root;
pub use spec::{MASKED_PATHS, READONLY_PATHS};
pub use stale::remove_stale_containers;
pub use step_limits::is_ulimit_name;
pub use tuning::{
    device_node, ContainerTuning, DeviceNode, DeviceRate, NamespaceMode, NamespaceModes,
};

// For `hoist run` (the `runtime` module) and the reaper of stale state (`reap`).
pub(crate) use capabilities::effective_capabilities_of;
pub(crate) use cgroups::{
    cgroup_mount_points, oom_kills_of, remove_cgroups_of, unescape_mount_point, CgroupsInTheMaking,
};
pub(crate) use helper::init_main;
pub(crate) use lifecycle::run_container_with;
pub(crate) use request::{bundle_dir, InitRequest, Stdio3};
pub(crate) use seccomp::{seccomp_program_for, uses_seccomp};
pub(crate) use stale::{owner_pid, remove_container};
pub(crate) use workload::Workload;

use error::io_err;
use helper::{cleanup, run_helper};
use lifecycle::run_container;
use request::prepare;

/// Run the process and wait for it: its exit code, or 128+signal when a signal killed it.
/// Safe to call from many threads at once. Nothing is left in `state_dir` when it returns.
pub fn run(spec: ContainerSpec, state_dir: &Path) -> Result<i32> {
    run_cancellable(spec, state_dir, &CancelToken::new())
}

/// [`run`], stopped early (SIGKILL to the container, then the usual cleanup) when `cancel` is
/// cancelled from another thread; then the result is [`ContainerError::Cancelled`].
pub fn run_cancellable(spec: ContainerSpec, state_dir: &Path, cancel: &CancelToken) -> Result<i32> {
    if cancel.is_cancelled() {
        return Err(ContainerError::Cancelled);
    }
    let (request, stdio) = prepare(spec, state_dir)?;
    let bundle = bundle_dir(&request);
    let result = run_helper(&request, &bundle, stdio, cancel);
    cleanup(&request, &bundle);
    if cancel.is_cancelled() {
        return Err(ContainerError::Cancelled);
    }
    result
}

/// Like [`run`], but creates the container from this process. Only safe while the calling
/// process has a single thread (see the module docs); tests and the helper itself use it.
pub fn run_in_process(spec: ContainerSpec, state_dir: &Path) -> Result<i32> {
    let (request, stdio) = prepare(spec, state_dir)?;
    let bundle = bundle_dir(&request);
    let result = std::fs::create_dir(&bundle)
        .map_err(io_err("create the bundle dir", &bundle))
        .and_then(|()| run_container(&request, &bundle, stdio));
    cleanup(&request, &bundle);
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_argv_is_rejected() {
        let spec = ContainerSpec {
            rootfs: "/".into(),
            args: vec![],
            env: vec![],
            cwd: "/".into(),
            uid: 0,
            gid: 0,
            additional_gids: vec![],
            hostname: "h".into(),
            network: Network::Host,
            mounts: vec![],
            readonly_rootfs: false,
            seccomp_cache: None,
            options: RuntimeOptions::default(),
            stdin: None,
            stdout: None,
            stderr: None,
        };
        assert!(matches!(
            run(spec, Path::new("/nonexistent")),
            Err(ContainerError::InvalidSpec(_))
        ));
    }
}
