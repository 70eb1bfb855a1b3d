//! The monitor: one per container, the only writer of its state. Mounts the rootfs, runs the
//! container, forwards signals to its pid 1 (a second Ctrl-C kills it), proxies the pty, records
//! the exit code, and removes what the run made (mounts, libcontainer state, cgroup, network
//! lease; the whole container with `--rm`). When the monitor is killed, the container dies with it
//! (PDEATHSIG) and the next `ps`/`rm` cleans up ([`cleanup_after_monitor_death`]).

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::Path;

use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};

use super::state::{self, ContainerDir, ContainerRecord, ContainerState, MountRecord, Status};
use super::{config::NetworkMode, container_create, log_format, network, tty, volumes};
use super::{Result, RuntimeError};
use crate::container::{self, InitRequest, Network, Stdio3};

/// Signals the monitor takes through a signalfd: forwarded to the container, or its own business.
pub(crate) fn monitored_signals() -> SigSet {
    let mut set = SigSet::empty();
    for s in [
        Signal::SIGCHLD,
        Signal::SIGWINCH,
        Signal::SIGINT,
        Signal::SIGTERM,
        Signal::SIGHUP,
        Signal::SIGQUIT,
        Signal::SIGUSR1,
        Signal::SIGUSR2,
        Signal::SIGALRM,
        Signal::SIGCONT,
    ] {
        set.add(s);
    }
    set
}

/// [`crate::maybe_run_container_init`]'s check for [`super::MONITOR_MARKER`], run by the C runtime
/// before `main` (glibc calls `.init_array` entries with argc/argv), so that any binary linking this
/// crate works as a monitor without calling anything. Nothing but the C runtime has run yet, so
/// there is exactly one thread. (The container helper has a hook of its own, in `container`.)
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[used]
#[link_section = ".init_array"]
pub(crate) static MONITOR_HOOK: extern "C" fn(
    libc::c_int,
    *const *const libc::c_char,
    *const *const libc::c_char,
) = monitor_hook;

#[cfg(all(target_os = "linux", target_env = "gnu"))]
extern "C" fn monitor_hook(
    argc: libc::c_int,
    argv: *const *const libc::c_char,
    _envp: *const *const libc::c_char,
) {
    // SAFETY: glibc passes main's argc/argv to `.init_array` functions.
    let marker = super::MONITOR_MARKER;
    let Some(args) = (unsafe { crate::container::marker_arguments(argc, argv, marker) }) else {
        return;
    };
    let dir = Path::new(&args[0]).to_path_buf();
    std::process::exit(monitor_main(&dir));
}

/// The monitor's `main`: run the container in `dir`, return the exit code for the process.
pub fn monitor_main(dir: &Path) -> i32 {
    let dir = ContainerDir::at(dir);
    let record = match dir.record() {
        Ok(r) => r,
        Err(e) => {
            report(&e);
            return super::EXIT_RUNTIME_ERROR;
        }
    };
    let previous = dir.state().unwrap_or_default();
    super::restart_policy::clear_stop_request(&dir);
    let mut state = ContainerState {
        monitor_pid: Some(std::process::id() as i32),
        monitor_start_time: state::process_start_time(std::process::id() as i32),
        restart_count: previous.restart_count,
        ..ContainerState::default()
    };
    let _ = dir.write_state(&state);
    let ended = super::restart_policy::run_with_restarts(&dir, &record, &mut state, &previous, run);
    if ended.handed_over {
        return ended.code;
    }
    let (outcome, code) = (ended.outcome, ended.code);
    if let Err(e) = &outcome {
        report(&e);
        state.error = Some(e.to_string());
    }
    // Read before the cgroups go (to the reaper, below).
    state.oom_killed = container::oom_kills_of(&libcontainer_id(&record)) > 0;
    state.status = Status::Exited;
    state.exit_code = Some(code);
    state.pid = None;
    state.finished_at = Some(state::now_rfc3339());
    let mut leftovers = super::trash::Leftovers::default();
    if outcome.is_ok() {
        // The container ran and was deleted (its libcontainer state removed, the rootfs
        // unmounted): only the bundle is left of it, and its cgroups, empty now, for the reaper.
        let _ = std::fs::remove_dir_all(dir.runc_root());
        leftovers.cgroups_of(&libcontainer_id(&record));
    } else {
        cleanup_mounts(&dir, &record);
    }
    // A detached `--rm` container that failed to start stays until `hoist run -d` has read why
    // (it removes the container then).
    let failed_to_start = state.error.is_some() && state.started_at.is_none();
    if record.options.auto_remove && !(record.options.detach && failed_to_start) {
        let removed = super::container_remove::remove_files(&dir, &record);
        leftovers.merge(removed);
    } else {
        let _ = dir.write_state(&state);
    }
    leftovers.reap_in_background();
    code
}

