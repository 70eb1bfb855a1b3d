//! `hoist compose run SERVICE [CMD…]`: a one-off container of the service, `PROJECT-SERVICE-run-<12hex>`,
//! labelled `com.docker.compose.oneoff=True`, after its dependencies are up (unless `--no-deps`).
use std::path::Path;

use anyhow::Context as _;
use clap::Args;
use hoist_compose::Project;
use hoist_executor::runtime;

use super::images::{self, ImagePolicy, PullPolicy};
use super::service_container::{self, Overrides};
use super::{dependencies, lock, up};

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Automatically remove the container when it exits.
    #[arg(long)]
    rm: bool,
    /// Run the container in the background and print its name.
    #[arg(short = 'd', long)]
    detach: bool,
    /// Set an environment variable (`KEY=VALUE`).
    #[arg(short = 'e', long = "env")]
    env: Vec<String>,
    /// Override the entrypoint of the image.
    #[arg(long)]
    entrypoint: Option<String>,
    /// Don't start linked services.
    #[arg(long = "no-deps")]
    no_deps: bool,
    /// Run as this user (name or uid).
    #[arg(short = 'u', long)]
    user: Option<String>,
    /// Working directory inside the container.
    #[arg(short = 'w', long)]
    workdir: Option<String>,
    /// Assign a name to the container.
    #[arg(long)]
    name: Option<String>,
    /// Run with the service's ports published.
    #[arg(long = "service-ports")]
    service_ports: bool,
    /// Accepted for compose's sake: hoist gives `compose run` no terminal.
    #[arg(short = 'T', long = "no-TTY")]
    no_tty: bool,
    service: String,
    /// The command and its arguments (replace the service's command).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<String>,
}

pub fn run(root: &Path, project: &Project, args: RunArgs) -> anyhow::Result<i32> {
    let _ = args.no_tty;
    if !project.services.contains_key(&args.service) {
        anyhow::bail!("no such service: {}", args.service);
    }
    let mut needed = vec![args.service.clone()];
    if !args.no_deps {
        needed = dependencies::with_dependencies(project, &needed)?;
    }
    let dependencies: Vec<String> = needed
        .iter()
        .filter(|s| **s != args.service)
        .cloned()
        .collect();
    let name = args.name.clone().unwrap_or_else(|| {
        format!(
            "{}-{}-run-{}",
            project.name,
            args.service,
            hoist_executor::runtime::container_create::random_hex(6)
        )
    });
    let overrides = Overrides {
        oneoff: true,
        auto_remove: args.rm,
        env: args.env,
        entrypoint: args.entrypoint,
        user: args.user,
        workdir: args.workdir,
        command: args.command,
        no_ports: !args.service_ports,
        interactive: !args.detach,
    };
    {
        let _lock = lock::project(root, &project.name)?;
        images::ensure_images(
            root,
            project,
            &needed,
            ImagePolicy {
                build: false,
                no_build: false,
                pull: PullPolicy::Missing,
            },
        )?;
        up::start_services(root, project, &dependencies, up::Converge::default())?;
        // The one-off's own networks and volumes (its dependencies' were made above).
        super::resources::ensure_networks(root, project, std::slice::from_ref(&args.service))?;
        super::resources::ensure_volumes(root, project, std::slice::from_ref(&args.service))?;
    }
    if !args.no_deps {
        dependencies::wait_for(root, project, &args.service)?;
    }
    if args.detach {
        let (_, record) =
            service_container::create(root, project, &args.service, &name, 1, &overrides)?;
        up::start(root, &record.id)?;
        outln!("{name}");
        return Ok(0);
    }
    let (run_args, others) =
        service_container::run_args(project, &args.service, &name, 1, &overrides)?;
    let store = hoist_store::Store::open(root).context("opening the state directory")?;
    let (_, dir, record, _) = crate::run::create_container(store, run_args)?;
    if let Err(e) = service_container::connect_other_networks(root, &record.id, &others) {
        let _ = runtime::remove(root, &record.id, true);
        return Err(e);
    }
    // This process becomes the container's monitor: the exit code is the container's, as compose run's.
    match runtime::run_foreground(&dir) {
        Ok(code) => Ok(code),
        Err(e) => {
            errln!("hoist: {e}");
            Ok(e.exit_code())
        }
    }
}
