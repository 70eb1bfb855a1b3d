//! `hoist`: build container images from Dockerfiles and run them, without a daemon.
// First: its `outln!`/`errln!` macros are used by every module below.
#[macro_use]
mod output;

mod build;
mod build_checks;
mod build_context;
mod build_images;
mod build_output;
mod build_results;
mod build_run_options;
mod build_ssh;
mod cache;
mod compose;
mod container_commit;
mod container_cp;
mod container_export;
mod container_inspect;
mod container_lifecycle;
mod container_list;
mod container_ops;
mod container_stats;
mod containers;
mod debug;
mod explain;
mod gotemplate;
mod image_history;
mod image_inspect;
mod image_list;
mod image_load;
mod image_prune;
mod image_tag;
mod images;
mod interrupt;
mod layer_stacks;
mod listing;
mod login;
mod logs_cmd;
mod network;
mod ordered_json;
mod progress;
mod pull;
mod registry_cache;
mod rmi_guard;
mod run;
mod run_limits;
mod run_monitor;
mod run_resources;
mod store_check;
mod system;
mod transfer_progress;
mod volume;

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use hoist_store::Store;

#[derive(Parser)]
#[command(
    name = "hoist",
    version,
    about = "Build and run container images from Dockerfiles, without a daemon"
)]
struct Cli {
    /// The state directory (images, layers, cache).
    #[arg(
        long,
        global = true,
        env = "HOIST_ROOT",
        default_value = "/var/lib/hoist"
    )]
    root: PathBuf,
    #[command(subcommand)]
    command: Command,
}

// Parsed once per process: the size of the largest variant (`run`'s flags) costs nothing worth boxing.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    /// Build an image from a Dockerfile.
    Build(build::BuildArgs),
    /// Run a command in a new container from an image.
    Run(run::RunArgs),
    /// Make an image from a root filesystem tarball (like `docker import`).
    Import(images::ImportArgs),
    /// List images.
    Images(image_list::ImagesArgs),
    /// Save images to a tar archive (docker-archive; `docker load` reads it).
    Save(images::SaveArgs),
    /// Remove images (a name of an image that has others only untags it).
    Rmi(images::RmiArgs),
    /// Download an image from a registry.
    Pull(pull::PullArgs),
    /// Upload an image to a registry.
    Push(pull::PushArgs),
    /// Log in to a registry (credentials go to Docker's config.json).
    Login(login::LoginArgs),
    /// Log out from a registry.
    Logout(login::LogoutArgs),
    /// Show an image's history (how each layer was made).
    History(image_history::HistoryArgs),
    /// Manage images: ls, history, inspect, prune, rm, tag, save, load, pull, push, import.
    Image(ImageArgs),
    /// Disk usage (`system df`) and removing what nothing uses (`system prune`).
    System(system::SystemArgs),
    /// Give an image another name (`hoist tag SOURCE TARGET`).
    Tag(image_tag::TagArgs),
    /// Load images from a `docker save` / `hoist save` archive (a file with -i, or standard input).
    Load(image_load::LoadArgs),
    /// Manage the build cache: ls, du, prune, export, import.
    Cache(cache::CacheArgs),
    /// Check the state directory (`store check`), and repair it (`store check --repair`).
    Store(store_check::StoreArgs),
    /// List containers.
    Ps(container_list::PsArgs),
    /// Print a container's output.
    Logs(containers::LogsArgs),
    /// Stop containers (stop signal, then SIGKILL after a timeout).
    Stop(containers::StopArgs),
    /// Send a signal to containers (default SIGKILL).
    Kill(containers::KillArgs),
    /// Remove containers.
    Rm(containers::RmArgs),
    /// Run a command in a running container.
    Exec(containers::ExecArgs),
    /// Show details of containers or images as JSON.
    Inspect(containers::InspectArgs),
    /// Wait until containers exit and print their exit codes.
    Wait(container_ops::WaitArgs),
    /// Give a container another name.
    Rename(container_ops::RenameArgs),
    /// List a container's published ports.
    Port(container_ops::PortArgs),
    /// Show what a container changed in its filesystem (A added, C changed, D deleted).
    Diff(container_ops::DiffArgs),
    /// Create a container from an image without starting it (prints its ID; `hoist start` runs it).
    Create(run::RunArgs),
    /// Start created or stopped containers (-a: attach and end with the container's exit code).
    Start(container_lifecycle::StartArgs),
    /// Stop containers, then start them again.
    Restart(container_lifecycle::RestartArgs),
    /// Follow a running container's output until it exits; its exit code.
    Attach(container_lifecycle::AttachArgs),
    /// Freeze every process of containers (cgroup freezer).
    Pause(container_lifecycle::PauseArgs),
    /// Thaw paused containers.
    Unpause(container_lifecycle::PauseArgs),
    /// Show a container's processes (`ps` options may follow; default -ef).
    Top(container_lifecycle::TopArgs),
    /// Live CPU, memory, network, block I/O and pids of containers.
    Stats(container_stats::StatsArgs),
    /// Copy files between a container and the host (or a tar on stdin/stdout).
    Cp(container_cp::CpArgs),
    /// Export a container's filesystem as a tar archive.
    Export(container_export::ExportArgs),
    /// Make a new image from a container's changes.
    Commit(container_commit::CommitArgs),
    /// Manage networks: create, ls, inspect, rm, prune.
    Network(network::NetworkArgs),
    /// Manage volumes: create, ls, inspect, rm, prune.
    Volume(volume::VolumeArgs),
    /// Multi-container projects from compose files (config, up, down, ps, run).
    Compose(compose::ComposeArgs),
    #[command(hide = true)]
    Debug(debug::DebugArgs),
}

