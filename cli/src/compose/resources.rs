//! A project's networks and named volumes: made by `up` (labelled so that `down` finds them again), taken
//! away by `down`. External ones must exist and are never touched.
use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context as _;
use hoist_compose::{Project, LABEL_NETWORK, LABEL_PROJECT, LABEL_VOLUME};
use hoist_executor::runtime::{networks, volume_admin};

use super::progress;

/// Makes the networks the `services` use (or checks that the external ones exist).
pub(crate) fn ensure_networks(
    root: &Path,
    project: &Project,
    services: &[String],
) -> anyhow::Result<()> {
    let mut keys: Vec<&String> = services
        .iter()
        .filter_map(|s| project.services.get(s))
        .flat_map(|s| s.networks.keys())
        .collect();
    keys.sort();
    keys.dedup();
    let existing = networks::list(root)?;
    for key in keys {
        let name = project.network_name(key);
        let definition = project.networks.get(key.as_str());
        let external = definition.is_some_and(|n| n.external == Some(true));
        if let Some(found) = existing.iter().find(|n| n.name == name) {
            if !external {
                check_owner(&found.labels, &project.name, "network", &name)?;
            }
            continue;
        }
        if external {
            anyhow::bail!(
                "network {name} declared as external, but could not be found: create it first (hoist network create {name})"
            );
        }
        let pool = definition
            .and_then(|n| n.ipam.as_ref())
            .and_then(|i| i.config.first());
        let mut labels = definition.map(|n| n.labels.clone()).unwrap_or_default();
        labels.insert(LABEL_NETWORK.into(), key.clone());
        labels.insert(LABEL_PROJECT.into(), project.name.clone());
        networks::create(
            root,
            &networks::CreateOptions {
                name: name.clone(),
                driver: definition.and_then(|n| n.driver.clone()),
                subnet: pool.and_then(|p| p.subnet.clone()),
                gateway: pool.and_then(|p| p.gateway.clone()),
                labels,
            },
        )
        .with_context(|| format!("creating network {name}"))?;
        progress::done("Network", &name, "Created");
    }
    Ok(())
}

/// Makes the named volumes the `services` mount (or checks that the external ones exist).
pub(crate) fn ensure_volumes(
    root: &Path,
    project: &Project,
    services: &[String],
) -> anyhow::Result<()> {
    let mut keys: Vec<&String> = services
        .iter()
        .filter_map(|s| project.services.get(s))
        .flat_map(|s| &s.volumes)
        .filter(|v| v.kind == "volume")
        .filter_map(|v| v.source.as_ref())
        .collect();
    keys.sort();
    keys.dedup();
    for key in keys {
        let name = project.volume_name(key);
        let definition = project.volumes.get(key.as_str());
        let external = definition.is_some_and(|v| v.external == Some(true));
        match volume_admin::inspect(root, &name) {
            Ok(found) => {
                if !external {
                    check_owner(&found.labels, &project.name, "volume", &name)?;
                }
                continue;
            }
            Err(_) if external => anyhow::bail!(
                "external volume \"{name}\" not found: create it first (hoist volume create {name})"
            ),
            Err(_) => {}
        }
        if let Some(driver) = definition.and_then(|v| v.driver.as_deref()) {
            if driver != "local" {
                anyhow::bail!("volume {key}: driver {driver:?} is not supported (only local)");
            }
        }
        let mut labels = definition.map(|v| v.labels.clone()).unwrap_or_default();
        labels.insert(LABEL_VOLUME.into(), key.clone());
        labels.insert(LABEL_PROJECT.into(), project.name.clone());
        volume_admin::create(root, Some(&name), labels)
            .with_context(|| format!("creating volume {name}"))?;
        progress::done("Volume", &name, "Created");
    }
    Ok(())
}

/// A network or volume of that name made by another project is not this one's: compose refuses it. One
/// without labels (made by hand) is used, with compose's warning.
fn check_owner(
    labels: &BTreeMap<String, String>,
    project: &str,
    kind: &str,
    name: &str,
) -> anyhow::Result<()> {
    match labels.get(LABEL_PROJECT) {
        Some(owner) if owner == project => Ok(()),
        Some(owner) => anyhow::bail!(
            "{kind} {name} was found but has incorrect label {LABEL_PROJECT} set to {owner:?} (expected: {project:?})"
        ),
        None => {
            errln!(
                "WARN: a {kind} with name {name} exists but was not created by compose.\nSet `external: true` to use an existing {kind}"
            );
            Ok(())
        }
    }
}

/// `down`: the project's networks (not external), by name and by label (a network an older version of
/// the file had is found by its label).
pub(crate) fn remove_networks(root: &Path, project: &Project) -> anyhow::Result<()> {
    let mut names: Vec<String> = project
        .networks
        .iter()
        .filter(|(_, n)| n.external != Some(true))
        .map(|(key, _)| project.network_name(key))
        .collect();
    let existing = networks::list(root)?;
    names.extend(
        existing
            .iter()
            .filter(|n| n.labels.get(LABEL_PROJECT) == Some(&project.name))
            .map(|n| n.name.clone()),
    );
    names.sort();
    names.dedup();
    for name in names {
        let Some(found) = existing.iter().find(|n| n.name == name) else {
            continue;
        };
        if found.labels.get(LABEL_PROJECT) != Some(&project.name) {
            continue; // not made by this project
        }
        networks::remove(root, &name).with_context(|| format!("removing network {name}"))?;
        progress::done("Network", &name, "Removed");
    }
    Ok(())
}

/// `down -v`: the project's named volumes (not external).
pub(crate) fn remove_volumes(root: &Path, project: &Project) -> anyhow::Result<()> {
    let mut names: Vec<String> = project
        .volumes
        .iter()
        .filter(|(_, v)| v.external != Some(true))
        .map(|(key, _)| project.volume_name(key))
        .collect();
    names.extend(
        volume_admin::list(root)?
            .into_iter()
            .filter(|v| v.labels.get(LABEL_PROJECT) == Some(&project.name))
            .map(|v| v.name),
    );
    names.sort();
    names.dedup();
    for name in names {
        let Ok(found) = volume_admin::inspect(root, &name) else {
            continue;
        };
        if found.labels.get(LABEL_PROJECT) != Some(&project.name) {
            continue;
        }
        volume_admin::remove(root, &name, false)
            .with_context(|| format!("removing volume {name}"))?;
        progress::done("Volume", &name, "Removed");
    }
    Ok(())
}
