//! `hoist compose down`: the project's containers stopped and removed in shutdown order, then its
//! networks; with `-v` its named volumes, with `--rmi` its images. External networks and volumes stay.
use std::path::Path;

use clap::{Args, Parser, ValueEnum};
use hoist_compose::Project;
use hoist_executor::runtime;

use super::{images, lock, lookup, progress, resources};

#[derive(Debug, Args)]
pub struct DownArgs {
    /// Remove the named volumes declared in the `volumes` section and the anonymous volumes.
    #[arg(short = 'v', long)]
    volumes: bool,
    /// Remove containers for services not defined in the compose file.
    #[arg(long = "remove-orphans")]
    remove_orphans: bool,
    /// Remove images used by services: `local` only those without a custom tag (`image:`), or `all`.
    #[arg(long, value_enum)]
    rmi: Option<Rmi>,
    /// Shutdown timeout in seconds (default: each container's, 10).
    #[arg(short = 't', long)]
    timeout: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Rmi {
    Local,
    All,
}

/// `hoist rmi`'s arguments, parsed from the names (so the removal prints and checks as `rmi` does).
#[derive(Debug, Parser)]
#[command(name = "compose-rmi", no_binary_name = true)]
struct RmiArgv {
    #[command(flatten)]
    args: crate::images::RmiArgs,
}

pub fn down(root: &Path, project: &Project, args: DownArgs) -> anyhow::Result<i32> {
    let _lock = lock::project(root, &project.name)?;
    let order = project.shutdown_order();
    let rank = |service: &str| {
        order
            .iter()
            .position(|s| *s == service)
            .unwrap_or(usize::MAX)
    };
    let mut containers = lookup::project_containers(root, &project.name)?;
    let (mut ours, orphans): (Vec<_>, Vec<_>) = containers
        .drain(..)
        .partition(|c| project.services.contains_key(&c.service));
    if !orphans.is_empty() && !args.remove_orphans {
        let names: Vec<&str> = orphans.iter().map(|c| c.record.name.as_str()).collect();
        errln!(
            "WARN: Found orphan containers ([{}]) for this project. If you removed or renamed this service in your compose file, you can run this command with the --remove-orphans flag to clean it up.",
            names.join(" ")
        );
    } else {
        ours.extend(orphans);
    }
    // Orphans first (rank MAX sorts last, so reverse the key), then the services in shutdown order.
    ours.sort_by_key(|c| {
        (
            std::cmp::Reverse(rank(&c.service) == usize::MAX),
            rank(&c.service),
        )
    });
    let mut code = 0;
    for c in &ours {
        let result = runtime::stop(root, &c.record.id, args.timeout)
            .and_then(|_| runtime::remove(root, &c.record.id, true));
        match result {
            Ok(_) => progress::done("Container", &c.record.name, "Removed"),
            Err(e) => {
                progress::failed("Container", &c.record.name, "Error");
                errln!("hoist: {e}");
                code = 1;
            }
        }
    }
    if code != 0 {
        return Ok(code);
    }
    resources::remove_networks(root, project)?;
    if args.volumes {
        resources::remove_volumes(root, project)?;
    }
    if let Some(rmi) = args.rmi {
        remove_images(root, project, rmi)?;
    }
    Ok(0)
}

fn remove_images(root: &Path, project: &Project, rmi: Rmi) -> anyhow::Result<()> {
    let mut names: Vec<String> = project
        .services
        .iter()
        .filter(|(_, s)| rmi == Rmi::All || s.image.is_none())
        .map(|(name, _)| images::service_image(project, name))
        .collect();
    names.sort();
    names.dedup();
    let store = hoist_store::Store::open(root)?;
    for name in names {
        if store.resolve(&name)?.is_none() {
            continue;
        }
        let args = RmiArgv::try_parse_from([name.as_str()])
            .map_err(|e| anyhow::anyhow!("{}", e.to_string().trim()))?;
        if crate::images::rmi(&store, args.args)? == 0 {
            progress::done("Image", &name, "Removed");
        }
    }
    Ok(())
}
