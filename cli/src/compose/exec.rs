//! `compose exec`, `top`, `port`: commands on one (or each) running container of a service.
use std::io::IsTerminal;
use std::path::Path;

use anyhow::{bail, Context};
use clap::Args;
use hoist_compose::Project;
use hoist_executor::runtime::{self, state::Status, ExecOptions};

use super::lookup::ProjectContainer;
use super::select::service_containers;

#[derive(Debug, Args)]
pub(crate) struct ExecArgs {
    /// Run the command in the background.
    #[arg(short = 'd', long)]
    detach: bool,
    /// Set an environment variable (`KEY=VALUE`).
    #[arg(short = 'e', long = "env")]
    env: Vec<String>,
    /// Run as this user (name or uid, optionally :group).
    #[arg(short = 'u', long)]
    user: Option<String>,
    /// Working directory inside the container.
    #[arg(short = 'w', long)]
    workdir: Option<String>,
    /// Do not allocate a pseudo-terminal (by default one is allocated when stdin is a terminal).
    #[arg(short = 'T', long = "no-TTY")]
    no_tty: bool,
    /// Which container of the service (when it has several replicas).
    #[arg(long, default_value_t = 1)]
    index: u32,
    /// Give the process all capabilities.
    #[arg(long)]
    privileged: bool,
    service: String,
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
    command: Vec<String>,
}

#[derive(Debug, Args)]
pub(crate) struct PortArgs {
    /// Which container of the service.
    #[arg(long, default_value_t = 1)]
    index: u32,
    /// tcp or udp.
    #[arg(long, default_value = "tcp")]
    protocol: String,
    service: String,
    /// The container port.
    port: u16,
}

#[derive(Debug, Args)]
pub(crate) struct TopArgs {
    services: Vec<String>,
}

fn running(c: &ProjectContainer) -> bool {
    c.dir
        .current_state()
        .map(|s| s.status == Status::Running)
        .unwrap_or(false)
}

/// The running container `index` of `service`, or compose's `service "x" is not running`.
fn running_container(
    root: &Path,
    project: &Project,
    service: &str,
    index: u32,
) -> anyhow::Result<String> {
    let containers = service_containers(root, project, &[service.to_string()], false)?;
    if !containers.iter().any(running) {
        bail!("service \"{service}\" is not running");
    }
    match containers.iter().find(|c| c.number == index) {
        Some(c) if running(c) => Ok(c.record.name.clone()),
        _ => bail!("service \"{service}\" is not running container #{index}"),
    }
}

/// The command's exit code passes through, as compose's.
pub(crate) fn exec(root: &Path, project: &Project, args: ExecArgs) -> anyhow::Result<i32> {
    let root = std::path::absolute(root).unwrap_or_else(|_| root.to_path_buf());
    let name = running_container(&root, project, &args.service, args.index)?;
    if args.detach {
        return exec_detached(&root, &name, &args);
    }
    let tty = !args.no_tty && std::io::stdin().is_terminal();
    let options = ExecOptions {
        // Compose's exec always passes stdin through (`-i` is its default).
        interactive: true,
        tty,
        env: args.env,
        workdir: args.workdir,
        user: args.user,
        privileged: args.privileged,
        command: args.command,
    };
    match runtime::exec(&root, &name, &options) {
        Ok(code) => Ok(code),
        Err(e) => {
            errln!("hoist: {e}");
            Ok(e.exit_code())
        }
    }
}

/// `exec -d`: a `hoist exec` of its own in the background, detached from this terminal.
fn exec_detached(root: &Path, name: &str, args: &ExecArgs) -> anyhow::Result<i32> {
    use std::os::unix::process::CommandExt;
    let exe = std::env::current_exe().context("finding the hoist binary")?;
    let mut command = std::process::Command::new(exe);
    command.arg("--root").arg(root).arg("exec");
    for e in &args.env {
        command.arg("-e").arg(e);
    }
    if let Some(u) = &args.user {
        command.arg("-u").arg(u);
    }
    if let Some(w) = &args.workdir {
        command.arg("-w").arg(w);
    }
    if args.privileged {
        command.arg("--privileged");
    }
    command.arg(name).args(&args.command);
    command
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .process_group(0);
    command
        .spawn()
        .with_context(|| format!("starting the command in {name}"))?;
    Ok(0)
}

/// `compose port SERVICE PORT`: the host address the container port is published on.
pub(crate) fn port(root: &Path, project: &Project, args: PortArgs) -> anyhow::Result<i32> {
    let root = std::path::absolute(root).unwrap_or_else(|_| root.to_path_buf());
    let name = running_container(&root, project, &args.service, args.index)?;
    let status = hoist_command(&root)?
        .args(["port", &name, &format!("{}/{}", args.port, args.protocol)])
        .status()
        .context("running hoist port")?;
    Ok(status.code().unwrap_or(1))
}

/// `compose top`: each running container's name, then its processes (as `hoist top` shows them).
pub(crate) fn top(root: &Path, project: &Project, args: TopArgs) -> anyhow::Result<i32> {
    let root = std::path::absolute(root).unwrap_or_else(|_| root.to_path_buf());
    let containers = service_containers(&root, project, &args.services, false)?;
    let mut code = 0;
    for c in containers.iter().filter(|c| running(c)) {
        outln!("{}", c.record.name);
        let status = hoist_command(&root)?
            .args(["top", &c.record.name])
            .status()
            .context("running hoist top")?;
        if !status.success() {
            code = 1;
        }
        outln!();
    }
    Ok(code)
}

fn hoist_command(root: &Path) -> anyhow::Result<std::process::Command> {
    let exe = std::env::current_exe().context("finding the hoist binary")?;
    let mut command = std::process::Command::new(exe);
    command.arg("--root").arg(root);
    Ok(command)
}
