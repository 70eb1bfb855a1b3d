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
    found.sort_by_key(|c| (rank(&c.service), c.number));
    if shutdown {
        found.reverse();
    }
    Ok(found)
}
