//! A container's record (`container.json`, written once at creation) and state (`state.json`, replaced
//! atomically by the monitor), and finding containers by name or id prefix.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::config::{NetworkMode, RunOptions};
use super::{containers_dir, io_err, Result, RuntimeError};

pub const RECORD_FILE: &str = "container.json";
pub const STATE_FILE: &str = "state.json";
pub const LOG_FILE: &str = "container.log";

/// A mount as decided at creation: where its data lives on the host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "Type")]
pub enum MountRecord {
    Bind {
        source: PathBuf,
        destination: String,
        readonly: bool,
    },
    /// A named (`anonymous: false`) or anonymous volume: `source` is its `_data` dir.
    Volume {
        name: String,
        source: PathBuf,
        destination: String,
        readonly: bool,
        anonymous: bool,
    },
    Tmpfs {
        destination: String,
        options: Vec<String>,
    },
}

/// What a container is, fixed when it is created.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ContainerRecord {
    pub id: String,
    pub name: String,
    pub image: String,
    pub image_id: String,
    /// RFC 3339.
    pub created: String,
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub cwd: String,
    /// `-u` or the image's User, resolved against the image's passwd when the container starts.
    pub user: String,
    pub hostname: String,
    pub network: NetworkMode,
    /// `(host port, container port)` published on 127.0.0.1.
    pub ports: Vec<(u16, u16)>,
    /// `-p`/`-P` as published (free host ports chosen); `ports` holds only older records' ports.
    #[serde(default)]
    pub port_bindings: Vec<super::networks::ports::PortBinding>,
    pub mounts: Vec<MountRecord>,
    /// Overlay lower dirs, topmost first.
    pub lowers: Vec<PathBuf>,
    pub stop_signal: i32,
    pub stop_timeout: u64,
    pub options: RunOptions,
    pub runtime: crate::container::RuntimeOptions,
    /// The image's labels and `--label`s.
    #[serde(default)]
    pub labels: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    #[default]
    Created,
    Running,
    Exited,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Exited => "exited",
        }
    }
}

/// What a container is doing; only its monitor writes it (and `ps` for a monitor that died).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ContainerState {
    pub status: Status,
    /// pid 1 of the container, as the host sees it.
    pub pid: Option<i32>,
    pub monitor_pid: Option<i32>,
    /// `/proc/<monitor_pid>/stat` start time, so a recycled pid is not mistaken for the monitor.
    pub monitor_start_time: Option<u64>,
    pub exit_code: Option<i32>,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    /// Why the container could not start (then `exit_code` is 125, 126 or 127).
    pub error: Option<String>,
    /// The IP address on the bridge network.
    pub ip_address: Option<String>,
    /// The OOM killer killed a process of the container (its memory limit was hit), as Docker's `OOMKilled`.
    #[serde(default)]
    pub oom_killed: bool,
    /// Docker's `RestartCount`: how often the monitor started the container again (`--restart`).
    #[serde(default)]
    pub restart_count: u32,
    /// Exited, and to be started again after the restart delay (Docker's `State.Restarting`; the
    /// status stays `running`, as Docker's `State.Running`).
    #[serde(default)]
    pub restarting: bool,
    /// The health check's state (from `health.json`, which the monitor's checker writes).
    #[serde(skip)]
    pub health: Option<super::health::Health>,
    /// Its cgroup is frozen (`hoist pause`): read from the cgroup by [`ContainerDir::current_state`],
    /// never stored, so it cannot outlive the pause.
    #[serde(default, skip_serializing)]
    pub paused: bool,
}

impl ContainerState {
    /// Docker's `State.Status` word: `created`, `running`, `paused`, `restarting` (waiting to be started
    /// again), `exited`.
    pub fn docker_status(&self) -> &'static str {
        if self.restarting && self.status == Status::Running {
            "restarting"
        } else if self.paused && self.status == Status::Running {
            "paused"
        } else {
            self.status.as_str()
        }
    }
}

