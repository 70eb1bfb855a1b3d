//! What `hoist run` was asked for, and Docker's rules for combining it with the image config.
//!
//! - `--entrypoint X` replaces the image's ENTRYPOINT *and* drops its CMD; `--entrypoint ""` clears both.
//! - Arguments after the image replace CMD. The process is ENTRYPOINT + CMD; empty is an error (125).
//! - Env: the image's, then `--env-file`s, then `-e` (later wins); `PATH` defaults as in Docker; `HOSTNAME`,
//!   `HOME` (the user's home from the image's passwd, else `/`) and `TERM=xterm` with `-t` are added when unset.
//! - `-w` (absolute) replaces WorkingDir (default `/`); `-u` replaces User (default root).
//! - `--stop-signal` replaces StopSignal (default SIGTERM); `--stop-timeout` defaults to 10 s.

use serde::{Deserialize, Serialize};

use super::{Result, RuntimeError};
use crate::container::DEFAULT_PATH;

/// `docker run`'s network modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum NetworkMode {
    #[default]
    Host,
    None,
    /// A network namespace of its own on the `hoist0` bridge, NATed to the host's network.
    Bridge,
}

impl std::str::FromStr for NetworkMode {
    type Err = RuntimeError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "host" | "default" => Ok(NetworkMode::Host),
            "none" => Ok(NetworkMode::None),
            "bridge" => Ok(NetworkMode::Bridge),
            other => Err(RuntimeError::Invalid(format!(
                "--network {other}: unknown network mode (use host, none or bridge)"
            ))),
        }
    }
}

/// Everything `hoist run` takes, as the user wrote it (strings are parsed by [`super::create`]).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RunOptions {
    pub name: Option<String>,
    pub detach: bool,
    pub auto_remove: bool,
    pub interactive: bool,
    pub tty: bool,
    /// `KEY=VALUE` (or `KEY`, taken from hoist's environment, skipped when unset), after `--env-file`s.
    pub env: Vec<String>,
    pub env_files: Vec<std::path::PathBuf>,
    pub workdir: Option<String>,
    pub user: Option<String>,
    pub entrypoint: Option<String>,
    pub command: Vec<String>,
    /// `-v` specs: `HOST:CTR[:ro]`, `NAME:CTR[:ro]`, `CTR`.
    pub volumes: Vec<String>,
    /// `--mount` specs: `type=bind|volume|tmpfs,source=…,target=…,readonly,…`.
    pub mounts: Vec<String>,
    /// `--tmpfs` specs: `CTR[:OPTIONS]`.
    pub tmpfs: Vec<String>,
    pub read_only: bool,
    pub hostname: Option<String>,
    pub network: NetworkMode,
    /// `-p` specs: `[IP:]HOSTPORT:CTRPORT[/tcp]`.
    pub publish: Vec<String>,
    pub memory: Option<String>,
    pub cpus: Option<String>,
    pub pids_limit: Option<i64>,
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    pub privileged: bool,
    pub init: bool,
    pub stop_signal: Option<String>,
    pub stop_timeout: Option<u64>,
    /// `--security-opt` values: `seccomp=unconfined`, `no-new-privileges[=true|false]`.
    #[serde(default)]
    pub security_opt: Vec<String>,
    /// `--label KEY=VALUE` (a bare `KEY` is an empty value), over the image's labels.
    #[serde(default)]
    pub labels: Vec<String>,
    /// `--restart`, `--health-*`, `--log-driver`/`--log-opt`: what the monitor does besides running it.
    #[serde(default)]
    pub monitor: super::monitor_options::MonitorOptions,
    /// The resource and namespace flags (`--cpu-shares`, `--ulimit`, `--pid`, `--device` …).
    #[serde(default)]
    pub tuning: super::resources_config::TuningFlags,
    /// User-defined network, `--ip`, aliases, `--dns*`, `--add-host`.
    #[serde(default)]
    pub net: super::networks::join::NetOptions,
    /// How `attach` reaches the container's stdin (`-i`).
    #[serde(default)]
    pub stdin: super::stdin_server::StdinOptions,
}

/// The image config fields that decide what runs (`config` of the OCI image config).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageDefaults {
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
    pub env: Vec<String>,
    pub working_dir: String,
    pub user: String,
    pub stop_signal: Option<String>,
    pub volumes: Vec<String>,
    pub labels: std::collections::BTreeMap<String, String>,
}

