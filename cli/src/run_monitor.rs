//! `hoist run`'s flags for what the monitor does besides running the container: `--restart`, the
//! health check (`--health-*`, `--no-healthcheck`) and the log (`--log-driver`, `--log-opt`).
use clap::Args;
use hoist_executor::runtime::MonitorOptions;

#[derive(Debug, Args, Default)]
pub struct MonitorArgs {
    /// Restart policy: no, always, unless-stopped, on-failure[:N] (the monitor restarts the container
    /// when it exits; `hoist stop` ends it).
    #[arg(long)]
    restart: Option<String>,
    /// Command to run to check health (through /bin/sh -c; exit 0 = healthy).
    #[arg(long = "health-cmd")]
    health_cmd: Option<String>,
    /// Time between health checks (`30s`, `200ms`).
    #[arg(long = "health-interval")]
    health_interval: Option<String>,
    /// Maximum time a health check may run (`30s`).
    #[arg(long = "health-timeout")]
    health_timeout: Option<String>,
    /// Time for the container to start before failed checks count (`0s`).
    #[arg(long = "health-start-period")]
    health_start_period: Option<String>,
    /// Failures in a row that make the container unhealthy (3).
    #[arg(long = "health-retries")]
    health_retries: Option<u32>,
    /// Disable any HEALTHCHECK the image has.
    #[arg(long = "no-healthcheck")]
    no_healthcheck: bool,
    /// Logging driver: json-file (default), local (kept as json-file), none.
    #[arg(long = "log-driver")]
    log_driver: Option<String>,
    /// Log driver options: max-size=10m, max-file=3.
    #[arg(long = "log-opt")]
    log_opt: Vec<String>,
}

impl MonitorArgs {
    pub fn into_options(self) -> MonitorOptions {
        MonitorOptions {
            restart: self.restart,
            health_cmd: self.health_cmd,
            health_interval: self.health_interval,
            health_timeout: self.health_timeout,
            health_start_period: self.health_start_period,
            health_retries: self.health_retries,
            no_healthcheck: self.no_healthcheck,
            log_driver: self.log_driver,
            log_opts: self
                .log_opt
                .iter()
                .flat_map(|o| o.split(',').map(str::to_string).collect::<Vec<_>>())
                .collect(),
            healthcheck: None,
        }
    }
}