/// Unmount the rootfs and remove libcontainer's leftovers.
fn cleanup_mounts(dir: &ContainerDir, record: &ContainerRecord) {
    let runc = dir.runc_root();
    let libcontainer_id = libcontainer_id(record);
    container::remove_container(&runc.join(&libcontainer_id), &libcontainer_id);
    let _ = std::fs::remove_dir_all(&runc);
    let merged = dir.merged();
    let _ = nix::mount::umount2(&merged, nix::mount::MntFlags::MNT_DETACH);
}

/// For a container whose monitor died: kill what is left, unmount, remove its cgroup.
pub fn cleanup_after_monitor_death(dir: &ContainerDir) {
    if let Ok(record) = dir.record() {
        cleanup_mounts(dir, &record);
        let _ = std::fs::remove_file(dir.path().join("console.sock"));
    }
}

/// libcontainer's id (and cgroup name) for a container.
pub(crate) fn libcontainer_id(record: &ContainerRecord) -> String {
    libcontainer_id_of(&record.id)
}

/// The state root a container's disk directory (`<root>/containers/<id>`) is in.
fn state_root_of(dir: &ContainerDir) -> std::path::PathBuf {
    dir.path()
        .parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// libcontainer's id (and cgroup name) for container `id`.
pub(crate) fn libcontainer_id_of(id: &str) -> String {
    format!("hoist-run-{}", &id[..16])
}

pub(crate) fn run(
    dir: &ContainerDir,
    record: &ContainerRecord,
    state: &mut ContainerState,
) -> Result<i32> {
    let mask = monitored_signals();
    mask.thread_block()
        .map_err(|e| RuntimeError::Invalid(format!("blocking signals: {e}")))?;
    let mut signals = SignalFd::with_flags(&mask, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)
        .map_err(|e| RuntimeError::Invalid(format!("creating a signalfd: {e}")))?;

    // Made on a thread of its own while this one mounts the rootfs and writes the bundle.
    let cgroups =
        container::CgroupsInTheMaking::take_or_start(&libcontainer_id(record), &record.runtime)?;
    let merged = dir.merged();
    // A `--rm` container's writes are thrown away: never sync them.
    let mount_fn = if record.options.auto_remove {
        crate::overlay::mount_overlay_volatile
    } else {
        crate::overlay::mount_overlay
    };
    // The shared mount points layer on top, so libcontainer finds /proc, /etc/hosts… and does not
    // create them in the upper dir (which `--rm` then deletes again).
    let mut lowers = record.lowers.clone();
    if let Some(layer) = dir
        .path()
        .parent()
        .and_then(|containers| super::mountpoints::layer(containers, &record.lowers))
    {
        lowers.insert(0, layer);
    }
    let mount = mount_fn(&lowers, &dir.upper(), &dir.work(), &merged)?;
    for m in &record.mounts {
        if let MountRecord::Volume {
            source,
            destination,
            ..
        } = m
        {
            volumes::populate_volume(&merged, destination, source)?;
        }
    }
    let user = super::config::resolve_user(&merged, &record.user)?;
    let mut env = record.env.clone();
    super::config::default_env(&mut env, "HOME", &home_dir(&merged, user.uid));

    let console = if record.runtime.terminal {
        let path = std::env::temp_dir().join(format!("hoist-console-{}.sock", &record.id[..16]));
        Some(
            tty::ConsoleSocket::bind(&path)
                .map_err(super::io_err("create the console socket", &path))?,
        )
    } else {
        None
    };
    let mut runtime = record.runtime.clone();
    runtime.console_socket = console.as_ref().map(|c| c.path().to_path_buf());
    let mut additional_gids = user.additional_gids;
    super::namespaces_config::resolve_at_start(
        &state_root_of(dir),
        record,
        &mut runtime,
        &merged,
        &mut additional_gids,
    )?;
    // Bound by the first run, before the container starts (a taken port fails the run); a restart
    // points the same sockets at the new run.
    let published = super::networks::ports::publish_once(|| {
        record
            .ports
            .iter()
            .map(|(host, ctr)| {
                network::listen(*host).map(|l| (super::networks::ports::Listener::Tcp(l), *ctr))
            })
            .chain(
                record
                    .port_bindings
                    .iter()
                    .map(|b| super::networks::ports::listen(b).map(|l| (l, b.container_port))),
            )
            .collect::<Result<Vec<_>>>()
    })?;

    let runc = dir.runc_root();
    std::fs::create_dir_all(&runc).map_err(super::io_err("create", &runc))?;
    let request = InitRequest {
        id: libcontainer_id(record),
        state_dir: runc.clone(),
        rootfs: merged.clone(),
        args: record.args.clone(),
        env,
        cwd: record.cwd.clone(),
        uid: user.uid,
        gid: user.gid,
        additional_gids,
        hostname: record.hostname.clone(),
        network: if record.network == NetworkMode::Host {
            Network::Host
        } else {
            Network::None
        },
        mounts: container_create::extra_mounts(record),
        readonly_rootfs: record.options.read_only,
        options: runtime,
        seccomp_cache: dir.path().parent().map(super::seccomp_cache_dir),
    };
    let bundle = container::bundle_dir(&request);
    std::fs::create_dir_all(&bundle).map_err(super::io_err("create", &bundle))?;
    // A container's output goes to its log, through the monitor (json-file); a foreground
    // one's also to our stdout/stderr as it comes (Docker logs foreground runs too). `--rm`
    // in the foreground keeps no log: nothing could read it, and its start stays as fast.
    let log_config = record.options.monitor.log_config();
    let detached = super::restart_policy::detached(record);
    let logged = (detached || !record.options.auto_remove) && !log_config.disabled;
    let (mut output, pipes) = if logged {
        let path = dir.log_path();
        let (mut output, pipes) =
            log_format::ContainerOutput::open(&path, log_config, !record.runtime.terminal)
                .map_err(super::io_err("open the log", &path))?;
        if !detached {
            output.tee_to_stdio();
        }
        (Some(output), pipes)
    } else {
        (None, None)
    };
    let (stdout, stderr) = match pipes {
        Some(p) => (Some(p.stdout), Some(p.stderr)),
        None => (None, None),
    };
    // `-i` in the background: the container's stdin is whatever `attach` sends.
    let (mut stdin_server, stdin_pipe) =
        if record.options.interactive && super::restart_policy::detached(record) {
            let (server, pipe) = super::stdin_server::StdinServer::open(
                dir.run_dir(),
                record.runtime.terminal,
                &record.options.stdin,
            )
            .map_err(super::io_err(
                "serve the container's stdin in",
                dir.run_dir(),
            ))?;
            (Some(server), pipe)
        } else {
            (None, None)
        };
    let stdio = Stdio3 {
        stdin: if stdin_pipe.is_some() {
            stdin_pipe
        } else if record.options.interactive || record.runtime.terminal {
            None
        } else {
            std::fs::File::open("/dev/null").ok().map(OwnedFd::from)
        },
        stdout,
        stderr,
    };

    // Filled by the first closure, used by the second.
    let master: std::cell::RefCell<Option<OwnedFd>> = std::cell::RefCell::new(None);
    let lease: std::cell::RefCell<Option<network::Lease>> = std::cell::RefCell::new(None);
    let attachment: std::cell::RefCell<Option<super::networks::join::Attachment>> =
        std::cell::RefCell::new(None);
    let state = std::cell::RefCell::new(state);
    let result = container::run_container_with(
        &request,
        &bundle,
        stdio,
        Some(cgroups),
        |pid| {
            if let Some(console) = &console {
                let pty = console.receive_master().map_err(|e| {
                    container::ContainerError::Failed(format!("receiving the container's pty: {e}"))
                })?;
                // Before the command starts: it may ask for the size first thing (`stty size`).
                tty::copy_window_size(tty::stdin(), pty.as_fd());
                *master.borrow_mut() = Some(pty);
            }
            if record.network == NetworkMode::Bridge {
                let l = network::attach(dir.path(), &record.id, pid)
                    .map_err(|e| container::ContainerError::Failed(e.to_string()))?;
                state.borrow_mut().ip_address = Some(l.ip.to_string());
                *lease.borrow_mut() = Some(l);
            }
            join_networks(
                dir,
                record,
                &bundle,
                pid,
                &mut state.borrow_mut(),
                &attachment,
            )?;
            Ok(())
        },
        |pid| {
            // Running only now that libcontainer has written its own state for the start
            // (`hoist exec` reads that, and would find it half-written before).
            let mut state = state.borrow_mut();
            state.status = Status::Running;
            state.pid = Some(pid.as_raw());
            state.started_at = Some(state::now_rfc3339());
            dir.write_state(&state)
                .map_err(|e| container::ContainerError::Failed(e.to_string()))?;
            drop(state);
            let target = lease.borrow().as_ref().map(|l| l.ip).or_else(|| {
                attachment
                    .borrow()
                    .as_ref()
                    .and_then(super::networks::join::Attachment::ip)
            });
            if let Ok(mut published) = published.write() {
                *published = target;
            }
            let forward_stdin = record.options.interactive;
            // Health checks exec into the container: only now that it runs (no more forks by
            // libcontainer), stopped with it.
            let checker = super::health::Checker::start(dir, record);
            let code = event_loop(
                pid,
                &mut signals,
                master.borrow_mut().take(),
                !detached,
                forward_stdin,
                output.as_mut(),
                stdin_server.as_mut(),
            );
            drop(checker);
            Ok(code)
        },
    );
    // Nothing to forward to until the next run (if any) has its address.
    if let Ok(mut published) = published.write() {
        *published = None;
    }
    drop(attachment.into_inner());
    drop(lease.into_inner());
    drop(console);
    if let Err(e) = mount.unmount() {
        report(&e);
    }
    result.map_err(RuntimeError::from)
}

/// A user-defined network (`--network NAME`) and the `--dns*`/`--add-host` files, once the init
/// is `pid` and before the command runs.
fn join_networks(
    dir: &ContainerDir,
    record: &ContainerRecord,
    bundle: &Path,
    pid: i32,
    state: &mut ContainerState,
    attachment: &std::cell::RefCell<Option<super::networks::join::Attachment>>,
) -> container::Result<()> {
    let failed = |e: RuntimeError| container::ContainerError::Failed(e.to_string());
    let net = &record.options.net;
    let root = dir
        .path()
        .parent()
        .and_then(Path::parent)
        .ok_or_else(|| failed(RuntimeError::Invalid("no state root".into())))?;
    let Some(name) = &net.network else {
        super::networks::join::write_files(bundle, net, crate::bridge::GATEWAY).map_err(failed)?;
        if !net.more.is_empty() {
            super::networks::connect::join_more(root, record, pid, &bundle.join("hosts"))
                .map_err(failed)?;
        }
        return Ok(());
    };
    // `--add-host` lines first: the network's section of the hosts file stays last.
    let gateway = super::networks::find(root, name).map_err(failed)?.gateway;
    super::networks::join::write_files(bundle, net, gateway).map_err(failed)?;
    let joined =
        super::networks::join::join(root, record, &bundle.join("hosts"), pid).map_err(failed)?;
    state.ip_address = joined
        .as_ref()
        .and_then(|a| a.ip())
        .map(|ip| ip.to_string());
    *attachment.borrow_mut() = joined;
    if !net.more.is_empty() {
        super::networks::connect::join_more(root, record, pid, &bundle.join("hosts"))
            .map_err(failed)?;
    }
    Ok(())
}

/// The home directory of `uid` in the image's passwd; `/` when there is none (as docker).
pub(crate) fn home_dir(rootfs: &Path, uid: u32) -> String {
    let passwd = crate::container::resolve_in_root(rootfs, Path::new("/etc/passwd"))
        .ok()
        .and_then(|p| std::fs::read_to_string(p).ok())
        .unwrap_or_default();
    passwd
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.len() >= 6 && f[2].parse::<u32>().ok() == Some(uid))
        .map(|f| f[5].to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "/".into())
}

