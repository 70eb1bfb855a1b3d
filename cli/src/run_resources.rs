//! `hoist run`'s resource and namespace flags, flattened into `RunArgs`; checked and applied by
//! [`hoist_executor::runtime::resources_config`] and [`hoist_executor::runtime::namespaces_config`].
use clap::Args;
use hoist_executor::runtime::resources_config::TuningFlags;

#[derive(Debug, Args, Default)]
pub struct RunResourceArgs {
    /// CPU shares (relative weight; the default is 1024). Docker's `-c` short form is left out: a
    /// command after the image such as `sh -c …` must keep its `-c`.
    #[arg(long = "cpu-shares")]
    cpu_shares: Option<i64>,
    /// CPUs in which to allow execution (`0-3`, `0,1`).
    #[arg(long = "cpuset-cpus")]
    cpuset_cpus: Option<String>,
    /// Memory nodes in which to allow execution (`0-3`, `0,1`).
    #[arg(long = "cpuset-mems")]
    cpuset_mems: Option<String>,
    /// Memory plus swap limit (`-1` for unlimited swap); needs --memory.
    #[arg(long = "memory-swap", allow_hyphen_values = true)]
    memory_swap: Option<String>,
    /// Memory soft limit.
    #[arg(long = "memory-reservation")]
    memory_reservation: Option<String>,
    /// Block IO weight, relative (10 to 1000, 0 to disable).
    #[arg(long = "blkio-weight")]
    blkio_weight: Option<u16>,
    /// Limit the read rate from a device (`/dev/vda:1mb`).
    #[arg(long = "device-read-bps")]
    device_read_bps: Vec<String>,
    /// Limit the write rate to a device (`/dev/vda:1mb`).
    #[arg(long = "device-write-bps")]
    device_write_bps: Vec<String>,
    /// Disable the OOM killer.
    #[arg(long = "oom-kill-disable")]
    oom_kill_disable: bool,
    /// Ulimit options (`nofile=1024:2048`).
    #[arg(long = "ulimit")]
    ulimit: Vec<String>,
    /// Size of /dev/shm (`64m`).
    #[arg(long = "shm-size")]
    shm_size: Option<String>,
    /// Namespaced kernel parameters (`net.ipv4.ip_forward=1`).
    #[arg(long = "sysctl")]
    sysctl: Vec<String>,
    /// Add a host device to the container (`/dev/x[:/dev/y][:rwm]`).
    #[arg(long = "device")]
    device: Vec<String>,
    /// Mount the volumes of another container (`NAME[:ro|rw]`).
    #[arg(long = "volumes-from")]
    volumes_from: Vec<String>,
    /// IPC mode: private (default), shareable, host, container:NAME.
    #[arg(long = "ipc")]
    ipc: Option<String>,
    /// PID namespace: host or container:NAME.
    #[arg(long = "pid")]
    pid: Option<String>,
    /// UTS namespace: host.
    #[arg(long = "uts")]
    uts: Option<String>,
    /// Cgroup namespace: host (the default here, on cgroup v1) or private.
    #[arg(long = "cgroupns")]
    cgroupns: Option<String>,
    /// Additional groups to join (names from the image's /etc/group, or gids).
    #[arg(long = "group-add")]
    group_add: Vec<String>,
}

impl RunResourceArgs {
    /// The flags for the runtime; Docker's warning for an OOM killer turned off without a limit.
    pub fn into_flags(self, memory: Option<&str>) -> TuningFlags {
        if self.oom_kill_disable && memory.is_none() {
            errln!(
                "WARNING: Disabling the OOM killer on containers without setting a '-m/--memory' limit may be dangerous."
            );
        }
        TuningFlags {
            network_container: None,
            cpu_shares: self.cpu_shares,
            cpuset_cpus: self.cpuset_cpus,
            cpuset_mems: self.cpuset_mems,
            memory_swap: self.memory_swap,
            memory_reservation: self.memory_reservation,
            blkio_weight: self.blkio_weight,
            device_read_bps: self.device_read_bps,
            device_write_bps: self.device_write_bps,
            oom_kill_disable: self.oom_kill_disable,
            ulimits: self.ulimit,
            shm_size: self.shm_size,
            sysctls: self.sysctl,
            devices: self.device,
            volumes_from: self.volumes_from,
            ipc: self.ipc,
            pid: self.pid,
            uts: self.uts,
            cgroupns: self.cgroupns,
            group_add: self.group_add,
        }
    }
}
