//! `hoist compose up`: the project's networks, volumes and images, then each service's container in
//! dependency order. Idempotent as compose's: a container whose config hash and image ID still match is
//! left as it is; a changed service's container is recreated, and only it.
use std::path::Path;

use clap::{Args, ValueEnum};
use hoist_compose::{Project, LABEL_CONFIG_HASH};
use hoist_executor::runtime::{self, Status};

use super::images::{self, ImagePolicy, PullPolicy};
use super::service_container::{self, Overrides};
use super::{dependencies, lock, lookup, progress, resources};

#[derive(Debug, Args)]
pub struct UpArgs {
    /// Detached mode: start the containers in the background and return.
    #[arg(short = 'd', long)]
    detach: bool,
    /// Build images before starting containers.
    #[arg(long)]
    build: bool,
    /// Don't build an image, even if it's missing.
    #[arg(long = "no-build")]
    no_build: bool,
    /// Recreate containers even if their configuration and image haven't changed.
    #[arg(long = "force-recreate", conflicts_with = "no_recreate")]
    force_recreate: bool,
    /// If containers already exist, don't recreate them.
    #[arg(long = "no-recreate")]
    no_recreate: bool,
    /// Remove containers for services not defined in the compose file.
    #[arg(long = "remove-orphans")]
    remove_orphans: bool,
    /// Wait for services to be running|healthy (implies detached mode).
    #[arg(long)]
    wait: bool,
    /// Pull images before running.
    #[arg(long, value_enum, default_value_t = Pull::Missing)]
    pull: Pull,
    /// Services to start (with their dependencies); default: all.
    services: Vec<String>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Pull {
    Missing,
    Always,
    Never,
}

/// How `up` (and `run`, for the dependencies) treats existing containers.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Converge {
    pub force_recreate: bool,
    pub no_recreate: bool,
}

pub fn up(root: &Path, project: &Project, args: UpArgs) -> anyhow::Result<i32> {
    let services = dependencies::with_dependencies(project, &args.services)?;
    let policy = ImagePolicy {
        build: args.build,
        no_build: args.no_build,
        pull: match args.pull {
            Pull::Missing => PullPolicy::Missing,
            Pull::Always => PullPolicy::Always,
            Pull::Never => PullPolicy::Never,
        },
    };
    let converge = Converge {
        force_recreate: args.force_recreate,
        no_recreate: args.no_recreate,
    };
    {
        let _lock = lock::project(root, &project.name)?;
        images::ensure_images(root, project, &services, policy)?;
        orphans(root, project, args.remove_orphans)?;
        start_services(root, project, &services, converge)?;
    }
    if args.wait {
        for service in &services {
            wait_running_or_healthy(root, project, service)?;
        }
        return Ok(0);
    }
    if args.detach {
        return Ok(0);
    }
    super::attach::attach_until_exit(root, &project.name, &services)
}

/// Networks, volumes, then each of `services` (in the order given: dependency order) converged and
/// started, after its dependencies' conditions are met. The caller holds the project lock.
pub(crate) fn start_services(
    root: &Path,
    project: &Project,
    services: &[String],
    converge: Converge,
) -> anyhow::Result<()> {
    resources::ensure_networks(root, project, services)?;
    resources::ensure_volumes(root, project, services)?;
    for service in services {
        converge_service(root, project, service, converge)?;
    }
    Ok(())
}

