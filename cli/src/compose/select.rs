//! Which of a project's containers a command acts on: the services named (checked against the compose file,
//! as compose refuses `no such service: x`), in the project's start order.
use std::path::Path;

use anyhow::bail;
use hoist_compose::Project;

use super::lookup::{project_containers, ProjectContainer};

/// Refuses a service the project does not define, with compose's words.
pub(crate) fn check_services(project: &Project, services: &[String]) -> anyhow::Result<()> {
    for service in services {
        if !project.services.contains_key(service) {
            bail!("no such service: {service}");
        }
    }
    Ok(())
}

/// How deep `service` sits in the dependency graph: 0 for a service that depends on nothing in the project,
/// else one more than its deepest dependency. Services of one level can be started (or stopped) at once.
pub(crate) fn level(project: &Project, service: &str) -> usize {
    fn depth(project: &Project, service: &str, seen: &mut Vec<String>) -> usize {
        let Some(s) = project.services.get(service) else {
            return 0;
        };
        // A cycle (only in a project that skipped validation) ends the walk.
        if seen.iter().any(|v| v == service) {
            return 0;
        }
        seen.push(service.to_string());
        let deepest = s
            .depends_on
            .keys()
            .filter(|d| project.services.contains_key(*d))
            .map(|d| depth(project, d, seen) + 1)
            .max()
            .unwrap_or(0);
        seen.pop();
        deepest
    }
    depth(project, service, &mut Vec::new())
}

/// The project's service containers (not `compose run` ones) of `services` (all when empty), ordered so that
/// a service comes after the ones it depends on; `shutdown` reverses that (dependents first).
pub(crate) fn service_containers(
    root: &Path,
    project: &Project,
    services: &[String],
    shutdown: bool,
) -> anyhow::Result<Vec<ProjectContainer>> {
    check_services(project, services)?;
    let order = project.dependency_order();
    // Services no longer in the file (orphans) come last, after every service the file has.
    let rank = |service: &str| {
        order
            .iter()
            .position(|s| *s == service)
            .unwrap_or(order.len())
    };
    let mut found: Vec<ProjectContainer> = project_containers(root, &project.name)?
        .into_iter()
        .filter(|c| !c.oneoff())
        .filter(|c| services.is_empty() || services.contains(&c.service))
        .collect();
    found.sort_by_key(|c| (level(project, &c.service), rank(&c.service), c.number));
    if shutdown {
        found.reverse();
    }
    Ok(found)
}
