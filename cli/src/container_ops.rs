//! `hoist wait`, `rename`, `port`, `diff`: small container commands with Docker's output.
use std::path::{Path, PathBuf};

use anyhow::bail;
use clap::Args;
use hoist_executor::runtime::{self, RuntimeError};

fn absolute(root: &Path) -> PathBuf {
    std::path::absolute(root).unwrap_or_else(|_| root.to_path_buf())
}

#[derive(Debug, Args)]
pub struct WaitArgs {
    /// Containers to wait for; each one's exit code is printed when it exits.
    #[arg(required = true)]
    containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct RenameArgs {
    container: String,
    new_name: String,
}

#[derive(Debug, Args)]
pub struct PortArgs {
    container: String,
    /// Only this container port (`80` or `80/tcp`).
    private_port: Option<String>,
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    container: String,
}

/// `docker wait`: blocks until each container exits and prints its exit code; a missing one is an error
/// (exit 1) after the others.
pub fn wait(root: &Path, args: WaitArgs) -> anyhow::Result<i32> {
    let root = absolute(root);
    let mut failed = false;
    for name in &args.containers {
        match runtime::wait(&root, name) {
            Ok(code) => outln!("{code}"),
            Err(RuntimeError::NoSuchContainer(_)) => {
                errln!("Error response from daemon: No such container: {name}");
                failed = true;
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(i32::from(failed))
}

pub fn rename(root: &Path, args: RenameArgs) -> anyhow::Result<i32> {
    match runtime::rename(&absolute(root), &args.container, &args.new_name) {
        Ok(()) => Ok(0),
        Err(RuntimeError::NoSuchContainer(_)) => {
            bail!("No such container: {}", args.container)
        }
        Err(e) => Err(e.into()),
    }
}

/// `docker port`: `80/tcp -> 127.0.0.1:8080` per published port, or the host addresses of one port.
pub fn port(root: &Path, args: PortArgs) -> anyhow::Result<i32> {
    let (_, record) = match runtime::find(&absolute(root), &args.container) {
        Ok(found) => found,
        Err(RuntimeError::NoSuchContainer(_)) => bail!("No such container: {}", args.container),
        Err(e) => return Err(e.into()),
    };
    let wanted = match &args.private_port {
        Some(spec) => {
            let (port, proto) = spec.split_once('/').unwrap_or((spec, "tcp"));
            let Ok(port) = port.parse::<u16>() else {
                bail!("invalid port {spec:?}: give PORT, PORT/tcp or PORT/udp");
            };
            Some((port, proto.to_string()))
        }
        None => None,
    };
    // (container port, protocol, host address), older records' loopback ports included.
    let mut ports: Vec<(u16, String, String)> = record
        .ports
        .iter()
        .map(|(host, ctr)| (*ctr, "tcp".to_string(), format!("127.0.0.1:{host}")))
        .chain(record.port_bindings.iter().flat_map(|b| {
            b.host_addresses()
                .into_iter()
                .map(|a| (b.container_port, b.proto.clone(), a))
        }))
        .collect();
    ports.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
    let mut found = false;
    for (ctr, proto, host) in ports {
        match &wanted {
            Some((p, wp)) if *p != ctr || *wp != proto => {}
            Some(_) => {
                outln!("{host}");
                found = true;
            }
            None => {
                outln!("{ctr}/{proto} -> {host}");
                found = true;
            }
        }
    }
    if let (Some((port, proto)), false) = (wanted, found) {
        bail!(
            "No public port '{port}/{proto}' published for {}",
            args.container
        );
    }
    Ok(0)
}

/// `docker diff`: `A`/`C`/`D` and the path, for what the container changed in its filesystem.
pub fn diff(root: &Path, args: DiffArgs) -> anyhow::Result<i32> {
    match runtime::diff(&absolute(root), &args.container) {
        Ok(changes) => {
            for c in changes {
                outln!("{} {}", c.kind, c.path);
            }
            Ok(0)
        }
        Err(RuntimeError::NoSuchContainer(_)) => bail!("No such container: {}", args.container),
        Err(e) => Err(e.into()),
    }
}
