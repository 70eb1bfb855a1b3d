//! `--restart`: the monitor starts the container again when it exits, as Docker's restart manager
//! (moby `restartmanager`): a delay of 100 ms doubling up to a minute between starts, back to
//! 100 ms once a run lasted 10 s; `on-failure:N` gives up after N restarts.
//!
//! `hoist stop`, `kill` and `rm -f` end it for good: they leave a *stop request* (a file in the
//! container's directory) before signalling, so the monitor knows the exit was asked for — a
//! flag on disk, not a guess from the exit code. The monitor removes it when it starts.
//!
//! Without a daemon nothing restarts a container whose monitor is gone (a reboot, the monitor
//! killed): the next `hoist ps` (any [`super::list`]) starts again every `always` and
//! `unless-stopped` container whose monitor died while it ran without a stop asked
//! ([`revive_orphans`]).

use std::path::PathBuf;
use std::time::Duration;

use super::monitor_options::RestartPolicy;
use super::state::{ContainerDir, ContainerRecord, ContainerState, Status};
use super::{Result, MONITOR_MARKER};

/// Set for a monitor that carries on in the background the restarts of a foreground `hoist run`.
const CONTINUED_ENV: &str = "HOIST_MONITOR_CONTINUES";

const DEFAULT_DELAY: Duration = Duration::from_millis(100);
const MAX_DELAY: Duration = Duration::from_secs(60);
/// A run this long resets the delay (the container was doing fine).
const RESET_AFTER: Duration = Duration::from_secs(10);

/// The file whose presence says "a stop was asked for".
const STOP_REQUEST_FILE: &str = "stop-requested";

/// Decides whether and when to start the container again (moby's `ShouldRestart`).
#[derive(Debug)]
pub struct RestartManager {
    policy: RestartPolicy,
    delay: Duration,
    restarts: u32,
}

impl RestartManager {
    pub fn new(policy: RestartPolicy) -> Self {
        RestartManager {
            policy,
            delay: Duration::ZERO,
            restarts: 0,
        }
    }

    /// After an exit with `exit_code` of a run that lasted `ran_for`: how long to wait before
    /// starting again, or `None` to stay stopped.
    pub fn should_restart(
        &mut self,
        exit_code: i32,
        stop_requested: bool,
        ran_for: Duration,
    ) -> Option<Duration> {
        if stop_requested {
            return None;
        }
        if ran_for >= RESET_AFTER {
            self.delay = Duration::ZERO;
        }
        self.delay = if self.delay.is_zero() {
            DEFAULT_DELAY
        } else {
            (self.delay * 2).min(MAX_DELAY)
        };
        let restart = match self.policy {
            RestartPolicy::No => false,
            RestartPolicy::Always | RestartPolicy::UnlessStopped => true,
            RestartPolicy::OnFailure(max) => (max == 0 || self.restarts < max) && exit_code != 0,
        };
        if !restart {
            return None;
        }
        self.restarts += 1;
        Some(self.delay)
    }
}

fn stop_request_path(dir: &ContainerDir) -> PathBuf {
    dir.path().join(STOP_REQUEST_FILE)
}

/// Say that a stop was asked for (before signalling the container).
pub fn request_stop(dir: &ContainerDir) {
    let _ = std::fs::write(stop_request_path(dir), b"");
}

pub fn stop_requested(dir: &ContainerDir) -> bool {
    stop_request_path(dir).exists()
}

/// Forget a stop request: the container is being started.
pub fn clear_stop_request(dir: &ContainerDir) {
    let _ = std::fs::remove_file(stop_request_path(dir));
}

/// Sleep `delay`, waking early when a stop is asked; true when the delay ran out undisturbed.
pub fn wait_before_restart(dir: &ContainerDir, delay: Duration) -> bool {
    let deadline = std::time::Instant::now() + delay;
    loop {
        if stop_requested(dir) || !dir.path().exists() {
            return false;
        }
        let now = std::time::Instant::now();
        if now >= deadline {
            return true;
        }
        std::thread::sleep((deadline - now).min(Duration::from_millis(20)));
    }
}

