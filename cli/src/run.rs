//! `hoist run`: a container from an image, on an overlay of its layers, removed when it exits.
//!
//! Docker's rules for what runs: `--entrypoint` replaces the image's ENTRYPOINT and drops its CMD; arguments after
//! the image replace CMD; the process is ENTRYPOINT + CMD.
use anyhow::{bail, Context as _};
use clap::Args;
use hoist_executor::container::{self, ContainerSpec, Network};
use hoist_executor::{fileops, overlay, user};
use hoist_store::Store;

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Remove the container when it exits (hoist always does so today; accepted for docker compatibility).
    #[arg(long)]
    rm: bool,
    /// Set an environment variable (`KEY=VALUE`, or `KEY` to pass hoist's own value).
    #[arg(short = 'e', long = "env")]
    env: Vec<String>,
    /// Override the image's ENTRYPOINT.
    #[arg(long)]
    entrypoint: Option<String>,
    /// Working directory inside the container.
    #[arg(short = 'w', long = "workdir")]
    workdir: Option<String>,
    /// User (name or uid, optionally :group).
    #[arg(short = 'u', long = "user")]
    user: Option<String>,
    /// Network: host (default) or none.
    #[arg(long, default_value = "host")]
    network: String,
    image: String,
    /// The command and its arguments (replace the image's CMD).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<String>,
}

pub fn run(store: &Store, args: RunArgs) -> anyhow::Result<i32> {
    let image = store
        .resolve(&args.image)?
        .with_context(|| format!("Unable to find image '{}' in the store (build, import or pull it first)", args.image))?;
    let raw = store.read_blob(&image.id)?;
    let config: serde_json::Value = serde_json::from_slice(&raw).context("the image config is not valid JSON")?;
    let c = config.get("config").cloned().unwrap_or_default();
    let strings = |v: Option<&serde_json::Value>| -> Vec<String> {
        v.and_then(|v| v.as_array())
            .map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_string)).collect())
            .unwrap_or_default()
    };
    let (entrypoint, cmd) = match &args.entrypoint {
        Some(ep) => (if ep.is_empty() { vec![] } else { vec![ep.clone()] }, args.command.clone()),
        None => {
            let cmd = if args.command.is_empty() { strings(c.get("Cmd")) } else { args.command.clone() };
            (strings(c.get("Entrypoint")), cmd)
        }
    };
    let argv: Vec<String> = entrypoint.into_iter().chain(cmd).collect();
    if argv.is_empty() {
        bail!("no command specified: the image has no ENTRYPOINT or CMD; give one after the image name");
    }
    let mut env = strings(c.get("Env"));
    if !env.iter().any(|e| e.starts_with("PATH=")) {
        env.insert(0, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into());
    }
    for e in &args.env {
        let kv = match e.split_once('=') {
            Some(_) => e.clone(),
            None => match std::env::var(e) {
                Ok(v) => format!("{e}={v}"),
                Err(_) => continue,
            },
        };
        let key = kv.split('=').next().unwrap_or_default().to_string();
        env.retain(|x| x.split('=').next() != Some(key.as_str()));
        env.push(kv);
    }
    let workdir = args
        .workdir
        .clone()
        .or_else(|| c.get("WorkingDir").and_then(|v| v.as_str()).map(str::to_string))
        .filter(|w| !w.is_empty())
        .unwrap_or_else(|| "/".into());
    let user_spec = args
        .user
        .clone()
        .or_else(|| c.get("User").and_then(|v| v.as_str()).map(str::to_string))
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "0".into());
    let network = match args.network.as_str() {
        "host" | "default" => Network::Host,
        "none" => Network::None,
        other => bail!("--network {other}: this version of hoist supports host and none"),
    };

    let dir = store.new_tmp_dir("run")?;
    let (upper, work, merged) = (dir.path().join("u"), dir.path().join("w"), dir.path().join("m"));
    for d in [&upper, &work, &merged] {
        std::fs::create_dir(d)?;
    }
    let mut lowers = Vec::new();
    for diff_id in image.config.rootfs().diff_ids().iter().rev() {
        let digest = diff_id.parse().map_err(|e| anyhow::anyhow!("image has a bad diff_id {diff_id}: {e}"))?;
        lowers.push(store.ensure_snapshot(&digest)?);
    }
    let mount = overlay::mount_overlay(&lowers, &upper, &work, &merged).context("mounting the image's layers")?;
    let result = (|| -> anyhow::Result<i32> {
        let u = user::resolve_user(&merged, &user_spec)?;
        fileops::mkdir_all_in_root(&merged, &workdir, None)?;
        let id = dir.path().file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let hostname: String = id.chars().filter(|c| c.is_ascii_alphanumeric()).take(12).collect();
        let code = container::run(
            ContainerSpec {
                rootfs: merged.clone(),
                args: argv,
                env,
                cwd: workdir,
                uid: u.uid,
                gid: u.gid,
                additional_gids: u.additional_gids,
                hostname: if hostname.is_empty() { "hoist".into() } else { hostname },
                network,
                mounts: Vec::new(),
                readonly_rootfs: false,
                stdin: None,
                stdout: None,
                stderr: None,
            },
            store.tmp_dir(),
        )?;
        Ok(code)
    })();
    mount.unmount().context("unmounting the container's rootfs")?;
    drop(dir);
    result
}
