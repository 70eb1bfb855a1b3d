//! `depends_on`: which services come with the ones asked for, and waiting for a dependency's condition
//! (`service_started`, `service_healthy`, `service_completed_successfully`) before a service starts.
use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use hoist_compose::Project;
use hoist_executor::runtime::{health, Status};

use super::{lookup, progress};

/// `services` with everything they depend on (transitively), in dependency order; all services when
/// `services` is empty. An unknown name is compose's error.
pub(crate) fn with_dependencies(
    project: &Project,
    services: &[String],
) -> anyhow::Result<Vec<String>> {
    if services.is_empty() {
        return Ok(project
            .dependency_order()
            .into_iter()
            .map(String::from)
            .collect());
    }
    let mut wanted: BTreeSet<String> = BTreeSet::new();
    let mut todo: Vec<String> = services.to_vec();
    while let Some(name) = todo.pop() {
        let Some(service) = project.services.get(&name) else {
            anyhow::bail!("no such service: {name}");
        };
        if wanted.insert(name.clone()) {
            todo.extend(
                service
                    .depends_on
                    .keys()
                    .filter(|d| project.services.contains_key(*d))
                    .cloned(),
            );
        }
    }
    Ok(project
        .dependency_order()
        .into_iter()
        .filter(|s| wanted.contains(*s))
        .map(String::from)
        .collect())
}

/// Waits until every dependency of `service` meets its condition; compose's errors when one cannot.
pub(crate) fn wait_for(root: &Path, project: &Project, service: &str) -> anyhow::Result<()> {
    let Some(definition) = project.services.get(service) else {
        return Ok(());
    };
    for (dependency, how) in &definition.depends_on {
        if !project.services.contains_key(dependency) {
            continue; // an optional dependency (`required: false`) the project does not have
        }
        match how.condition.as_str() {
            "service_healthy" => wait_healthy(root, &project.name, dependency)?,
            "service_completed_successfully" => wait_completed(root, &project.name, dependency)?,
            _ => {}
        }
    }
    Ok(())
}

/// The container of `service` (not a one-off): (name, its directory).
fn container_of(
    root: &Path,
    project: &str,
    service: &str,
) -> anyhow::Result<lookup::ProjectContainer> {
    lookup::project_containers(root, project)?
        .into_iter()
        .find(|c| c.service == service && !c.oneoff())
        .ok_or_else(|| {
            anyhow::anyhow!("dependency failed to start: service {service:?} has no container")
        })
}

const POLL: Duration = Duration::from_millis(100);

/// Until the health state the monitor writes says `healthy`.
pub(crate) fn wait_healthy(root: &Path, project: &str, service: &str) -> anyhow::Result<()> {
    let c = container_of(root, project, service)?;
    let name = c.record.name.clone();
    if c.record.options.monitor.healthcheck.is_none() {
        anyhow::bail!("container {name} has no healthcheck configured");
    }
    loop {
        let state = c.dir.current_state()?;
        if state.status == Status::Exited {
            progress::failed("Container", &name, "Error");
            anyhow::bail!(
                "dependency failed to start: container {name} exited ({})",
                state.exit_code.unwrap_or(-1)
            );
        }
        match health::read(&c.dir).map(|h| h.status) {
            Some(status) if status == "healthy" => {
                progress::done("Container", &name, "Healthy");
                return Ok(());
            }
            Some(status) if status == "unhealthy" => {
                progress::failed("Container", &name, "Error");
                anyhow::bail!("dependency failed to start: container {name} is unhealthy");
            }
            _ => std::thread::sleep(POLL),
        }
    }
}

/// Until the container has exited: with 0, or compose's error.
fn wait_completed(root: &Path, project: &str, service: &str) -> anyhow::Result<()> {
    let c = container_of(root, project, service)?;
    let name = c.record.name.clone();
    loop {
        let state = c.dir.current_state()?;
        if state.status == Status::Exited && !state.restarting {
            let code = state.exit_code.unwrap_or(-1);
            if code != 0 {
                progress::failed("Container", &name, "Error");
                anyhow::bail!("service {service:?} didn't complete successfully: exit {code}");
            }
            progress::done("Container", &name, "Exited");
            return Ok(());
        }
        std::thread::sleep(POLL);
    }
}
