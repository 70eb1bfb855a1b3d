//! ARG and ENV scoping, as BuildKit does it.
//!
//! - Global ARGs (before the first FROM) are visible in FROM lines only, unless a stage redeclares them.
//! - A stage's `ARG NAME[=default]` takes the `--build-arg` value if given, else the global value when the
//!   default is missing, else the default.
//! - ARG and ENV share one ordered environment (BuildKit's LLB state env): an `ENV` sets a name, an `ARG` that
//!   has a value (default, `--build-arg` or global) sets it too, the later one wins. So an `ARG` before an `ENV`
//!   of the same name is hidden by it, and an `ARG` with a value after an `ENV` hides the ENV for expansion and
//!   RUN, while the image config keeps the ENV's value.
//! - Build args reach RUN's environment but never the image config.
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use hoist_parser::shell::Env;

/// `--build-arg`s given on the command line, and which of them some ARG consumed.
#[derive(Debug, Default)]
pub struct BuildArgs {
    values: BTreeMap<String, String>,
    used: Mutex<BTreeSet<String>>,
}

/// Proxy variables BuildKit accepts as build args without an ARG (they reach RUN, not the image).
pub const PREDEFINED_ARGS: &[&str] = &[
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "FTP_PROXY",
    "ftp_proxy",
    "NO_PROXY",
    "no_proxy",
    "ALL_PROXY",
    "all_proxy",
];

impl BuildArgs {
    pub fn new(pairs: &[(String, String)]) -> Self {
        BuildArgs {
            values: pairs.iter().cloned().collect(),
            used: Mutex::default(),
        }
    }

    /// The override for `name`, marking it consumed.
    pub fn take(&self, name: &str) -> Option<String> {
        let value = self.values.get(name).cloned();
        if value.is_some() {
            if let Ok(mut used) = self.used.lock() {
                used.insert(name.to_string());
            }
        }
        value
    }

    /// Predefined proxy args given on the command line: they go to RUN without an ARG.
    pub fn predefined(&self) -> Vec<(String, String)> {
        PREDEFINED_ARGS
            .iter()
            .filter_map(|name| self.take(name).map(|v| (name.to_string(), v)))
            .collect()
    }

    /// Build args no ARG consumed, for the warning BuildKit prints.
    pub fn unused(&self) -> Vec<String> {
        let used = self.used.lock().map(|u| u.clone()).unwrap_or_default();
        self.values
            .keys()
            .filter(|k| !used.contains(*k))
            .cloned()
            .collect()
    }
}

/// The automatic platform args (`TARGETPLATFORM` …) for this host.
pub fn platform_args() -> Vec<(String, String)> {
    let arch = host_arch();
    let platform = format!("linux/{arch}");
    [
        ("BUILDPLATFORM", platform.as_str()),
        ("BUILDOS", "linux"),
        ("BUILDARCH", arch),
        ("BUILDVARIANT", ""),
        ("TARGETPLATFORM", platform.as_str()),
        ("TARGETOS", "linux"),
        ("TARGETARCH", arch),
        ("TARGETVARIANT", ""),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// The GOARCH name of the machine we run on (what OCI configs use).
pub fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "arm" => "arm",
        "powerpc64" => "ppc64le",
        "s390x" => "s390x",
        "riscv64" => "riscv64",
        other => other,
    }
}

/// What `$VAR` sees at one point of a stage: declared ARGs (with a value or not) and the image's ENV.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    /// Declared ARGs in declaration order; `None` = declared without any value.
    args: Vec<(String, Option<String>)>,
    /// The image config's Env, as `KEY=VALUE` pairs, in order.
    env: Vec<(String, String)>,
    /// What expansion and RUN see: the config's Env, and ARG values set after it (BuildKit's state env).
    vars: Vec<(String, String)>,
}

fn set_pair(list: &mut Vec<(String, String)>, key: &str, value: String) {
    if let Some(slot) = list.iter_mut().find(|(k, _)| k == key) {
        slot.1 = value;
    } else {
        list.push((key.to_string(), value));
    }
}

impl Scope {
    pub fn with_env(env: &[String]) -> Self {
        let env = env
            .iter()
            .map(|kv| match kv.split_once('=') {
                Some((k, v)) => (k.to_string(), v.to_string()),
                None => (kv.to_string(), String::new()),
            })
            .collect::<Vec<_>>();
        Scope {
            args: Vec::new(),
            vars: env.clone(),
            env,
        }
    }

