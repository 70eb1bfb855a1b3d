//! One container's life through libcontainer, single-threaded: prepare the rootfs and the network
//! files, write the spec, make the cgroups, create, start, wait, delete.

use std::path::Path;

use super::cgroups::{cgroup_path, remove_cgroups, CgroupsInTheMaking};
use super::error::{io_err, runtime_err, ContainerError, Result};
use super::network::{attach_to_bridge, bring_up_loopback, write_network_files};
use super::request::{InitRequest, Network, Stdio3, DEFAULT_PATH};
use super::rootfs::prepare_rootfs;
use super::seccomp::seccomp_program;
use super::spec::oci_spec;
use super::workload::Workload;

/// The single-threaded core: create, start, wait, delete.
pub(super) fn run_container(request: &InitRequest, bundle: &Path, stdio: Stdio3) -> Result<i32> {
    run_container_with(request, bundle, stdio, None, |_| Ok(()), wait_exit)
}

/// Wait for `pid` (a child): its exit code, or 128+signal.
pub(crate) fn wait_exit(pid: nix::unistd::Pid) -> Result<i32> {
    use nix::sys::wait::{waitpid, WaitStatus};
    loop {
        match waitpid(pid, None) {
            Ok(WaitStatus::Exited(_, code)) => return Ok(code),
            Ok(WaitStatus::Signaled(_, signal, _)) => return Ok(128 + signal as i32),
            Ok(_) => continue,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => {
                return Err(ContainerError::Runtime {
                    what: "wait for the container",
                    detail: e.to_string(),
                })
            }
        }
    }
}

/// Create the container, call `created` with its init pid (network setup), start it, let
/// `wait` wait for it (and do whatever else while it runs), delete it. Single-threaded callers
/// only (but for `cgroups`' thread, which is joined before anything forks). Without `cgroups`
/// the cgroups are made and removed here; with them, removing them (empty once the container
/// ran: see [`super::remove_cgroups_of`]) is the caller's business, unless the container failed.
pub(crate) fn run_container_with(
    request: &InitRequest,
    bundle: &Path,
    stdio: Stdio3,
    cgroups: Option<CgroupsInTheMaking>,
    created: impl FnOnce(i32) -> Result<()>,
    wait: impl FnOnce(nix::unistd::Pid) -> Result<i32>,
) -> Result<i32> {
    use libcontainer::container::builder::ContainerBuilder;
    use libcontainer::syscall::syscall::SyscallType;

    prepare_rootfs(request)?;
    write_network_files(request, bundle)?;
    let mut spec = oci_spec(request, bundle)?;
    // On a cgroup v1 host the cgroups are ours to make, and the init joins them without the
    // kernel's threadgroup lock (see `cgroup_v1`); libcontainer then runs with the hierarchies
    // out of sight. When either step is not possible, libcontainer does it all, as it used to.
    let resources = spec
        .linux()
        .as_ref()
        .and_then(|l| l.resources().clone())
        .unwrap_or_default();
    let cgroups_made_by_caller = cgroups.is_some();
    let own_cgroups = match cgroups {
        Some(making) => making.finish(),
        None if super::cgroups::joins_cgroups_itself(&request.options) => {
            crate::cgroup_v1::ContainerCgroups::create(&cgroup_path(&request.id), &resources)
        }
        None => None,
    };
    if own_cgroups.is_some() {
        // Applied already.
        if let Some(linux) = spec.linux_mut() {
            linux.set_resources(None);
        }
    }
    let config_path = bundle.join("config.json");
    // Written here rather than with `Spec::save`, whose error hides the OS's ("io operation failed").
    let config =
        serde_json::to_vec(&spec).map_err(|e| ContainerError::InvalidSpec(e.to_string()))?;
    std::fs::write(&config_path, config).map_err(io_err("write", &config_path))?;

    let mut builder = ContainerBuilder::new(request.id.clone(), SyscallType::default())
        .with_root_path(&request.state_dir)
        .map_err(runtime_err("use the state dir"))?;
    if let Some(fd) = stdio.stdin {
        builder = builder.with_stdin(fd);
    }
    if let Some(fd) = stdio.stdout {
        builder = builder.with_stdout(fd);
    }
    if let Some(fd) = stdio.stderr {
        builder = builder.with_stderr(fd);
    }
    if request.options.terminal {
        builder = builder.with_console_socket(request.options.console_socket.clone());
    }
    let seccomp = seccomp_program(&request.options, request.seccomp_cache.as_deref())?;
    let builder = builder
        .with_executor(Workload {
            die_with_parent: true,
            init: request.options.init,
            seccomp,
            join_cgroups: own_cgroups
                .as_ref()
                .map(|c| c.task_fds())
                .unwrap_or_default(),
        })
        .as_init(bundle)
        .with_systemd(false)
        .with_detach(true);
    // Without it libcontainer also moves its intermediate process into the cgroups (the slow
    // way), which is all right: they exist, with their limits.
    let hidden = own_cgroups
        .as_ref()
        .and_then(|_| crate::cgroup_v1::HiddenHierarchies::enter().ok());
    let built = builder.build();
    // The init has its own mount namespace now; ours must be the host's again before anything
    // else (cleanup reads the hierarchies from our mountinfo). The `tasks` files are no longer
    // needed either: the init has joined or failed.
    drop(own_cgroups);
    if let Some(hidden) = hidden {
        hidden.leave().map_err(io_err(
            "return to the host's mount namespace from",
            Path::new("/"),
        ))?;
    }
    let mut container = built.map_err(|e| {
        let detail = e.to_string();
        if detail.contains("not found in $PATH") {
            let path = request.env.iter().find_map(|e| e.strip_prefix("PATH="));
            ContainerError::CommandNotFound {
                command: request.args[0].clone(),
                path: path.unwrap_or(DEFAULT_PATH).to_string(),
            }
        } else if detail.contains("does not have correct permissions") {
            ContainerError::NotExecutable {
                command: request.args[0].clone(),
            }
        } else {
            runtime_err("create the container")(e)
        }
    })?;

    // From here on the container exists: delete it whatever happens.
    let outcome = (|| {
        let pid = container.pid().ok_or_else(|| ContainerError::Runtime {
            what: "create the container",
            detail: "no init process".into(),
        })?;
        if request.network != Network::Host {
            bring_up_loopback(pid.as_raw())?;
        }
        // Held until the container is gone: the address is given back on drop.
        let _lease = if request.network == Network::Bridge {
            Some(attach_to_bridge(request, bundle, pid.as_raw())?)
        } else {
            None
        };
        created(pid.as_raw())?;
        container
            .start()
            .map_err(runtime_err("start the container"))?;
        wait(pid)
    })();
    // After `wait`, pid 1 is gone and with it every process of its pid namespace (any straggler
    // in the cgroup is killed by remove_cgroups): what is left is the cgroup and libcontainer's
    // state dir, removed directly — libcontainer's delete costs several milliseconds more (it
    // parses mountinfo once per cgroup controller). Failures go through libcontainer.
    let deleted = match &outcome {
        Ok(_) => {
            if !cgroups_made_by_caller {
                remove_cgroups(&cgroup_path(&request.id));
            }
            let state = request.state_dir.join(&request.id);
            std::fs::remove_dir_all(&state).map_err(io_err("remove the container state", &state))
        }
        Err(_) => container
            .delete(true)
            .map_err(runtime_err("delete the container")),
    };
    let code = outcome?;
    deleted?;
    Ok(code)
}
