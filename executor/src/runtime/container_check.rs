//! `hoist store check`'s part about containers: records that say running while their monitor is dead, mounts
//! in a state root's container directories that no running container owns, and cgroups named as hoist names
//! them (`/hoist/hoist-run-<id>` for `hoist run`, `/hoist/hoist-<pid>-<n>-<nanos>` for a build step) whose
//! container is gone. Only what belongs to the given state root is judged: other roots' cgroups are left alone.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::mountpoints::Orphan;
use super::state::{self, ContainerDir, ContainerState, Status};
use super::Result;
use crate::container::unescape_mount_point;

/// A cgroup of a container that just exited is removed by a reaper process right after (see `trash`): only
/// one older than this is a leftover.
const REAPER_GRACE: Duration = Duration::from_secs(30);

/// One thing wrong, as `hoist_store::Problem` has it.
#[derive(Debug, Clone)]
pub struct Finding {
    pub subject: String,
    pub message: String,
    /// `None`: not repaired (a check without repair); `Some(Ok(what was done))`; `Some(Err(why not))`.
    pub repair: Option<std::result::Result<String, String>>,
}

/// What [`check`] looked at and found.
#[derive(Debug, Clone, Default)]
pub struct ContainerCheck {
    pub containers: usize,
    pub findings: Vec<Finding>,
}

/// Check (and with `repair`, clean up) the containers of state root `root` (absolute) and the cgroups of its
/// build steps, whose libcontainer state is under `step_state_dir`. `entry_is_owned` tells whether a live
/// process owns an entry of `step_state_dir` (the store's one ownership test).
pub fn check(
    root: &Path,
    step_state_dir: &Path,
    entry_is_owned: &dyn Fn(&Path) -> bool,
    repair: bool,
) -> Result<ContainerCheck> {
    let mut out = ContainerCheck::default();
    let containers = state::all(root)?;
    out.containers = containers.len();
    for dir in &containers {
        if let Some(finding) = check_container(dir, repair) {
            out.findings.push(finding);
        }
    }
    // Read again after a repair: cleaning up a dead container unmounts and removes what it left.
    let containers = state::all(root)?;
    check_mounts(root, &containers, repair, &mut out.findings);
    check_cgroups(
        &containers,
        step_state_dir,
        entry_is_owned,
        repair,
        &mut out.findings,
    );
    Ok(out)
}

/// Entries of `containers/.mountpoints/` (see [`super::mountpoints`]) that no container of `root` and
/// none of the images uses; with `repair`, removed.
pub fn check_mountpoints(
    root: &Path,
    image_stacks: super::mountpoints::ImageStacks,
    repair: bool,
) -> Result<Vec<Finding>> {
    let found: Vec<(Orphan, Option<std::io::Result<()>>)> = if repair {
        super::mountpoints::prune(root, image_stacks)?
            .into_iter()
            .map(|(orphan, outcome)| (orphan, Some(outcome)))
            .collect()
    } else {
        super::mountpoints::orphans(root, image_stacks)?
            .into_iter()
            .map(|orphan| (orphan, None))
            .collect()
    };
    Ok(found
        .into_iter()
        .map(|(orphan, outcome)| Finding {
            subject: format!("mount points layer {}", orphan.path.display()),
            message: if orphan.half_made {
                "was left half-made by a process that died".into()
            } else {
                "belongs to a layer stack that no container and no image uses".into()
            },
            repair: outcome.map(|o| {
                o.map(|()| "removed".to_string())
                    .map_err(|e| format!("could not remove it: {e}"))
            }),
        })
        .collect())
}

/// Whether the container's monitor runs (or it is being made, and cannot be judged yet).
fn in_use(state: &ContainerState) -> bool {
    match (state.status, state.monitor_pid) {
        (Status::Exited, _) => false,
        (_, None) => true,
        (_, Some(_)) => state::monitor_alive(state),
    }
}

fn short(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}

/// A record that says created or running, whose monitor is dead.
fn check_container(dir: &ContainerDir, repair: bool) -> Option<Finding> {
    let record = dir.record().ok()?;
    let state = dir.state().ok()?;
    if state.status == Status::Exited || in_use(&state) {
        return None;
    }
    let mut finding = Finding {
        subject: format!("container {} ({})", short(&record.id), record.name),
        message: format!(
            "is recorded as {} but its monitor process {} is gone",
            state.status.as_str(),
            state.monitor_pid.unwrap_or_default()
        ),
        repair: None,
    };
    if repair {
        // Notices the dead monitor: kills what is left, unmounts, removes its cgroups, marks it exited.
        finding.repair = Some(match dir.current_state() {
            Ok(_) if record.options.auto_remove => {
                super::container_remove::remove_files(dir, &record).reap_in_background();
                Ok("removed (it was a --rm container)".into())
            }
            Ok(_) => Ok("cleaned up and marked exited (137)".into()),
            Err(e) => Err(format!("could not repair: {e}")),
        });
    }
    Some(finding)
}

/// Mount points at or below `dir` (octal escapes of /proc/self/mountinfo decoded).
fn mounts_under(dir: &Path) -> Vec<PathBuf> {
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = info
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(|p| PathBuf::from(unescape_mount_point(p)))
        .filter(|p| p.starts_with(dir) && p != dir)
        .collect();
    out.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    out
}