    /// An ARG with a value sets the name for what follows, over an earlier ENV (not in the image config).
    pub fn declare_arg(&mut self, name: &str, value: Option<String>) {
        if let Some(v) = &value {
            set_pair(&mut self.vars, name, v.clone());
        }
        self.args.retain(|(n, _)| n != name);
        self.args.push((name.to_string(), value));
    }

    /// A global ARG (before the first FROM) replaces what was there: without a value it unsets the name, even
    /// an automatic platform ARG (BuildKit's meta args).
    pub fn declare_global_arg(&mut self, name: &str, value: Option<String>) {
        if value.is_none() {
            self.vars.retain(|(k, _)| k != name);
        }
        self.declare_arg(name, value);
    }

    pub fn set_env(&mut self, key: &str, value: String) {
        set_pair(&mut self.vars, key, value.clone());
        set_pair(&mut self.env, key, value);
    }

    pub fn has_env(&self, key: &str) -> bool {
        self.env.iter().any(|(k, _)| k == key)
    }

    /// The image config's Env as `K=V` strings.
    pub fn env_list(&self) -> Vec<String> {
        self.env.iter().map(|(k, v)| format!("{k}={v}")).collect()
    }

    /// RUN's environment: the config's Env with the values ARGs set since, as `K=V` strings.
    pub fn run_env(&self) -> Vec<String> {
        self.vars.iter().map(|(k, v)| format!("{k}={v}")).collect()
    }

    /// Whether a declared ARG gives RUN's value of `name` (no later ENV set it): such a name is not a proxy
    /// variable to add again.
    pub fn arg_declared(&self, name: &str) -> bool {
        self.args.iter().any(|(k, _)| k == name)
    }

    /// The names expansion sees (for "did you mean" suggestions).
    pub fn var_names(&self) -> Vec<&str> {
        self.vars.iter().map(|(k, _)| k.as_str()).collect()
    }

    /// The ARG values (for cache keys: a RUN's result depends on them).
    pub fn args(&self) -> &[(String, Option<String>)] {
        &self.args
    }
}

impl Env for Scope {
    fn get(&self, name: &str) -> Option<String> {
        self.vars
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_wins_over_arg() {
        let mut s = Scope::default();
        s.declare_arg("A", Some("arg".into()));
        s.set_env("A", "env".into());
        assert_eq!(s.get("A").as_deref(), Some("env"));
        assert_eq!(
            s.run_env(),
            vec!["A=env".to_string()],
            "an ARG hidden by ENV is not passed to RUN"
        );
    }

    #[test]
    fn arg_after_env_wins_but_not_in_config() {
        let mut s = Scope::with_env(&["A=env".to_string(), "B=envb".to_string()]);
        s.declare_arg("A", Some("arg".into()));
        s.declare_arg("B", None);
        assert_eq!(s.get("A").as_deref(), Some("arg"));
        assert_eq!(
            s.get("B").as_deref(),
            Some("envb"),
            "an ARG without a value changes nothing"
        );
        assert_eq!(
            s.env_list(),
            vec!["A=env".to_string(), "B=envb".to_string()]
        );
        assert_eq!(s.run_env(), vec!["A=arg".to_string(), "B=envb".to_string()]);
        s.set_env("A", "again".into());
        assert_eq!(s.get("A").as_deref(), Some("again"));
    }

    #[test]
    fn global_arg_without_value_unsets_an_automatic_one() {
        let mut s = Scope::default();
        s.declare_global_arg("TARGETOS", Some("linux".into()));
        s.declare_global_arg("TARGETOS", None);
        assert_eq!(s.get("TARGETOS"), None);
    }

    #[test]
    fn declared_arg_without_value_is_unset() {
        let mut s = Scope::default();
        s.declare_arg("A", None);
        assert_eq!(s.get("A"), None);
    }

    #[test]
    fn build_args_track_consumption() {
        let b = BuildArgs::new(&[("A".into(), "1".into()), ("B".into(), "2".into())]);
        assert_eq!(b.take("A").as_deref(), Some("1"));
        assert_eq!(b.unused(), vec!["B".to_string()]);
    }
}
