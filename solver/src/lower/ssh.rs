//! `RUN --mount=type=ssh`: the SSH agent `--ssh` names, reached through a socket of the step's own.
//!
//! hoist listens on a fresh socket (in a staging dir of the store, with the mount's mode and owner) and
//! forwards every connection to the agent's socket, as BuildKit's session forwards one: the step never sees
//! the host's path, the socket's mode and owner are the mount's, and nothing of it enters a layer (the mount
//! point is removed after the step) or the cache key (the mount's definition does, not the agent).
use std::os::unix::fs::{chown, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use crate::error::{BuildError, Result};
use crate::stage::Build;

use super::mounts::MountSpec;

/// Where the `n`th ssh mount of a step goes without `target=` (BuildKit's path).
pub(super) fn target(spec: &MountSpec, n: usize) -> String {
    if spec.target.is_empty() {
        format!("/run/buildkit/ssh_agent.{n}")
    } else {
        spec.target.clone()
    }
}

/// A socket forwarding to an agent while it lives; stopped on drop.
pub(super) struct AgentProxy {
    socket: PathBuf,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
    _dir: hoist_store::TempDir,
}

impl AgentProxy {
    pub(super) fn socket(&self) -> &Path {
        &self.socket
    }
}

impl Drop for AgentProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the accept loop, which then sees `stop`.
        let _ = UnixStream::connect(&self.socket);
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
    }
}

/// The proxy for the agent of `spec`'s id, and `SSH_AUTH_SOCK` pointing at `target` (for the first
/// forwarded mount, unless the step's environment sets it). `None` when `--ssh` gave no such id and the
/// mount is not `required` (BuildKit skips it then).
pub(super) fn forward(
    build: &Build,
    spec: &MountSpec,
    target: &str,
    env: &mut Vec<String>,
) -> Result<Option<AgentProxy>> {
    let id = spec.id.as_deref().unwrap_or("default");
    let Some(agent) = build
        .options
        .run_steps
        .ssh_agents
        .iter()
        .find(|(i, _)| i == id)
        .map(|(_, p)| p.clone())
    else {
        if !spec.required {
            return Ok(None);
        }
        let flag = if id == "default" {
            "--ssh default (the agent at $SSH_AUTH_SOCK) or --ssh default=SOCKET|KEYFILE"
                .to_string()
        } else {
            format!("--ssh {id}=SOCKET|KEYFILE")
        };
        return Err(BuildError::other(format!(
            "--mount=type=ssh,id={id}: no SSH agent or key was given for id {id:?} and the mount is required; pass {flag} to hoist build"
        )));
    };
    let dir = build.store.new_tmp_dir("ssh")?;
    let socket = dir.path().join("agent.sock");
    let listener = UnixListener::bind(&socket).map_err(|e| {
        BuildError::io(
            format!(
                "--mount=type=ssh,id={id}: listening on {}",
                socket.display()
            ),
            e,
        )
    })?;
    std::fs::set_permissions(
        &socket,
        std::fs::Permissions::from_mode(spec.mode.unwrap_or(0o600)),
    )
    .map_err(|e| BuildError::io(format!("--mount=type=ssh,id={id}: socket mode"), e))?;
    chown(
        &socket,
        Some(spec.uid.unwrap_or(0)),
        Some(spec.gid.unwrap_or(0)),
    )
    .map_err(|e| BuildError::io(format!("--mount=type=ssh,id={id}: socket owner"), e))?;
    let stop = Arc::new(AtomicBool::new(false));
    let accept = {
        let stop = stop.clone();
        std::thread::spawn(move || accept_loop(listener, agent, &stop))
    };
    if !env.iter().any(|e| e.starts_with("SSH_AUTH_SOCK=")) {
        env.push(format!("SSH_AUTH_SOCK={target}"));
    }
    Ok(Some(AgentProxy {
        socket,
        stop,
        accept: Some(accept),
        _dir: dir,
    }))
}

fn accept_loop(listener: UnixListener, agent: PathBuf, stop: &AtomicBool) {
    for client in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok(client) = client else { continue };
        let agent = agent.clone();
        std::thread::spawn(move || {
            // An agent that went away: the client sees its connection closed, as with a dead agent.
            if let Ok(upstream) = UnixStream::connect(&agent) {
                pipe_both_ways(client, upstream);
            }
        });
    }
}

fn pipe_both_ways(a: UnixStream, b: UnixStream) {
    let (Ok(mut a_read), Ok(mut b_write)) = (a.try_clone(), b.try_clone()) else {
        return;
    };
    let (mut a, mut b) = (a, b);
    let up = std::thread::spawn(move || {
        let _ = std::io::copy(&mut a_read, &mut b_write);
        let _ = b_write.shutdown(std::net::Shutdown::Write);
    });
    let _ = std::io::copy(&mut b, &mut a);
    let _ = a.shutdown(std::net::Shutdown::Write);
    let _ = up.join();
}
