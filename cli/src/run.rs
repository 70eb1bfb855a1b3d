//! `hoist run`: flags → [`hoist_executor::runtime`]. The runtime makes the container, and this process
//! becomes its monitor (foreground: hoist's exit code is the container's) or starts one (`-d`).
//! Exit codes as docker's: 125 hoist failed, 126 the command cannot be run, 127 it was not found.
use anyhow::Context as _;
use clap::Args;
use hoist_executor::runtime::{self, config::NetworkMode, ImageSource, RunOptions, Status};
use hoist_store::Store;

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Set by `create -i` (no flag): see [`runtime::stdin_server::StdinOptions`].
    #[arg(skip)]
    stdin_once: bool,
    /// Remove the container (and its anonymous volumes) when it exits.
    #[arg(long)]
    rm: bool,
    /// Run in the background and print the container ID.
    #[arg(short = 'd', long)]
    detach: bool,
    /// Keep standard input open.
    #[arg(short = 'i', long)]
    interactive: bool,
    /// Give the container a pseudo-terminal.
    #[arg(short = 't', long)]
    tty: bool,
    /// Name the container (default: a generated name).
    #[arg(long)]
    name: Option<String>,
    /// Pull the image before creating the container: missing (only when the store lacks it), always, never.
    #[arg(long, value_name = "POLICY", default_value = "missing")]
    pull: PullPolicy,
    /// Set an environment variable (`KEY=VALUE`, or `KEY` to pass hoist's own value).
    #[arg(short = 'e', long = "env")]
    env: Vec<String>,
    /// Read environment variables from a file (`KEY=VALUE` lines, `#` comments).
    #[arg(long = "env-file")]
    env_file: Vec<std::path::PathBuf>,
    /// Override the image's ENTRYPOINT (also drops its CMD).
    #[arg(long)]
    entrypoint: Option<String>,
    /// Working directory inside the container (absolute).
    #[arg(short = 'w', long = "workdir")]
    workdir: Option<String>,
    /// User (name or uid, optionally :group; names are looked up in the image).
    #[arg(short = 'u', long = "user")]
    user: Option<String>,
    /// Mount a volume: `HOST:CONTAINER[:ro]`, `NAME:CONTAINER[:ro]` or `CONTAINER` (anonymous).
    #[arg(short = 'v', long = "volume")]
    volume: Vec<String>,
    /// Mount: `type=bind|volume|tmpfs,source=…,target=…[,readonly]`.
    #[arg(long)]
    mount: Vec<String>,
    /// Mount a tmpfs: `CONTAINER[:OPTIONS]`.
    #[arg(long)]
    tmpfs: Vec<String>,
    /// Mount the root filesystem read-only.
    #[arg(long = "read-only")]
    read_only: bool,
    /// The container's hostname (default: its short ID).
    #[arg(long)]
    hostname: Option<String>,
    /// Network: host (the default, bridge with -p), none, bridge (own namespace, NAT to the host's
    /// network), or a user-defined network's name (`hoist network create`).
    #[arg(long, alias = "net")]
    network: Option<String>,
    #[command(flatten)]
    network_flags: crate::network::RunNetworkArgs,
    /// Publish a container port: `[IP:][HOSTPORT:]CONTAINERPORT[/tcp|/udp]`, ranges too (implies
    /// --network bridge when no --network is given).
    #[arg(short = 'p', long = "publish")]
    publish: Vec<String>,
    /// Memory limit (`64m`, `1g`); the process is OOM-killed beyond it.
    #[arg(short = 'm', long)]
    memory: Option<String>,
    /// CPU limit (`0.5`, `2`).
    #[arg(long)]
    cpus: Option<String>,
    /// Maximum number of processes.
    #[arg(long = "pids-limit")]
    pids_limit: Option<i64>,
    /// Add a capability (`NET_ADMIN`, `ALL`).
    #[arg(long = "cap-add")]
    cap_add: Vec<String>,
    /// Drop a capability (`CHOWN`, `ALL`).
    #[arg(long = "cap-drop")]
    cap_drop: Vec<String>,
    /// All capabilities, all devices, no masked /proc paths.
    #[arg(long)]
    privileged: bool,
    /// Run a tiny init as pid 1 that reaps zombies and forwards signals.
    #[arg(long)]
    init: bool,
    /// Signal that stops the container (default: the image's STOPSIGNAL, else SIGTERM).
    #[arg(long = "stop-signal")]
    stop_signal: Option<String>,
    /// Seconds `hoist stop` waits before SIGKILL (default 10).
    #[arg(long = "stop-timeout")]
    stop_timeout: Option<u64>,
    /// Security options: `seccomp=unconfined` (no seccomp filter), `no-new-privileges`.
    #[arg(long = "security-opt")]
    security_opt: Vec<String>,
    /// Set a label on the container (`KEY=VALUE`); may repeat. `hoist ps --filter label=KEY` finds it.
    #[arg(short = 'l', long = "label")]
    labels: Vec<String>,
    #[command(flatten)]
    monitor: crate::run_monitor::MonitorArgs,
    #[command(flatten)]
    resources: crate::run_resources::RunResourceArgs,
    image: String,
    /// The command and its arguments (replace the image's CMD).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<String>,
}