/// Now, RFC 3339 in UTC with nanoseconds (as Docker records `Created`, `StartedAt`: containers made within one
/// second still sort in the order they were made).
pub fn now_rfc3339() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs() as i64;
    let nanos = now.subsec_nanos();
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{nanos:09}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Write `bytes` to `path` atomically (tmp file in the same dir, fsync-free rename: state is
/// re-derivable, a torn file is not).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, bytes).map_err(io_err("write", &tmp))?;
    std::fs::rename(&tmp, path).map_err(io_err("rename into place", path))
}

/// Where one container's files are. Its *disk directory* `<root>/containers/<id>/` holds the
/// overlay's `upper` and `work` and the log, and exists exactly as long as the container does.
/// Its *run directory* (see [`super::rundir`]) holds the rootfs mount point and libcontainer's
/// state and bundle. The record and state are in the disk directory, except for a `--rm`
/// container's: they are in its run directory, as nothing of it is to outlive it.
#[derive(Debug, Clone)]
pub struct ContainerDir {
    disk: PathBuf,
    run: PathBuf,
    record_in_run: bool,
}

impl ContainerDir {
    /// The directories of a new container `id` of state root `root` (absolute).
    pub(crate) fn for_new(root: &Path, id: &str, auto_remove: bool) -> ContainerDir {
        ContainerDir {
            disk: containers_dir(root).join(id),
            run: super::rundir::run_root(root).join(id),
            record_in_run: auto_remove,
        }
    }

    /// The container whose disk directory is `disk` (`<root>/containers/<id>`), its record
    /// wherever it was written.
    pub fn at(disk: &Path) -> ContainerDir {
        let id = disk.file_name().map(PathBuf::from).unwrap_or_default();
        let run = match disk.parent().and_then(Path::parent) {
            Some(root) => super::rundir::run_root(root).join(&id),
            None => disk.to_path_buf(),
        };
        let record_in_run = run != disk && !disk.join(RECORD_FILE).exists();
        ContainerDir {
            disk: disk.to_path_buf(),
            run,
            record_in_run,
        }
    }

    /// The disk directory: it exists as long as the container does.
    pub fn path(&self) -> &Path {
        &self.disk
    }
    /// The run directory (the same as the disk directory where there is no tmpfs for it).
    pub fn run_dir(&self) -> &Path {
        &self.run
    }
    /// Where the record, the state and the health state are.
    pub(crate) fn state_dir(&self) -> &Path {
        self.record_dir()
    }
    fn record_dir(&self) -> &Path {
        if self.record_in_run {
            &self.run
        } else {
            &self.disk
        }
    }
    /// Remove the run directory, where it is not the disk directory (see [`super::rundir`]).
    pub(crate) fn remove_run_dir(&self) {
        if self.run != self.disk {
            super::rundir::remove_run_dir(&self.run);
        }
    }
    /// Whether the container has a record (it may still be being made, or be half removed).
    pub fn has_record(&self) -> bool {
        self.record_dir().join(RECORD_FILE).exists()
    }
    pub fn record(&self) -> Result<ContainerRecord> {
        let path = self.record_dir().join(RECORD_FILE);
        let bytes = std::fs::read(&path).map_err(io_err("read", &path))?;
        serde_json::from_slice(&bytes)
            .map_err(|e| RuntimeError::Invalid(format!("{path:?} is damaged: {e}")))
    }
    pub fn write_record(&self, record: &ContainerRecord) -> Result<()> {
        let bytes =
            serde_json::to_vec_pretty(record).map_err(|e| RuntimeError::Invalid(e.to_string()))?;
        write_atomic(&self.record_dir().join(RECORD_FILE), &bytes)
    }
    pub fn state(&self) -> Result<ContainerState> {
        let path = self.record_dir().join(STATE_FILE);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(|state: ContainerState| ContainerState {
                    health: super::health::read(self),
                    ..state
                })
                .map_err(|e| RuntimeError::Invalid(format!("{path:?} is damaged: {e}"))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(ContainerState::default()),
            Err(e) => Err(io_err("read", &path)(e)),
        }
    }
    pub fn write_state(&self, state: &ContainerState) -> Result<()> {
        let bytes =
            serde_json::to_vec_pretty(state).map_err(|e| RuntimeError::Invalid(e.to_string()))?;
        write_atomic(&self.record_dir().join(STATE_FILE), &bytes)
    }
    pub fn log_path(&self) -> PathBuf {
        self.disk.join(LOG_FILE)
    }
    pub fn upper(&self) -> PathBuf {
        self.disk.join("upper")
    }
    pub fn work(&self) -> PathBuf {
        self.disk.join("work")
    }
    pub fn merged(&self) -> PathBuf {
        self.run.join("merged")
    }
    /// libcontainer's state root for this container.
    pub fn runc_root(&self) -> PathBuf {
        self.run.join("runc")
    }
    /// The state, with a dead monitor noticed: a container whose monitor is gone is exited (its
    /// leftovers — mounts, cgroup, libcontainer state — removed now).
    pub fn current_state(&self) -> Result<ContainerState> {
        let mut state = self.state()?;
        if state.status != Status::Exited && state.monitor_pid.is_some() && !monitor_alive(&state) {
            // Re-read: the monitor may have finished between the two looks.
            state = self.state()?;
            if state.status != Status::Exited && !monitor_alive(&state) {
                super::monitor::cleanup_after_monitor_death(self);
                state.status = Status::Exited;
                state.restarting = false;
                state.exit_code.get_or_insert(137);
                state.finished_at.get_or_insert_with(now_rfc3339);
                state.pid = None;
                self.write_state(&state)?;
            }
        }
        if state.status == Status::Running {
            let id = self.disk.file_name().and_then(|n| n.to_str()).unwrap_or("");
            state.paused = super::container_pause::is_paused(id);
        }
        Ok(state)
    }
}

