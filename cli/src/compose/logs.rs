//! `compose logs [-f] [-t] [--tail N] [--no-log-prefix] [SERVICE…]`: every container's log, each line after its
//! name (`web-1  | …`); with `-f`, all followed at once until they stop (or Ctrl-C).
use std::path::Path;

use clap::Args;
use hoist_compose::Project;
use hoist_executor::runtime::LogsOptions;

use super::log_stream::{self, Prefix};
use super::select::service_containers;

#[derive(Debug, Args)]
pub(crate) struct LogsArgs {
    /// Follow the output until the containers stop.
    #[arg(short = 'f', long)]
    follow: bool,
    /// Show timestamps.
    #[arg(short = 't', long)]
    timestamps: bool,
    /// Number of lines to show from the end of each container's log (`all` for everything).
    #[arg(short = 'n', long, default_value = "all")]
    tail: String,
    /// Do not print the container name before each line.
    #[arg(long)]
    no_log_prefix: bool,
    /// Accepted for compose's sake (hoist prints no colors).
    #[arg(long)]
    no_color: bool,
    /// Only lines since this time (RFC 3339, unix timestamp, or a duration before now like `10m`).
    #[arg(long)]
    since: Option<String>,
    /// Only lines until this time (same forms as --since).
    #[arg(long)]
    until: Option<String>,
    services: Vec<String>,
}

pub(crate) fn logs(root: &Path, project: &Project, args: LogsArgs) -> anyhow::Result<i32> {
    let _ = args.no_color;
    let root = std::path::absolute(root).unwrap_or_else(|_| root.to_path_buf());
    let containers = service_containers(&root, project, &args.services, false)?;
    let now = chrono::Utc::now();
    let stamp = |v: &Option<String>| {
        v.as_deref()
            .map(|v| crate::logs_cmd::timestamp_nanos(v, now))
            .transpose()
    };
    let options = LogsOptions {
        follow: args.follow,
        // As compose: `all`, or a count; anything else means all.
        tail: args.tail.parse::<usize>().ok(),
        since: stamp(&args.since)?,
        until: stamp(&args.until)?,
        timestamps: args.timestamps,
    };
    let names: Vec<String> = containers.into_iter().map(|c| c.record.name).collect();
    let width = log_stream::name_width(names.iter().map(String::as_str));
    let prefix = |name: &str| Prefix::new(name, width, !args.no_log_prefix);
    if !options.follow {
        // One container after the other: each one's lines stay together.
        for name in &names {
            log_stream::stream(&root, name, &prefix(name), &options)?;
        }
        return Ok(0);
    }
    let followers: Vec<_> = names
        .iter()
        .map(|name| {
            let (root, name, prefix) = (root.clone(), name.clone(), prefix(name));
            let options = options.clone();
            std::thread::spawn(move || log_stream::stream(&root, &name, &prefix, &options))
        })
        .collect();
    let mut code = 0;
    for follower in followers {
        match follower.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                errln!("hoist: {e:#}");
                code = 1;
            }
            Err(_) => code = 1,
        }
    }
    Ok(code)
}
