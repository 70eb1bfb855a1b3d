//! `hoist start`, `restart` and `attach`: run a created or exited container again with its record
//! (the upper dir, so what it wrote, is kept, as Docker keeps the writable layer), and follow a
//! running container's output until it exits.
//!
//! Attaching follows the container's log (json-file lines, see `log_format`) from its current end:
//! the monitor of a detached container writes everything there (a tty container's pty output too),
//! so no new channel to the monitor is needed, any number of `attach`es see the same bytes, and
//! stdout and stderr stay apart. The container's stdin (`-i`) is the monitor's: `attach` sends
//! ours to its socket ([`super::attach_input`]).

use std::io::{Read, Seek, SeekFrom, Write};
use std::os::fd::AsFd;
use std::path::Path;
use std::time::Duration;

use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};

use super::attach_input::{AttachInput, Input};
use super::state::{self, ContainerDir, ContainerState, Status};
use super::{io_err, Result, RuntimeError};

/// What `start` did.
#[derive(Debug)]
pub struct Started {
    pub id: String,
    /// It was running already (Docker's `start` of a running container does nothing).
    pub already_running: bool,
    pub state: ContainerState,
}

/// `hoist start NAME`: start a created or exited container's monitor, detached; returns once the
/// container runs (or failed to start: then `state` says why).
pub fn start(root: &Path, name: &str) -> Result<Started> {
    let (dir, record) = state::find(root, name)?;
    start_dir(&dir, record.id, name)
}

fn start_dir(dir: &ContainerDir, id: String, name: &str) -> Result<Started> {
    let current = dir.current_state()?;
    match current.status {
        Status::Running if current.paused => {
            return Err(RuntimeError::Invalid(format!(
                "cannot start a paused container {name}, try unpause instead"
            )))
        }
        Status::Running => {
            return Ok(Started {
                id,
                already_running: true,
                state: current,
            })
        }
        Status::Created
            if current
                .monitor_pid
                .is_some_and(|_| state::monitor_alive(&current)) =>
        {
            return Err(RuntimeError::Invalid(format!(
                "container {name} is being started by another hoist command"
            )))
        }
        _ => {}
    }
    // A fresh state: `start_detached` waits for the monitor to leave `created`.
    dir.write_state(&ContainerState::default())?;
    let state = super::start_detached(dir)?;
    Ok(Started {
        id,
        already_running: false,
        state,
    })
}

/// The signals `attach` passes on to the container (`--sig-proxy`, Docker's default).
fn proxied_signals() -> Result<SignalFd> {
    let mut mask = SigSet::empty();
    for s in [
        Signal::SIGINT,
        Signal::SIGTERM,
        Signal::SIGHUP,
        Signal::SIGQUIT,
        Signal::SIGUSR1,
        Signal::SIGUSR2,
    ] {
        mask.add(s);
    }
    mask.thread_block()
        .map_err(|e| RuntimeError::Invalid(format!("blocking signals: {e}")))?;
    SignalFd::with_flags(&mask, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)
        .map_err(|e| RuntimeError::Invalid(format!("creating a signalfd: {e}")))
}

/// The container's log, open at its end (made if the container has never run).
fn log_at_end(dir: &ContainerDir) -> Result<std::fs::File> {
    let path = dir.log_path();
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .open(&path)
        .map_err(io_err("open the log", &path))?;
    file.seek(SeekFrom::End(0)).map_err(io_err("read", &path))?;
    Ok(file)
}

