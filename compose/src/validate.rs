//! The checks compose makes on a whole project: what each service names must exist, and depends_on must not
//! loop. Messages are compose's, with the file and line of the key when known.
use std::collections::{BTreeMap, BTreeSet};

use crate::error::{Error, Result};
use crate::model::{Project, Service};

fn project_error(service: &Service, key: &str, message: String) -> Error {
    let pos = service
        .key_pos
        .get(key)
        .cloned()
        .or_else(|| service.pos.clone());
    Error::Project {
        pos,
        message: format!("{message}: invalid compose project"),
    }
}

pub fn validate(project: &Project) -> Result<()> {
    for (name, service) in &project.services {
        if service.image.is_none() && service.build.is_none() {
            return Err(project_error(
                service,
                "",
                format!("service {name:?} has neither an image nor a build context specified"),
            ));
        }
        for (dependency, condition) in &service.depends_on {
            if condition.required && !project.services.contains_key(dependency) {
                return Err(project_error(
                    service,
                    "depends_on",
                    format!("service {name:?} depends on undefined service {dependency:?}"),
                ));
            }
        }
        for network in service.networks.keys() {
            if !project.networks.contains_key(network) {
                return Err(project_error(
                    service,
                    "networks",
                    format!("service {name:?} refers to undefined network {network}"),
                ));
            }
        }
        for volume in &service.volumes {
            if volume.kind != "volume" {
                continue;
            }
            if let Some(source) = &volume.source {
                if !project.volumes.contains_key(source) {
                    return Err(project_error(
                        service,
                        "volumes",
                        format!("service {name:?} refers to undefined volume {source}"),
                    ));
                }
            }
        }
    }
    if let Some(cycle) = find_cycle(project) {
        let first = &cycle[0];
        let pos = project.services.get(first).and_then(|s| {
            s.key_pos
                .get("depends_on")
                .cloned()
                .or_else(|| s.pos.clone())
        });
        return Err(Error::Project {
            pos,
            message: format!("dependency cycle detected: {}", cycle.join(" -> ")),
        });
    }
    Ok(())
}

/// A depends_on cycle as `[a, b, a]`, if there is one.
fn find_cycle(project: &Project) -> Option<Vec<String>> {
    // Depth-first search; `on_path` holds the current chain.
    fn visit<'a>(
        name: &'a str,
        edges: &BTreeMap<&'a str, Vec<&'a str>>,
        done: &mut BTreeSet<&'a str>,
        on_path: &mut Vec<&'a str>,
    ) -> Option<Vec<String>> {
        if let Some(at) = on_path.iter().position(|n| *n == name) {
            let mut cycle: Vec<String> = on_path[at..].iter().map(|s| s.to_string()).collect();
            cycle.push(name.to_string());
            return Some(cycle);
        }
        if !done.insert(name) {
            return None;
        }
        on_path.push(name);
        for next in edges.get(name).into_iter().flatten() {
            if let Some(cycle) = visit(next, edges, done, on_path) {
                return Some(cycle);
            }
        }
        on_path.pop();
        None
    }
    let edges: BTreeMap<&str, Vec<&str>> = project
        .services
        .iter()
        .map(|(name, s)| {
            let deps = s
                .depends_on
                .keys()
                .filter(|d| project.services.contains_key(*d))
                .map(String::as_str)
                .collect();
            (name.as_str(), deps)
        })
        .collect();
    let mut done = BTreeSet::new();
    for name in edges.keys() {
        if let Some(cycle) = visit(name, &edges, &mut done, &mut Vec::new()) {
            return Some(cycle);
        }
    }
    None
}
