//! HEALTHCHECK: the monitor runs the check (an exec into the container, in a helper process: hoist
//! re-executed with [`HEALTH_MARKER`]) every interval while the container runs, and keeps Docker's
//! health state in `health.json` next to the state: `starting` until the first success, `healthy`
//! after a success, `unhealthy` after `retries` failures in a row (failures within the start period
//! do not count while still `starting`); the last 5 results with their output (4096 bytes, then
//! `...`). A check running longer than the timeout is killed and counts as a failure (exit -1).
//!
//! Rules and numbers are moby's (`daemon/health.go`).

use std::io::Read as _;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::state::{self, ContainerDir, ContainerRecord};

/// The hidden first argument that makes a hoist process run one health check.
pub const HEALTH_MARKER: &str = "__hoist-healthcheck";

pub const HEALTH_FILE: &str = "health.json";

const MAX_LOG_ENTRIES: usize = 5;
const MAX_OUTPUT_LEN: usize = 4096;

pub const STARTING: &str = "starting";
pub const HEALTHY: &str = "healthy";
pub const UNHEALTHY: &str = "unhealthy";

/// One check's result, as Docker's `State.Health.Log[]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HealthResult {
    pub start: String,
    pub end: String,
    pub exit_code: i32,
    pub output: String,
}

/// Docker's `State.Health`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Health {
    pub status: String,
    pub failing_streak: u32,
    pub log: Vec<HealthResult>,
}

impl Default for Health {
    fn default() -> Self {
        Health {
            status: STARTING.into(),
            failing_streak: 0,
            log: Vec::new(),
        }
    }
}

impl Health {
    /// Take in a check's result. `in_start_period`: the check began within the start period.
    pub fn record(&mut self, result: HealthResult, retries: u32, in_start_period: bool) {
        if self.log.len() >= MAX_LOG_ENTRIES {
            self.log.drain(..self.log.len() + 1 - MAX_LOG_ENTRIES);
        }
        let success = result.exit_code == 0;
        self.log.push(result);
        if success {
            self.failing_streak = 0;
            self.status = HEALTHY.into();
            return;
        }
        // While starting (never healthy yet), failures within the start period do not count.
        if self.status == STARTING && in_start_period {
            return;
        }
        self.failing_streak += 1;
        if self.failing_streak >= retries {
            self.status = UNHEALTHY.into();
        }
    }

    /// `ps`'s words after "Up 3 seconds": `(healthy)`, `(unhealthy)`, `(health: starting)`.
    pub fn status_suffix(&self) -> String {
        if self.status == STARTING {
            "(health: starting)".into()
        } else {
            format!("({})", self.status)
        }
    }
}

/// The health state in `dir` (none when the container has no health check).
pub fn read(dir: &ContainerDir) -> Option<Health> {
    let bytes = std::fs::read(health_path(dir)).ok()?;
    serde_json::from_slice(&bytes).ok()
}

fn health_path(dir: &ContainerDir) -> std::path::PathBuf {
    // Next to the state (in the run directory for a `--rm` container).
    let state_dir = dir.state_dir();
    state_dir.join(HEALTH_FILE)
}

fn write(dir: &ContainerDir, health: &Health) {
    if let Ok(bytes) = serde_json::to_vec_pretty(health) {
        let _ = state::write_atomic(&health_path(dir), &bytes);
    }
}

/// Docker's `State.Health` for `inspect` (absent without a health check).
pub fn inspect_json(health: Option<&Health>) -> Option<serde_json::Value> {
    health.and_then(|h| serde_json::to_value(h).ok())
}