/// Wait for pid 1 while forwarding signals and proxying the pty; its exit code (128+signal).
pub(crate) fn event_loop(
    pid: nix::unistd::Pid,
    signals: &mut SignalFd,
    master: Option<OwnedFd>,
    foreground: bool,
    forward_stdin: bool,
    mut output: Option<&mut log_format::ContainerOutput>,
    mut stdin_server: Option<&mut super::stdin_server::StdinServer>,
) -> i32 {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};

    // The terminal is ours only when the pty's output goes to it (perhaps to a log as well).
    let _raw = match &master {
        Some(m) if foreground => {
            tty::copy_window_size(tty::stdin(), m.as_fd());
            tty::RawMode::enable(tty::stdin())
        }
        _ => None,
    };
    if let Some(m) = &master {
        tty::set_nonblocking(m);
    }
    let mut stdin_open = master.is_some() && forward_stdin;
    let mut interrupts = 0;
    let mut buf = vec![0u8; 16 * 1024];
    let exited = |status: nix::Result<WaitStatus>| match status {
        Ok(WaitStatus::Exited(_, code)) => Some(code),
        Ok(WaitStatus::Signaled(_, sig, _)) => Some(128 + sig as i32),
        Err(nix::errno::Errno::ECHILD) => Some(super::EXIT_RUNTIME_ERROR),
        _ => None,
    };
    let mut code = exited(waitpid(pid, Some(WaitPidFlag::WNOHANG)));
    while code.is_none() {
        let mut fds = vec![PollFd::new(signals.as_fd(), PollFlags::POLLIN)];
        if let Some(m) = &master {
            fds.push(PollFd::new(m.as_fd(), PollFlags::POLLIN));
            if stdin_open {
                fds.push(PollFd::new(tty::stdin(), PollFlags::POLLIN));
            }
        }
        let first_output = fds.len();
        let sources: Vec<usize> = match &output {
            Some(o) => o
                .fds()
                .into_iter()
                .map(|(i, fd)| {
                    fds.push(PollFd::new(fd, PollFlags::POLLIN));
                    i
                })
                .collect(),
            None => Vec::new(),
        };
        let first_stdin_client = fds.len();
        let stdin_set = stdin_server
            .as_deref()
            .map(|s| s.poll_set(master.as_ref().map(AsFd::as_fd)))
            .unwrap_or_default();
        fds.extend(
            stdin_set
                .iter()
                .map(|(_, fd, flags)| PollFd::new(*fd, *flags)),
        );
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => break,
        }
        let ready = |i: usize, fds: &[PollFd]| {
            fds.get(i)
                .and_then(|f| f.revents())
                .is_some_and(|r| !r.is_empty())
        };
        // Index 2 is our stdin only when it was polled (else it is a log source or a client).
        let (sig_ready, master_ready, stdin_ready) =
            (ready(0, &fds), ready(1, &fds), stdin_open && ready(2, &fds));
        let ready_sources: Vec<usize> = sources
            .iter()
            .enumerate()
            .filter(|(k, _)| ready(first_output + k, &fds))
            .map(|(_, &i)| i)
            .collect();
        let ready_stdin: Vec<super::stdin_server::Ready> = stdin_set
            .iter()
            .enumerate()
            .filter(|(k, _)| ready(first_stdin_client + k, &fds))
            .map(|(_, (r, _, _))| *r)
            .collect();
        drop(fds);
        drop(stdin_set);
        if let Some(server) = stdin_server.as_deref_mut() {
            server.handle(&ready_stdin, master.as_ref().map(AsFd::as_fd));
        }
        if let Some(o) = output.as_deref_mut() {
            for i in ready_sources {
                o.read_ready(i);
            }
        }
        if sig_ready {
            while let Ok(Some(info)) = signals.read_signal() {
                let signo = info.ssi_signo as i32;
                if signo == libc::SIGCHLD {
                    // Once only: a SIGCHLD read after pid 1 was reaped (the intermediate's,
                    // pending since the start, then pid 1's own) would find no child (ECHILD)
                    // and turn its exit code into 125.
                    if code.is_none() {
                        code = exited(waitpid(pid, Some(WaitPidFlag::WNOHANG)));
                    }
                } else if signo == libc::SIGWINCH {
                    if let Some(m) = &master {
                        tty::copy_window_size(tty::stdin(), m.as_fd());
                    }
                } else {
                    if signo == libc::SIGINT {
                        interrupts += 1;
                    }
                    let signal = if interrupts >= 2 {
                        libc::SIGKILL
                    } else {
                        signo
                    };
                    // SAFETY: plain kill(2) on the container's pid 1, our child.
                    unsafe { libc::kill(pid.as_raw(), signal) };
                }
            }
        }
        if let Some(m) = &master {
            if master_ready && !pump_output(m.as_raw_fd(), output.as_deref_mut(), &mut buf) {
                // EIO: every process closed the pty; the exit status follows.
            }
            if stdin_ready && !pump(0, m.as_raw_fd(), &mut buf) {
                stdin_open = false;
            }
        }
        if code.is_none() {
            code = exited(waitpid(pid, Some(WaitPidFlag::WNOHANG)));
        }
    }
    if let Some(m) = &master {
        // What the container wrote just before exiting.
        while pump_output(m.as_raw_fd(), output.as_deref_mut(), &mut buf) {}
    }
    if let Some(o) = output {
        o.finish();
    }
    code.unwrap_or(super::EXIT_RUNTIME_ERROR)
}

