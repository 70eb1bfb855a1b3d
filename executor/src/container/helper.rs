//! The helper process: [`super::run`] re-executes the current program (`/proc/self/exe`, or
//! `$HOIST_CONTAINER_INIT`) with [`INIT_MARKER`] and a request file; the re-executed program turns
//! into the helper before `main` (an `.init_array` hook, glibc targets) or in
//! `hoist_executor::maybe_run_container_init`, runs the container single-threaded, reports how it
//! went through [`crate::helper_channel`] and exits.

use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde::{Deserialize, Serialize};

use super::cancel::{pidfd_open, CancelToken};
use super::error::{io_err, ContainerError, Result};
use super::lifecycle::run_container;
use super::reexec::{INIT_MARKER, INIT_PROGRAM_ENV};
use super::request::{InitRequest, Stdio3};
use super::stale::remove_container;

const REQUEST_FILE: &str = "request.json";

/// What the helper reports back.
#[derive(Debug, Serialize, Deserialize)]
enum InitResult {
    Exited(i32),
    NotFound { command: String, path: String },
    NotExecutable { command: String },
    Failed(String),
}

/// The same check as [`crate::maybe_run_container_init`], run by the C runtime before `main` (glibc
/// calls `.init_array` entries with argc/argv), so that any binary linking this crate — test
/// binaries with libtest's harness included — works as the helper without calling anything.
/// Nothing but the C runtime has run yet, so there is exactly one thread.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[used]
#[link_section = ".init_array"]
static CONTAINER_INIT_HOOK: extern "C" fn(
    libc::c_int,
    *const *const libc::c_char,
    *const *const libc::c_char,
) = container_init_hook;

#[cfg(all(target_os = "linux", target_env = "gnu"))]
extern "C" fn container_init_hook(
    argc: libc::c_int,
    argv: *const *const libc::c_char,
    _envp: *const *const libc::c_char,
) {
    // SAFETY: glibc passes main's argc/argv to `.init_array` functions.
    let Some(args) = (unsafe { super::reexec::marker_arguments(argc, argv, INIT_MARKER) }) else {
        return;
    };
    let request_path = Path::new(&args[0]).to_path_buf();
    let result_fd = args.get(1).map(|a| a.as_os_str());
    std::process::exit(init_main(&request_path, result_fd));
}

pub(crate) fn init_main(request_path: &Path, result_fd: Option<&std::ffi::OsStr>) -> i32 {
    let mut reporter = crate::helper_channel::Reporter::start(result_fd);
    let bundle = request_path
        .parent()
        .unwrap_or(Path::new("/"))
        .to_path_buf();
    let outcome = std::fs::read(request_path)
        .map_err(io_err("read the container request", request_path))
        .and_then(|bytes| {
            serde_json::from_slice::<InitRequest>(&bytes)
                .map_err(|e| ContainerError::InvalidSpec(e.to_string()))
        })
        .and_then(|request| run_container(&request, &bundle, Stdio3::inherit()));
    let (result, code) = match outcome {
        Ok(code) => (InitResult::Exited(code), code),
        Err(ContainerError::CommandNotFound { command, path }) => {
            (InitResult::NotFound { command, path }, 127)
        }
        Err(ContainerError::NotExecutable { command }) => {
            (InitResult::NotExecutable { command }, 126)
        }
        Err(ContainerError::Failed(message)) => (InitResult::Failed(message), 125),
        Err(e) => (InitResult::Failed(e.to_string()), 125),
    };
    let sent = serde_json::to_vec(&result)
        .map(|bytes| reporter.report(&bytes))
        .unwrap_or(false);
    if !sent {
        // Started by hand or by an older hoist: say it where someone may read it.
        if let InitResult::Failed(message) = &result {
            eprintln!("hoist: {message}");
        }
    }
    code
}

fn init_program() -> PathBuf {
    std::env::var_os(INIT_PROGRAM_ENV)
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/proc/self/exe"))
}

