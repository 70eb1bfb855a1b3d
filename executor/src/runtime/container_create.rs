//! `hoist run`: make the container's record from the image and the flags, then start its monitor —
//! in this process (foreground) or in a session of its own (`-d`).

use std::path::{Path, PathBuf};

use super::config::{self, ImageDefaults, NetworkMode, RunOptions};
use super::state::{self, ContainerDir, ContainerRecord, ContainerState, MountRecord, Status};
use super::{containers_dir, io_err, volumes, Result, RuntimeError, MONITOR_MARKER};

/// The image a container is made from, as the store knows it.
#[derive(Debug, Clone)]
pub struct ImageSource {
    /// What the user typed (`busybox:latest`).
    pub reference: String,
    /// `sha256:…`
    pub id: String,
    /// The whole image config JSON.
    pub config: serde_json::Value,
    /// The layers' unpacked snapshot dirs, topmost first.
    pub lowers: Vec<PathBuf>,
}

/// `n` random bytes as hex, from the kernel.
pub fn random_hex(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    let got = std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut bytes));
    if got.is_err() {
        // No /dev/urandom: time and pid are unique enough for a local id.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let seed = format!("{nanos:032x}{:08x}", std::process::id());
        for (b, c) in bytes.iter_mut().zip(seed.bytes().cycle()) {
            *b = c;
        }
    }
    hex::encode(bytes)
}

/// A docker-like `adjective_name` from the id.
fn generated_name(id: &str) -> String {
    const ADJECTIVES: [&str; 16] = [
        "brave", "calm", "eager", "fervent", "gallant", "happy", "jolly", "keen", "lucid", "merry",
        "nifty", "quirky", "serene", "tender", "vibrant", "zealous",
    ];
    const NAMES: [&str; 16] = [
        "babbage", "curie", "darwin", "euler", "fermi", "galois", "hopper", "hypatia", "kepler",
        "lovelace", "noether", "pascal", "ritchie", "shannon", "turing", "wozniak",
    ];
    let byte =
        |i: usize| u8::from_str_radix(id.get(i..i + 2).unwrap_or("00"), 16).unwrap_or(0) as usize;
    format!(
        "{}_{}_{}",
        ADJECTIVES[byte(0) % 16],
        NAMES[byte(2) % 16],
        &id[4..8]
    )
}

pub(crate) fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