impl ImageDefaults {
    /// From the image config JSON (the whole document; `config` is looked up inside).
    pub fn from_config_json(config: &serde_json::Value) -> Self {
        let c = config.get("config").cloned().unwrap_or_default();
        let strings = |key: &str| -> Vec<String> {
            c.get(key)
                .and_then(|v| v.as_array())
                .map(|a| {
                    a.iter()
                        .filter_map(|s| s.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default()
        };
        let string = |key: &str| c.get(key).and_then(|v| v.as_str()).map(str::to_string);
        let mut volumes: Vec<String> = c
            .get("Volumes")
            .and_then(|v| v.as_object())
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default();
        volumes.sort();
        ImageDefaults {
            entrypoint: strings("Entrypoint"),
            cmd: strings("Cmd"),
            env: strings("Env"),
            working_dir: string("WorkingDir").unwrap_or_default(),
            user: string("User").unwrap_or_default(),
            stop_signal: string("StopSignal").filter(|s| !s.is_empty()),
            volumes,
            labels: c
                .get("Labels")
                .and_then(|v| v.as_object())
                .map(|o| {
                    o.iter()
                        .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                        .collect()
                })
                .unwrap_or_default(),
        }
    }
}

/// The container's labels: the image's, then `--label`s (which win), as Docker merges them.
pub fn labels(
    image: &ImageDefaults,
    flags: &[String],
) -> std::collections::BTreeMap<String, String> {
    let mut labels = image.labels.clone();
    for flag in flags {
        let (key, value) = flag.split_once('=').unwrap_or((flag.as_str(), ""));
        labels.insert(key.to_string(), value.to_string());
    }
    labels
}

/// The argv: ENTRYPOINT + CMD after the overrides.
pub fn argv(
    image: &ImageDefaults,
    entrypoint: Option<&str>,
    command: &[String],
) -> Result<Vec<String>> {
    let (entrypoint, cmd) = match entrypoint {
        Some("") => (Vec::new(), command.to_vec()),
        Some(ep) => (vec![ep.to_string()], command.to_vec()),
        None if command.is_empty() => (image.entrypoint.clone(), image.cmd.clone()),
        None => (image.entrypoint.clone(), command.to_vec()),
    };
    let argv: Vec<String> = entrypoint.into_iter().chain(cmd).collect();
    if argv.is_empty() {
        return Err(RuntimeError::Invalid(
            "no command specified: the image has no ENTRYPOINT or CMD; give one after the image name".into(),
        ));
    }
    Ok(argv)
}

/// Set `KEY=VALUE` in `env`, replacing an earlier value of `KEY`.
fn set_env(env: &mut Vec<String>, kv: String) {
    let key = kv.split('=').next().unwrap_or_default().to_string();
    env.retain(|x| x.split('=').next() != Some(key.as_str()));
    env.push(kv);
}

/// A `-e` or `--env-file` entry: `KEY=VALUE` as is, `KEY` from `lookup` (dropped when unset).
fn env_entry(entry: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Option<String> {
    match entry.split_once('=') {
        Some(_) => Some(entry.to_string()),
        None => lookup(entry).map(|v| format!("{entry}={v}")),
    }
}

/// The lines of an env file as docker reads them: `#` comments and blank lines skipped, no quote handling.
pub fn parse_env_file(text: &str) -> Vec<String> {
    text.lines()
        .map(|l| l.trim_start())
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| l.trim_end_matches('\r').to_string())
        .collect()
}

/// The process environment: image Env, then `user_env` (env files first, then `-e`).
pub fn environment(
    image: &ImageDefaults,
    user_env: &[String],
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<String>> {
    let mut env = Vec::new();
    for kv in &image.env {
        set_env(&mut env, kv.clone());
    }
    for entry in user_env {
        if entry.is_empty() || entry.starts_with('=') {
            return Err(RuntimeError::Invalid(format!(
                "invalid environment variable {entry:?}: expected KEY=VALUE or KEY"
            )));
        }
        if let Some(kv) = env_entry(entry, lookup) {
            set_env(&mut env, kv);
        }
    }
    if !env.iter().any(|e| e.starts_with("PATH=")) {
        env.insert(0, format!("PATH={DEFAULT_PATH}"));
    }
    Ok(env)
}

/// Add `KEY=VALUE` only when `KEY` is not set (HOSTNAME, HOME, TERM).
pub fn default_env(env: &mut Vec<String>, key: &str, value: &str) {
    let prefix = format!("{key}=");
    if !env.iter().any(|e| e.starts_with(&prefix)) {
        env.push(format!("{prefix}{value}"));
    }
}

/// The working directory: `-w` (must be absolute), else the image's, else `/`.
pub fn working_dir(image: &ImageDefaults, workdir: Option<&str>) -> Result<String> {
    match workdir {
        Some(w) if !w.starts_with('/') => Err(RuntimeError::Invalid(format!(
            "the working directory {w:?} is invalid: it needs to be an absolute path"
        ))),
        Some(w) => Ok(w.to_string()),
        None if image.working_dir.is_empty() => Ok("/".into()),
        None => Ok(image.working_dir.clone()),
    }
}

/// The user spec: `-u`, else the image's, else root.
pub fn user(image: &ImageDefaults, user: Option<&str>) -> String {
    user.map(str::to_string)
        .or_else(|| Some(image.user.clone()))
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "0".into())
}

/// The user a container process runs as, resolved in its rootfs, with Docker's supplementary
/// groups: the primary group first, then the groups that list the user
/// ([`crate::user::resolve_user`], which build steps use, gives only the latter).
pub fn resolve_user(rootfs: &std::path::Path, spec: &str) -> Result<crate::user::UserSpec> {
    let mut user = crate::user::resolve_user(rootfs, spec)?;
    if !user.additional_gids.contains(&user.gid) {
        user.additional_gids.insert(0, user.gid);
    }
    Ok(user)
}

/// A signal by name (`SIGTERM`, `TERM`, `term`) or number.
pub fn parse_signal(s: &str) -> Result<i32> {
    if let Ok(n) = s.parse::<i32>() {
        if (1..=64).contains(&n) {
            return Ok(n);
        }
    }
    let upper = s.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    name.parse::<nix::sys::signal::Signal>()
        .map(|s| s as i32)
        .map_err(|_| {
            RuntimeError::Invalid(format!(
                "invalid signal {s:?} (use a name like SIGTERM or a number)"
            ))
        })
}

/// A size as docker takes it: `512m`, `1g`, `1048576`, `100k`, `1.5g` (binary units).
pub fn parse_size(s: &str) -> Result<i64> {
    let invalid = || {
        RuntimeError::Invalid(format!(
            "invalid size {s:?}: use a number with an optional unit b, k, m or g"
        ))
    };
    let lower = s.trim().to_ascii_lowercase();
    let lower = lower
        .strip_suffix('b')
        .filter(|r| !r.is_empty() && !r.ends_with(|c: char| c.is_ascii_digit()))
        .unwrap_or(&lower);
    let (number, unit) = match lower.char_indices().find(|(_, c)| c.is_ascii_alphabetic()) {
        Some((i, _)) => (&lower[..i], &lower[i..]),
        None => (lower, ""),
    };
    let multiplier: f64 = match unit {
        "" | "b" => 1.0,
        "k" | "kb" | "kib" => 1024.0,
        "m" | "mb" | "mib" => 1024.0 * 1024.0,
        "g" | "gb" | "gib" => 1024.0 * 1024.0 * 1024.0,
        "t" | "tb" | "tib" => 1024.0f64.powi(4),
        _ => return Err(invalid()),
    };
    let n: f64 = number.parse().map_err(|_| invalid())?;
    if !(n.is_finite() && n > 0.0) {
        return Err(invalid());
    }
    Ok((n * multiplier) as i64)
}

/// What `--security-opt` asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SecurityOptions {
    /// Docker's default seccomp profile (off with `seccomp=unconfined`).
    pub seccomp: bool,
    pub no_new_privileges: bool,
}

/// `--security-opt` as docker takes it (`=` or the old `:` separator). AppArmor and SELinux
/// labels have nothing to confine here, so only their "off" values are accepted.
pub fn security_options(opts: &[String]) -> Result<SecurityOptions> {
    let mut out = SecurityOptions {
        seccomp: true,
        no_new_privileges: false,
    };
    for opt in opts {
        let (key, value) = match opt.split_once(['=', ':']) {
            Some((k, v)) => (k, Some(v)),
            None => (opt.as_str(), None),
        };
        match (key, value) {
            ("seccomp", Some("unconfined")) => out.seccomp = false,
            ("seccomp", Some(other)) => {
                return Err(RuntimeError::Invalid(format!(
                "--security-opt seccomp={other}: hoist has Docker's default profile built in and \
                     no custom profiles; use seccomp=unconfined to run without one"
            )))
            }
            ("no-new-privileges", None | Some("true")) => out.no_new_privileges = true,
            ("no-new-privileges", Some("false")) => out.no_new_privileges = false,
            ("apparmor", Some("unconfined")) | ("label", Some("disable")) => {}
            _ => {
                return Err(RuntimeError::Invalid(format!(
                    "invalid --security-opt {opt:?}: hoist supports seccomp=unconfined and \
                     no-new-privileges[=true|false]"
                )))
            }
        }
    }
    Ok(out)
}

/// `--cpus 1.5` → 1500 thousandths.
pub fn parse_cpus(s: &str) -> Result<i64> {
    match s.trim().parse::<f64>() {
        Ok(n) if n.is_finite() && n > 0.0 => Ok((n * 1000.0).round() as i64),
        _ => Err(RuntimeError::Invalid(format!(
            "invalid --cpus {s:?}: use a positive number like 0.5 or 2"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image() -> ImageDefaults {
        ImageDefaults {
            entrypoint: vec!["/ep".into()],
            cmd: vec!["a".into(), "b".into()],
            env: vec!["PATH=/x".into(), "A=1".into()],
            ..Default::default()
        }
    }

    #[test]
    fn docker_combines_entrypoint_and_cmd() {
        let img = image();
        let v = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(argv(&img, None, &[]).unwrap(), v(&["/ep", "a", "b"]));
        assert_eq!(argv(&img, None, &v(&["c"])).unwrap(), v(&["/ep", "c"]));
        assert_eq!(argv(&img, Some("/other"), &[]).unwrap(), v(&["/other"]));
        assert_eq!(
            argv(&img, Some("/other"), &v(&["x"])).unwrap(),
            v(&["/other", "x"])
        );
        assert_eq!(argv(&img, Some(""), &v(&["sh"])).unwrap(), v(&["sh"]));
        assert!(argv(&img, Some(""), &[]).is_err());
        assert!(argv(&ImageDefaults::default(), None, &[]).is_err());
    }

    #[test]
    fn env_overrides_and_lookups() {
        let lookup = |k: &str| (k == "FROM_HOST").then(|| "h".to_string());
        let env = environment(
            &image(),
            &["A=2".into(), "FROM_HOST".into(), "UNSET".into()],
            &lookup,
        )
        .unwrap();
        assert_eq!(env, ["PATH=/x", "A=2", "FROM_HOST=h"]);
        let env = environment(&ImageDefaults::default(), &[], &lookup).unwrap();
        assert_eq!(env, [format!("PATH={DEFAULT_PATH}")]);
        assert!(environment(&image(), &["=x".into()], &lookup).is_err());
        assert_eq!(parse_env_file("# c\n\nA=1\r\n  B\n"), ["A=1", "B"]);
    }

    #[test]
    fn workdir_user_signal_size() {
        let img = ImageDefaults {
            working_dir: "/app".into(),
            user: "nobody".into(),
            ..Default::default()
        };
        assert_eq!(working_dir(&img, None).unwrap(), "/app");
        assert_eq!(working_dir(&ImageDefaults::default(), None).unwrap(), "/");
        assert!(working_dir(&img, Some("rel")).is_err());
        assert_eq!(user(&img, None), "nobody");
        assert_eq!(user(&img, Some("1:2")), "1:2");
        assert_eq!(user(&ImageDefaults::default(), None), "0");
        assert_eq!(parse_signal("SIGUSR1").unwrap(), libc::SIGUSR1);
        assert_eq!(parse_signal("term").unwrap(), libc::SIGTERM);
        assert_eq!(parse_signal("9").unwrap(), 9);
        assert!(parse_signal("NOPE").is_err());
        assert_eq!(parse_size("64m").unwrap(), 64 << 20);
        assert_eq!(parse_size("1g").unwrap(), 1 << 30);
        assert_eq!(parse_size("100").unwrap(), 100);
        assert_eq!(parse_size("6MB").unwrap(), 6 << 20);
        assert!(parse_size("lots").is_err());
        assert_eq!(parse_cpus("1.5").unwrap(), 1500);
        let sec =
            |o: &[&str]| security_options(&o.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert!(sec(&[]).unwrap().seccomp);
        assert!(!sec(&["seccomp=unconfined"]).unwrap().seccomp);
        assert!(!sec(&["seccomp:unconfined"]).unwrap().seccomp);
        assert!(sec(&["no-new-privileges"]).unwrap().no_new_privileges);
        assert!(!sec(&["no-new-privileges=false"]).unwrap().no_new_privileges);
        assert!(sec(&["seccomp=/some/profile.json"]).is_err());
        assert!(sec(&["bogus"]).is_err());
        assert!(parse_cpus("-1").is_err());
    }
}
