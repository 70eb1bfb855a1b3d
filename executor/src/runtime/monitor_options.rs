//! What the monitor does besides running the container, as `hoist run` asked for it: the restart
//! policy (`--restart`), the health check (`--health-*` over the image's HEALTHCHECK) and the log
//! (`--log-driver`, `--log-opt`). Parsed and checked when the container is created, so that the
//! monitor only reads settled values from the record.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{Result, RuntimeError};

/// `hoist run`'s monitor flags as the user wrote them; [`MonitorOptions::settle`] checks them and
/// merges the image's HEALTHCHECK in (the record keeps the settled values).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MonitorOptions {
    /// `--restart`: `no`, `always`, `unless-stopped`, `on-failure[:N]`.
    #[serde(default)]
    pub restart: Option<String>,
    #[serde(default)]
    pub health_cmd: Option<String>,
    #[serde(default)]
    pub health_interval: Option<String>,
    #[serde(default)]
    pub health_timeout: Option<String>,
    #[serde(default)]
    pub health_start_period: Option<String>,
    #[serde(default)]
    pub health_retries: Option<u32>,
    #[serde(default)]
    pub no_healthcheck: bool,
    /// `--log-driver`: `json-file` (the default), `local` (kept as json-file), `none`.
    #[serde(default)]
    pub log_driver: Option<String>,
    /// `--log-opt KEY=VALUE`: `max-size`, `max-file`.
    #[serde(default)]
    pub log_opts: Vec<String>,
    /// Settled at creation: the health check to run (none when the image has none or it is disabled).
    #[serde(default)]
    pub healthcheck: Option<Healthcheck>,
}

/// Docker's restart policies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RestartPolicy {
    #[default]
    No,
    Always,
    UnlessStopped,
    /// `on-failure[:N]`: `0` means no limit.
    OnFailure(u32),
}

impl RestartPolicy {
    /// `no`, `always`, `unless-stopped`, `on-failure[:N]` (as `docker run --restart`).
    pub fn parse(spec: &str) -> Result<Self> {
        let (name, count) = match spec.split_once(':') {
            Some((n, c)) => (n, Some(c)),
            None => (spec, None),
        };
        let policy = match name {
            "" | "no" => RestartPolicy::No,
            "always" => RestartPolicy::Always,
            "unless-stopped" => RestartPolicy::UnlessStopped,
            "on-failure" => {
                let max = match count {
                    None => 0,
                    Some(c) => c.parse::<u32>().map_err(|_| {
                        RuntimeError::Invalid(format!(
                            "invalid restart policy format: maximum retry count must be an integer: {c:?}"
                        ))
                    })?,
                };
                return Ok(RestartPolicy::OnFailure(max));
            }
            other => {
                return Err(RuntimeError::Invalid(format!(
                    "invalid restart policy format: unknown policy {other:?} (use no, always, unless-stopped or on-failure[:N])"
                )))
            }
        };
        if count.is_some() {
            return Err(RuntimeError::Invalid(format!(
                "invalid restart policy format: maximum retry count can only be used with 'on-failure' (got {spec:?})"
            )));
        }
        Ok(policy)
    }

    /// Docker's `HostConfig.RestartPolicy.Name`.
    pub fn name(self) -> &'static str {
        match self {
            RestartPolicy::No => "no",
            RestartPolicy::Always => "always",
            RestartPolicy::UnlessStopped => "unless-stopped",
            RestartPolicy::OnFailure(_) => "on-failure",
        }
    }

    pub fn maximum_retry_count(self) -> u32 {
        match self {
            RestartPolicy::OnFailure(n) => n,
            _ => 0,
        }
    }
}

/// A health check as Docker's `Config.Healthcheck`: `Test` is `["CMD", args…]` or
/// `["CMD-SHELL", command]`; durations in nanoseconds (0: Docker's default).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Healthcheck {
    pub test: Vec<String>,
    #[serde(default)]
    pub interval: u64,
    #[serde(default)]
    pub timeout: u64,
    #[serde(default)]
    pub start_period: u64,
    #[serde(default)]
    pub retries: u32,
}

/// Docker's defaults (moby `daemon/health.go`).
const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
const DEFAULT_RETRIES: u32 = 3;

impl Healthcheck {
    pub fn interval(&self) -> Duration {
        nonzero(self.interval, DEFAULT_INTERVAL)
    }
    pub fn timeout(&self) -> Duration {
        nonzero(self.timeout, DEFAULT_TIMEOUT)
    }
    pub fn start_period(&self) -> Duration {
        Duration::from_nanos(self.start_period)
    }
    pub fn retries(&self) -> u32 {
        if self.retries == 0 {
            DEFAULT_RETRIES
        } else {
            self.retries
        }
    }
    /// The command to exec in the container: `CMD-SHELL` runs through `/bin/sh -c`.
    pub fn command(&self) -> Option<Vec<String>> {
        match self.test.split_first()? {
            (kind, rest) if kind == "CMD" && !rest.is_empty() => Some(rest.to_vec()),
            (kind, [command]) if kind == "CMD-SHELL" => {
                Some(vec!["/bin/sh".into(), "-c".into(), command.clone()])
            }
            _ => None,
        }
    }
}