/// Never fails: errors are printed and become docker's exit codes.
pub fn run(store: Store, args: RunArgs) -> anyhow::Result<i32> {
    if let Some(code) = refuse_tty_without_terminal(args.interactive && !args.detach, args.tty) {
        return Ok(code);
    }
    match run_inner(store, args) {
        Ok(code) => Ok(code),
        Err(e) => {
            errln!("hoist: {}", crate::output::error_chain(&e));
            let code = e.downcast_ref::<runtime::RuntimeError>().map_or(
                runtime::EXIT_RUNTIME_ERROR,
                runtime::RuntimeError::exit_code,
            );
            Ok(code)
        }
    }
}

/// `-it` attaches a terminal to the container's stdin, so stdin must be one: with a pipe or a file
/// the container's shell would wait forever for a terminal that is not there. Docker refuses with
/// this message and exit 1; `-i` alone (stdin passed through, EOF included) and `-t` alone are fine.
pub(crate) fn refuse_tty_without_terminal(attach_stdin: bool, tty: bool) -> Option<i32> {
    use std::io::IsTerminal as _;
    if attach_stdin && tty && !std::io::stdin().is_terminal() {
        errln!("hoist: the input device is not a TTY");
        return Some(1);
    }
    None
}

/// `--pull`, as `docker run` takes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum PullPolicy {
    Missing,
    Always,
    Never,
}

fn image_source(store: &Store, reference: &str, pull: PullPolicy) -> anyhow::Result<ImageSource> {
    let mut image = store.resolve(reference)?;
    // An image ID (or a prefix of one) is never pulled; a name is, as docker does.
    let pullable = hoist_registry::ImageReference::parse(reference).is_ok();
    if pullable && (pull == PullPolicy::Always || (pull == PullPolicy::Missing && image.is_none()))
    {
        crate::pull::pull_for_run(store, reference)?;
        image = store.resolve(reference)?;
    }
    let image = image.with_context(|| {
        format!("Unable to find image '{reference}': it is not in the store and was not pulled (--pull never); pull it (`hoist pull {reference}`), build it (`hoist build -t {reference} .`) or import it (`hoist import ROOTFS.tar {reference}`)")
    })?;
    let raw = store.read_blob(&image.id)?;
    let config: serde_json::Value =
        serde_json::from_slice(&raw).context("the image config is not valid JSON")?;
    let lowers = crate::layer_stacks::of_image(store, &image, true)?.unwrap_or_default();
    Ok(ImageSource {
        reference: reference.to_string(),
        id: image.id.to_string(),
        config,
        lowers,
    })
}

