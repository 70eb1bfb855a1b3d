//! RUN: a process in a container on the stage's rootfs; what it writes becomes a layer.
use std::io::Read;
use std::os::fd::OwnedFd;
use std::path::Path;

use hoist_executor::container::{self, ContainerSpec, Network};
use hoist_parser::ast::{CommandLine, Instruction, Run};

use crate::cachekey::KeyBuilder;
use crate::error::{BuildError, Result};
use crate::progress::Stream;
use crate::run_options::{NetworkMode, RunStepOptions};
use crate::stage::{Build, StageState};
use crate::step::{container_step, Progress, StepInfo};

use super::mounts::{self, BindOrigin, MountSpec};
use super::shell_of;

/// What each mount contributes to the cache key: its definition, and for bind mounts what they expose.
fn mount_key_parts(
    build: &Build,
    mounts: &[(MountSpec, Option<BindOrigin>)],
) -> Result<Vec<String>> {
    let mut parts = Vec::with_capacity(mounts.len());
    for (spec, origin) in mounts {
        let content = match origin {
            Some(BindOrigin::Context) => {
                let source = spec.source.clone().unwrap_or_else(|| ".".into());
                build.context.checksum(&[source], &|_| false, "")?
            }
            Some(BindOrigin::Stage(s)) => s.fs_key.clone(),
            Some(BindOrigin::Image(layers)) => layers
                .iter()
                .map(|l| l.diff_id.to_string())
                .collect::<Vec<_>>()
                .join(","),
            None => String::new(),
        };
        parts.push(format!("{}|{content}", spec.canonical()));
    }
    Ok(parts)
}

pub(super) fn run(build: &Build, state: &mut StageState, ins: &Instruction, r: &Run) -> Result<()> {
    let mut mounts = Vec::with_capacity(r.mounts.len());
    for raw in &r.mounts {
        let spec = mounts::parse(raw, &|v| build.expand(ins, v, &state.scope))
            .map_err(|e| build.error_at(ins.pos, format!("RUN {e}")))?;
        let origin = match spec.kind {
            mounts::Kind::Bind => Some(
                mounts::bind_origin(build, spec.from.as_deref())
                    .map_err(|e| build.error_at(ins.pos, format!("RUN {e}")))?,
            ),
            _ => None,
        };
        mounts.push((spec, origin));
    }
    let (network, insecure) =
        step_sandbox(&build.options.run_steps, r).map_err(|m| build.error_at(ins.pos, m))?;
    let argv =
        argv(state, r).ok_or_else(|| build.error_at(ins.pos, "RUN needs a command".into()))?;
    let mut env = state.scope.run_env();
    // Proxy build args reach the process without an ARG, but (as BuildKit) neither the cache key nor history:
    // changing a proxy does not rebuild.
    let key_env = env.clone();
    add_proxy_env(&mut env, &build.build_args.predefined(), &|k| {
        state.scope.arg_declared(k)
    });
    let user = if state.image.user.is_empty() {
        "0".to_string()
    } else {
        state.image.user.clone()
    };
    let cwd = if state.image.working_dir.is_empty() {
        "/".to_string()
    } else {
        state.image.working_dir.clone()
    };
    let key = KeyBuilder::new("run")
        .field("parent", &state.fs_key)
        .list("argv", &argv)
        .list("env", &key_env)
        .field("user", &user)
        .field("cwd", &cwd)
        .field("network", network.name())
        .field("security", if insecure { "insecure" } else { "sandbox" })
        .list("run-options", &build.options.run_steps.key_parts())
        .list("mounts", &mount_key_parts(build, &mounts)?)
        .finish();
    let command = match &r.command {
        Some(CommandLine::Shell(_)) | None => argv.join(" "),
        Some(CommandLine::Exec(_)) => serde_json::to_string(&argv).unwrap_or_default(),
    };
    let created_by = format!("RUN {}{command} # buildkit", history_args(state));
    let info = StepInfo {
        key,
        display: &ins.original,
        created_by,
    };
    container_step(build, state, info, |rootfs, progress| {
        // The container's state lives in a staging dir this process owns: no other hoist's sweep can remove it
        // while we run, and if we are killed the next sweep stops the container with it.
        let state_dir = build.store.new_tmp_dir("run")?;
        let spec_user = hoist_executor::user::resolve_user(rootfs, &user)
            .map_err(|e| build.error_at(ins.pos, format!("RUN: {e}")))?;
        hoist_executor::fileops::mkdir_all_in_root(rootfs, &cwd, None)
            .map_err(|e| BuildError::other(format!("creating the working directory {cwd}: {e}")))?;
        let mut guards = mounts::MountGuards::default();
        let mut env = env.clone();
        let extra_mounts = mounts::prepare(build, &mounts, &mut guards, &mut env)
            .map_err(|e| build.error_at(ins.pos, format!("RUN {e}")))?;
        let targets: Vec<&str> = mounts
            .iter()
            .map(|(spec, _)| spec.target.as_str())
            .filter(|t| !t.is_empty())
            .collect();
        let ssh_targets = mounts::ssh_targets(&mounts);
        let stubs = MountStubs::record(rootfs, &targets, &ssh_targets);
        let code = run_container(
            state_dir.path(),
            &build.options.cancel,
            ContainerSpec {
                rootfs: rootfs.to_path_buf(),
                args: argv.clone(),
                env,
                cwd: cwd.clone(),
                uid: spec_user.uid,
                gid: spec_user.gid,
                additional_gids: spec_user.additional_gids,
                hostname: "buildkitsandbox".into(),
                network: match network {
                    NetworkMode::Sandbox if !hoist_executor::bridge::tools_available() => {
                        warn_no_bridge(build);
                        Network::Host
                    }
                    NetworkMode::Sandbox => Network::Bridge,
                    NetworkMode::Host => Network::Host,
                    NetworkMode::None => Network::None,
                },
                mounts: extra_mounts,
                readonly_rootfs: false,
                seccomp_cache: Some(hoist_executor::runtime::seccomp_cache_for(
                    build.store.root(),
                )),
                options: build.options.run_steps.runtime(insecure),
                stdin: None,
                stdout: None,
                stderr: None,
            },
            progress,
        )?;
        stubs.clean();
        if code != 0 {
            return Err(BuildError::RunFailed {
                file: build.file_name.clone(),
                pos: ins.pos,
                step: first_line(&ins.original).to_string(),
                command: argv.join(" "),
                code,
            });
        }
        Ok(())
    })
}