fn nonzero(nanos: u64, default: Duration) -> Duration {
    if nanos == 0 {
        default
    } else {
        Duration::from_nanos(nanos)
    }
}

/// The log settings: where the monitor writes the container's output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LogConfig {
    /// `--log-driver none`: no log at all.
    pub disabled: bool,
    /// `max-size` in bytes (none: the log grows without end).
    pub max_size: Option<u64>,
    /// `max-file`: how many files (the current one included) rotation keeps.
    pub max_file: u32,
}

impl MonitorOptions {
    pub fn restart_policy(&self) -> RestartPolicy {
        self.restart
            .as_deref()
            .and_then(|r| RestartPolicy::parse(r).ok())
            .unwrap_or_default()
    }

    /// Docker's `HostConfig.LogConfig.Type`.
    pub fn log_driver(&self) -> &str {
        match self.log_driver.as_deref() {
            None | Some("") | Some("local") => "json-file",
            Some(other) => other,
        }
    }

    pub fn log_config(&self) -> LogConfig {
        let mut config = LogConfig {
            disabled: self.log_driver() == "none",
            max_size: None,
            max_file: 1,
        };
        for opt in &self.log_opts {
            match opt.split_once('=') {
                Some(("max-size", v)) => {
                    config.max_size = super::config::parse_size(v).ok().map(|n| n.max(1) as u64)
                }
                Some(("max-file", v)) => config.max_file = v.parse().unwrap_or(1).max(1),
                _ => {}
            }
        }
        config
    }

    /// Check the flags (Docker's errors) and settle the health check from them and `image_config`
    /// (the whole image config JSON). `auto_remove` is `--rm`.
    pub fn settle(&self, image_config: &serde_json::Value, auto_remove: bool) -> Result<Self> {
        let mut settled = self.clone();
        if let Some(spec) = &self.restart {
            let policy = RestartPolicy::parse(spec)?;
            if auto_remove && policy != RestartPolicy::No {
                return Err(RuntimeError::Invalid(
                    "Conflicting options: --restart and --rm".into(),
                ));
            }
        }
        match self.log_driver() {
            "json-file" | "none" => {}
            other => {
                return Err(RuntimeError::Invalid(format!(
                    "--log-driver {other}: unknown log driver (hoist has json-file, local and none)"
                )))
            }
        }
        for opt in &self.log_opts {
            match opt.split_once('=') {
                Some(("max-size", v)) => {
                    super::config::parse_size(v).map_err(|_| {
                        RuntimeError::Invalid(format!(
                            "--log-opt max-size={v}: not a size (use 10m, 512k, 1g)"
                        ))
                    })?;
                }
                Some(("max-file", v)) => {
                    if !v.parse::<u32>().is_ok_and(|n| n >= 1) {
                        return Err(RuntimeError::Invalid(format!(
                            "--log-opt max-file={v}: must be a number of files, 1 or more"
                        )));
                    }
                }
                _ => {
                    return Err(RuntimeError::Invalid(format!(
                        "--log-opt {opt:?}: unknown log opt for the json-file driver (hoist has max-size and max-file)"
                    )))
                }
            }
        }
        if self.log_driver() == "none" && !self.log_opts.is_empty() {
            return Err(RuntimeError::Invalid(
                "--log-opt: the none log driver takes no options".into(),
            ));
        }
        settled.healthcheck = self.healthcheck_over(image_config)?;
        Ok(settled)
    }

    /// The image's HEALTHCHECK with the `--health-*` flags over it (as Docker merges them).
    fn healthcheck_over(&self, image_config: &serde_json::Value) -> Result<Option<Healthcheck>> {
        let flags_given = self.health_cmd.is_some()
            || self.health_interval.is_some()
            || self.health_timeout.is_some()
            || self.health_start_period.is_some()
            || self.health_retries.is_some();
        if self.no_healthcheck {
            if flags_given {
                return Err(RuntimeError::Invalid(
                    "--no-healthcheck conflicts with --health-* options".into(),
                ));
            }
            return Ok(None);
        }
        let image: Option<Healthcheck> = image_config
            .get("config")
            .and_then(|c| c.get("Healthcheck"))
            .filter(|h| !h.is_null())
            .and_then(|h| serde_json::from_value(h.clone()).ok());
        let mut check = image.unwrap_or_default();
        if let Some(cmd) = &self.health_cmd {
            check.test = vec!["CMD-SHELL".into(), cmd.clone()];
        }
        let duration = |flag: &str,
                        value: &Option<String>,
                        minimum: Duration|
         -> Result<Option<u64>> {
            let Some(v) = value else { return Ok(None) };
            let d = parse_go_duration(v).ok_or_else(|| {
                RuntimeError::Invalid(format!(
                    "invalid argument {v:?} for \"{flag}\" flag: not a duration (use 200ms, 5s, 1m30s)"
                ))
            })?;
            if !d.is_zero() && d < minimum {
                return Err(RuntimeError::Invalid(format!(
                    "{flag} cannot be less than {minimum:?}"
                )));
            }
            Ok(Some(d.as_nanos() as u64))
        };
        // Docker's minimum for each is 1 ms.
        let ms = Duration::from_millis(1);
        if let Some(n) = duration("--health-interval", &self.health_interval, ms)? {
            check.interval = n;
        }
        if let Some(n) = duration("--health-timeout", &self.health_timeout, ms)? {
            check.timeout = n;
        }
        if let Some(n) = duration("--health-start-period", &self.health_start_period, ms)? {
            check.start_period = n;
        }
        if let Some(n) = self.health_retries {
            check.retries = n;
        }
        if check.test.first().map(String::as_str) == Some("NONE") || check.test.is_empty() {
            return Ok(None);
        }
        if check.command().is_none() {
            return Err(RuntimeError::Invalid(format!(
                "the health check {:?} is not CMD, CMD-SHELL or NONE with a command",
                check.test
            )));
        }
        Ok(Some(check))
    }
}