/// The checks of one run of the container, on a thread of their own; stopped (and joined) when
/// dropped. Start it only once the container runs (libcontainer forks no more then).
pub(crate) struct Checker {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Checker {
    /// Begin checking container `dir` (its state `starting`); none without a health check.
    pub(crate) fn start(dir: &ContainerDir, record: &ContainerRecord) -> Option<Checker> {
        let check = record.options.monitor.healthcheck.clone()?;
        let command = check.command()?;
        let mut health = read(dir).unwrap_or_default();
        health.status = STARTING.into();
        health.failing_streak = 0;
        write(dir, &health);
        let (stop, stopped) = mpsc::channel::<()>();
        let dir = dir.clone();
        let id = record.id.clone();
        let thread = std::thread::Builder::new()
            .name("healthcheck".into())
            .spawn(move || {
                let started = Instant::now();
                loop {
                    match stopped.recv_timeout(check.interval()) {
                        Err(mpsc::RecvTimeoutError::Timeout) => {}
                        _ => return,
                    }
                    let in_start_period = started.elapsed() < check.start_period();
                    let result = probe(&dir, &id, &command, check.timeout());
                    // A check that ended because the container stopped says nothing of its health.
                    if stopped.try_recv().is_ok() {
                        return;
                    }
                    health.record(result, check.retries(), in_start_period);
                    write(&dir, &health);
                }
            })
            .ok()?;
        Some(Checker {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

impl Drop for Checker {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Run the check once: a helper process execs `command` in the container; its output (stdout and
/// stderr together, the first 4096 bytes) and exit code, or -1 when it outlasted `timeout`.
fn probe(dir: &ContainerDir, id: &str, command: &[String], timeout: Duration) -> HealthResult {
    let start = state::now_rfc3339();
    let began = Instant::now();
    let outcome = (|| -> std::io::Result<(i32, Vec<u8>, bool)> {
        let (read_end, write_end) = nix::unistd::pipe()?;
        let program = super::container_create::monitor_program();
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        std::hint::black_box(&HEALTH_HOOK);
        let mut child = std::process::Command::new(&program)
            .arg(HEALTH_MARKER)
            .arg(dir.path())
            .arg(id)
            .args(command)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::from(write_end.try_clone()?))
            .stderr(std::process::Stdio::from(write_end))
            .spawn()?;
        let (output, timed_out) = read_until(read_end, began + timeout);
        if timed_out {
            // The helper forwards signals to the check, and a second SIGINT as SIGKILL.
            let pid = child.id() as i32;
            // SAFETY: plain kill(2) on our own child, not yet reaped.
            unsafe {
                libc::kill(pid, libc::SIGINT);
                libc::kill(pid, libc::SIGINT);
            }
            let deadline = Instant::now() + Duration::from_secs(2);
            while child.try_wait()?.is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            let _ = child.kill();
            let _ = child.wait();
            return Ok((-1, output, true));
        }
        let status = child.wait()?;
        use std::os::unix::process::ExitStatusExt as _;
        let code = status
            .code()
            .or_else(|| status.signal().map(|s| 128 + s))
            .unwrap_or(-1);
        Ok((code, output, false))
    })();
    let (exit_code, output) = match outcome {
        Ok((_, _, true)) => (
            -1,
            format!("Health check exceeded timeout ({})", go_duration(timeout)).into_bytes(),
        ),
        Ok((code, output, false)) => (code, output),
        Err(e) => (-1, format!("running the health check: {e}").into_bytes()),
    };
    HealthResult {
        start,
        end: state::now_rfc3339(),
        exit_code,
        output: truncated(&output),
    }
}

/// Read `fd` until its end or `deadline`; (what was read, at most 4096 bytes + 1, and whether the
/// deadline came first).
fn read_until(fd: OwnedFd, deadline: Instant) -> (Vec<u8>, bool) {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    let mut file = std::fs::File::from(fd);
    let mut output = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return (output, true);
        }
        let millis = left.as_millis().clamp(1, u128::from(u16::MAX)) as u16;
        let mut fds = [PollFd::new(file.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, PollTimeout::from(millis)) {
            Ok(0) => continue,
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => return (output, false),
        }
        match file.read(&mut buf) {
            Ok(0) => return (output, false),
            Ok(n) => {
                // Keep one byte over the limit: it says the output was truncated.
                let room = (MAX_OUTPUT_LEN + 1).saturating_sub(output.len());
                output.extend_from_slice(&buf[..n.min(room)]);
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return (output, false),
        }
    }
}

/// Docker's limited buffer: the first 4096 bytes, `...` after them when there was more.
fn truncated(output: &[u8]) -> String {
    if output.len() > MAX_OUTPUT_LEN {
        let mut text = String::from_utf8_lossy(&output[..MAX_OUTPUT_LEN]).into_owned();
        text.push_str("...");
        text
    } else {
        String::from_utf8_lossy(output).into_owned()
    }
}

/// A duration as Go prints it (`200ms`, `1s`, `1m30s`), for Docker's timeout message.
fn go_duration(d: Duration) -> String {
    hoist_units::format_go_duration(d)
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[used]
#[link_section = ".init_array"]
pub(crate) static HEALTH_HOOK: extern "C" fn(
    libc::c_int,
    *const *const libc::c_char,
    *const *const libc::c_char,
) = health_hook;

/// The helper's `main` (before Rust's, one thread): exec the check in the container, exit with its code.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
extern "C" fn health_hook(
    argc: libc::c_int,
    argv: *const *const libc::c_char,
    _envp: *const *const libc::c_char,
) {
    // SAFETY: glibc passes main's argc/argv to `.init_array` functions.
    let Some(args) = (unsafe { crate::container::marker_arguments(argc, argv, HEALTH_MARKER) })
    else {
        return;
    };
    std::process::exit(run_check(&args));
}

/// `[container disk dir, id, command…]` → the check's exit code.
fn run_check(args: &[std::ffi::OsString]) -> i32 {
    let [dir, id, command @ ..] = args else {
        return super::EXIT_RUNTIME_ERROR;
    };
    let (Some(id), Some(command)) = (
        id.to_str(),
        command
            .iter()
            .map(|c| c.to_str().map(str::to_string))
            .collect::<Option<Vec<String>>>(),
    ) else {
        return super::EXIT_RUNTIME_ERROR;
    };
    let Some(root) = Path::new(dir).parent().and_then(Path::parent) else {
        return super::EXIT_RUNTIME_ERROR;
    };
    let options = super::ExecOptions {
        command,
        ..Default::default()
    };
    match super::exec(root, id, &options) {
        Ok(code) => code,
        Err(e) => {
            use std::io::Write as _;
            let _ = writeln!(std::io::stderr(), "{e}");
            e.exit_code()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(code: i32) -> HealthResult {
        HealthResult {
            start: "s".into(),
            end: "e".into(),
            exit_code: code,
            output: String::new(),
        }
    }

    #[test]
    fn healthy_after_a_success_unhealthy_after_retries_failures() {
        let mut h = Health::default();
        h.record(result(1), 2, false);
        assert_eq!((h.status.as_str(), h.failing_streak), (STARTING, 1));
        h.record(result(1), 2, false);
        assert_eq!((h.status.as_str(), h.failing_streak), (UNHEALTHY, 2));
        h.record(result(0), 2, false);
        assert_eq!((h.status.as_str(), h.failing_streak), (HEALTHY, 0));
        h.record(result(1), 2, false);
        assert_eq!((h.status.as_str(), h.failing_streak), (HEALTHY, 1));
    }

    #[test]
    fn start_period_failures_do_not_count_while_starting() {
        let mut h = Health::default();
        for _ in 0..5 {
            h.record(result(1), 1, true);
        }
        assert_eq!((h.status.as_str(), h.failing_streak), (STARTING, 0));
        h.record(result(0), 1, true);
        h.record(result(1), 1, true);
        assert_eq!((h.status.as_str(), h.failing_streak), (UNHEALTHY, 1));
    }

    #[test]
    fn five_log_entries_are_kept() {
        let mut h = Health::default();
        for code in 0..8 {
            h.record(result(code), 3, false);
        }
        let codes: Vec<i32> = h.log.iter().map(|r| r.exit_code).collect();
        assert_eq!(codes, [3, 4, 5, 6, 7]);
    }

    #[test]
    fn output_is_cut_at_4096_bytes() {
        assert_eq!(truncated(b"ok\n"), "ok\n");
        let long = vec![b'x'; 5000];
        let t = truncated(&long);
        assert_eq!(t.len(), 4096 + 3);
        assert!(t.ends_with("x..."));
    }

    #[test]
    fn go_durations() {
        assert_eq!(go_duration(Duration::from_millis(200)), "200ms");
        assert_eq!(go_duration(Duration::from_secs(30)), "30s");
        assert_eq!(go_duration(Duration::from_secs(90)), "1m30s");
    }

    #[test]
    fn suffixes() {
        let mut h = Health::default();
        assert_eq!(h.status_suffix(), "(health: starting)");
        h.status = HEALTHY.into();
        assert_eq!(h.status_suffix(), "(healthy)");
    }
}