/// Without `ip` and `iptables` there is no bridge: RUN steps of the default network use the host's, as
/// BuildKit's `auto` network mode falls back to the host's without CNI, and the build says so once.
fn warn_no_bridge(build: &Build) {
    static SAID: std::sync::Once = std::sync::Once::new();
    SAID.call_once(|| {
        build.warn(
            "RUN steps use the host's network: the isolated build network needs `ip` and `iptables` \
             (apt-get install iproute2 iptables); --network host says so explicitly",
        )
    });
}

/// The step's network (its `--network=`, else the build's) and whether it runs privileged
/// (`--security=insecure`), each checked against the entitlements `--allow` granted, with BuildKit's
/// words for a refusal.
fn step_sandbox(
    options: &RunStepOptions,
    r: &Run,
) -> std::result::Result<(NetworkMode, bool), String> {
    // `default` is the build's network (`--network`), as BuildKit leaves such a step to it.
    let network = match r.network.as_deref() {
        None | Some("default") => options.network,
        Some(text) => NetworkMode::parse(text).ok_or_else(|| {
            format!("RUN --network={text}: unknown network mode (use default, none or host)")
        })?,
    };
    if network == NetworkMode::Host && !options.allow_network_host {
        return Err(
            "RUN --network=host: network.host is not allowed; pass --allow network.host to hoist build to grant it"
                .into(),
        );
    }
    let insecure = match r.security.as_deref() {
        None | Some("sandbox") => false,
        Some("insecure") if options.allow_security_insecure => true,
        Some("insecure") => {
            return Err("RUN --security=insecure: security.insecure is not allowed; pass --allow security.insecure to hoist build to grant it".into())
        }
        Some(other) => {
            return Err(format!(
                "RUN --security={other}: unknown security mode (use sandbox or insecure)"
            ))
        }
    };
    Ok((network, insecure))
}

/// The files the runtime bind-mounts over (`/etc/resolv.conf`, `/etc/hosts`, `/etc/hostname`, and the targets of
/// `--mount`s of a file, such as secrets) are created in the rootfs as empty mount points when the image lacks
/// them. BuildKit removes such file stubs after the process, so they never reach the layer (directories made for
/// mounts stay, as in BuildKit, but for an ssh agent's: `/run/buildkit/` would otherwise give every image that
/// used `--mount=type=ssh` a trace of it).
struct MountStubs {
    files: Vec<std::path::PathBuf>,
    /// Directories that did not exist, deepest first: removed when empty.
    dirs: Vec<std::path::PathBuf>,
}