/// `hoist attach NAME`: copy the running container's output from now on to `out` until it exits;
/// its exit code. With `sig_proxy`, signals sent to this process go to the container's pid 1
/// instead. Call it with one thread.
pub fn attach(
    root: &Path,
    name: &str,
    sig_proxy: bool,
    stdin: Option<Vec<u8>>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<i32> {
    let (dir, record) = state::find(root, name)?;
    if dir.current_state()?.status != Status::Running {
        return Err(RuntimeError::Invalid(
            "You cannot attach to a stopped container, start it first".into(),
        ));
    }
    let signals = sig_proxy.then(proxied_signals).transpose()?;
    let log = log_at_end(&dir)?;
    let mut input = stdin.and_then(|keys| AttachInput::connect(dir.run_dir(), keys));
    let _raw = raw_terminal(&record, input.as_ref());
    follow(&dir, log, signals.as_ref(), input.as_mut(), false, out, err)
}

/// The caller's terminal in raw mode while it types into a container's terminal (`-t`).
fn raw_terminal(
    record: &super::ContainerRecord,
    input: Option<&AttachInput>,
) -> Option<super::tty::RawMode> {
    (record.runtime.terminal && input.is_some())
        .then(|| super::tty::RawMode::enable(super::tty::stdin()))
        .flatten()
}

/// `hoist start -a NAME`: start the container (a running one is attached to) and copy its output
/// from its start on to `out` until it exits; its exit code. Signals go to the container.
/// With `stdin` (`-i`, the detach keys), our stdin goes to the container's.
pub fn start_attached(
    root: &Path,
    name: &str,
    stdin: Option<Vec<u8>>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<i32> {
    let (dir, record) = state::find(root, name)?;
    let signals = proxied_signals()?;
    // Opened first: a `--rm` container that ends at once takes its log (and state) with it.
    let log = log_at_end(&dir)?;
    let started = start_dir(&dir, record.id.clone(), name)?;
    start_error(name, &started.state)?;
    let mut input = stdin.and_then(|keys| AttachInput::connect(dir.run_dir(), keys));
    let _raw = raw_terminal(&record, input.as_ref());
    follow(
        &dir,
        log,
        Some(&signals),
        input.as_mut(),
        !started.already_running,
        out,
        err,
    )
}

/// Follows the json-file log from where it was opened: decodes whole lines, sends each record to
/// its stream, and when the monitor rotates the file (a new inode at the log's path) finishes the
/// old one and goes on with the new.
struct LogFollower {
    path: std::path::PathBuf,
    file: std::fs::File,
    pending: Vec<u8>,
    reader_gone: bool,
}

impl LogFollower {
    fn new(path: std::path::PathBuf, file: std::fs::File) -> LogFollower {
        LogFollower {
            path,
            file,
            pending: Vec::new(),
            reader_gone: false,
        }
    }

    /// Copy what is there now; whether anything was read.
    fn copy(&mut self, out: &mut dyn Write, err: &mut dyn Write) -> Result<bool> {
        let mut buf = vec![0u8; 64 * 1024];
        let n = self
            .file
            .read(&mut buf)
            .map_err(io_err("read", &self.path))?;
        if n == 0 {
            return self.reopen_if_rotated();
        }
        self.pending.extend_from_slice(&buf[..n]);
        while let Some(end) = self.pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=end).collect();
            let record = super::log_format::parse_line(&line[..line.len() - 1]);
            let sink: &mut dyn Write = match record.stream {
                super::log_format::Stream::Stdout => &mut *out,
                super::log_format::Stream::Stderr => &mut *err,
            };
            if !self.reader_gone
                && sink
                    .write_all(&record.text)
                    .and_then(|()| sink.flush())
                    .is_err()
            {
                self.reader_gone = true;
            }
        }
        Ok(true)
    }

    /// At the end of the file: if the log at `path` is another file now (rotated), switch to it.
    fn reopen_if_rotated(&mut self) -> Result<bool> {
        use std::os::unix::fs::MetadataExt;
        let (Ok(current), Ok(ours)) = (std::fs::metadata(&self.path), self.file.metadata()) else {
            return Ok(false);
        };
        if current.ino() == ours.ino() && current.dev() == ours.dev() {
            return Ok(false);
        }
        match std::fs::File::open(&self.path) {
            Ok(file) => {
                self.file = file;
                Ok(true)
            }
            Err(_) => Ok(false),
        }
    }
}