/// Mounts in the run root or `containers/` whose container is not running (or is no container at all).
fn check_mounts(
    root: &Path,
    containers: &[ContainerDir],
    repair: bool,
    findings: &mut Vec<Finding>,
) {
    let bases: BTreeSet<PathBuf> = [super::rundir::run_root(root), super::containers_dir(root)]
        .into_iter()
        .collect();
    for base in &bases {
        for mount in mounts_under(base) {
            let Some(first) = mount
                .strip_prefix(base)
                .ok()
                .and_then(|rel| rel.components().next())
            else {
                continue;
            };
            let id = first.as_os_str().to_string_lossy();
            if id.starts_with('.') {
                continue; // shared mount points and the trash: not a container's
            }
            let owner = containers.iter().find(|c| {
                c.path()
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy() == id)
            });
            if owner.is_some_and(|c| c.state().is_ok_and(|s| in_use(&s))) {
                continue;
            }
            let mut finding = Finding {
                subject: format!("mount {}", mount.display()),
                message: match owner {
                    Some(_) => format!("belongs to container {}, which is not running", short(&id)),
                    None => format!("belongs to container {}, which does not exist", short(&id)),
                },
                repair: None,
            };
            if repair {
                finding.repair = Some(
                    nix::mount::umount2(&mount, nix::mount::MntFlags::MNT_DETACH)
                        .map(|()| "unmounted".to_string())
                        .map_err(|e| format!("could not unmount: {e}")),
                );
            }
            findings.push(finding);
        }
    }
}

/// The names of the cgroups under `/hoist/` in every mounted cgroup hierarchy.
fn hoist_cgroups() -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for mount_point in crate::container::cgroup_mount_points() {
        let Ok(entries) = std::fs::read_dir(mount_point.join("hoist")) else {
            continue;
        };
        for entry in entries.flatten() {
            if entry.path().is_dir() {
                names.insert(entry.file_name().to_string_lossy().into_owned());
            }
        }
    }
    names
}

/// Whether a state file was written more than [`REAPER_GRACE`] ago.
fn settled(dir: &ContainerDir) -> bool {
    let state_file = if dir.path().join(state::STATE_FILE).exists() {
        dir.path().join(state::STATE_FILE)
    } else {
        dir.run_dir().join(state::STATE_FILE)
    };
    std::fs::metadata(state_file)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.elapsed().ok())
        .is_some_and(|age| age > REAPER_GRACE)
}

/// The staging dir under `tmp` that holds build step `name`'s state or bundle, if any.
fn step_dir_of(tmp: &Path, name: &str) -> Option<PathBuf> {
    std::fs::read_dir(tmp)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .find(|dir| dir.join(name).exists() || dir.join(format!("{name}.bundle")).exists())
}

/// Cgroups of this root's containers that are not running, and of its build steps whose process is gone.
fn check_cgroups(
    containers: &[ContainerDir],
    step_state_dir: &Path,
    entry_is_owned: &dyn Fn(&Path) -> bool,
    repair: bool,
    findings: &mut Vec<Finding>,
) {
    for name in hoist_cgroups() {
        let (message, remove): (String, Box<dyn Fn()>) = if let Some(prefix) =
            name.strip_prefix("hoist-run-")
        {
            let Some(dir) = containers.iter().find(|c| {
                c.path()
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with(prefix))
            }) else {
                continue; // another state root's container
            };
            match dir.state() {
                Ok(s) if in_use(&s) || !settled(dir) => continue,
                _ => {}
            }
            let id = name.clone();
            (
                format!("belongs to container {prefix:.12}, which is not running"),
                Box::new(move || crate::container::remove_cgroups_of(&id)),
            )
        } else {
            // A build step's state is in its build's own staging dir (`tmp/run-TOKEN-…/NAME`).
            let state_dir = step_dir_of(step_state_dir, &name);
            let pid = crate::container::owner_pid(&name);
            match &state_dir {
                Some(dir) if entry_is_owned(dir) => continue,
                // No state of this root: a live pid may be another root's build (or a pid reused);
                // a dead one is nobody's.
                None if pid.is_none_or(|p| Path::new(&format!("/proc/{p}")).exists()) => continue,
                _ => {}
            }
            let pid = pid.map_or_else(|| "?".to_string(), |p| p.to_string());
            let id = name.clone();
            (
                format!("belongs to a build step of process {pid}, which is gone"),
                Box::new(move || match &state_dir {
                    // Kills what still runs in it, deletes libcontainer's state, the bundle and the cgroups.
                    Some(dir) => crate::reap::remove_containers_in(dir),
                    None => crate::container::remove_cgroups_of(&id),
                }),
            )
        };
        let mut finding = Finding {
            subject: format!("cgroup /hoist/{name}"),
            message,
            repair: None,
        };
        if repair {
            remove();
            let left = hoist_cgroups().contains(&name);
            finding.repair = Some(if left {
                Err("could not remove it (a process in it may not die)".into())
            } else {
                Ok("removed".into())
            });
        }
        findings.push(finding);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_escapes() {
        assert_eq!(unescape_mount_point("/a\\040b"), "/a b");
        assert_eq!(unescape_mount_point("/plain"), "/plain");
    }

    #[test]
    fn a_container_without_a_monitor_yet_is_in_use() {
        let making = ContainerState::default();
        assert!(in_use(&making));
        let dead = ContainerState {
            status: Status::Running,
            monitor_pid: Some(i32::MAX),
            ..ContainerState::default()
        };
        assert!(!in_use(&dead));
        let exited = ContainerState {
            status: Status::Exited,
            ..ContainerState::default()
        };
        assert!(!in_use(&exited));
    }
}
