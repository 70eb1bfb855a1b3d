//! A project's containers, found by their compose labels in the state directory: every `hoist compose`
//! command starts here, since no daemon remembers what an earlier `up` made.

use std::path::Path;

use hoist_compose::{LABEL_NUMBER, LABEL_PROJECT, LABEL_SERVICE};
use hoist_executor::runtime::state::{self, ContainerDir, ContainerRecord};

/// One container of a project, as its labels place it.
pub(crate) struct ProjectContainer {
    pub service: String,
    /// `com.docker.compose.container-number` (1 when the label is missing or not a number).
    pub number: u32,
    pub dir: ContainerDir,
    pub record: ContainerRecord,
}

/// Every container (running or not) labelled as belonging to `project`, ordered by service then number.
/// One-off containers of `compose run` are included; `oneoff` tells them apart.
pub(crate) fn project_containers(
    root: &Path,
    project: &str,
) -> anyhow::Result<Vec<ProjectContainer>> {
    let mut found = Vec::new();
    for dir in state::all(root)? {
        // A container being removed by another process may lose its record mid-walk: skip it.
        let Ok(record) = dir.record() else { continue };
        if record.labels.get(LABEL_PROJECT).map(String::as_str) != Some(project) {
            continue;
        }
        let Some(service) = record.labels.get(LABEL_SERVICE).cloned() else {
            continue;
        };
        let number = record
            .labels
            .get(LABEL_NUMBER)
            .and_then(|n| n.parse().ok())
            .unwrap_or(1);
        found.push(ProjectContainer {
            service,
            number,
            dir,
            record,
        });
    }
    found.sort_by(|a, b| {
        (&a.service, a.number, &a.record.name).cmp(&(&b.service, b.number, &b.record.name))
    });
    Ok(found)
}

impl ProjectContainer {
    /// A `compose run` container (label `com.docker.compose.oneoff=True`), not one of the service's replicas.
    pub fn oneoff(&self) -> bool {
        self.record
            .labels
            .get("com.docker.compose.oneoff")
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    }
}