/// The pty's output to our stdout, or to the log; false at its end or on error.
fn pump_output(
    from: i32,
    output: Option<&mut log_format::ContainerOutput>,
    buf: &mut [u8],
) -> bool {
    let Some(output) = output else {
        return pump(from, 1, buf);
    };
    match nix::unistd::read(from, buf) {
        Ok(0) => false,
        Ok(n) => {
            output.write_pty(&buf[..n]);
            true
        }
        Err(nix::errno::Errno::EINTR) => true,
        Err(_) => false,
    }
}

/// Copy what is available from `from` to `to`; false at end of input or error.
fn pump(from: i32, to: i32, buf: &mut [u8]) -> bool {
    // SAFETY: both descriptors are open for the duration of the call.
    let (from, to) = unsafe {
        (
            std::os::fd::BorrowedFd::borrow_raw(from),
            std::os::fd::BorrowedFd::borrow_raw(to),
        )
    };
    match nix::unistd::read(from.as_raw_fd(), buf) {
        Ok(0) => false,
        Ok(n) => tty::write_all(to, &buf[..n]).is_ok(),
        Err(nix::errno::Errno::EINTR) => true,
        Err(_) => false,
    }
}

/// Prints a monitor error on stderr; a closed stderr (`hoist run … 2>&-`, a reader gone) must not turn the
/// container's exit code into a panic's.
fn report(error: &dyn std::fmt::Display) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr(), "hoist: {error}");
}