/// Create the container (record, dirs, volumes); it does not run yet.
pub fn create(
    root: &Path,
    image: &ImageSource,
    opts: &RunOptions,
) -> Result<(ContainerDir, ContainerRecord)> {
    let defaults = ImageDefaults::from_config_json(&image.config);
    let monitor = opts.monitor.settle(&image.config, opts.auto_remove)?;
    let args = config::argv(&defaults, opts.entrypoint.as_deref(), &opts.command)?;
    let mut user_env = Vec::new();
    for file in &opts.env_files {
        let text = std::fs::read_to_string(file).map_err(io_err("read the env file", file))?;
        user_env.extend(config::parse_env_file(&text));
    }
    user_env.extend(opts.env.iter().cloned());
    let mut env = config::environment(&defaults, &user_env, &|k| std::env::var(k).ok())?;
    let cwd = config::working_dir(&defaults, opts.workdir.as_deref())?;
    let user = config::user(&defaults, opts.user.as_deref());
    let stop_signal = match opts
        .stop_signal
        .as_deref()
        .or(defaults.stop_signal.as_deref())
    {
        Some(s) => config::parse_signal(s)?,
        None => libc::SIGTERM,
    };
    let security = config::security_options(&opts.security_opt)?;
    let runtime = crate::container::RuntimeOptions {
        cap_add: opts.cap_add.clone(),
        cap_drop: opts.cap_drop.clone(),
        privileged: opts.privileged,
        memory: opts.memory.as_deref().map(config::parse_size).transpose()?,
        cpu_millis: opts.cpus.as_deref().map(config::parse_cpus).transpose()?,
        pids_limit: opts.pids_limit,
        terminal: opts.tty,
        console_socket: None,
        init: opts.init,
        seccomp: security.seccomp,
        no_new_privileges: security.no_new_privileges,
        ..Default::default()
    };
    let runtime = super::resources_config::apply(runtime, &opts.tuning, opts.network)?;
    super::namespaces_config::check_hostname(&opts.tuning, opts.hostname.as_deref())?;
    for cap in opts
        .cap_add
        .iter()
        .chain(&opts.cap_drop)
        .filter(|c| !c.eq_ignore_ascii_case("ALL"))
    {
        crate::container::parse_capability(cap)?;
    }
    let mut port_bindings = Vec::new();
    for spec in &opts.publish {
        port_bindings.extend(super::networks::ports::parse_publish(spec)?);
    }
    let mut exposed = Vec::new();
    for spec in &opts.net.expose {
        if spec.contains(':') {
            return Err(RuntimeError::Invalid(format!(
                "invalid port format for --expose: {spec} (a container port or range, e.g. 80, 53/udp, 8000-8010)"
            )));
        }
        exposed.extend(super::networks::ports::parse_publish(spec)?);
    }
    if opts.net.publish_all {
        for binding in super::networks::ports::exposed(&image.config) {
            let known = exposed
                .iter()
                .any(|e: &super::networks::ports::PortBinding| {
                    e.container_port == binding.container_port && e.proto == binding.proto
                });
            if !known {
                exposed.push(binding);
            }
        }
        port_bindings.extend(exposed);
    }
    super::networks::join::validate(root, &opts.net)?;
    if !port_bindings.is_empty()
        && opts.network != NetworkMode::Bridge
        && opts.net.network.is_none()
    {
        return Err(RuntimeError::Invalid(
            "-p needs --network bridge or a user-defined network (with the host network the container's ports are the host's already)".into(),
        ));
    }
    super::networks::ports::choose_free_ports(&mut port_bindings)?;

    if let Some(n) = &opts.name {
        if !valid_name(n) {
            return Err(RuntimeError::Invalid(format!(
                "invalid container name {n:?}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
            )));
        }
    }
    let containers = containers_dir(root);
    let names = containers.join(".names");
    // A generated name is the id's (see `generated_name`): it takes no lock file (one inode
    // made and freed on disk per container), only a look that no `--name` holds it.
    let (id, name) = loop {
        let id = random_hex(32);
        match &opts.name {
            Some(n) => break (id, n.clone()),
            None => {
                let name = generated_name(&id);
                if !names.join(&name).exists() {
                    break (id, name);
                }
            }
        }
    };
    let hostname = match &opts.hostname {
        Some(h) => h.clone(),
        None if opts.tuning.uts.as_deref() == Some("host") => {
            super::namespaces_config::host_hostname()
        }
        None => id[..12].to_string(),
    };
    config::default_env(&mut env, "HOSTNAME", &hostname);
    if opts.tty {
        config::default_env(&mut env, "TERM", "xterm");
    }

    std::fs::create_dir_all(&containers).map_err(io_err("create", &containers))?;
    let name_file = names.join(&name);
    if opts.name.is_some() {
        take_name(root, &names, &name_file, &name, &id)?;
    }
    // A foreground container's monitor is this process: its cgroups are made meanwhile.
    let libcontainer_id = super::monitor::libcontainer_id_of(&id);
    let prestarted = !opts.detach
        && crate::container::CgroupsInTheMaking::prestart(&libcontainer_id, &runtime).is_ok();
    // Until the record names its volumes, `volume rm`/`prune` must not take them.
    let mounts_volumes = !opts.volumes.is_empty()
        || !opts.mounts.is_empty()
        || !defaults.volumes.is_empty()
        || !opts.tuning.volumes_from.is_empty();
    let made = (|| -> Result<(ContainerDir, ContainerRecord)> {
        // Held until this closure returns, after the record is written.
        let _volumes_lock = if mounts_volumes {
            Some(super::volume_lock::shared(root)?)
        } else {
            None
        };
        let mut mounts = Vec::new();
        for v in &opts.volumes {
            mounts.push(volumes::parse_volume_flag(root, v)?);
        }
        for m in &opts.mounts {
            mounts.push(volumes::parse_mount_flag(root, m)?);
        }
        for t in &opts.tmpfs {
            mounts.push(volumes::parse_tmpfs_flag(t)?);
        }
        let from =
            super::namespaces_config::volumes_from(root, &opts.tuning.volumes_from, &mounts)?;
        mounts.extend(from);
        for v in &defaults.volumes {
            let dest = v.trim_end_matches('/');
            if !mounts
                .iter()
                .any(|m| volumes::destination(m).trim_end_matches('/') == dest)
                && !dest.is_empty()
            {
                mounts.push(volumes::parse_volume_flag(root, dest)?);
            }
        }
        let dir = ContainerDir::for_new(root, &id, opts.auto_remove);
        for p in [dir.path().to_path_buf(), dir.upper(), dir.work()] {
            std::fs::create_dir(&p).map_err(io_err("create", &p))?;
        }
        if dir.run_dir() != dir.path() {
            super::rundir::create_run_dir(dir.run_dir())
                .map_err(io_err("create", dir.run_dir()))?;
        }
        let merged = dir.merged();
        std::fs::create_dir(&merged).map_err(io_err("create", &merged))?;
        let record = ContainerRecord {
            id: id.clone(),
            name: name.clone(),
            image: image.reference.clone(),
            image_id: image.id.clone(),
            created: state::now_rfc3339(),
            args,
            env,
            cwd,
            user,
            hostname,
            network: opts.network,
            ports: Vec::new(),
            port_bindings,
            mounts,
            lowers: image.lowers.clone(),
            stop_signal,
            stop_timeout: opts.stop_timeout.unwrap_or(10),
            options: RunOptions {
                monitor,
                ..opts.clone()
            },
            runtime,
            labels: config::labels(&defaults, &opts.labels),
        };
        dir.write_state(&ContainerState::default())?;
        dir.write_record(&record)?;
        Ok((dir, record))
    })();
    if made.is_err() {
        if prestarted {
            crate::container::CgroupsInTheMaking::settle_prestarted(&libcontainer_id, true);
        }
        if opts.name.is_some() {
            let _ = std::fs::remove_file(&name_file);
        }
        let dir = ContainerDir::for_new(root, &id, opts.auto_remove);
        let _ = std::fs::remove_dir_all(dir.path());
        dir.remove_run_dir();
    }
    made
}