/// Copy the log to `out`/`err` until the container exits; its exit code. `our_monitor`: this process
/// started the container's monitor, so it can wait for it when a `--rm` container took its state
/// (the monitor's exit code is the container's).
fn follow(
    dir: &ContainerDir,
    log: std::fs::File,
    signals: Option<&SignalFd>,
    mut input: Option<&mut AttachInput>,
    our_monitor: bool,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<i32> {
    let mut log = LogFollower::new(dir.log_path(), log);
    loop {
        while log.copy(out, err)? {}
        let Some(state) = exit_state(dir) else {
            while log.copy(out, err)? {}
            let code = our_monitor.then(exit_code_of_our_monitor).flatten();
            return Ok(code.unwrap_or(0));
        };
        if state.status == Status::Exited {
            // What it wrote just before exiting.
            while log.copy(out, err)? {}
            return Ok(state.exit_code.unwrap_or(super::EXIT_RUNTIME_ERROR));
        }
        let signals = signals.filter(|_| state.pid.is_some());
        let pid = state.pid.unwrap_or(0);
        let typed = wait_for_input(
            signals,
            input.as_deref_mut(),
            Duration::from_millis(20),
            |signo| {
                // SAFETY: plain kill(2) on the container's pid 1, as `hoist kill` does.
                unsafe { libc::kill(pid, signo) };
            },
        );
        if typed == Input::Detach {
            // Docker's words and exit code; the container runs on.
            let _ = writeln!(err, "read escape sequence");
            return Ok(1);
        }
    }
}

/// The exit code of the monitor this process started (its only child: `start -a` has no other).
fn exit_code_of_our_monitor() -> Option<i32> {
    use nix::sys::wait::{waitpid, WaitStatus};
    match waitpid(nix::unistd::Pid::from_raw(-1), None) {
        Ok(WaitStatus::Exited(_, code)) => Some(code),
        Ok(WaitStatus::Signaled(_, signal, _)) => Some(128 + signal as i32),
        _ => None,
    }
}

/// The container's state, `None` once it is gone (`--rm`).
fn exit_state(dir: &ContainerDir) -> Option<ContainerState> {
    if !dir.path().exists() {
        return None;
    }
    match dir.current_state() {
        Ok(s) => Some(s),
        Err(_) if !dir.path().exists() => None,
        Err(_) => Some(ContainerState {
            status: Status::Exited,
            ..ContainerState::default()
        }),
    }
}

/// Wait up to `timeout` for a signal on `signals` (each one read is passed to `forward`) or for
/// our stdin (copied to the container's by `input`).
fn wait_for_input(
    signals: Option<&SignalFd>,
    input: Option<&mut AttachInput>,
    timeout: Duration,
    mut forward: impl FnMut(i32),
) -> Input {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    let stdin = input.as_ref().and_then(|i| i.fd());
    let mut fds: Vec<PollFd> = signals
        .iter()
        .map(|fd| PollFd::new(fd.as_fd(), PollFlags::POLLIN))
        .collect();
    if let Some(fd) = stdin {
        fds.push(PollFd::new(fd, PollFlags::POLLIN));
    }
    let millis = u16::try_from(timeout.as_millis()).unwrap_or(u16::MAX);
    if fds.is_empty() {
        std::thread::sleep(timeout);
        return Input::Copied;
    }
    if !matches!(poll(&mut fds, PollTimeout::from(millis)), Ok(n) if n > 0) {
        return Input::Copied;
    }
    let ready: Vec<bool> = fds
        .iter()
        .map(|f| f.revents().is_some_and(|r| !r.is_empty()))
        .collect();
    drop(fds);
    if let Some(fd) = signals {
        if ready[0] {
            while let Ok(Some(info)) = fd.read_signal() {
                forward(info.ssi_signo as i32);
            }
        }
    }
    match input {
        Some(input) if ready.last() == Some(&true) && stdin.is_some() => input.on_ready(),
        _ => Input::Copied,
    }
}

/// `hoist restart [-t N] NAME`: stop (stop signal, SIGKILL after the timeout), then start.
pub fn restart(root: &Path, name: &str, timeout: Option<u64>) -> Result<String> {
    super::stop(root, name, timeout)?;
    let started = start(root, name)?;
    start_error(name, &started.state)?;
    Ok(started.id)
}

/// The error of a start that failed (the monitor recorded it), as `hoist run -d` reports it.
pub fn start_error(name: &str, state: &ContainerState) -> Result<()> {
    match (&state.status, &state.error) {
        (Status::Exited, Some(error)) if state.started_at.is_none() => {
            Err(RuntimeError::StartFailed {
                message: format!("container {name} could not start: {error}"),
                code: state.exit_code.unwrap_or(super::EXIT_RUNTIME_ERROR),
            })
        }
        _ => Ok(()),
    }
}

/// The host pids of every process of a running container (`hoist top`): its cgroup's
/// `cgroup.procs`, in the first hierarchy that has it; pid 1 alone when there is none.
pub fn container_pids(root: &Path, name: &str) -> Result<Vec<i32>> {
    let (dir, record) = state::find(root, name)?;
    let state = dir.current_state()?;
    let (Status::Running, Some(pid1)) = (state.status, state.pid) else {
        return Err(RuntimeError::Invalid(format!(
            "container {name} is not running"
        )));
    };
    let relative = Path::new("hoist").join(super::monitor::libcontainer_id(&record));
    let procs = crate::container::cgroup_mount_points()
        .into_iter()
        .map(|mp| mp.join(&relative).join("cgroup.procs"))
        // The first that lists any: on a hybrid host, the v2 one exists but holds nobody.
        .find_map(|file| {
            let text = std::fs::read_to_string(file).ok()?;
            let pids: Vec<i32> = text.lines().filter_map(|l| l.trim().parse().ok()).collect();
            (!pids.is_empty()).then_some(pids)
        });
    let mut pids = procs.unwrap_or_default();
    if pids.is_empty() {
        pids.push(pid1);
    }
    pids.sort_unstable();
    pids.dedup();
    Ok(pids)
}
