//! A service → the container to create for it: the service's keys written as `hoist run` flags, parsed by
//! the same clap definition as `hoist run`'s (so every check of `run` applies), and made by
//! [`crate::run::create_container`]. Networks beyond the first are connected before it starts (its monitor
//! joins them at each start).
use std::path::Path;

use anyhow::Context as _;
use clap::Parser;
use hoist_compose::model::{Port, Service, ServiceNetwork, ServiceVolume};
use hoist_compose::Project;
use hoist_executor::runtime::{state::ContainerDir, ContainerRecord};

/// `hoist run`'s flags, parsed from the argv this module writes.
#[derive(Debug, Parser)]
#[command(name = "compose-service", no_binary_name = true)]
struct RunArgv {
    #[command(flatten)]
    args: crate::run::RunArgs,
}

/// What a one-off container (`compose run`) changes of the service's.
#[derive(Debug, Default, Clone)]
pub(crate) struct Overrides {
    pub oneoff: bool,
    pub auto_remove: bool,
    pub env: Vec<String>,
    pub entrypoint: Option<String>,
    pub user: Option<String>,
    pub workdir: Option<String>,
    /// Replaces the service's `command` when not empty.
    pub command: Vec<String>,
    /// `compose run` publishes the service's ports only with `--service-ports`.
    pub no_ports: bool,
    /// Foreground `compose run`: standard input passed to the container.
    pub interactive: bool,
}

/// One network the container joins: its engine-side name, fixed address and aliases.
#[derive(Debug, Clone)]
pub(crate) struct Attachment {
    pub network: String,
    pub ip: Option<String>,
    pub aliases: Vec<String>,
}

/// The container of `service` named `name`, made (not started) and connected to all its networks.
pub(crate) fn create(
    root: &Path,
    project: &Project,
    service: &str,
    name: &str,
    number: u32,
    overrides: &Overrides,
) -> anyhow::Result<(ContainerDir, ContainerRecord)> {
    let (args, others) = run_args(project, service, name, number, overrides)?;
    let store = hoist_store::Store::open(root)?;
    let (_, dir, record, _) = crate::run::create_container(store, args.for_create())
        .with_context(|| format!("creating container {name} of service {service:?}"))?;
    connect_other_networks(root, &record.id, &others)?;
    Ok((dir, record))
}

/// Connects the created container `id` to the networks after its first.
pub(crate) fn connect_other_networks(
    root: &Path,
    id: &str,
    attachments: &[Attachment],
) -> anyhow::Result<()> {
    for a in attachments {
        hoist_executor::runtime::networks::connect::connect(
            root,
            &a.network,
            id,
            a.ip.as_deref(),
            &a.aliases,
        )
        .with_context(|| format!("connecting container {id} to network {}", a.network))?;
    }
    Ok(())
}

/// `hoist run`'s arguments for the service's container `name`, and the networks after its first.
pub(crate) fn run_args(
    project: &Project,
    service: &str,
    name: &str,
    number: u32,
    overrides: &Overrides,
) -> anyhow::Result<(crate::run::RunArgs, Vec<Attachment>)> {
    let definition = project
        .services
        .get(service)
        .with_context(|| format!("no such service: {service}"))?;
    let mut attachments = attachments(project, service, definition, name);
    if overrides.oneoff {
        // The service's fixed addresses belong to its own container, which may well be running.
        for a in &mut attachments {
            a.ip = None;
        }
    }
    let argv = run_argv(project, service, name, number, overrides, &attachments)?;
    let parsed = RunArgv::try_parse_from(&argv)
        .map_err(|e| anyhow::anyhow!("service {service:?}: {}", e.to_string().trim()))?;
    Ok((parsed.args, attachments.into_iter().skip(1).collect()))
}

/// The service's networks in compose's order (by key), each with the service name as an alias, as compose
/// gives them (the container's own name is always in the network's hosts).
fn attachments(
    project: &Project,
    service: &str,
    definition: &Service,
    container: &str,
) -> Vec<Attachment> {
    definition
        .networks
        .iter()
        .map(|(key, settings)| {
            let settings = settings.clone().unwrap_or_else(ServiceNetwork::default);
            let mut aliases = vec![service.to_string()];
            for alias in settings.aliases {
                if !aliases.contains(&alias) && alias != container {
                    aliases.push(alias);
                }
            }
            Attachment {
                network: project.network_name(key),
                ip: settings.ipv4_address,
                aliases,
            }
        })
        .collect()
}