/// Take `--name` `name` for container `id` by creating its lock file `name_file`: two concurrent
/// `run --name x` cannot both win. A lock whose container is gone is taken over; a container
/// that has `name` as its generated name (which takes no lock) keeps it.
pub(crate) fn take_name(
    root: &Path,
    names: &Path,
    name_file: &Path,
    name: &str,
    id: &str,
) -> Result<()> {
    std::fs::create_dir_all(names).map_err(io_err("create", names))?;
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(name_file)
    {
        Ok(mut f) => {
            std::io::Write::write_all(&mut f, id.as_bytes()).map_err(io_err("write", name_file))?;
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let owner = std::fs::read_to_string(name_file).unwrap_or_default();
            let containers = containers_dir(root);
            if !owner.is_empty() && ContainerDir::at(&containers.join(&owner)).has_record() {
                return Err(RuntimeError::NameInUse {
                    name: name.to_string(),
                    id: owner,
                });
            }
            // A leftover of a container that is gone: take the name over.
            std::fs::write(name_file, id).map_err(io_err("write", name_file))?;
        }
        Err(e) => return Err(io_err("create", name_file)(e)),
    }
    let generated_owner = state::all(root)?.into_iter().find_map(|dir| {
        let record = dir.record().ok()?;
        (record.name == name && record.id != id).then_some(record.id)
    });
    if let Some(owner) = generated_owner {
        let _ = std::fs::remove_file(name_file);
        return Err(RuntimeError::NameInUse {
            name: name.to_string(),
            id: owner,
        });
    }
    Ok(())
}

pub(crate) fn monitor_program() -> PathBuf {
    // Referencing the hook makes the linker keep it in every program that can start a monitor.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    std::hint::black_box(&super::monitor::MONITOR_HOOK);
    std::env::var_os(crate::container::INIT_PROGRAM_ENV)
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/proc/self/exe"))
}

/// Run the container attached to our stdio with this process as its monitor; the exit code to
/// end with (the container's). The monitor runs right here when this process has a single
/// thread (libcontainer forks it) — an `execve` of hoist costs ~3 ms of a 25 ms `run --rm` —,
/// else hoist is re-executed as the monitor ([`start_foreground`]). Either way the pid stays
/// the same, so signals sent to `hoist run` reach the container. Call it with nothing open that
/// the container's lifetime should not hold (the store).
pub fn run_foreground(dir: &ContainerDir) -> Result<i32> {
    let custom_program =
        std::env::var_os(crate::container::INIT_PROGRAM_ENV).is_some_and(|p| !p.is_empty());
    if !custom_program && single_threaded_but_for_cgroups() {
        return Ok(super::monitor::monitor_main(dir.path()));
    }
    // The monitor to be: its cgroups' thread, if any, is done before the exec.
    if let Some(id) = dir.path().file_name().and_then(|n| n.to_str()) {
        if id.len() >= 16 {
            let libcontainer_id = super::monitor::libcontainer_id_of(id);
            crate::container::CgroupsInTheMaking::settle_prestarted(&libcontainer_id, false);
        }
    }
    Err(start_foreground(dir))
}