#[derive(Debug, clap::Args)]
struct ImageArgs {
    #[command(subcommand)]
    command: ImageCommand,
}

/// `hoist image …`: Docker's management-command names for the image commands.
#[derive(Debug, Subcommand)]
enum ImageCommand {
    /// List images.
    #[command(alias = "list")]
    Ls(image_list::ImagesArgs),
    /// Show an image's history.
    History(image_history::HistoryArgs),
    /// Show details of images as JSON.
    Inspect(containers::InspectArgs),
    /// Remove dangling images (-a: every image no container uses).
    Prune(image_prune::ImagePruneArgs),
    /// Remove images.
    #[command(alias = "remove")]
    Rm(images::RmiArgs),
    /// Give an image another name.
    Tag(image_tag::TagArgs),
    /// Save images to a tar archive.
    Save(images::SaveArgs),
    /// Load images from an archive.
    Load(image_load::LoadArgs),
    /// Download an image from a registry.
    Pull(pull::PullArgs),
    /// Upload an image to a registry.
    Push(pull::PushArgs),
    /// Make an image from a root filesystem tarball.
    Import(images::ImportArgs),
}

fn image_command(
    store: &Store,
    root: &std::path::Path,
    command: ImageCommand,
) -> anyhow::Result<i32> {
    match command {
        ImageCommand::Ls(a) => image_list::images(store, a),
        ImageCommand::History(a) => image_history::history(store, a),
        ImageCommand::Inspect(a) => containers::inspect(root, a.images_only()),
        ImageCommand::Prune(a) => image_prune::prune(store, a),
        ImageCommand::Rm(a) => images::rmi(store, a),
        ImageCommand::Tag(a) => image_tag::tag(store, a),
        ImageCommand::Save(a) => images::save(store, a),
        ImageCommand::Load(a) => image_load::load(store, a),
        ImageCommand::Pull(a) => pull::pull(store, a),
        ImageCommand::Push(a) => pull::push(store, a),
        ImageCommand::Import(a) => images::import(store, a),
    }
}

/// Exit code for hoist's own failures (as `docker run` uses 125).
pub const EXIT_HOIST_ERROR: i32 = 125;

