//! `hoist ps` / `hoist container ls`: Docker's columns (with PORTS and "Up 3 minutes" / "Exited (0) 2 seconds
//! ago"), `-a -q -l -n --no-trunc -s`, `--filter` and `--format`.
use std::path::Path;

use anyhow::bail;
use clap::Args;
use hoist_executor::runtime::{self, ContainerSummary, Status};
use serde_json::json;

use crate::listing::{self, Listing};

#[derive(Debug, Args)]
pub struct PsArgs {
    /// Show all containers (default: running only).
    #[arg(short = 'a', long)]
    all: bool,
    /// Only IDs.
    #[arg(short = 'q', long)]
    quiet: bool,
    /// Do not truncate IDs and commands.
    #[arg(long = "no-trunc")]
    no_trunc: bool,
    /// Only the latest created container (in any state).
    #[arg(short = 'l', long)]
    latest: bool,
    /// Only the N latest created containers (in any state).
    #[arg(short = 'n', long = "last", default_value_t = -1, allow_negative_numbers = true)]
    last: i64,
    /// Show what each container wrote (its own layer's size).
    #[arg(short = 's', long)]
    size: bool,
    /// Filter: status=created|running|exited, name=NAME, id=ID, ancestor=IMAGE, exited=CODE, label=KEY[=VALUE],
    /// before=CONTAINER, since=CONTAINER, health=starting|healthy|unhealthy|none.
    #[arg(short = 'f', long = "filter")]
    filters: Vec<String>,
    /// A Go template (`{{.ID}} {{.Names}}`), `table TEMPLATE`, or `json`. Fields: ID, Image, Command,
    /// CreatedAt, RunningFor, Status, State, Ports, Names, Size, Labels, Mounts, Networks.
    #[arg(long)]
    format: Option<String>,
}

const HEADERS: &[(&str, &str)] = &[
    ("ID", "CONTAINER ID"),
    ("Image", "IMAGE"),
    ("Command", "COMMAND"),
    ("CreatedAt", "CREATED AT"),
    ("RunningFor", "CREATED"),
    ("Status", "STATUS"),
    ("State", "STATE"),
    ("Ports", "PORTS"),
    ("Names", "NAMES"),
    ("Size", "SIZE"),
    ("Labels", "LABELS"),
    ("Mounts", "MOUNTS"),
    ("Networks", "NETWORKS"),
];

/// One `--filter`.
enum Filter {
    Status(String),
    Name(String),
    Id(String),
    Ancestor(String),
    Exited(i32),
    Label(String, Option<String>),
    Before(String),
    Since(String),
    Health(String),
}

fn parse_filters(specs: &[String]) -> anyhow::Result<Vec<Filter>> {
    specs
        .iter()
        .map(|spec| {
            let Some((key, value)) = spec.split_once('=') else {
                bail!("bad format of filter (expected name=value): {spec}");
            };
            let value = value.to_string();
            Ok(match key {
                "status" => {
                    const KNOWN: [&str; 7] = [
                        "created",
                        "restarting",
                        "running",
                        "removing",
                        "paused",
                        "exited",
                        "dead",
                    ];
                    if !KNOWN.contains(&value.as_str()) {
                        bail!(
                            "invalid filter 'status={value}': one of {}",
                            KNOWN.join(", ")
                        );
                    }
                    Filter::Status(value)
                }
                "name" => Filter::Name(value),
                "id" => Filter::Id(value),
                "ancestor" => Filter::Ancestor(value),
                "exited" => Filter::Exited(value.parse().map_err(|_| {
                    anyhow::anyhow!("invalid filter 'exited={value}': not an exit code")
                })?),
                "label" => match value.split_once('=') {
                    Some((k, v)) => Filter::Label(k.to_string(), Some(v.to_string())),
                    None => Filter::Label(value, None),
                },
                "before" => Filter::Before(value),
                "since" => Filter::Since(value),
                "health" => {
                    const KNOWN: [&str; 4] = ["starting", "healthy", "unhealthy", "none"];
                    if !KNOWN.contains(&value.as_str()) {
                        bail!(
                            "invalid filter 'health={value}': one of {}",
                            KNOWN.join(", ")
                        );
                    }
                    Filter::Health(value)
                }
                other => bail!("invalid filter '{other}'"),
            })
        })
        .collect()
}

/// Docker's filter semantics: filters of one key are ORed, different keys ANDed.
fn accepts(
    c: &ContainerSummary,
    filters: &[Filter],
    all: &[ContainerSummary],
    ancestors: &dyn Fn(&str) -> Option<String>,
) -> bool {
    let created_of = |name: &str| {
        all.iter()
            .find(|o| o.record.name == name || o.record.id.starts_with(name))
            .map(|o| o.record.created.clone())
    };
    let mut groups: std::collections::HashMap<&str, bool> = std::collections::HashMap::new();
    for f in filters {
        let (key, hit) = match f {
            Filter::Status(s) => ("status", s == c.state.docker_status()),
            Filter::Health(h) => (
                "health",
                c.state
                    .health
                    .as_ref()
                    .filter(|_| c.record.options.monitor.healthcheck.is_some())
                    .map_or("none", |health| health.status.as_str())
                    == h,
            ),
            Filter::Name(n) => ("name", c.record.name.contains(n.trim_start_matches('/'))),
            Filter::Id(i) => ("id", c.record.id.starts_with(i.as_str())),
            Filter::Ancestor(a) => (
                "ancestor",
                c.record.image == *a || ancestors(a).is_some_and(|id| id == c.record.image_id),
            ),
            Filter::Exited(code) => (
                "exited",
                c.state.status == Status::Exited && c.state.exit_code == Some(*code),
            ),
            Filter::Label(k, v) => (
                "label",
                c.record
                    .labels
                    .get(k)
                    .is_some_and(|have| v.as_ref().is_none_or(|want| want == have)),
            ),
            Filter::Before(n) => (
                "before",
                created_of(n).is_some_and(|t| c.record.created < t),
            ),
            Filter::Since(n) => ("since", created_of(n).is_some_and(|t| c.record.created > t)),
        };
        *groups.entry(key).or_insert(false) |= hit;
    }
    groups.values().all(|&hit| hit)
}