pub(super) fn run_helper(
    request: &InitRequest,
    bundle: &Path,
    stdio: Stdio3,
    cancel: &CancelToken,
) -> Result<i32> {
    std::fs::create_dir(bundle).map_err(io_err("create the bundle dir", bundle))?;
    let request_path = bundle.join(REQUEST_FILE);
    let bytes =
        serde_json::to_vec(request).map_err(|e| ContainerError::InvalidSpec(e.to_string()))?;
    std::fs::write(&request_path, bytes).map_err(io_err("write", &request_path))?;

    // Referencing the hook makes the linker keep it in every program that can reach this point.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    std::hint::black_box(&CONTAINER_INIT_HOOK);
    let program = init_program();
    let results = crate::helper_channel::ResultPipe::new()
        .map_err(io_err("create a pipe for the container helper", bundle))?;
    let mut command = Command::new(&program);
    command
        .arg(INIT_MARKER)
        .arg(&request_path)
        .arg(crate::helper_channel::RESULT_FD.to_string());
    let has_stdin = stdio.stdin.is_some();
    let to_stdio = |fd: Option<OwnedFd>| {
        fd.map_or_else(Stdio::inherit, |fd| {
            // Close-on-exec, so helpers that other threads start now do not inherit it and keep
            // a pipe open (the child gets its own copy as 0/1/2, which is not close-on-exec).
            let _ = nix::fcntl::fcntl(
                std::os::fd::AsRawFd::as_raw_fd(&fd),
                nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
            );
            Stdio::from(fd)
        })
    };
    command
        .stdin(to_stdio(stdio.stdin))
        .stdout(to_stdio(stdio.stdout))
        .stderr(to_stdio(stdio.stderr));
    // SAFETY: prctl, getppid, dup2 and fcntl are async-signal-safe. If the thread that started the
    // helper dies (we block on it until the helper exits, so only when the whole process dies), the
    // helper dies too; if it died before the prctl, the parent is another process already: give up.
    let parent = std::process::id() as libc::pid_t;
    let result_fd = results.write_fd();
    unsafe {
        use std::os::unix::process::CommandExt;
        command.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(io::Error::last_os_error());
            }
            if libc::getppid() != parent {
                return Err(io::Error::other(
                    "the process that started the helper is gone",
                ));
            }
            crate::helper_channel::ResultPipe::install_in_child(result_fd)
        });
    }
    // A process group of its own, so that if the helper dies halfway, the processes it was
    // creating (libcontainer's intermediate and init, which do not die with it) can be killed
    // as a group. Not when the container reads our terminal: a background group would be
    // stopped by SIGTTIN.
    let own_group = has_stdin || !nix::unistd::isatty(0).unwrap_or(false);
    if own_group {
        use std::os::unix::process::CommandExt;
        command.process_group(0);
    }
    let mut child = command
        .spawn()
        .map_err(|source| ContainerError::SpawnHelper {
            program: program.clone(),
            source,
        })?;
    drop(command); // closes our copies of the stdio descriptors so readers see EOF
    let registered = match pidfd_open(child.id()) {
        Ok(pidfd) => Some(cancel.register(pidfd)),
        Err(_) => None, // pre-5.3 kernel: not cancellable
    };
    let status = child.wait();
    if let Some(raw) = registered {
        cancel.unregister(raw);
    }
    let status = status.map_err(io_err("wait for the container helper", &program))?;
    if own_group {
        // If the helper was killed or failed halfway, its children may still be setting the
        // container up. While any of them lives the group id cannot be reused, so this reaches
        // only them; an empty group answers ESRCH at once.
        kill_process_group(child.id() as i32);
    }

    let report = results.finish();
    match report.result {
        Some(bytes) => match serde_json::from_slice::<InitResult>(&bytes) {
            Ok(InitResult::Exited(code)) => Ok(code),
            Ok(InitResult::NotFound { command, path }) => {
                Err(ContainerError::CommandNotFound { command, path })
            }
            Ok(InitResult::NotExecutable { command }) => {
                Err(ContainerError::NotExecutable { command })
            }
            Ok(InitResult::Failed(message)) => Err(ContainerError::Failed(message)),
            Err(e) => Err(ContainerError::HelperFailed {
                status: format!("{status}, unreadable result: {e}"),
            }),
        },
        None => match std::os::unix::process::ExitStatusExt::signal(&status) {
            Some(signal) => Err(ContainerError::HelperKilled { signal }),
            // The hint about linking hoist-executor only when hoist's init code never ran.
            None if !report.started => Err(ContainerError::HelperDidNotRun {
                program,
                status: status.to_string(),
            }),
            None => Err(ContainerError::HelperFailed {
                status: status.to_string(),
            }),
        },
    }
}

/// SIGKILL every process of group `pgid` and wait (briefly) until they are gone.
fn kill_process_group(pgid: i32) {
    use nix::sys::signal::{killpg, SIGKILL};
    let group = nix::unistd::Pid::from_raw(pgid);
    for _ in 0..200 {
        if killpg(group, SIGKILL).is_err() {
            return; // ESRCH: nobody left
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

/// Remove everything this container left in the state dir, killing it first if it still runs
/// (the helper was killed halfway, say).
pub(super) fn cleanup(request: &InitRequest, bundle: &Path) {
    remove_container(&request.state_dir.join(&request.id), &request.id);
    let _ = std::fs::remove_dir_all(bundle);
}
