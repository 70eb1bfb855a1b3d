//! `hoist volume create|ls|inspect|rm|prune`, printed as docker prints them.
use std::collections::BTreeMap;
use std::path::Path;

use anyhow::bail;
use clap::{Args, Subcommand};
use hoist_executor::runtime::volume_admin::{self, VolumeInfo};
use serde_json::{json, Value};

#[derive(Debug, Args)]
pub struct VolumeArgs {
    #[command(subcommand)]
    command: VolumeCommand,
}

#[derive(Debug, Subcommand)]
enum VolumeCommand {
    /// Create a volume (a generated name when none is given).
    Create(CreateArgs),
    /// List volumes.
    #[command(alias = "list")]
    Ls(LsArgs),
    /// Show volumes as JSON.
    Inspect(InspectArgs),
    /// Remove volumes (never one a container uses).
    #[command(alias = "remove")]
    Rm(RmArgs),
    /// Remove the volumes no container uses (only anonymous ones without -a).
    Prune(PruneArgs),
}

#[derive(Debug, Args)]
struct CreateArgs {
    /// Set a label (`KEY=VALUE`); may repeat.
    #[arg(long = "label")]
    labels: Vec<String>,
    /// Only `local` is supported.
    #[arg(short = 'd', long, default_value = "local")]
    driver: String,
    name: Option<String>,
}

#[derive(Debug, Args)]
struct LsArgs {
    /// Only the names.
    #[arg(short = 'q', long)]
    quiet: bool,
    /// dangling=true|false, name=PART, label=KEY[=VALUE].
    #[arg(short = 'f', long = "filter")]
    filters: Vec<String>,
    /// A Go template, `table …` or `json`.
    #[arg(long)]
    format: Option<String>,
}

#[derive(Debug, Args)]
struct InspectArgs {
    /// A Go template applied to each volume.
    #[arg(short = 'f', long)]
    format: Option<String>,
    #[arg(required = true)]
    names: Vec<String>,
}

#[derive(Debug, Args)]
struct RmArgs {
    /// No error for a volume that does not exist.
    #[arg(short = 'f', long)]
    force: bool,
    #[arg(required = true)]
    names: Vec<String>,
}

#[derive(Debug, Args)]
struct PruneArgs {
    /// Named volumes too, not only anonymous ones.
    #[arg(short = 'a', long)]
    all: bool,
    /// Do not ask for confirmation.
    #[arg(short = 'f', long)]
    force: bool,
    /// label=KEY[=VALUE], label!=KEY[=VALUE].
    #[arg(long = "filter")]
    filters: Vec<String>,
}

pub fn run(root: &Path, args: VolumeArgs) -> anyhow::Result<i32> {
    let root = std::path::absolute(root).unwrap_or_else(|_| root.to_path_buf());
    match args.command {
        VolumeCommand::Create(a) => create(&root, a),
        VolumeCommand::Ls(a) => ls(&root, a),
        VolumeCommand::Inspect(a) => inspect(&root, a),
        VolumeCommand::Rm(a) => rm(&root, a),
        VolumeCommand::Prune(a) => prune(&root, a),
    }
}

/// `KEY=VALUE` (a bare `KEY` is an empty value), as docker's `--label`.
pub fn parse_labels(labels: &[String]) -> BTreeMap<String, String> {
    labels
        .iter()
        .map(|l| match l.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (l.clone(), String::new()),
        })
        .collect()
}

fn create(root: &Path, args: CreateArgs) -> anyhow::Result<i32> {
    if args.driver != "local" {
        bail!(
            "volume driver {:?} is not supported: hoist has only the local driver",
            args.driver
        );
    }
    let volume = volume_admin::create(root, args.name.as_deref(), parse_labels(&args.labels))?;
    outln!("{}", volume.name);
    Ok(0)
}

/// Docker's `CreatedAt`: RFC 3339 to the second.
fn created_at(volume: &VolumeInfo) -> String {
    let time: chrono::DateTime<chrono::Utc> = volume.created.into();
    time.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Docker's JSON for one volume (keys in docker's order).
fn volume_json(volume: &VolumeInfo) -> Value {
    json!({
        "CreatedAt": created_at(volume),
        "Driver": "local",
        "Labels": if volume.labels.is_empty() { Value::Null } else { json!(volume.labels) },
        "Mountpoint": volume.mountpoint,
        "Name": volume.name,
        "Options": Value::Null,
        "Scope": "local",
    })
}

/// A `label=KEY[=VALUE]` filter against a volume's labels.
fn label_matches(volume: &VolumeInfo, spec: &str) -> bool {
    match spec.split_once('=') {
        Some((k, v)) => volume.labels.get(k).is_some_and(|have| have == v),
        None => volume.labels.contains_key(spec),
    }
}

