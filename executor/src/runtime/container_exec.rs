//! `hoist exec [-i] [-t] [-e] [-w] [-u] NAME CMD…`: another process in a running container's
//! namespaces and cgroup (libcontainer's tenant builder), attached to our stdio or a pty.
//! Creates processes with `clone`: call it only while the calling process has one thread.

use std::os::fd::OwnedFd;
use std::path::Path;

use nix::sys::signalfd::{SfdFlags, SignalFd};

use super::state::{self, Status};
use super::{io_err, tty, Result, RuntimeError};

#[derive(Debug, Clone, Default)]
pub struct ExecOptions {
    pub interactive: bool,
    pub tty: bool,
    pub env: Vec<String>,
    pub workdir: Option<String>,
    pub user: Option<String>,
    pub privileged: bool,
    pub command: Vec<String>,
}

/// Run the command; its exit code (128+signal when killed).
pub fn exec(root: &Path, name: &str, opts: &ExecOptions) -> Result<i32> {
    use libcontainer::container::builder::ContainerBuilder;
    use libcontainer::syscall::syscall::SyscallType;
    use oci_spec::runtime::{LinuxCapabilitiesBuilder, ProcessBuilder, UserBuilder};

    if opts.command.is_empty() {
        return Err(RuntimeError::Invalid("exec needs a command to run".into()));
    }
    let (dir, record) = state::find(root, name)?;
    let state = dir.current_state()?;
    if state.status != Status::Running {
        return Err(RuntimeError::NotRunning(name.to_string()));
    }
    if state.paused {
        return Err(RuntimeError::Paused(record.id.clone()));
    }
    let merged = dir.merged();
    let user_spec = opts.user.clone().unwrap_or_else(|| record.user.clone());
    let user = super::config::resolve_user(&merged, &user_spec)?;
    let mut env = super::config::environment(
        &super::config::ImageDefaults {
            env: record.env.clone(),
            ..Default::default()
        },
        &opts.env,
        &|k| std::env::var(k).ok(),
    )?;
    if opts.tty {
        super::config::default_env(&mut env, "TERM", "xterm");
    }
    super::config::default_env(
        &mut env,
        "HOME",
        &super::monitor::home_dir(&merged, user.uid),
    );
    let cwd = match &opts.workdir {
        Some(w) if !w.starts_with('/') => {
            return Err(RuntimeError::Invalid(format!(
                "the working directory {w:?} must be absolute"
            )))
        }
        Some(w) => w.clone(),
        None => record.cwd.clone(),
    };
    let mut runtime = record.runtime.clone();
    runtime.privileged |= opts.privileged;
    let caps = crate::container::effective_capabilities_of(&runtime)?;
    // The container's seccomp profile applies to exec'd processes too (for their capabilities);
    // they load it themselves, keeping CAP_SYS_ADMIN permitted until then.
    let seccomp = if crate::container::uses_seccomp(&record.runtime) {
        let cache = dir.path().parent().map(super::seccomp_cache_dir);
        Some(crate::container::seccomp_program_for(
            &caps,
            cache.as_deref(),
        )?)
    } else {
        None
    };
    let mut permitted = caps.clone();
    if seccomp.is_some() {
        permitted.insert(oci_spec::runtime::Capability::SysAdmin);
    }
    let spec_err = |e: oci_spec::OciSpecError| RuntimeError::Invalid(e.to_string());
    let process = ProcessBuilder::default()
        .terminal(opts.tty)
        // oci-spec's default is true; the container's setting (Docker's: false) applies.
        .no_new_privileges(record.runtime.no_new_privileges)
        .args(opts.command.clone())
        .env(env)
        .cwd(cwd)
        .user(
            UserBuilder::default()
                .uid(user.uid)
                .gid(user.gid)
                .additional_gids(user.additional_gids)
                .umask(0o022u32)
                .build()
                .map_err(spec_err)?,
        )
        .capabilities(
            LinuxCapabilitiesBuilder::default()
                .bounding(caps.clone())
                .effective(caps)
                .permitted(permitted)
                .build()
                .map_err(spec_err)?,
        )
        .build()
        .map_err(spec_err)?;
    let process_path = dir
        .run_dir()
        .join(format!("exec-{}.json", std::process::id()));
    let bytes = serde_json::to_vec(&process).map_err(|e| RuntimeError::Invalid(e.to_string()))?;
    std::fs::write(&process_path, bytes).map_err(io_err("write", &process_path))?;
    let result = (|| {
        let console = if opts.tty {
            let path = std::env::temp_dir().join(format!("hoist-exec-{}.sock", std::process::id()));
            Some(
                tty::ConsoleSocket::bind(&path)
                    .map_err(io_err("create the console socket", &path))?,
            )
        } else {
            None
        };
        let mask = super::monitor::monitored_signals();
        mask.thread_block()
            .map_err(|e| RuntimeError::Invalid(format!("blocking signals: {e}")))?;
        let mut signals =
            SignalFd::with_flags(&mask, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)
                .map_err(|e| RuntimeError::Invalid(format!("creating a signalfd: {e}")))?;
        let mut builder = ContainerBuilder::new(
            super::monitor::libcontainer_id(&record),
            SyscallType::default(),
        )
        .with_root_path(dir.runc_root())
        .map_err(|e| RuntimeError::Invalid(e.to_string()))?
        .with_console_socket(console.as_ref().map(|c| c.path().to_path_buf()));
        if !opts.interactive && !opts.tty {
            if let Ok(null) = std::fs::File::open("/dev/null") {
                builder = builder.with_stdin(OwnedFd::from(null));
            }
        }
        let pid = builder
            .with_executor(crate::container::Workload {
                die_with_parent: false,
                init: false,
                seccomp,
                // libcontainer's tenant joins the container's cgroups itself.
                join_cgroups: Vec::new(),
            })
            .as_tenant()
            .with_process(Some(&process_path))
            .with_detach(true)
            .build()
            .map_err(|e| RuntimeError::StartFailed {
                message: format!("exec in container {name}: {e}"),
                code: if e.to_string().contains("not found") {
                    super::EXIT_NOT_FOUND
                } else {
                    super::EXIT_RUNTIME_ERROR
                },
            })?;
        let master = match &console {
            Some(c) => {
                let pty = c
                    .receive_master()
                    .map_err(io_err("receive the pty of", &process_path))?;
                tty::copy_window_size(tty::stdin(), std::os::fd::AsFd::as_fd(&pty));
                Some(pty)
            }
            None => None,
        };
        Ok(super::monitor::event_loop(
            pid,
            &mut signals,
            master,
            true,
            opts.interactive,
            None,
            None,
        ))
    })();
    let _ = std::fs::remove_file(&process_path);
    result
}