/// `hoist run`'s argv for the service (no binary name).
fn run_argv(
    project: &Project,
    service: &str,
    name: &str,
    number: u32,
    overrides: &Overrides,
    attachments: &[Attachment],
) -> anyhow::Result<Vec<String>> {
    let s = project
        .services
        .get(service)
        .with_context(|| format!("no such service: {service}"))?;
    let mut argv: Vec<String> = vec!["--name".into(), name.into()];
    let mut flag = |f: &str, v: &str| {
        argv.push(f.to_string());
        argv.push(v.to_string());
    };
    let mut switches: Vec<&str> = Vec::new();
    if overrides.auto_remove {
        switches.push("--rm");
    }
    if overrides.interactive {
        switches.push("--interactive");
    }
    let mut labels = project.container_labels(service, number);
    labels.insert(
        "com.docker.compose.oneoff".into(),
        if overrides.oneoff { "True" } else { "False" }.into(),
    );
    labels.insert(
        "com.docker.compose.project.working_dir".into(),
        project.working_dir.to_string_lossy().into_owned(),
    );
    for (k, v) in &labels {
        flag("--label", &format!("{k}={v}"));
    }
    for (k, v) in &s.environment {
        // A variable with no value anywhere is left out, as compose does.
        if let Some(v) = v {
            flag("-e", &format!("{k}={v}"));
        }
    }
    for e in &overrides.env {
        flag("-e", e);
    }
    if let Some(first) = attachments.first() {
        flag("--network", &first.network);
        if let Some(ip) = &first.ip {
            flag("--ip", ip);
        }
        for alias in &first.aliases {
            flag("--network-alias", alias);
        }
    }
    if !overrides.no_ports {
        for p in &s.ports {
            flag("-p", &publish_spec(p));
        }
    }
    for port in &s.expose {
        flag("--expose", port);
    }
    for v in &s.volumes {
        volume_flags(project, v, &mut flag)?;
    }
    for t in &s.tmpfs {
        flag("--tmpfs", t);
    }
    for d in &s.dns {
        flag("--dns", d);
    }
    for h in &s.extra_hosts {
        flag("--add-host", h);
    }
    if let Some(h) = &s.hostname {
        flag("--hostname", h);
    }
    if let Some(u) = overrides.user.as_ref().or(s.user.as_ref()) {
        flag("--user", u);
    }
    if let Some(w) = overrides.workdir.as_ref().or(s.working_dir.as_ref()) {
        flag("--workdir", w);
    }
    if let Some(r) = &s.restart {
        if !overrides.oneoff {
            flag("--restart", r);
        }
    }
    let limits = s
        .deploy
        .as_ref()
        .and_then(|d| d.resources.as_ref())
        .and_then(|r| r.limits.as_ref());
    if let Some(bytes) = s.mem_limit.or(limits.and_then(|l| l.memory)) {
        flag("--memory", &bytes.to_string());
    }
    if let Some(cpus) = s.cpus.or(limits.and_then(|l| l.cpus)) {
        flag("--cpus", &cpus.to_string());
    }
    if let Some(pids) = limits.and_then(|l| l.pids) {
        flag("--pids-limit", &pids.to_string());
    }
    if let Some(signal) = &s.stop_signal {
        flag("--stop-signal", signal);
    }
    if let Some(grace) = s.stop_grace_period {
        // Whole seconds, rounded up: a grace period is never cut short.
        flag("--stop-timeout", &grace.as_secs_f64().ceil().to_string());
    }
    for c in &s.cap_add {
        flag("--cap-add", c);
    }
    for c in &s.cap_drop {
        flag("--cap-drop", c);
    }
    if let Some(h) = &s.healthcheck {
        if !healthcheck_flags(h, &mut flag) {
            switches.push("--no-healthcheck");
        }
    }
    if s.read_only == Some(true) {
        switches.push("--read-only");
    }
    if s.privileged == Some(true) {
        switches.push("--privileged");
    }
    if s.init == Some(true) {
        switches.push("--init");
    }
    argv.extend(switches.into_iter().map(String::from));
    // Compose's entrypoint is a list: its first word is run's --entrypoint, the rest come before the command
    // (an entrypoint set also drops the image's CMD, as the engine does).
    let entrypoint: Option<Vec<String>> = match &overrides.entrypoint {
        Some(e) => Some(
            hoist_compose::units::shell_split(e)
                .map_err(|e| anyhow::anyhow!("--entrypoint: {e}"))?,
        ),
        None => s.entrypoint.clone(),
    };
    let mut command: Vec<String> = Vec::new();
    if let Some(words) = &entrypoint {
        argv.push("--entrypoint".into());
        argv.push(words.first().cloned().unwrap_or_default());
        command.extend(words.iter().skip(1).cloned());
    }
    if !overrides.command.is_empty() {
        command.extend(overrides.command.iter().cloned());
    } else if let Some(c) = &s.command {
        command.extend(c.iter().cloned());
    }
    argv.push("--".into());
    argv.push(super::images::service_image(project, service));
    argv.extend(command);
    Ok(argv)
}

