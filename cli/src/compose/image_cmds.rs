//! `compose build`, `pull`, `push`, `images`: the services' images (see `images.rs`).
use std::path::Path;

use clap::Args;
use hoist_compose::Project;
use hoist_store::Store;

use super::images::{self, BuildFlags};
use super::select::check_services;

#[derive(Debug, Args)]
pub(crate) struct BuildArgs {
    /// Do not use the build cache.
    #[arg(long)]
    no_cache: bool,
    /// Look the base images up in their registries again.
    #[arg(long)]
    pull: bool,
    /// A build-time variable for every service (`KEY=VALUE`), over the files' `args`.
    #[arg(long = "build-arg")]
    build_args: Vec<String>,
    /// Print nothing but errors.
    #[arg(short = 'q', long)]
    quiet: bool,
    services: Vec<String>,
}

#[derive(Debug, Args)]
pub(crate) struct ServicesArgs {
    /// Also pull/push what a failure leaves (compose's flag: a failed image does not stop the others).
    #[arg(long)]
    ignore_push_failures: bool,
    services: Vec<String>,
}

/// `services` (all when empty) that pass `keep`, in the file's order; an unknown one is compose's error.
fn pick(
    project: &Project,
    services: &[String],
    keep: impl Fn(&hoist_compose::Service) -> bool,
) -> anyhow::Result<Vec<String>> {
    check_services(project, services)?;
    Ok(project
        .services
        .iter()
        .filter(|(name, _)| services.is_empty() || services.contains(name))
        .filter(|(_, s)| keep(s))
        .map(|(name, _)| name.clone())
        .collect())
}

pub(crate) fn build(root: &Path, project: &Project, args: BuildArgs) -> anyhow::Result<i32> {
    let _ = args.quiet;
    let services = pick(project, &args.services, |s| s.build.is_some())?;
    let flags = BuildFlags {
        no_cache: args.no_cache,
        pull: args.pull,
        build_args: args.build_args,
    };
    images::build_services(root, project, &services, &flags)?;
    Ok(0)
}

/// Compose pulls the services that name an `image:` and have no `build:` (a built image has nowhere to come
/// from).
pub(crate) fn pull(root: &Path, project: &Project, args: ServicesArgs) -> anyhow::Result<i32> {
    let services = pick(project, &args.services, |s| {
        s.image.is_some() && s.build.is_none()
    })?;
    images::pull_services(root, project, &services)?;
    Ok(0)
}

/// Compose pushes the services that name an `image:` (built ones included).
pub(crate) fn push(root: &Path, project: &Project, args: ServicesArgs) -> anyhow::Result<i32> {
    let services = pick(project, &args.services, |s| s.image.is_some())?;
    match images::push_services(root, project, &services) {
        Ok(()) => Ok(0),
        Err(e) if args.ignore_push_failures => {
            errln!("hoist: {e:#}");
            Ok(0)
        }
        Err(e) => Err(e),
    }
}

/// `compose images`: the image each container of the project runs.
pub(crate) fn list(root: &Path, project: &Project, args: ServicesArgs) -> anyhow::Result<i32> {
    let store = Store::open(root)
        .map_err(|e| anyhow::anyhow!("opening the state directory {}: {e}", root.display()))?;
    let containers = super::select::service_containers(root, project, &args.services, false)?;
    let mut rows = vec![[
        "CONTAINER".to_string(),
        "REPOSITORY".into(),
        "TAG".into(),
        "IMAGE ID".into(),
        "SIZE".into(),
    ]];
    for c in containers {
        let (repository, tag) = split_tag(&c.record.image);
        let id = c.record.image_id.trim_start_matches("sha256:");
        let size = store
            .resolve(&c.record.image_id)
            .ok()
            .flatten()
            .map(|i| crate::output::human_size(i.size))
            .unwrap_or_default();
        rows.push([
            c.record.name.clone(),
            repository,
            tag,
            id.chars().take(12).collect(),
            size,
        ]);
    }
    let widths: Vec<usize> = (0..5)
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    for row in rows {
        let line: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(i, cell)| format!("{cell:<w$}", w = widths[i]))
            .collect();
        outln!("{}", line.join("   ").trim_end());
    }
    Ok(0)
}

/// `name:tag` → (`name`, `tag`); no tag is `latest`.
fn split_tag(image: &str) -> (String, String) {
    let slash = image.rfind('/').map_or(0, |i| i + 1);
    match image[slash..].rfind(':') {
        Some(i) => (
            image[..slash + i].to_string(),
            image[slash + i + 1..].to_string(),
        ),
        None => (image.to_string(), "latest".to_string()),
    }
}
