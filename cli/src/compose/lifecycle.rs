//! `compose stop`, `start`, `restart`, `kill`, `rm`, `pause`, `unpause`: the runtime's verb on each of the
//! project's containers found by their labels, with compose's progress lines.
use std::io::BufRead;
use std::path::Path;

use clap::Args;
use hoist_compose::Project;
use hoist_executor::runtime::{self, state::Status, RuntimeError};

use super::events;
use super::lookup::ProjectContainer;
use super::select::{level, service_containers};

#[derive(Debug, Args)]
pub(crate) struct StopArgs {
    /// Seconds to wait for a container to stop before killing it (default: its stop_grace_period, 10).
    #[arg(short = 't', long = "timeout")]
    timeout: Option<u64>,
    services: Vec<String>,
}

#[derive(Debug, Args)]
pub(crate) struct ServicesArgs {
    services: Vec<String>,
}

#[derive(Debug, Args)]
pub(crate) struct KillArgs {
    /// The signal to send.
    #[arg(short = 's', long = "signal", default_value = "SIGKILL")]
    signal: String,
    /// Also kill containers of services no longer in the compose file (accepted; all are found by label).
    #[arg(long)]
    remove_orphans: bool,
    services: Vec<String>,
}

#[derive(Debug, Args)]
pub(crate) struct RmArgs {
    /// Do not ask for confirmation.
    #[arg(short = 'f', long)]
    force: bool,
    /// Stop the containers first, if they run.
    #[arg(short = 's', long)]
    stop: bool,
    /// Remove the anonymous volumes attached to the containers.
    #[arg(short = 'v', long)]
    volumes: bool,
    services: Vec<String>,
}

/// Docker's status word of the container is `status` (`running`, `paused` …).
fn state_is(c: &ProjectContainer, status: &str) -> bool {
    c.dir
        .current_state()
        .is_ok_and(|s| s.docker_status() == status)
}

fn running(c: &ProjectContainer) -> bool {
    c.dir
        .current_state()
        .map(|s| s.status == Status::Running)
        .unwrap_or(false)
}

/// Runs `verb` on each container, with `doing`/`done` progress lines; exit 1 if one failed. Containers come in
/// dependency levels (see [`service_containers`]); those of one level are handled at once, as compose does.
fn each<'a>(
    project: &Project,
    containers: impl IntoIterator<Item = &'a ProjectContainer>,
    doing: &str,
    done: &str,
    verb: impl Fn(&str) -> Result<(), RuntimeError> + Sync,
) -> i32 {
    let mut levels: Vec<Vec<&ProjectContainer>> = Vec::new();
    let mut last = None;
    for c in containers {
        let level = level(project, &c.service);
        if last != Some(level) {
            levels.push(Vec::new());
            last = Some(level);
        }
        if let Some(group) = levels.last_mut() {
            group.push(c);
        }
    }
    let failed = std::sync::atomic::AtomicBool::new(false);
    for group in levels {
        std::thread::scope(|scope| {
            for c in group {
                let (verb, failed) = (&verb, &failed);
                scope.spawn(move || {
                    let name = &c.record.name;
                    events::event("Container", name, doing, false);
                    match verb(name) {
                        Ok(()) => events::event("Container", name, done, true),
                        Err(e) => {
                            events::failed("Container", name, &e.to_string());
                            failed.store(true, std::sync::atomic::Ordering::SeqCst);
                        }
                    }
                });
            }
        });
    }
    i32::from(failed.load(std::sync::atomic::Ordering::SeqCst))
}

pub(crate) fn stop(root: &Path, project: &Project, args: StopArgs) -> anyhow::Result<i32> {
    let containers = service_containers(root, project, &args.services, true)?;
    Ok(each(project, &containers, "Stopping", "Stopped", |n| {
        runtime::stop(root, n, args.timeout).map(drop)
    }))
}

pub(crate) fn start(root: &Path, project: &Project, args: ServicesArgs) -> anyhow::Result<i32> {
    let containers = service_containers(root, project, &args.services, false)?;
    // Running ones are left alone, as compose starts only what is stopped.
    let stopped: Vec<ProjectContainer> = containers.into_iter().filter(|c| !running(c)).collect();
    Ok(each(project, &stopped, "Starting", "Started", |n| {
        let started = runtime::start(root, n)?;
        runtime::start_error(n, &started.state)
    }))
}

