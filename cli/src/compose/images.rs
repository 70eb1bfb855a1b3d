// placeholder: replaced at merge
//! The services' images (contract with branch `cops`): names, and making sure they are in the store.
use std::path::Path;

use hoist_compose::Project;

pub(crate) struct ImagePolicy {
    pub build: bool,
    pub no_build: bool,
    pub pull: PullPolicy,
}

#[allow(dead_code)]
pub(crate) enum PullPolicy {
    Missing,
    Always,
    Never,
}

/// The service's `image:`, else compose v2's built-image name `PROJECT-SERVICE`.
pub(crate) fn service_image(project: &Project, service: &str) -> String {
    project
        .services
        .get(service)
        .and_then(|s| s.image.clone())
        .unwrap_or_else(|| format!("{}-{service}", project.name))
}

pub(crate) fn ensure_images(
    root: &Path,
    project: &Project,
    services: &[String],
    policy: ImagePolicy,
) -> anyhow::Result<()> {
    let _ = (policy.build, policy.no_build, &policy.pull);
    let store = hoist_store::Store::open(root)?;
    for service in services {
        let image = service_image(project, service);
        if store.resolve(&image)?.is_none() {
            anyhow::bail!("service {service:?}: image {image} is not in the store");
        }
    }
    Ok(())
}
