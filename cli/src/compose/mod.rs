//! `hoist compose …`: multi-container projects from compose files (the Compose Specification), as Docker
//! Compose v2 runs them. The files are read by the `hoist-compose` crate; this module holds the flags and the
//! commands: `config`; `up`, `down`, `ps`, `run` over hoist's containers, networks and volumes, found again
//! by their compose labels; `build`, `pull`, `push`, `logs`, `exec` and the lifecycle commands.
mod attach;
mod config;
mod dependencies;
mod down;
mod events;
mod exec;
mod image_cmds;
mod images;
mod lifecycle;
mod lock;
mod log_stream;
mod logs;
mod lookup;
mod progress;
mod ps;
mod resources;
mod run_oneoff;
mod select;
mod service_container;
mod up;

use std::io::Read;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};
use hoist_compose::{Loaded, Options, Source};

#[derive(Debug, Args)]
pub struct ComposeArgs {
    /// Compose configuration files, merged in order (`-` reads standard input). Default: compose.yaml,
    /// compose.yml, docker-compose.yml or docker-compose.yaml here or in a parent directory, with its override.
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    files: Vec<PathBuf>,
    /// Project name (default: COMPOSE_PROJECT_NAME, the files' `name:`, else the project directory's name).
    #[arg(short = 'p', long = "project-name", value_name = "NAME")]
    project_name: Option<String>,
    /// The directory relative paths are resolved against (default: the first file's directory).
    #[arg(long, value_name = "DIR")]
    project_directory: Option<PathBuf>,
    /// Files of variables for interpolation instead of the project directory's `.env`.
    #[arg(long, value_name = "FILE")]
    env_file: Vec<PathBuf>,
    #[command(subcommand)]
    command: ComposeCommand,
}

#[derive(Debug, Subcommand)]
enum ComposeCommand {
    /// Parse, resolve and print the compose project (the files merged, variables interpolated, paths absolute).
    Config(config::ConfigArgs),
    /// Create and start the services' containers (with their networks and volumes).
    Up(up::UpArgs),
    /// Stop and remove the project's containers and networks (`-v`: its volumes too).
    Down(down::DownArgs),
    /// List the project's containers.
    Ps(ps::PsArgs),
    /// Run a one-off command in a new container of a service.
    Run(run_oneoff::RunArgs),
    /// Build or rebuild the services that have `build:` (all at once, sharing the build cache).
    Build(image_cmds::BuildArgs),
    /// Pull the images of the services that have `image:` and no `build:`.
    Pull(image_cmds::ServicesArgs),
    /// Push the images of the services that have `image:`.
    Push(image_cmds::ServicesArgs),
    /// List the images the project's containers use.
    Images(image_cmds::ServicesArgs),
    /// Show the output of the services' containers.
    Logs(logs::LogsArgs),
    /// Run a command in a running container of a service.
    Exec(exec::ExecArgs),
    /// Stop the services' containers.
    Stop(lifecycle::StopArgs),
    /// Start the services' stopped containers.
    Start(lifecycle::ServicesArgs),
    /// Restart the services' containers.
    Restart(lifecycle::StopArgs),
    /// Send a signal to the services' running containers (default SIGKILL).
    Kill(lifecycle::KillArgs),
    /// Remove the services' stopped containers.
    Rm(lifecycle::RmArgs),
    /// Freeze the services' containers.
    Pause(lifecycle::ServicesArgs),
    /// Thaw the services' paused containers.
    Unpause(lifecycle::ServicesArgs),
    /// Show the processes of the services' running containers.
    Top(exec::TopArgs),
    /// Print the host address a service's container port is published on.
    Port(exec::PortArgs),
    /// Follow the services' containers' output until they all exit (what a foreground `up` shows).
    #[command(hide = true)]
    Attach(AttachArgs),
}

#[derive(Debug, Args)]
struct AttachArgs {
    services: Vec<String>,
}

/// `root` is hoist's state directory: the project's containers, networks and volumes live there, found again
/// by their compose labels (no daemon holds a project's state).
pub fn run(root: &std::path::Path, args: ComposeArgs) -> anyhow::Result<i32> {
    let loaded = load(&args)?;
    let root = std::path::absolute(root).unwrap_or_else(|_| root.to_path_buf());
    let project = &loaded.project;
    match args.command {
        ComposeCommand::Config(a) => config::config(&loaded, a),
        ComposeCommand::Up(a) => up::up(&root, project, a),
        ComposeCommand::Down(a) => down::down(&root, project, a),
        ComposeCommand::Ps(a) => ps::ps(&root, project, a),
        ComposeCommand::Run(a) => run_oneoff::run(&root, project, a),
        ComposeCommand::Build(a) => image_cmds::build(&root, project, a),
        ComposeCommand::Pull(a) => image_cmds::pull(&root, project, a),
        ComposeCommand::Push(a) => image_cmds::push(&root, project, a),
        ComposeCommand::Images(a) => image_cmds::list(&root, project, a),
        ComposeCommand::Logs(a) => logs::logs(&root, project, a),
        ComposeCommand::Exec(a) => exec::exec(&root, project, a),
        ComposeCommand::Stop(a) => lifecycle::stop(&root, project, a),
        ComposeCommand::Start(a) => lifecycle::start(&root, project, a),
        ComposeCommand::Restart(a) => lifecycle::restart(&root, project, a),
        ComposeCommand::Kill(a) => lifecycle::kill(&root, project, a),
        ComposeCommand::Rm(a) => lifecycle::rm(&root, project, a),
        ComposeCommand::Pause(a) => lifecycle::pause(&root, project, a),
        ComposeCommand::Unpause(a) => lifecycle::unpause(&root, project, a),
        ComposeCommand::Top(a) => exec::top(&root, project, a),
        ComposeCommand::Port(a) => exec::port(&root, project, a),
        ComposeCommand::Attach(a) => {
            select::check_services(project, &a.services)?;
            attach::attach_until_exit(&root, &project.name, &a.services)
        }
    }
}

/// Loads the project the flags and the environment name, printing its warnings (compose's `WARN` lines).
fn load(args: &ComposeArgs) -> anyhow::Result<Loaded> {
    let environment: std::collections::BTreeMap<String, String> = std::env::vars().collect();
    let mut files = args.files.clone();
    // COMPOSE_FILE: the files when no -f is given, separated by COMPOSE_PATH_SEPARATOR (default `:`).
    if files.is_empty() {
        if let Some(list) = environment.get("COMPOSE_FILE").filter(|l| !l.is_empty()) {
            let separator = environment
                .get("COMPOSE_PATH_SEPARATOR")
                .cloned()
                .unwrap_or_else(|| ":".into());
            files = list.split(separator.as_str()).map(PathBuf::from).collect();
        }
    }
    let mut sources = Vec::new();
    for path in files {
        let content = if path.as_os_str() == "-" {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .context("reading the compose file from standard input")?;
            Some(text)
        } else {
            None
        };
        sources.push(Source { path, content });
    }
    let options = Options {
        files: sources,
        cwd: std::env::current_dir().context("the current directory")?,
        project_name: args.project_name.clone(),
        project_directory: args.project_directory.clone(),
        env_files: args.env_file.clone(),
        environment,
    };
    let loaded = hoist_compose::load(&options)?;
    for warning in &loaded.warnings {
        errln!("WARN: {warning}");
    }
    Ok(loaded)
}