pub(crate) fn restart(root: &Path, project: &Project, args: StopArgs) -> anyhow::Result<i32> {
    let containers = service_containers(root, project, &args.services, false)?;
    Ok(each(project, &containers, "Restarting", "Started", |n| {
        runtime::restart(root, n, args.timeout).map(drop)
    }))
}

pub(crate) fn kill(root: &Path, project: &Project, args: KillArgs) -> anyhow::Result<i32> {
    let _ = args.remove_orphans;
    let containers: Vec<ProjectContainer> =
        service_containers(root, project, &args.services, true)?
            .into_iter()
            .filter(running)
            .collect();
    if containers.is_empty() {
        errln!("no container to kill");
        return Ok(0);
    }
    let signal = args.signal.clone();
    Ok(each(project, &containers, "Killing", "Killed", |n| {
        runtime::kill(root, n, Some(&signal)).map(drop)
    }))
}

pub(crate) fn pause(root: &Path, project: &Project, args: ServicesArgs) -> anyhow::Result<i32> {
    let containers = service_containers(root, project, &args.services, false)?;
    let running: Vec<&ProjectContainer> = containers
        .iter()
        .filter(|c| state_is(c, "running"))
        .collect();
    Ok(each(project, running, "Pausing", "Paused", |n| {
        runtime::pause(root, n).map(drop)
    }))
}

pub(crate) fn unpause(root: &Path, project: &Project, args: ServicesArgs) -> anyhow::Result<i32> {
    let containers = service_containers(root, project, &args.services, false)?;
    let paused: Vec<&ProjectContainer> = containers
        .iter()
        .filter(|c| state_is(c, "paused"))
        .collect();
    Ok(each(project, paused, "Unpausing", "Unpaused", |n| {
        runtime::unpause(root, n).map(drop)
    }))
}

/// `compose rm`: the stopped containers (all with `-s`, stopped first), after a confirmation unless `-f`.
pub(crate) fn rm(root: &Path, project: &Project, args: RmArgs) -> anyhow::Result<i32> {
    let mut containers = service_containers(root, project, &args.services, true)?;
    if args.stop {
        let code = each(
            project,
            containers.iter().filter(|c| running(c)),
            "Stopping",
            "Stopped",
            |n| runtime::stop(root, n, None).map(drop),
        );
        if code != 0 {
            return Ok(code);
        }
    }
    containers.retain(|c| !running(c));
    if containers.is_empty() {
        errln!("No stopped containers");
        return Ok(0);
    }
    let names: Vec<&str> = containers.iter().map(|c| c.record.name.as_str()).collect();
    if !args.force {
        errln!("Going to remove {}", names.join(", "));
        if !confirmed("Are you sure? [yN] ")? {
            return Ok(0);
        }
    }
    let code = each(project, &containers, "Removing", "Removed", |n| {
        let anonymous = if args.volumes {
            anonymous_volumes(root, n)
        } else {
            Vec::new()
        };
        runtime::remove(root, n, false)?;
        for volume in anonymous {
            if let Err(e) = runtime::volume_admin::remove(root, &volume, false) {
                errln!("hoist: removing anonymous volume {volume}: {e}");
            }
        }
        Ok(())
    });
    crate::layer_stacks::prune(root, None);
    Ok(code)
}

/// The anonymous volumes of container `name` (the ones `-v` removes with it).
fn anonymous_volumes(root: &Path, name: &str) -> Vec<String> {
    let Ok((_, record)) = runtime::find(root, name) else {
        return Vec::new();
    };
    record
        .mounts
        .iter()
        .filter_map(|m| match m {
            runtime::MountRecord::Volume {
                name, anonymous, ..
            } if *anonymous => Some(name.clone()),
            _ => None,
        })
        .collect()
}

/// Asks on stderr, reads a line from stdin: yes only for `y`/`yes` (no terminal and no answer is a no).
fn confirmed(question: &str) -> anyhow::Result<bool> {
    crate::output::write_stderr(format_args!("{question}"));
    let mut answer = String::new();
    // No terminal and nothing to read (EOF) is an empty answer: no.
    std::io::stdin().lock().read_line(&mut answer)?;
    let answer = answer.trim().to_ascii_lowercase();
    Ok(answer == "y" || answer == "yes")
}