fn converge_service(
    root: &Path,
    project: &Project,
    service: &str,
    converge: Converge,
) -> anyhow::Result<()> {
    let existing = lookup::project_containers(root, &project.name)?
        .into_iter()
        .find(|c| c.service == service && !c.oneoff());
    let wanted_hash = project
        .services
        .get(service)
        .map(|s| s.config_hash())
        .unwrap_or_default();
    let image_id = current_image_id(root, &images::service_image(project, service))?;
    let name = match existing {
        Some(c) => {
            let unchanged = c.record.labels.get(LABEL_CONFIG_HASH) == Some(&wanted_hash)
                && image_id.as_deref() == Some(c.record.image_id.as_str());
            if converge.no_recreate || (unchanged && !converge.force_recreate) {
                if c.dir.current_state()?.status == Status::Running {
                    progress::done("Container", &c.record.name, "Running");
                    return Ok(());
                }
                let name = c.record.name.clone();
                dependencies::wait_for(root, project, service)?;
                start(root, &name)?;
                return Ok(());
            }
            // Recreated under the same name and number: the old one goes first.
            let name = c.record.name.clone();
            runtime::stop(root, &c.record.id, None)?;
            runtime::remove(root, &c.record.id, true)?;
            let (_, record) = service_container::create(
                root,
                project,
                service,
                &name,
                c.number,
                &Overrides::default(),
            )?;
            progress::done("Container", &name, "Recreated");
            dependencies::wait_for(root, project, service)?;
            start(root, &record.id)?;
            return Ok(());
        }
        None => project.container_name(service, 1),
    };
    let (_, record) =
        service_container::create(root, project, service, &name, 1, &Overrides::default())?;
    progress::done("Container", &name, "Created");
    dependencies::wait_for(root, project, service)?;
    start(root, &record.id)
}

/// Starts the container; ` ✔ Container NAME  Started`.
pub(crate) fn start(root: &Path, id_or_name: &str) -> anyhow::Result<()> {
    let started = runtime::start(root, id_or_name)?;
    let (_, record) = runtime::find(root, id_or_name)?;
    if let Err(e) = runtime::start_error(&record.name, &started.state) {
        progress::failed("Container", &record.name, "Error");
        return Err(e.into());
    }
    progress::done("Container", &record.name, "Started");
    Ok(())
}

/// The ID of the image `reference` names in the store now (`None`: not there).
fn current_image_id(root: &Path, reference: &str) -> anyhow::Result<Option<String>> {
    let store = hoist_store::Store::open(root)?;
    Ok(store.resolve(reference)?.map(|i| i.id.to_string()))
}

/// Containers of the project whose service the files no longer have: removed with `--remove-orphans`,
/// else compose's warning.
fn orphans(root: &Path, project: &Project, remove: bool) -> anyhow::Result<()> {
    let orphans: Vec<lookup::ProjectContainer> = lookup::project_containers(root, &project.name)?
        .into_iter()
        .filter(|c| !project.services.contains_key(&c.service))
        .collect();
    if orphans.is_empty() {
        return Ok(());
    }
    if !remove {
        let names: Vec<&str> = orphans.iter().map(|c| c.record.name.as_str()).collect();
        errln!(
            "WARN: Found orphan containers ([{}]) for this project. If you removed or renamed this service in your compose file, you can run this command with the --remove-orphans flag to clean it up.",
            names.join(" ")
        );
        return Ok(());
    }
    for c in orphans {
        runtime::stop(root, &c.record.id, None)?;
        runtime::remove(root, &c.record.id, true)?;
        progress::done("Container", &c.record.name, "Removed");
    }
    Ok(())
}

/// `up --wait`: running, and healthy if it has a health check.
fn wait_running_or_healthy(root: &Path, project: &Project, service: &str) -> anyhow::Result<()> {
    let Some(c) = lookup::project_containers(root, &project.name)?
        .into_iter()
        .find(|c| c.service == service && !c.oneoff())
    else {
        return Ok(());
    };
    if c.record.options.monitor.healthcheck.is_some() {
        return dependencies::wait_healthy(root, &project.name, service);
    }
    let state = c.dir.current_state()?;
    if state.status == Status::Exited {
        anyhow::bail!(
            "container {} exited ({})",
            c.record.name,
            state.exit_code.unwrap_or(-1)
        );
    }
    progress::done("Container", &c.record.name, "Running");
    Ok(())
}