/// The container `args` describe, made (not started): `hoist run` and `hoist create` share this.
/// The store is closed before it returns (a foreground monitor is this process).
pub(crate) fn create_container(
    store: Store,
    args: RunArgs,
) -> anyhow::Result<(
    std::path::PathBuf,
    runtime::state::ContainerDir,
    runtime::ContainerRecord,
    RunOptions,
)> {
    // `-p` alone gets a namespace of its own to publish from, as docker's default bridge; plain
    // `run` keeps the host network (no veth or lease to set up: its start stays fast).
    let network_flag = args.network.clone().unwrap_or_else(|| {
        if args.publish.is_empty() && !args.network_flags.publish_all {
            "host"
        } else {
            "bridge"
        }
        .to_string()
    });
    // `container:NAME`: a namespace of its own, swapped for NAME's when the container starts.
    let network_container = network_flag.strip_prefix("container:").map(str::to_string);
    if let Some(name) = &network_container {
        if name.is_empty() {
            anyhow::bail!("--network container:NAME: the container's name or ID is missing");
        }
        if !args.publish.is_empty() || args.network_flags.publish_all {
            anyhow::bail!(
                "conflicting options: port publishing and the container type network mode"
            );
        }
        if args.hostname.is_some() {
            anyhow::bail!("conflicting options: hostname and the network mode");
        }
    }
    let (network, user_network) = match network_flag.parse::<NetworkMode>() {
        Ok(mode) => (mode, None),
        Err(_) if network_container.is_some() => (NetworkMode::None, None),
        Err(_) if !network_flag.contains(':') => (NetworkMode::None, Some(network_flag)),
        Err(e) => return Err(e.into()),
    };
    crate::run_limits::check(args.memory.as_deref(), args.cpus.as_deref())?;
    let image = image_source(&store, &args.image, args.pull)?;
    let mut tuning = args.resources.into_flags(args.memory.as_deref());
    tuning.network_container = network_container;
    let options = RunOptions {
        name: args.name,
        detach: args.detach,
        auto_remove: args.rm,
        interactive: args.interactive,
        tty: args.tty,
        env: args.env,
        env_files: args.env_file,
        workdir: args.workdir,
        user: args.user,
        entrypoint: args.entrypoint,
        command: args.command,
        volumes: args.volume,
        mounts: args.mount,
        tmpfs: args.tmpfs,
        read_only: args.read_only,
        hostname: args.hostname,
        network,
        publish: args.publish,
        memory: args.memory,
        cpus: args.cpus,
        pids_limit: args.pids_limit,
        cap_add: args.cap_add,
        cap_drop: args.cap_drop,
        privileged: args.privileged,
        init: args.init,
        stop_signal: args.stop_signal,
        stop_timeout: args.stop_timeout,
        security_opt: args.security_opt,
        labels: args.labels,
        monitor: args.monitor.into_options(),
        tuning,
        net: args.network_flags.options(user_network),
        stdin: runtime::stdin_server::StdinOptions {
            stdin_once: args.stdin_once,
        },
    };
    let root = std::path::absolute(store.root()).unwrap_or_else(|_| store.root().to_path_buf());
    // Closed before the container runs: a foreground monitor is this process.
    drop(store);
    let (dir, record) = runtime::create(&root, &image, &options)?;
    Ok((root, dir, record, options))
}

impl RunArgs {
    /// `hoist create`: the container is started later, by `hoist start`, detached from this process.
    pub(crate) fn for_create(mut self) -> RunArgs {
        self.detach = true;
        // Docker's `create -i` attaches stdin: its first `start -ai` client's end closes it.
        self.stdin_once = self.interactive;
        self
    }
}

fn run_inner(store: Store, args: RunArgs) -> anyhow::Result<i32> {
    let (root, dir, record, options) = create_container(store, args)?;
    if !options.detach {
        return Ok(runtime::run_foreground(&dir)?);
    }
    let state = runtime::start_detached(&dir)?;
    if state.status == Status::Exited {
        if let Some(error) = state.error {
            let code = state.exit_code.unwrap_or(runtime::EXIT_RUNTIME_ERROR);
            errln!("hoist: {error}");
            if options.auto_remove {
                let _ = runtime::remove(&root, &record.id, true);
            }
            return Ok(code);
        }
    }
    outln!("{}", record.id);
    Ok(0)
}