/// Whether the container's output goes to its log: `run -d`, or the restarts of a foreground
/// run, carried on by a monitor in the background.
pub(crate) fn detached(record: &ContainerRecord) -> bool {
    record.options.detach || std::env::var_os(CONTINUED_ENV).is_some()
}

/// How the monitor's runs of the container ended.
pub(crate) struct RunsEnd {
    pub outcome: Result<i32>,
    pub code: i32,
    /// A monitor in the background carries on (foreground `run --restart`): leave everything be.
    pub handed_over: bool,
}

type RunOnce = fn(&ContainerDir, &ContainerRecord, &mut ContainerState) -> Result<i32>;

/// Run the container with `run`, again and again as its restart policy says.
pub(crate) fn run_with_restarts(
    dir: &ContainerDir,
    record: &ContainerRecord,
    state: &mut ContainerState,
    previous: &ContainerState,
    run: RunOnce,
) -> RunsEnd {
    let mut manager = RestartManager::new(record.options.monitor.restart_policy());
    if previous.restarting && std::env::var_os(CONTINUED_ENV).is_some() {
        // Carrying on from a foreground run: its first restart is ours.
        state.status = Status::Running;
        state.restarting = true;
        state.exit_code = previous.exit_code;
        state.started_at.clone_from(&previous.started_at);
        state.finished_at.clone_from(&previous.finished_at);
        let _ = dir.write_state(state);
        let code = previous.exit_code.unwrap_or(0);
        let delay = manager.should_restart(code, stop_requested(dir), Duration::ZERO);
        if !delay.is_some_and(|d| wait_before_restart(dir, d)) {
            return RunsEnd {
                outcome: Ok(code),
                code,
                handed_over: false,
            };
        }
        state.restart_count += 1;
        state.restarting = false;
    }
    loop {
        let began = std::time::Instant::now();
        let outcome = run(dir, record, state);
        let code = match &outcome {
            Ok(code) => *code,
            Err(e) => e.exit_code(),
        };
        // A container that could not start is not started again (its command is missing…).
        let delay = match &outcome {
            Ok(_) => manager.should_restart(code, stop_requested(dir), began.elapsed()),
            Err(_) => None,
        };
        let Some(delay) = delay else {
            return RunsEnd {
                outcome,
                code,
                handed_over: false,
            };
        };
        // What the run left (its libcontainer state, its empty cgroups) goes now: the next run
        // makes them anew.
        let _ = std::fs::remove_dir_all(dir.runc_root());
        crate::container::remove_cgroups_of(&super::monitor::libcontainer_id(record));
        state.status = Status::Running;
        state.restarting = true;
        state.pid = None;
        state.exit_code = Some(code);
        state.finished_at = Some(super::state::now_rfc3339());
        let _ = dir.write_state(state);
        if !detached(record) && continue_in_background(dir) {
            // As `docker run`: it returns at the container's first exit, the restarts go on.
            return RunsEnd {
                outcome,
                code,
                handed_over: true,
            };
        }
        if !wait_before_restart(dir, delay) {
            return RunsEnd {
                outcome,
                code,
                handed_over: false,
            };
        }
        state.restart_count += 1;
        state.restarting = false;
    }
}

