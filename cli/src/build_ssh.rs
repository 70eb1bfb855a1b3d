//! `hoist build --ssh`: which SSH agent each id of `RUN --mount=type=ssh` reaches. An agent socket is used as
//! it is; key files are loaded into an `ssh-agent` (OpenSSH's) that hoist starts for the build and stops after.
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The agents of one build; those hoist started end when this drops.
#[derive(Default)]
pub struct Agents {
    sockets: Vec<(String, PathBuf)>,
    started: Vec<(Child, tempfile::TempDir)>,
}

impl Drop for Agents {
    fn drop(&mut self) {
        for (child, _) in &mut self.started {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Agents {
    /// One agent per `--ssh` value: `default`, `ID`, `ID=SOCKET` or `ID=KEYFILE[,KEYFILE]`.
    pub fn start(specs: &[String]) -> anyhow::Result<Agents> {
        let mut agents = Agents::default();
        for spec in specs {
            let (id, paths) = match spec.split_once('=') {
                Some((id, paths)) => (id.trim(), paths.split(',').map(str::trim).collect()),
                None => (spec.trim(), Vec::new()),
            };
            anyhow::ensure!(
                !id.is_empty(),
                "--ssh {spec}: the id is empty; use default, ID, ID=SOCKET or ID=KEYFILE[,KEYFILE]"
            );
            anyhow::ensure!(
                !agents.sockets.iter().any(|(i, _)| i == id),
                "--ssh {spec}: id {id:?} is given twice"
            );
            let socket = match paths.as_slice() {
                [] => default_agent(spec)?,
                [path] if is_socket(Path::new(path)) => PathBuf::from(path),
                keys => agents.start_agent(spec, keys)?,
            };
            agents.sockets.push((id.to_string(), socket));
        }
        Ok(agents)
    }

    /// Each id with its agent's socket.
    pub fn sockets(&self) -> Vec<(String, PathBuf)> {
        self.sockets.clone()
    }

    /// An `ssh-agent -D` of our own holding `keys`; its socket.
    fn start_agent(&mut self, spec: &str, keys: &[&str]) -> anyhow::Result<PathBuf> {
        for key in keys {
            anyhow::ensure!(
                Path::new(key).is_file(),
                "--ssh {spec}: {key} is neither an agent socket nor a key file"
            );
        }
        let missing = |e: std::io::Error| {
            anyhow::anyhow!("--ssh {spec}: key files are loaded with OpenSSH's ssh-agent and ssh-add, which could not run (apt-get install openssh-client): {e}")
        };
        let dir = tempfile::Builder::new().prefix("hoist-ssh-").tempdir()?;
        let socket = dir.path().join("agent.sock");
        let child = Command::new("ssh-agent")
            .arg("-D")
            .arg("-a")
            .arg(&socket)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(missing)?;
        self.started.push((child, dir));
        let deadline = Instant::now() + Duration::from_secs(5);
        while !is_socket(&socket) {
            anyhow::ensure!(
                Instant::now() < deadline,
                "--ssh {spec}: ssh-agent did not create its socket {} within 5 s",
                socket.display()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        let added = Command::new("ssh-add")
            .args(keys)
            .env("SSH_AUTH_SOCK", &socket)
            .stdin(Stdio::null())
            .output()
            .map_err(missing)?;
        anyhow::ensure!(
            added.status.success(),
            "--ssh {spec}: ssh-add could not load the key: {}",
            String::from_utf8_lossy(&added.stderr).trim()
        );
        Ok(socket)
    }
}

/// `--ssh default` / `--ssh ID`: the agent of `$SSH_AUTH_SOCK`.
fn default_agent(spec: &str) -> anyhow::Result<PathBuf> {
    let socket = std::env::var_os("SSH_AUTH_SOCK")
        .filter(|s| !s.is_empty())
        .map(PathBuf::from)
        .ok_or_else(|| {
            anyhow::anyhow!("--ssh {spec}: SSH_AUTH_SOCK is not set; start an agent (eval $(ssh-agent) && ssh-add) or name one: --ssh {spec}=SOCKET|KEYFILE")
        })?;
    anyhow::ensure!(
        is_socket(&socket),
        "--ssh {spec}: SSH_AUTH_SOCK={} is not a socket (is the agent running?)",
        socket.display()
    );
    Ok(socket)
}

fn is_socket(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.file_type().is_socket())
}
