//! `hoist kill` and `hoist stop`: signals to a container's pid 1.

use std::path::Path;
use std::time::{Duration, Instant};

use super::state::{self, ContainerDir, Status};
use super::{Result, RuntimeError};

fn signal_pid1(dir: &ContainerDir, name: &str, signal: i32) -> Result<()> {
    let state = dir.current_state()?;
    match (state.status, state.pid) {
        (Status::Running, Some(pid)) => {
            // SAFETY: plain kill(2). The pid belongs to the container while its monitor (which
            // reaps it) says it runs; ESRCH means it has just exited.
            if unsafe { libc::kill(pid, signal) } != 0 {
                let e = std::io::Error::last_os_error();
                if e.raw_os_error() != Some(libc::ESRCH) {
                    return Err(RuntimeError::Invalid(format!(
                        "cannot signal container {name}: {e}"
                    )));
                }
            }
            if state.paused {
                // A frozen process acts on the signal once thawed (Docker thaws it too).
                let id = dir
                    .path()
                    .file_name()
                    .and_then(|n| n.to_str())
                    .unwrap_or("");
                super::container_pause::thaw_if_frozen(id);
            }
            Ok(())
        }
        _ => Err(RuntimeError::NotRunning(name.to_string())),
    }
}

/// Wait until the container is no longer running (its monitor recorded the exit, or is gone).
pub fn wait_until_exited(dir: &ContainerDir, timeout: Duration) -> Result<bool> {
    let deadline = Instant::now() + timeout;
    loop {
        // A container removed with --rm has no state any more: that is exited too.
        if !dir.path().exists() {
            return Ok(true);
        }
        let state = match dir.current_state() {
            Ok(s) => s,
            Err(_) if !dir.path().exists() => return Ok(true),
            Err(e) => return Err(e),
        };
        if state.status == Status::Exited {
            return Ok(true);
        }
        if Instant::now() >= deadline {
            return Ok(false);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// `hoist kill [-s SIGNAL] NAME` (default SIGKILL).
pub fn kill(root: &Path, name: &str, signal: Option<&str>) -> Result<String> {
    let (dir, record) = state::find(root, name)?;
    let signal = match signal {
        Some(s) => super::config::parse_signal(s)?,
        None => libc::SIGKILL,
    };
    // Asked for: no restart policy starts it again (a container waiting to restart stays stopped).
    super::restart_policy::request_stop(&dir);
    let state = dir.current_state()?;
    if state.restarting && state.status == Status::Running {
        wait_until_exited(&dir, Duration::from_secs(10))?;
        return Ok(record.id);
    }
    signal_pid1(&dir, name, signal)?;
    if signal == libc::SIGKILL {
        wait_until_exited(&dir, Duration::from_secs(10))?;
    }
    Ok(record.id)
}

/// `hoist stop [-t SECONDS] NAME`: the stop signal, then SIGKILL after the timeout. Stopping a
/// container that is not running is not an error (as docker).
pub fn stop(root: &Path, name: &str, timeout: Option<u64>) -> Result<String> {
    let (dir, record) = state::find(root, name)?;
    if dir.current_state()?.status != Status::Running {
        return Ok(record.id);
    }
    super::restart_policy::request_stop(&dir);
    let timeout = Duration::from_secs(timeout.unwrap_or(record.stop_timeout));
    match signal_pid1(&dir, name, record.stop_signal) {
        Ok(()) | Err(RuntimeError::NotRunning(_)) => {}
        Err(e) => return Err(e),
    }
    if !wait_until_exited(&dir, timeout)? {
        match signal_pid1(&dir, name, libc::SIGKILL) {
            Ok(()) | Err(RuntimeError::NotRunning(_)) => {}
            Err(e) => return Err(e),
        }
        wait_until_exited(&dir, Duration::from_secs(10))?;
    }
    Ok(record.id)
}