impl MountStubs {
    const PATHS: [&'static str; 3] = ["/etc/resolv.conf", "/etc/hosts", "/etc/hostname"];

    fn record(rootfs: &Path, targets: &[&str], ssh_targets: &[String]) -> Self {
        let missing = |p: &std::path::PathBuf| p != rootfs && std::fs::symlink_metadata(p).is_err();
        let resolve = |p: &str| hoist_executor::fileops::resolve_in_root(rootfs, p).ok();
        let files = Self::PATHS
            .iter()
            .copied()
            .chain(targets.iter().copied())
            .chain(ssh_targets.iter().map(String::as_str))
            .filter_map(resolve)
            .filter(missing)
            .collect();
        let mut dirs = Vec::new();
        for target in ssh_targets {
            let mut dir = Path::new(target).parent();
            while let Some(d) = dir.filter(|d| *d != Path::new("/")) {
                match resolve(&d.to_string_lossy()) {
                    Some(p) if missing(&p) => dirs.push(p),
                    _ => break,
                }
                dir = d.parent();
            }
        }
        MountStubs { files, dirs }
    }

    /// Removes each recorded path that is now an empty regular file (a stub, not something the process wrote),
    /// then each recorded directory left empty.
    fn clean(&self) {
        for path in &self.files {
            if let Ok(meta) = std::fs::symlink_metadata(path) {
                if meta.file_type().is_file() && meta.len() == 0 {
                    let _ = std::fs::remove_file(path);
                }
            }
        }
        for dir in &self.dirs {
            let _ = std::fs::remove_dir(dir);
        }
    }
}

/// The process to run: exec form as is; shell form in the stage's SHELL. A heredoc is handed to the shell as a
/// real heredoc (its body follows the command line), and a command that is only a heredoc runs the body as script.
fn argv(state: &StageState, r: &Run) -> Option<Vec<String>> {
    let command = r.command.as_ref()?;
    match command {
        CommandLine::Exec(args) if !args.is_empty() => Some(args.clone()),
        CommandLine::Exec(_) => None,
        CommandLine::Shell(line) => {
            let mut script = line.clone();
            if let Some(first) = r.heredocs.first() {
                let only_heredoc = line
                    .trim()
                    .trim_start_matches("<<")
                    .trim_start_matches('-')
                    .trim_matches(|c| c == '"' || c == '\'')
                    == first.name;
                if only_heredoc && r.heredocs.len() == 1 {
                    script = first.content.clone();
                } else {
                    for doc in &r.heredocs {
                        script.push('\n');
                        script.push_str(&doc.content);
                        if !doc.content.ends_with('\n') {
                            script.push('\n');
                        }
                        script.push_str(&doc.name);
                    }
                }
            }
            let mut argv = shell_of(state);
            argv.push(script);
            Some(argv)
        }
    }
}

/// Runs the container with its stdout and stderr streamed to the step's progress; returns the exit code.
fn run_container(
    state_root: &Path,
    cancel: &container::CancelToken,
    mut spec: ContainerSpec,
    progress: &Progress,
) -> Result<i32> {
    let (out_r, out_w) = pipe()?;
    let (err_r, err_w) = pipe()?;
    spec.stdout = Some(out_w);
    spec.stderr = Some(err_w);
    std::thread::scope(|scope| {
        scope.spawn(|| forward(out_r, Stream::Stdout, progress));
        scope.spawn(|| forward(err_r, Stream::Stderr, progress));
        // `spec` (and with it the write ends) is consumed by `run`, so the readers see EOF when it returns.
        container::run_cancellable(spec, state_root, cancel).map_err(|e| match e {
            container::ContainerError::Cancelled => BuildError::Interrupted,
            e => BuildError::other(format!("running the container: {e}")),
        })
    })
}

fn forward(fd: OwnedFd, stream: Stream, progress: &Progress) {
    let mut file = std::fs::File::from(fd);
    let mut buf = [0u8; 8192];
    loop {
        match file.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => progress.output(stream, &buf[..n]),
        }
    }
}

fn pipe() -> Result<(OwnedFd, OwnedFd)> {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
        .map_err(|e| BuildError::other(format!("creating a pipe for the container's output: {e}")))
}

/// BuildKit's `|N K=V … ` prefix of a RUN's history entry: the stage's declared ARGs (an ENV of the same name
/// gives the value), so that `docker history` shows what the step saw. Empty without ARGs.
fn history_args(state: &StageState) -> String {
    let args = state.scope.args();
    if args.is_empty() {
        return String::new();
    }
    let mut out = format!("|{} ", args.len());
    for (name, _) in args {
        let value = hoist_parser::shell::Env::get(&state.scope, name).unwrap_or_default();
        out.push_str(&format!("{name}={value} "));
    }
    out
}

/// BuildKit passes each proxy build arg (matched without regard to case) as both `HTTP_PROXY` and `http_proxy`;
/// a name an ARG declared keeps the ARG's value, and a variable already in the environment is not repeated.
fn add_proxy_env(
    env: &mut Vec<String>,
    proxies: &[(String, String)],
    declared: &dyn Fn(&str) -> bool,
) {
    for (k, v) in proxies {
        for name in [k.to_ascii_uppercase(), k.to_ascii_lowercase()] {
            let prefix = format!("{name}=");
            if declared(&name) || env.iter().any(|e| e.starts_with(&prefix)) {
                continue;
            }
            env.push(format!("{name}={v}"));
        }
    }
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or(s)
}
