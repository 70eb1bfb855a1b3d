//! The merged files → a [`Project`] as `docker compose config` shows it: relative paths made absolute against
//! the project directory, `env_file`s read into `environment`, valueless variables taken from the environment,
//! the `default` network added, engine-side names of networks and volumes filled in.
use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use crate::dotenv;
use crate::error::{Error, Result};
use crate::model::{Build, ComposeFile, Network, Project, Service};

/// A path with `.` and `..` removed lexically (compose does not follow symlinks here either).
pub fn clean(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// A build context that is not a directory: a Git or HTTP URL.
fn is_remote(context: &str) -> bool {
    context.contains("://") || context.starts_with("git@") || context.starts_with("github.com/")
}

pub fn resolve(
    file: ComposeFile,
    name: String,
    project_dir: &Path,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Project> {
    let home = lookup("HOME");
    let host_path = |p: &str| -> String {
        let expanded = match (p.strip_prefix('~'), &home) {
            (Some(rest), Some(home)) if rest.is_empty() || rest.starts_with('/') => {
                format!("{home}{rest}")
            }
            _ => p.to_string(),
        };
        clean(&project_dir.join(expanded))
            .to_string_lossy()
            .into_owned()
    };

    let mut services = BTreeMap::new();
    for (service_name, mut service) in file.services {
        if let Some(build) = &mut service.build {
            resolve_build(build, &host_path, lookup);
        }
        resolve_environment(&mut service, &host_path, lookup)?;
        for volume in &mut service.volumes {
            if volume.kind == "bind" {
                if let Some(source) = &volume.source {
                    volume.source = Some(host_path(source));
                }
            }
        }
        if service.networks.is_empty() {
            service.networks.insert("default".into(), None);
        }
        services.insert(service_name, service);
    }

    let mut networks = file.networks;
    let uses_default = services
        .values()
        .any(|s| s.networks.contains_key("default"));
    if uses_default && !networks.contains_key("default") {
        networks.insert("default".into(), Network::default());
    }
    for (key, network) in &mut networks {
        if network.name.is_none() {
            network.name = Some(engine_name(&name, key, network.external == Some(true)));
        }
    }
    let mut volumes = file.volumes;
    for (key, volume) in &mut volumes {
        if volume.name.is_none() {
            volume.name = Some(engine_name(&name, key, volume.external == Some(true)));
        }
    }
    Ok(Project {
        name,
        working_dir: project_dir.to_path_buf(),
        services,
        networks,
        volumes,
    })
}

/// `PROJECT_KEY`, or the key itself for an external object (it exists already under that name).
fn engine_name(project: &str, key: &str, external: bool) -> String {
    if external {
        key.to_string()
    } else {
        format!("{project}_{key}")
    }
}

fn resolve_build(
    build: &mut Build,
    host_path: &dyn Fn(&str) -> String,
    lookup: &dyn Fn(&str) -> Option<String>,
) {
    let context = build.context.take().unwrap_or_else(|| ".".into());
    build.context = Some(if is_remote(&context) {
        context
    } else {
        host_path(&context)
    });
    if build.dockerfile.is_none() {
        build.dockerfile = Some("Dockerfile".into());
    }
    for (key, value) in &mut build.args {
        if value.is_none() {
            *value = lookup(key);
        }
    }
}

/// `env_file` contents first, `environment` over them; `NAME` without a value takes the environment's.
fn resolve_environment(
    service: &mut Service,
    host_path: &dyn Fn(&str) -> String,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<()> {
    let mut environment: BTreeMap<String, Option<String>> = BTreeMap::new();
    let mut resolved_files = Vec::new();
    for file in &service.env_file {
        let path = host_path(file);
        let pos = service.key_pos.get("env_file").cloned();
        let text = std::fs::read_to_string(&path).map_err(|e| Error::Project {
            pos: pos.clone(),
            message: format!("env file {path} not found: {e}"),
        })?;
        let vars = dotenv::parse(&text, lookup).map_err(|(line, message)| Error::Project {
            pos: None,
            message: format!("{path}:{line}: {message}"),
        })?;
        environment.extend(vars.into_iter().map(|(k, v)| (k, Some(v))));
        resolved_files.push(path);
    }
    service.env_file = resolved_files;
    for (key, value) in std::mem::take(&mut service.environment) {
        let value = value.or_else(|| lookup(&key));
        environment.insert(key, value);
    }
    service.environment = environment;
    Ok(())
}