/// Start a monitor in the background (its output to the log) that carries on the restarts, and
/// wait until it has taken over the state; false if it could not start.
fn continue_in_background(dir: &ContainerDir) -> bool {
    use std::os::unix::process::CommandExt;
    let Ok(log) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.log_path())
    else {
        return false;
    };
    let Ok(log2) = log.try_clone() else {
        return false;
    };
    let mut command = std::process::Command::new(super::container_create::monitor_program());
    command
        .arg(MONITOR_MARKER)
        .arg(dir.path())
        .env(CONTINUED_ENV, "1")
        .stdin(std::process::Stdio::null())
        .stdout(log)
        .stderr(log2);
    // SAFETY: setsid is async-signal-safe; the monitor must not die with our terminal or group.
    unsafe {
        command.pre_exec(|| {
            nix::unistd::setsid().map_err(std::io::Error::from)?;
            Ok(())
        });
    }
    let Ok(mut child) = command.spawn() else {
        return false;
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while std::time::Instant::now() < deadline {
        if dir
            .state()
            .is_ok_and(|s| s.monitor_pid == Some(child.id() as i32))
        {
            return true;
        }
        if let Ok(Some(_)) = child.try_wait() {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let _ = child.kill();
    false
}

/// Docker's `RestartCount`, `HostConfig.RestartPolicy` and `State.Restarting` for `inspect`.
pub fn inspect_fields(record: &ContainerRecord, state: &ContainerState) -> serde_json::Value {
    let policy = record.options.monitor.restart_policy();
    serde_json::json!({
        "RestartCount": state.restart_count,
        "Restarting": state.restarting,
        "RestartPolicy": {
            "Name": policy.name(),
            "MaximumRetryCount": policy.maximum_retry_count(),
        },
    })
}

/// Start container `dir` again if it is `always`/`unless-stopped` and no stop was asked: its
/// monitor died while it ran (as [`ContainerDir::current_state`] just found). True if it runs.
pub(crate) fn revive_if_orphaned(dir: &ContainerDir, record: &ContainerRecord) -> bool {
    let policy = record.options.monitor.restart_policy();
    if !matches!(policy, RestartPolicy::Always | RestartPolicy::UnlessStopped)
        || record.options.auto_remove
        || stop_requested(dir)
    {
        return false;
    }
    // After a reboot the run directory (on a tmpfs) is gone with the mount point in it.
    if dir.run_dir() != dir.path()
        && !dir.run_dir().exists()
        && super::rundir::create_run_dir(dir.run_dir()).is_err()
    {
        return false;
    }
    let _ = std::fs::create_dir_all(dir.merged());
    // Created again, so that `start_detached` waits for the new monitor to run it.
    let restart_count = dir.state().map(|s| s.restart_count).unwrap_or(0);
    let fresh = ContainerState {
        restart_count,
        ..ContainerState::default()
    };
    if dir.write_state(&fresh).is_err() {
        return false;
    }
    super::container_create::start_detached(dir).is_ok()
}

/// Whether a path is a container's disk directory with a restart policy worth a look.
pub(crate) fn has_restart_policy(record: &ContainerRecord) -> bool {
    record.options.monitor.restart_policy() != RestartPolicy::No
}

#[cfg(test)]
mod tests {
    use super::*;

    const QUICK: Duration = Duration::from_millis(10);

    #[test]
    fn backoff_doubles_and_resets_after_a_long_run() {
        let mut m = RestartManager::new(RestartPolicy::Always);
        let delays: Vec<_> = (0..4)
            .map(|_| m.should_restart(0, false, QUICK).unwrap().as_millis())
            .collect();
        assert_eq!(delays, [100, 200, 400, 800]);
        assert_eq!(
            m.should_restart(0, false, Duration::from_secs(11)),
            Some(DEFAULT_DELAY)
        );
        for _ in 0..20 {
            m.should_restart(1, false, QUICK);
        }
        assert_eq!(m.should_restart(1, false, QUICK), Some(MAX_DELAY));
    }

    #[test]
    fn a_stop_request_ends_it() {
        let mut m = RestartManager::new(RestartPolicy::Always);
        assert_eq!(m.should_restart(0, true, QUICK), None);
        let mut u = RestartManager::new(RestartPolicy::UnlessStopped);
        assert_eq!(u.should_restart(137, true, QUICK), None);
        assert!(u.should_restart(137, false, QUICK).is_some());
    }

    #[test]
    fn on_failure_gives_up_after_n() {
        let mut m = RestartManager::new(RestartPolicy::OnFailure(2));
        assert_eq!(
            m.should_restart(0, false, QUICK),
            None,
            "success: no restart"
        );
        assert!(m.should_restart(1, false, QUICK).is_some());
        assert!(m.should_restart(1, false, QUICK).is_some());
        assert_eq!(m.should_restart(1, false, QUICK), None);
        let mut unlimited = RestartManager::new(RestartPolicy::OnFailure(0));
        for _ in 0..50 {
            assert!(unlimited.should_restart(3, false, QUICK).is_some());
        }
        let mut no = RestartManager::new(RestartPolicy::No);
        assert_eq!(no.should_restart(1, false, QUICK), None);
    }
}