fn main() {
    hoist_executor::maybe_run_container_init();
    let cli = Cli::parse();
    let root = cli.root;
    let open = || {
        Store::open(&root)
            .map_err(|e| anyhow::anyhow!("opening the state directory {}: {e}", root.display()))
    };
    let result = match cli.command {
        Command::Build(a) => open().and_then(|s| build::run(&s, a)),
        Command::Run(a) => match open().and_then(|s| run::run(s, a)) {
            Ok(code) => Ok(code),
            Err(e) if output::is_reader_gone(&e) => std::process::exit(output::EXIT_READER_GONE),
            Err(e) => {
                errln!("hoist: {}", output::error_chain(&e));
                std::process::exit(EXIT_HOIST_ERROR)
            }
        },
        Command::Import(a) => open().and_then(|s| images::import(&s, a)),
        Command::Images(a) => open().and_then(|s| image_list::images(&s, a)),
        Command::Save(a) => open().and_then(|s| images::save(&s, a)),
        Command::Rmi(a) => open().and_then(|s| images::rmi(&s, a)),
        Command::Pull(a) => open().and_then(|s| pull::pull(&s, a)),
        Command::Push(a) => open().and_then(|s| pull::push(&s, a)),
        Command::Login(a) => login::login(&root, a),
        Command::Logout(a) => login::logout(&root, a),
        Command::Tag(a) => open().and_then(|s| image_tag::tag(&s, a)),
        Command::History(a) => open().and_then(|s| image_history::history(&s, a)),
        Command::Image(a) => open().and_then(|s| image_command(&s, &root, a.command)),
        Command::System(a) => open().and_then(|s| system::run(&s, a)),
        Command::Load(a) => open().and_then(|s| image_load::load(&s, a)),
        Command::Cache(a) => open().and_then(|s| cache::run(&s, a)),
        Command::Store(a) => open().and_then(|s| store_check::run(&s, a)),
        Command::Ps(a) => container_list::ps(&root, a),
        Command::Logs(a) => containers::logs(&root, a),
        Command::Stop(a) => containers::stop(&root, a),
        Command::Kill(a) => containers::kill(&root, a),
        Command::Rm(a) => containers::rm(&root, a),
        Command::Exec(a) => containers::exec(&root, a),
        Command::Inspect(a) => containers::inspect(&root, a),
        Command::Wait(a) => container_ops::wait(&root, a),
        Command::Rename(a) => container_ops::rename(&root, a),
        Command::Port(a) => container_ops::port(&root, a),
        Command::Diff(a) => container_ops::diff(&root, a),
        Command::Create(a) => open().and_then(|s| container_lifecycle::create(s, a)),
        Command::Start(a) => container_lifecycle::start(&root, a),
        Command::Restart(a) => container_lifecycle::restart(&root, a),
        Command::Attach(a) => container_lifecycle::attach(&root, a),
        Command::Pause(a) => container_lifecycle::pause(&root, a),
        Command::Unpause(a) => container_lifecycle::unpause(&root, a),
        Command::Top(a) => container_lifecycle::top(&root, a),
        Command::Stats(a) => container_stats::stats(&root, a),
        Command::Cp(a) => container_cp::cp(&root, a),
        Command::Export(a) => container_export::export(&root, a),
        Command::Commit(a) => open().and_then(|s| container_commit::commit(&s, &root, a)),
        Command::Network(a) => network::run(&root, a),
        Command::Volume(a) => volume::run(&root, a),
        Command::Compose(a) => compose::run(&root, a),
        Command::Debug(a) => debug::run(a),
    };
    match result {
        Ok(code) => match output::stdout_failure() {
            // Output lost to a full disk or an I/O error: the command did not do what was asked.
            Some(why) if code == 0 => {
                errln!("hoist: writing standard output: {why}");
                std::process::exit(1)
            }
            _ => std::process::exit(code),
        },
        // The reader of hoist's output went away (`| head`): nothing more to say, and no one to say it to.
        Err(e) if output::is_reader_gone(&e) => std::process::exit(output::EXIT_READER_GONE),
        Err(e) => {
            errln!("hoist: {}", output::error_chain(&e));
            std::process::exit(1)
        }
    }
}