/// Field 22 of `/proc/<pid>/stat`: when the process started, in clock ticks since boot.
pub fn process_start_time(pid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may contain spaces and parentheses: split after the last ')'.
    let after = &stat[stat.rfind(')')? + 1..];
    after.split_whitespace().nth(19)?.parse().ok()
}

pub(crate) fn monitor_alive(state: &ContainerState) -> bool {
    match (state.monitor_pid, state.monitor_start_time) {
        (Some(pid), Some(start)) => process_start_time(pid) == Some(start),
        (Some(pid), None) => Path::new(&format!("/proc/{pid}")).exists(),
        _ => false,
    }
}

/// Every container directory under `root`.
pub fn all(root: &Path) -> Result<Vec<ContainerDir>> {
    let dir = containers_dir(root);
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_err("read", &dir)(e)),
    };
    Ok(entries
        .flatten()
        .filter(|e| !e.file_name().as_encoded_bytes().starts_with(b"."))
        .map(|e| ContainerDir::at(&e.path()))
        .filter(ContainerDir::has_record)
        .collect())
}

/// A container by exact name, full id or unique id prefix (as docker resolves them).
pub fn find(root: &Path, name_or_id: &str) -> Result<(ContainerDir, ContainerRecord)> {
    let wanted = name_or_id.trim_start_matches('/');
    let mut by_prefix = Vec::new();
    for dir in all(root)? {
        let Ok(record) = dir.record() else { continue };
        if record.name == wanted || record.id == wanted {
            return Ok((dir, record));
        }
        if !wanted.is_empty() && record.id.starts_with(wanted) {
            by_prefix.push((dir, record));
        }
    }
    match by_prefix.len() {
        1 => Ok(by_prefix.remove(0)),
        0 => Err(RuntimeError::NoSuchContainer(name_or_id.to_string())),
        _ => Err(RuntimeError::Invalid(format!(
            "{name_or_id:?} matches several containers: give more of the id"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_has_the_right_shape() {
        let now = now_rfc3339();
        assert_eq!(now.len(), 30, "{now}");
        assert!(now.starts_with("20") && now.ends_with('Z') && now.as_bytes()[19] == b'.');
        let (a, b) = (now_rfc3339(), now_rfc3339());
        assert!(a <= b, "later times sort after earlier ones: {a} {b}");
    }

    #[test]
    fn start_time_of_ourselves() {
        assert!(process_start_time(std::process::id() as i32).is_some());
        assert!(process_start_time(i32::MAX).is_none());
    }
}