/// Docker's `HostConfig.LogConfig.Config`: the `--log-opt`s as an object.
pub fn log_opts_json(options: &MonitorOptions) -> serde_json::Value {
    let map: serde_json::Map<String, serde_json::Value> = options
        .log_opts
        .iter()
        .filter_map(|o| o.split_once('='))
        .map(|(k, v)| (k.to_string(), serde_json::Value::String(v.to_string())))
        .collect();
    serde_json::Value::Object(map)
}

/// A Go duration: `300ms`, `1.5s`, `1m30s`, `2h`, `0`.
pub fn parse_go_duration(text: &str) -> Option<Duration> {
    hoist_units::parse_go_duration(text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restart_policies() {
        assert_eq!(RestartPolicy::parse("no").unwrap(), RestartPolicy::No);
        assert_eq!(
            RestartPolicy::parse("always").unwrap(),
            RestartPolicy::Always
        );
        assert_eq!(
            RestartPolicy::parse("unless-stopped").unwrap(),
            RestartPolicy::UnlessStopped
        );
        assert_eq!(
            RestartPolicy::parse("on-failure").unwrap(),
            RestartPolicy::OnFailure(0)
        );
        assert_eq!(
            RestartPolicy::parse("on-failure:3").unwrap(),
            RestartPolicy::OnFailure(3)
        );
        assert!(RestartPolicy::parse("always:3").is_err());
        assert!(RestartPolicy::parse("on-failure:x").is_err());
        assert!(RestartPolicy::parse("sometimes").is_err());
    }

    #[test]
    fn restart_with_rm_is_refused() {
        let opts = MonitorOptions {
            restart: Some("always".into()),
            ..Default::default()
        };
        let e = opts.settle(&serde_json::json!({}), true).unwrap_err();
        assert_eq!(e.to_string(), "Conflicting options: --restart and --rm");
        assert!(opts.settle(&serde_json::json!({}), false).is_ok());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_go_duration("200ms"), Some(Duration::from_millis(200)));
        assert_eq!(parse_go_duration("1m30s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_go_duration("1.5s"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_go_duration("0"), Some(Duration::ZERO));
        assert_eq!(parse_go_duration("5"), None);
        assert_eq!(parse_go_duration("5x"), None);
    }

    #[test]
    fn flags_go_over_the_image_healthcheck() {
        let image = serde_json::json!({"config": {"Healthcheck": {
            "Test": ["CMD", "true"], "Interval": 5_000_000_000u64, "Retries": 7}}});
        let opts = MonitorOptions {
            health_cmd: Some("exit 0".into()),
            health_timeout: Some("2s".into()),
            ..Default::default()
        };
        let check = opts.settle(&image, false).unwrap().healthcheck.unwrap();
        assert_eq!(check.test, ["CMD-SHELL", "exit 0"]);
        assert_eq!(check.interval(), Duration::from_secs(5));
        assert_eq!(check.timeout(), Duration::from_secs(2));
        assert_eq!(check.retries(), 7);
        assert_eq!(check.command().unwrap(), ["/bin/sh", "-c", "exit 0"]);
        let none = MonitorOptions {
            no_healthcheck: true,
            ..Default::default()
        };
        assert_eq!(none.settle(&image, false).unwrap().healthcheck, None);
        let image_none = serde_json::json!({"config": {"Healthcheck": {"Test": ["NONE"]}}});
        let plain = MonitorOptions::default();
        assert_eq!(plain.settle(&image_none, false).unwrap().healthcheck, None);
    }

    #[test]
    fn log_options() {
        let opts = MonitorOptions {
            log_opts: vec!["max-size=1k".into(), "max-file=3".into()],
            ..Default::default()
        };
        assert!(opts.settle(&serde_json::json!({}), false).is_ok());
        let config = opts.log_config();
        assert_eq!(config.max_size, Some(1024));
        assert_eq!(config.max_file, 3);
        assert!(!config.disabled);
        let bad = MonitorOptions {
            log_opts: vec!["max-file=0".into()],
            ..Default::default()
        };
        assert!(bad.settle(&serde_json::json!({}), false).is_err());
        let local = MonitorOptions {
            log_driver: Some("local".into()),
            ..Default::default()
        };
        assert_eq!(local.log_driver(), "json-file");
    }
}