/// `[IP:][HOST:]TARGET/PROTO`, as `docker run -p` takes it.
fn publish_spec(p: &Port) -> String {
    let mut spec = String::new();
    if let Some(ip) = &p.host_ip {
        spec.push_str(ip);
        spec.push(':');
    }
    match &p.published {
        Some(host) => {
            spec.push_str(host);
            spec.push(':');
        }
        None if p.host_ip.is_some() => spec.push(':'),
        None => {}
    }
    spec.push_str(&format!("{}/{}", p.target, p.protocol));
    spec
}

fn volume_flags(
    project: &Project,
    v: &ServiceVolume,
    flag: &mut impl FnMut(&str, &str),
) -> anyhow::Result<()> {
    let readonly = if v.read_only { ",readonly" } else { "" };
    match (v.kind.as_str(), &v.source) {
        ("bind", Some(source)) => {
            let create = v.bind.as_ref().is_none_or(|b| b.create_host_path);
            if create && !Path::new(source).exists() {
                std::fs::create_dir_all(source)
                    .with_context(|| format!("creating the bind mount's host path {source}"))?;
            }
            flag(
                "--mount",
                &format!("type=bind,source={source},target={}{readonly}", v.target),
            );
        }
        ("volume", Some(key)) => flag(
            "--mount",
            &format!(
                "type=volume,source={},target={}{readonly}",
                project.volume_name(key),
                v.target
            ),
        ),
        ("volume", None) => flag("--volume", &v.target),
        ("tmpfs", _) => flag("--tmpfs", &v.target),
        (kind, _) => anyhow::bail!(
            "volume {}: type {kind:?} is not supported (bind, volume or tmpfs)",
            v.target
        ),
    }
    Ok(())
}

/// The health check's flags; false when it is disabled (`--no-healthcheck` then).
fn healthcheck_flags(
    h: &hoist_compose::model::Healthcheck,
    flag: &mut impl FnMut(&str, &str),
) -> bool {
    if h.disable || h.test.first().map(String::as_str) == Some("NONE") {
        return false;
    }
    match h.test.first().map(String::as_str) {
        Some("CMD-SHELL") => flag("--health-cmd", &h.test[1..].join(" ")),
        Some("CMD") => {
            let words: Vec<String> = h.test[1..].iter().map(|w| shell_quote(w)).collect();
            flag("--health-cmd", &words.join(" "));
        }
        _ => {}
    }
    let go = hoist_compose::units::go_duration;
    if let Some(d) = h.interval {
        flag("--health-interval", &go(d));
    }
    if let Some(d) = h.timeout {
        flag("--health-timeout", &go(d));
    }
    if let Some(d) = h.start_period {
        flag("--health-start-period", &go(d));
    }
    if let Some(n) = h.retries {
        flag("--health-retries", &n.to_string());
    }
    true
}

/// `word` as one word for `/bin/sh -c`.
fn shell_quote(word: &str) -> String {
    if !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=@%+,".contains(c))
    {
        return word.to_string();
    }
    format!("'{}'", word.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cmd_form_health_checks_are_quoted_for_the_shell() {
        assert_eq!(shell_quote("curl"), "curl");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
    }

    #[test]
    fn publish_specs_as_docker_run_takes_them() {
        let port = |host_ip: Option<&str>, published: Option<&str>| Port {
            mode: "ingress".into(),
            host_ip: host_ip.map(String::from),
            target: 80,
            published: published.map(String::from),
            protocol: "tcp".into(),
        };
        assert_eq!(publish_spec(&port(None, Some("8080"))), "8080:80/tcp");
        assert_eq!(publish_spec(&port(None, None)), "80/tcp");
        assert_eq!(
            publish_spec(&port(Some("127.0.0.1"), None)),
            "127.0.0.1::80/tcp"
        );
    }
}