/// Whether this process has no thread but the one that may be making the container's cgroups
/// ([`crate::container::CgroupsInTheMaking::prestart`]).
fn single_threaded_but_for_cgroups() -> bool {
    let allowed = 1 + usize::from(crate::container::CgroupsInTheMaking::any_prestarted());
    thread_count().is_some_and(|n| n <= allowed)
}

/// Whether this process has exactly one thread.
pub(crate) fn single_threaded() -> bool {
    thread_count() == Some(1)
}

/// How many threads this process has (/proc/self/task lists one per thread).
fn thread_count() -> Option<usize> {
    std::fs::read_dir("/proc/self/task")
        .ok()
        .map(Iterator::count)
}

/// Turn this process into the container's monitor (`execve`): it runs the container attached to
/// our stdio and exits with its code. Returns only when the exec fails.
pub fn start_foreground(dir: &ContainerDir) -> RuntimeError {
    use std::os::unix::process::CommandExt;
    let program = monitor_program();
    let error = std::process::Command::new(&program)
        .arg(MONITOR_MARKER)
        .arg(dir.path())
        .exec();
    abandon(dir);
    io_err("start the container monitor", &program)(error)
}

/// Start the monitor in a session of its own, its output going to the container's log; returns
/// once the container runs (or has failed to start).
pub fn start_detached(dir: &ContainerDir) -> Result<ContainerState> {
    use std::os::unix::process::CommandExt;
    let log_path = dir.log_path();
    let no_log = dir
        .record()
        .is_ok_and(|r| r.options.monitor.log_config().disabled);
    // `--log-driver none`: the output goes nowhere.
    let log = if no_log {
        std::fs::OpenOptions::new().write(true).open("/dev/null")
    } else {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
    }
    .map_err(io_err("create the log", &log_path))?;
    let log2 = log.try_clone().map_err(io_err("open", &log_path))?;
    let program = monitor_program();
    let mut command = std::process::Command::new(&program);
    command
        .arg(MONITOR_MARKER)
        .arg(dir.path())
        .stdin(std::process::Stdio::null())
        .stdout(log)
        .stderr(log2);
    // SAFETY: setsid is async-signal-safe; the monitor must not die with our terminal or group.
    unsafe {
        command.pre_exec(|| {
            nix::unistd::setsid().map_err(std::io::Error::from)?;
            Ok(())
        });
    }
    let mut child = command
        .spawn()
        .map_err(io_err("start the container monitor", &program))?;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let gone = || ContainerState {
        status: Status::Exited,
        ..ContainerState::default()
    };
    loop {
        // A `--rm` container that has already finished is gone entirely.
        let Ok(state) = dir.state() else {
            return Ok(gone());
        };
        if !dir.path().exists() {
            return Ok(gone());
        }
        if state.status != Status::Created {
            // The monitor lives on; reaping it is init's job once we exit.
            return Ok(state);
        }
        if let Ok(Some(status)) = child.try_wait() {
            let Ok(state) = dir.state() else {
                return Ok(gone());
            };
            if state.status != Status::Created {
                return Ok(state);
            }
            abandon(dir);
            return Err(RuntimeError::StartFailed {
                message: format!(
                    "the container monitor exited before the container started ({status})"
                ),
                code: super::EXIT_RUNTIME_ERROR,
            });
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            return Err(RuntimeError::StartFailed {
                message: "the container did not start within 30 s".into(),
                code: super::EXIT_RUNTIME_ERROR,
            });
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
}

/// Remove a container that never ran.
fn abandon(dir: &ContainerDir) {
    if let Ok(record) = dir.record() {
        super::container_remove::remove_files(dir, &record).reap_in_background();
    }
}

/// What the mounts of a record become for the container runtime.
pub(crate) fn extra_mounts(record: &ContainerRecord) -> Vec<crate::container::ExtraMount> {
    use crate::container::ExtraMount;
    record
        .mounts
        .iter()
        .map(|m| match m {
            MountRecord::Bind {
                source,
                destination,
                readonly,
            }
            | MountRecord::Volume {
                source,
                destination,
                readonly,
                ..
            } => ExtraMount::Bind {
                source: source.clone(),
                destination: destination.into(),
                readonly: *readonly,
            },
            MountRecord::Tmpfs {
                destination,
                options,
            } => ExtraMount::TmpfsWith {
                destination: destination.into(),
                options: options.clone(),
            },
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        let id = random_hex(32);
        assert_eq!(id.len(), 64);
        assert!(valid_name(&generated_name(&id)));
        assert!(!valid_name("-x"));
        assert!(!valid_name("a/b"));
    }
}