fn ls(root: &Path, args: LsArgs) -> anyhow::Result<i32> {
    let used = volume_admin::users(root)?;
    let mut volumes = volume_admin::list(root)?;
    for filter in &args.filters {
        let Some((key, value)) = filter.split_once('=') else {
            bail!("bad format of filter (expected name=value): {filter}");
        };
        match key {
            "dangling" => {
                let dangling = match value {
                    "true" | "1" => true,
                    "false" | "0" => false,
                    _ => bail!("invalid filter 'dangling={value}' (true or false)"),
                };
                volumes.retain(|v| used.contains_key(&v.name) != dangling);
            }
            "name" => volumes.retain(|v| v.name.contains(value)),
            "label" => volumes.retain(|v| label_matches(v, value)),
            "driver" => volumes.retain(|_| value == "local"),
            other => bail!("invalid filter '{other}' (dangling, name, label or driver)"),
        }
    }
    if args.quiet {
        for v in &volumes {
            outln!("{}", v.name);
        }
        return Ok(0);
    }
    let listing =
        crate::listing::Listing::new(args.format.as_deref(), "table {{.Driver}}\t{{.Name}}")?;
    let rows: Vec<Value> = volumes
        .iter()
        .map(|v| {
            let labels: Vec<String> = v.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
            json!({
                "Driver": "local",
                "Name": v.name,
                "Mountpoint": v.mountpoint,
                "Scope": "local",
                "Labels": labels.join(","),
                "CreatedAt": created_at(v),
            })
        })
        .collect();
    crate::output::write_stdout(format_args!(
        "{}",
        listing.render(&rows, &[("Driver", "DRIVER"), ("Name", "VOLUME NAME")])?
    ));
    Ok(0)
}

fn inspect(root: &Path, args: InspectArgs) -> anyhow::Result<i32> {
    let mut found = Vec::new();
    let mut code = 0;
    for name in &args.names {
        match volume_admin::inspect(root, name) {
            Ok(v) => found.push(volume_json(&v)),
            Err(e) => {
                errln!("Error: {e}");
                code = 1;
            }
        }
    }
    match args.format {
        Some(format) => {
            let template = crate::gotemplate::Template::parse(&format)
                .map_err(|e| anyhow::anyhow!("invalid --format template: {e}"))?;
            for v in &found {
                let text = template
                    .render(v, crate::gotemplate::Missing::NoValue)
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
                outln!("{text}");
            }
        }
        None => outln!("{}", docker_json(&Value::Array(found))?),
    }
    Ok(code)
}

fn rm(root: &Path, args: RmArgs) -> anyhow::Result<i32> {
    let mut code = 0;
    for name in &args.names {
        match volume_admin::remove(root, name, args.force) {
            Ok(()) => outln!("{name}"),
            Err(e) => {
                errln!("Error: {e}");
                code = 1;
            }
        }
    }
    Ok(code)
}

fn prune(root: &Path, args: PruneArgs) -> anyhow::Result<i32> {
    let mut keep_labels: Vec<(String, bool)> = Vec::new();
    for filter in &args.filters {
        match filter.split_once("!=") {
            Some(("label", v)) => keep_labels.push((v.to_string(), false)),
            _ => match filter.split_once('=') {
                Some(("label", v)) => keep_labels.push((v.to_string(), true)),
                Some(("all", v)) => {
                    if matches!(v, "true" | "1") {
                        return prune(
                            root,
                            PruneArgs {
                                all: true,
                                filters: Vec::new(),
                                ..args
                            },
                        );
                    }
                }
                _ => bail!("invalid filter '{filter}' (prune takes label and all)"),
            },
        }
    }
    if !args.force {
        let warning = if args.all {
            "WARNING! This will remove all local volumes not used by at least one container."
        } else {
            "WARNING! This will remove anonymous local volumes not used by at least one container."
        };
        if !crate::image_prune::confirm(warning) {
            return Ok(0);
        }
    }
    let removed = volume_admin::prune(root, args.all, |v| {
        !keep_labels
            .iter()
            .all(|(spec, wanted)| label_matches(v, spec) == *wanted)
    })?;
    if !removed.is_empty() {
        outln!("Deleted Volumes:");
        for (name, _) in &removed {
            outln!("{name}");
        }
        outln!();
    }
    let freed: u64 = removed.iter().map(|(_, size)| size).sum();
    outln!(
        "Total reclaimed space: {}",
        crate::listing::docker_size(freed)
    );
    Ok(0)
}

/// JSON indented by 4 spaces, as docker's `inspect` commands print it.
pub fn docker_json(value: &Value) -> anyhow::Result<String> {
    let mut out = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut serializer = serde_json::Serializer::with_formatter(&mut out, formatter);
    serde::Serialize::serialize(value, &mut serializer)?;
    Ok(String::from_utf8(out)?)
}
