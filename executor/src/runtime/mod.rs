//! The runtime behind `hoist run`, `ps`, `logs`, `stop`, `kill`, `rm`, `exec`, `inspect`: containers that
//! outlive the hoist process that started them, without a daemon.
//!
//! Every container has a directory `<state root>/containers/<id>/` holding its record (`container.json`,
//! written once), its state (`state.json`, rewritten atomically), its log, its overlay (`upper`, `work`,
//! `merged`) and libcontainer's state (`runc/`). One *monitor* process per container (hoist re-executed
//! with [`MONITOR_MARKER`], like conmon) mounts the rootfs, runs the container, forwards signals, proxies
//! the pty, records the exit code and cleans up. `hoist run` in the foreground *becomes* the monitor
//! (`execve`), so signals sent to hoist reach the container and hoist's exit code is the container's;
//! `hoist run -d` starts the monitor in a session of its own and returns once the container runs.
//!
//! One file per lifecycle verb, as youki's `libcontainer/src/container/`.

pub mod attach_input;
pub mod config;
pub mod container_changes;
pub mod container_check;
pub mod container_copy;
pub mod container_create;
pub mod container_exec;
pub mod container_kill;
pub mod container_list;
pub mod container_logs;
pub mod container_pause;
pub mod container_remove;
pub mod container_start;
pub mod container_stats;
pub mod health;
pub mod log_format;
pub mod monitor;
pub mod monitor_options;
pub mod mountpoints;
pub mod namespaces_config;
pub mod network;
pub mod networks;
pub mod resources_config;
pub mod restart_policy;
pub mod rundir;
pub mod state;
pub mod stdin_server;
mod trash;
pub mod tty;
pub mod volume_admin;
mod volume_lock;
pub mod volumes;

use std::path::PathBuf;

pub use config::RunOptions;
pub use container_changes::{diff, rename, wait, Change};
pub use container_create::{create, run_foreground, start_detached, start_foreground, ImageSource};
pub use container_exec::{exec, ExecOptions};
pub use container_kill::{kill, stop};
pub use container_list::{list, ContainerSummary};
pub use container_logs::{logs, logs_split, LogsOptions};
pub use container_pause::{pause, unpause};
pub use container_remove::remove;
pub use container_start::{
    attach, container_pids, restart, start, start_attached, start_error, Started,
};
pub use container_stats::{sample as stats_sample, StatsSample};
pub use monitor_options::MonitorOptions;
pub use state::{find, ContainerRecord, ContainerState, MountRecord, Status};

/// The hidden first argument that makes a hoist process a container's monitor.
pub const MONITOR_MARKER: &str = "__hoist-monitor";

/// Exit codes of hoist's own failures, as `docker run` has them.
pub const EXIT_RUNTIME_ERROR: i32 = 125;
pub const EXIT_NOT_EXECUTABLE: i32 = 126;
pub const EXIT_NOT_FOUND: i32 = 127;

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("{0}")]
    Invalid(String),
    #[error("No such container: {0}")]
    NoSuchContainer(String),
    #[error("the container name {name:?} is already in use by container {id}; remove it (hoist rm {name}) or choose another name")]
    NameInUse { name: String, id: String },
    #[error("container {0} is running: stop it first, or use rm -f")]
    Running(String),
    #[error("container {0} is not running")]
    NotRunning(String),
    /// `exec` into a paused container (Docker's words; exit 1 as Docker's).
    #[error("Container {0} is paused, unpause the container before exec")]
    Paused(String),
    #[error("could not {what} {path:?}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Container(#[from] crate::container::ContainerError),
    #[error(transparent)]
    Overlay(#[from] crate::overlay::OverlayError),
    #[error(transparent)]
    User(#[from] crate::user::UserError),
    /// The container could not start; `code` is 125, 126 or 127 as docker's.
    #[error("{message}")]
    StartFailed { message: String, code: i32 },
}

impl RuntimeError {
    /// The exit code `hoist` ends with for this error (docker's 125/126/127).
    pub fn exit_code(&self) -> i32 {
        match self {
            RuntimeError::StartFailed { code, .. } => *code,
            RuntimeError::Paused(_) => 1,
            RuntimeError::Container(crate::container::ContainerError::CommandNotFound {
                ..
            }) => EXIT_NOT_FOUND,
            RuntimeError::Container(crate::container::ContainerError::NotExecutable { .. }) => {
                EXIT_NOT_EXECUTABLE
            }
            _ => EXIT_RUNTIME_ERROR,
        }
    }
}

pub type Result<T, E = RuntimeError> = std::result::Result<T, E>;

pub(crate) fn io_err<'a>(
    what: &'static str,
    path: &'a std::path::Path,
) -> impl FnOnce(std::io::Error) -> RuntimeError + 'a {
    move |source| RuntimeError::Io {
        what,
        path: path.to_path_buf(),
        source,
    }
}

/// Where containers live under a state root.
pub fn containers_dir(root: &std::path::Path) -> PathBuf {
    root.join("containers")
}

/// Where named and anonymous volumes live under a state root.
pub fn volumes_dir(root: &std::path::Path) -> PathBuf {
    root.join("volumes")
}

/// Where compiled seccomp filters are kept for state root `root` (build steps and containers
/// share them).
pub fn seccomp_cache_for(root: &std::path::Path) -> PathBuf {
    seccomp_cache_dir(&containers_dir(root))
}

/// Where compiled seccomp filters are kept, in a containers dir.
pub(crate) fn seccomp_cache_dir(containers: &std::path::Path) -> PathBuf {
    containers.join(".seccomp")
}
