//! `hoist compose ps`: the project's containers with compose v2's columns
//! `NAME IMAGE COMMAND SERVICE CREATED STATUS PORTS`.
use std::path::Path;

use clap::Args;
use hoist_compose::Project;
use hoist_executor::runtime::{ContainerSummary, Status};
use serde_json::json;

use super::lookup;
use crate::container_list::{command_text, ports_text, status_text};

#[derive(Debug, Args)]
pub struct PsArgs {
    /// Show all stopped containers too.
    #[arg(short = 'a', long)]
    all: bool,
    /// Only display IDs.
    #[arg(short = 'q', long)]
    quiet: bool,
    /// Display services.
    #[arg(long)]
    services: bool,
    /// Don't truncate output.
    #[arg(long = "no-trunc")]
    no_trunc: bool,
    /// `table`, `json` or a Go template (fields: ID, Name, Image, Command, Service, Project, CreatedAt,
    /// RunningFor, Status, State, Health, ExitCode, Ports, Labels).
    #[arg(long)]
    format: Option<String>,
    /// Only the containers of these services.
    services_wanted: Vec<String>,
}

const HEADERS: &[(&str, &str)] = &[
    ("ID", "CONTAINER ID"),
    ("Name", "NAME"),
    ("Image", "IMAGE"),
    ("Command", "COMMAND"),
    ("Service", "SERVICE"),
    ("RunningFor", "CREATED"),
    ("Status", "STATUS"),
    ("Ports", "PORTS"),
];

pub fn ps(root: &Path, project: &Project, args: PsArgs) -> anyhow::Result<i32> {
    for s in &args.services_wanted {
        if !project.services.contains_key(s) {
            anyhow::bail!("no such service: {s}");
        }
    }
    let mut rows = Vec::new();
    for c in lookup::project_containers(root, &project.name)? {
        if !args.services_wanted.is_empty() && !args.services_wanted.contains(&c.service) {
            continue;
        }
        let Ok(state) = c.dir.current_state() else {
            continue;
        };
        if !args.all && state.status != Status::Running {
            continue;
        }
        rows.push((
            c.service.clone(),
            ContainerSummary {
                record: c.record,
                state,
            },
        ));
    }
    if args.quiet {
        for (_, c) in &rows {
            outln!("{}", c.record.id);
        }
        return Ok(0);
    }
    if args.services {
        let mut names: Vec<&str> = rows.iter().map(|(s, _)| s.as_str()).collect();
        names.dedup();
        for n in names {
            outln!("{n}");
        }
        return Ok(0);
    }
    let listing = crate::listing::Listing::new(
        args.format.as_deref(),
        "table {{.Name}}\t{{.Image}}\t{{.Command}}\t{{.Service}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}",
    )?;
    let values: Vec<serde_json::Value> = rows
        .iter()
        .map(|(service, c)| {
            let labels: Vec<String> = c
                .record
                .labels
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            let health = c
                .state
                .health
                .as_ref()
                .filter(|_| c.record.options.monitor.healthcheck.is_some())
                .map(|h| h.status.clone())
                .unwrap_or_default();
            json!({
                "ID": c.record.id,
                "Name": c.record.name,
                "Image": c.record.image,
                "Command": command_text(c, args.no_trunc),
                "Project": project.name,
                "Service": service,
                "CreatedAt": crate::listing::created_at(Some(&c.record.created)),
                "RunningFor": crate::listing::since(Some(&c.record.created)),
                "Status": status_text(c),
                "State": c.state.docker_status(),
                "Health": health,
                "ExitCode": c.state.exit_code.unwrap_or(0),
                "Ports": ports_text(c),
                "Labels": labels.join(","),
            })
        })
        .collect();
    crate::output::write_stdout(format_args!("{}", listing.render(&values, HEADERS)?));
    Ok(0)
}
