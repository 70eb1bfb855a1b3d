//! `hoist ps`, `logs`, `stop`, `kill`, `rm`, `exec`, `inspect`: thin wrappers over [`hoist_executor::runtime`].
use std::path::{Path, PathBuf};

use clap::Args;
use hoist_executor::runtime::{self, ExecOptions};
use hoist_store::Store;

fn absolute(root: &Path) -> PathBuf {
    std::path::absolute(root).unwrap_or_else(|_| root.to_path_buf())
}

pub use crate::logs_cmd::{logs, LogsArgs};

#[derive(Debug, Args)]
pub struct StopArgs {
    /// Seconds to wait for the stop signal to work before SIGKILL (default: the container's, 10).
    #[arg(short = 't', long = "time")]
    time: Option<u64>,
    #[arg(required = true)]
    containers: Vec<String>,
}

/// Run `f` on every container named; print each name that worked, errors on stderr, exit 1 if any failed.
fn each(
    names: &[String],
    mut f: impl FnMut(&str) -> Result<String, runtime::RuntimeError>,
) -> anyhow::Result<i32> {
    let mut code = 0;
    for name in names {
        match f(name) {
            Ok(_) => outln!("{name}"),
            Err(e) => {
                errln!("hoist: {e}");
                code = 1;
            }
        }
    }
    Ok(code)
}

pub fn stop(root: &Path, args: StopArgs) -> anyhow::Result<i32> {
    let root = absolute(root);
    each(&args.containers, |n| runtime::stop(&root, n, args.time))
}

#[derive(Debug, Args)]
pub struct KillArgs {
    /// The signal to send (default SIGKILL).
    #[arg(short = 's', long = "signal")]
    signal: Option<String>,
    #[arg(required = true)]
    containers: Vec<String>,
}

pub fn kill(root: &Path, args: KillArgs) -> anyhow::Result<i32> {
    let root = absolute(root);
    each(&args.containers, |n| {
        runtime::kill(&root, n, args.signal.as_deref())
    })
}

#[derive(Debug, Args)]
pub struct RmArgs {
    /// Kill a running container first.
    #[arg(short = 'f', long)]
    force: bool,
    #[arg(required = true)]
    containers: Vec<String>,
}

pub fn rm(root: &Path, args: RmArgs) -> anyhow::Result<i32> {
    let root = absolute(root);
    let code = each(&args.containers, |n| runtime::remove(&root, n, args.force));
    // The last container of a removed image leaves a mount points layer that nothing uses any more.
    crate::layer_stacks::prune(&root, None);
    code
}

#[derive(Debug, Args)]
pub struct ExecArgs {
    /// Keep standard input open.
    #[arg(short = 'i', long)]
    interactive: bool,
    /// Allocate a pseudo-terminal.
    #[arg(short = 't', long)]
    tty: bool,
    /// Set an environment variable.
    #[arg(short = 'e', long = "env")]
    env: Vec<String>,
    /// Working directory inside the container.
    #[arg(short = 'w', long = "workdir")]
    workdir: Option<String>,
    /// User (name or uid, optionally :group).
    #[arg(short = 'u', long = "user")]
    user: Option<String>,
    /// All capabilities for this process.
    #[arg(long)]
    privileged: bool,
    container: String,
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
    command: Vec<String>,
}

/// Never fails: errors are printed and become docker's exit codes (126/127 for the command).
pub fn exec(root: &Path, args: ExecArgs) -> anyhow::Result<i32> {
    if let Some(code) = crate::run::refuse_tty_without_terminal(args.interactive, args.tty) {
        return Ok(code);
    }
    let options = ExecOptions {
        interactive: args.interactive,
        tty: args.tty,
        env: args.env,
        workdir: args.workdir,
        user: args.user,
        privileged: args.privileged,
        command: args.command,
    };
    match runtime::exec(&absolute(root), &args.container, &options) {
        Ok(code) => Ok(code),
        Err(e) => {
            errln!("hoist: {e}");
            Ok(e.exit_code())
        }
    }
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Print each object through this Go template (`{{.State.Pid}}`, `{{json .Config}}`) instead of JSON.
    #[arg(short = 'f', long)]
    format: Option<String>,
    /// Only look for this kind of object: container or image.
    #[arg(long = "type", value_parser = ["container", "image"])]
    kind: Option<String>,
    /// Containers or images.
    #[arg(required = true)]
    names: Vec<String>,
}

impl InspectArgs {
    /// `hoist image inspect`: the names are images.
    pub fn images_only(mut self) -> Self {
        self.kind = Some("image".into());
        self
    }
}

/// The config JSON of image `id` (`sha256:…`), if the store still has it.
fn image_config(store: &Store, id: &str) -> Option<serde_json::Value> {
    let image = store.resolve(id).ok()??;
    serde_json::from_slice(&store.read_blob(&image.id).ok()?).ok()
}

pub fn inspect(root: &Path, args: InspectArgs) -> anyhow::Result<i32> {
    let abs = absolute(root);
    let mut out: Vec<crate::ordered_json::Json> = Vec::new();
    let mut code = 0;
    let mut store: Option<Store> = None;
    // Checked first: a template error must not come after half the output.
    let template = match &args.format {
        Some(f) => Some(
            crate::gotemplate::Template::parse(f)
                .map_err(|e| anyhow::anyhow!("invalid --format template: {e}"))?,
        ),
        None => None,
    };
    for name in &args.names {
        if args.kind.as_deref() != Some("image") {
            match runtime::find(&abs, name) {
                Ok((dir, record)) => {
                    let state = dir.current_state()?;
                    if store.is_none() {
                        store = Store::open(root).ok();
                    }
                    let image_config = store
                        .as_ref()
                        .and_then(|s| image_config(s, &record.image_id));
                    out.push(crate::container_inspect::container_json(
                        &crate::container_inspect::Inspected {
                            dir: &dir,
                            record: &record,
                            state: &state,
                            image_config: image_config.as_ref(),
                        },
                    ));
                    continue;
                }
                Err(runtime::RuntimeError::NoSuchContainer(_)) => {}
                Err(e) => return Err(e.into()),
            }
            if args.kind.is_some() {
                errln!("hoist: No such container: {name}");
                code = 1;
                continue;
            }
        }
        if store.is_none() {
            store = Some(Store::open(root).map_err(|e| {
                anyhow::anyhow!("opening the state directory {}: {e}", root.display())
            })?);
        }
        let Some(store) = store.as_ref() else {
            continue;
        };
        match store.resolve(name)? {
            Some(image) => out.push(crate::image_inspect::image_json(store, &image)?.into()),
            None if args.kind.is_some() => {
                errln!("hoist: No such image: {name}");
                code = 1;
            }
            None => {
                errln!("hoist: No such object: {name}");
                code = 1;
            }
        }
    }
    match template {
        Some(template) => {
            for object in &out {
                let text = template
                    .render_ordered(object, crate::gotemplate::Missing::NoValue)
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
                outln!("{text}");
            }
        }
        None => {
            outln!(
                "{}",
                crate::ordered_json::Json::Array(out).to_pretty_string()
            );
        }
    }
    Ok(code)
}