/// Docker's STATUS: `Up 3 minutes`, `Exited (0) 2 seconds ago`, `Created`.
pub fn status_text(c: &ContainerSummary) -> String {
    let since = |t: Option<&str>| {
        t.and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .map(|t| {
                listing::human_duration(
                    (chrono::Utc::now() - t.with_timezone(&chrono::Utc)).num_seconds(),
                )
            })
    };
    match c.state.status {
        Status::Created => "Created".into(),
        Status::Running if c.state.restarting => {
            let code = c.state.exit_code.unwrap_or(-1);
            match since(c.state.finished_at.as_deref()) {
                Some(d) => format!("Restarting ({code}) {d} ago"),
                None => format!("Restarting ({code})"),
            }
        }
        Status::Running => {
            let up = match since(c.state.started_at.as_deref()) {
                Some(d) => format!("Up {d}"),
                None => "Up".into(),
            };
            // As Docker's State.String(): a paused container shows no health.
            match &c.state.health {
                _ if c.state.paused => format!("{up} (Paused)"),
                Some(h) if c.record.options.monitor.healthcheck.is_some() => {
                    format!("{up} {}", h.status_suffix())
                }
                _ => up,
            }
        }
        Status::Exited => {
            let code = c.state.exit_code.unwrap_or(-1);
            match since(c.state.finished_at.as_deref()) {
                Some(d) => format!("Exited ({code}) {d} ago"),
                None => format!("Exited ({code})"),
            }
        }
    }
}

/// Docker's PORTS: `127.0.0.1:8080->80/tcp` for each published port (hoist publishes on loopback).
pub(crate) fn ports_text(c: &ContainerSummary) -> String {
    c.record
        .ports
        .iter()
        .map(|(host, ctr)| format!("127.0.0.1:{host}->{ctr}/tcp"))
        .chain(c.record.port_bindings.iter().map(|b| b.ps_text()))
        .collect::<Vec<_>>()
        .join(", ")
}

pub(crate) fn command_text(c: &ContainerSummary, no_trunc: bool) -> String {
    let text = c.record.args.join(" ");
    let text = if no_trunc || text.chars().count() <= 20 {
        text
    } else {
        format!("{}…", text.chars().take(19).collect::<String>())
    };
    format!("{text:?}")
}

pub fn ps(root: &Path, args: PsArgs) -> anyhow::Result<i32> {
    let root = std::path::absolute(root).unwrap_or_else(|_| root.to_path_buf());
    let filters = parse_filters(&args.filters)?;
    let listing = Listing::new(
        args.format.as_deref(),
        if args.size {
            "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}\t{{.Size}}"
        } else {
            "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}"
        },
    )?;
    let everything = runtime::list(&root, true)?;
    // -l / -n: the latest created, whatever their state (as docker).
    let limit = if args.latest { 1 } else { args.last };
    let show_all = args.all
        || limit >= 0
        || filters
            .iter()
            .any(|f| matches!(f, Filter::Status(_) | Filter::Exited(_)));
    let store = std::cell::OnceCell::new();
    let ancestors = |name: &str| -> Option<String> {
        let store = store.get_or_init(|| hoist_store::Store::open(&root).ok());
        store
            .as_ref()
            .and_then(|s| s.resolve(name).ok().flatten())
            .map(|i| i.id.to_string())
    };
    let mut list: Vec<&ContainerSummary> = everything
        .iter()
        .filter(|c| show_all || c.state.status == Status::Running)
        .filter(|c| accepts(c, &filters, &everything, &ancestors))
        .collect();
    if limit >= 0 {
        list.truncate(limit as usize);
    }
    let id = |c: &ContainerSummary| {
        if args.no_trunc {
            c.record.id.clone()
        } else {
            c.record.id[..12.min(c.record.id.len())].to_string()
        }
    };
    if args.quiet {
        for c in &list {
            outln!("{}", id(c));
        }
        return Ok(0);
    }
    let containers_dir = runtime::containers_dir(&root);
    let rows: Vec<serde_json::Value> = list
        .iter()
        .map(|c| {
            let size = if args.size {
                format!("{} (virtual)", listing::docker_size(crate::system::dir_size(&containers_dir.join(&c.record.id).join("upper"))))
            } else {
                String::new()
            };
            let labels: Vec<String> = c.record.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
            json!({
                "ID": id(c),
                "Image": c.record.image,
                "Command": command_text(c, args.no_trunc),
                "CreatedAt": listing::created_at(Some(&c.record.created)),
                "RunningFor": listing::since(Some(&c.record.created)),
                "Status": status_text(c),
                "State": c.state.docker_status(),
                "Ports": ports_text(c),
                "Names": c.record.name,
                "Size": size,
                "Labels": labels.join(","),
                "Mounts": c.record.mounts.iter().map(runtime::volumes::destination).collect::<Vec<_>>().join(","),
                "Networks": format!("{:?}", c.record.network).to_lowercase(),
            })
        })
        .collect();
    crate::output::write_stdout(format_args!("{}", listing.render(&rows, HEADERS)?));
    Ok(0)
}
