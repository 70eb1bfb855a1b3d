//! The images of a project's services: their names, and building or pulling what `up` needs (compose's
//! `ensureImagesExists`). Builds of several services run at once, as `hoist build` child processes on the same
//! state directory (hoist builds safely side by side there, sharing one build cache); their progress lines come
//! out prefixed with the service, as compose shows a multi-service build.
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context};
use hoist_compose::model::Build;
use hoist_compose::Project;
use hoist_store::Store;

use super::events;

// `ImagePolicy`, `PullPolicy` and `ensure_images` are what `compose up`/`run` call (they land on their own).

/// What `up` (or `create`, `run`) does about the images of the services it starts.
#[allow(dead_code)]
#[derive(Debug, Clone, Copy)]
pub(crate) struct ImagePolicy {
    /// `up --build`: rebuild every service that has `build:`, even when its image exists.
    pub build: bool,
    /// `up --no-build`: never build; a missing image is an error (or is pulled, for a service with `image:`).
    pub no_build: bool,
    pub pull: PullPolicy,
}

/// `up --pull`: when to pull the image of a service without `build:`.
#[allow(dead_code)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PullPolicy {
    Missing,
    Always,
    Never,
}

/// The image a service runs: its `image:`, else the name compose v2 gives what it builds, `PROJECT-SERVICE`
/// (compose's `api.GetImageNameOrDefault`).
pub(crate) fn service_image(project: &Project, service: &str) -> String {
    project
        .services
        .get(service)
        .and_then(|s| s.image.clone())
        .unwrap_or_else(|| format!("{}-{service}", project.name))
}

/// Makes sure every service in `services` (all when empty) has its image: builds what has `build:` and no
/// image yet (every one with `policy.build`), pulls what is missing (always with `PullPolicy::Always`).
#[allow(dead_code)]
pub(crate) fn ensure_images(
    root: &Path,
    project: &Project,
    services: &[String],
    policy: ImagePolicy,
) -> anyhow::Result<()> {
    super::select::check_services(project, services)?;
    let store = Store::open(root)
        .map_err(|e| anyhow::anyhow!("opening the state directory {}: {e}", root.display()))?;
    let names: Vec<String> = if services.is_empty() {
        project.services.keys().cloned().collect()
    } else {
        services.to_vec()
    };
    let mut present = |image: &str| -> anyhow::Result<bool> { Ok(store.resolve(image)?.is_some()) };
    let (to_build, to_pull) = plan(project, &names, policy, &mut present)?;
    if !to_pull.is_empty() {
        pull_services(root, project, &to_pull)?;
    }
    if !to_build.is_empty() {
        build_services(root, project, &to_build, &BuildFlags::default())?;
    }
    Ok(())
}

/// What [`ensure_images`] does for `names`: (the services to build, the services to pull); `present` says
/// whether the store has an image.
#[allow(dead_code)] // see ensure_images
fn plan(
    project: &Project,
    names: &[String],
    policy: ImagePolicy,
    present: &mut dyn FnMut(&str) -> anyhow::Result<bool>,
) -> anyhow::Result<(Vec<String>, Vec<String>)> {
    let mut to_build = Vec::new();
    let mut to_pull = Vec::new();
    for name in names {
        let Some(service) = project.services.get(name) else {
            continue;
        };
        let image = service_image(project, name);
        let present = present(&image)?;
        match &service.build {
            Some(_) if policy.build && !policy.no_build => to_build.push(name.clone()),
            Some(_) if present => {}
            Some(_) if policy.no_build => {
                if service.image.is_some() && policy.pull != PullPolicy::Never {
                    to_pull.push(name.clone());
                } else {
                    bail!(
                        "service {name:?}: image {image} is missing and --no-build forbids building it \
                         (run 'hoist compose build {name}' first)"
                    );
                }
            }
            Some(_) => to_build.push(name.clone()),
            None => match policy.pull {
                PullPolicy::Always => to_pull.push(name.clone()),
                PullPolicy::Missing if !present => to_pull.push(name.clone()),
                PullPolicy::Never if !present => {
                    bail!("service {name:?}: no such image: {image} (the pull policy is never; pull or build it first)")
                }
                _ => {}
            },
        }
    }
    Ok((to_build, to_pull))
}

/// `compose build`'s flags passed on to every `hoist build`.
#[derive(Debug, Clone, Default)]
pub(crate) struct BuildFlags {
    pub no_cache: bool,
    pub pull: bool,
    /// `--build-arg`s given on the command line, over the file's `args`.
    pub build_args: Vec<String>,
}

/// Builds `services` at once (one `hoist build` each) and tags each with its [`service_image`].
pub(crate) fn build_services(
    root: &Path,
    project: &Project,
    services: &[String],
    flags: &BuildFlags,
) -> anyhow::Result<()> {
    let exe = std::env::current_exe().context("finding the hoist binary to run the builds")?;
    let mut children = Vec::new();
    for name in services {
        let Some(build) = project.services.get(name).and_then(|s| s.build.as_ref()) else {
            continue;
        };
        let image = service_image(project, name);
        let mut command = build_command(&exe, root, build, &image, flags)?;
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .stdin(Stdio::null())
            .spawn()
            .with_context(|| format!("starting the build of service {name}"))?;
        let relays = [
            child.stdout.take().map(|o| relay(name, o)),
            child.stderr.take().map(|e| relay(name, e)),
        ];
        children.push((name.clone(), child, relays));
    }
    let mut failed = Vec::new();
    for (name, mut child, relays) in children {
        let status = child.wait();
        for relay in relays.into_iter().flatten() {
            let _ = relay.join();
        }
        match status {
            Ok(s) if s.success() => events::event("Service", &name, "Built", true),
            Ok(s) => {
                events::failed("Service", &name, &format!("build failed ({s})"));
                failed.push(name);
            }
            Err(e) => {
                events::failed("Service", &name, &e.to_string());
                failed.push(name);
            }
        }
    }
    if !failed.is_empty() {
        bail!(
            "failed to solve: the build of service {} failed (its output is above, prefixed with its name)",
            failed.join(", ")
        );
    }
    Ok(())
}

/// `hoist --root ROOT build -t IMAGE -f DOCKERFILE --build-arg … [--target T] --progress plain CONTEXT`.
fn build_command(
    exe: &Path,
    root: &Path,
    build: &Build,
    image: &str,
    flags: &BuildFlags,
) -> anyhow::Result<Command> {
    let context = build.context.clone().unwrap_or_else(|| ".".into());
    let mut command = Command::new(exe);
    command
        .arg("--root")
        .arg(root)
        .arg("build")
        .args(["--progress", "plain", "-t", image]);
    if let Some(dockerfile) = &build.dockerfile {
        // Compose reads `dockerfile:` relative to the context; `hoist build -f` relative to the current dir.
        let path = PathBuf::from(dockerfile);
        let path = if path.is_absolute() || is_remote(&context) {
            path
        } else {
            Path::new(&context).join(path)
        };
        command.arg("-f").arg(path);
    }
    for (key, value) in &build.args {
        // An arg with no value anywhere is no build arg, as compose passes it.
        if let Some(value) = value {
            command.arg("--build-arg").arg(format!("{key}={value}"));
        }
    }
    for arg in &flags.build_args {
        command.arg("--build-arg").arg(arg);
    }
    if let Some(target) = &build.target {
        command.arg("--target").arg(target);
    }
    if flags.no_cache {
        command.arg("--no-cache");
    }
    if flags.pull {
        command.arg("--pull");
    }
    command.arg(&context);
    Ok(command)
}

fn is_remote(context: &str) -> bool {
    context.contains("://") || context.starts_with("git@")
}

/// Copies a build's output lines to stderr with the service in them: BuildKit's plain step lines
/// `#3 [2/3] RUN …` become `#3 [web 2/3] RUN …` (as compose names the steps of a multi-service build), other
/// lines get `[web] ` in front.
fn relay(service: &str, from: impl Read + Send + 'static) -> std::thread::JoinHandle<()> {
    let service = service.to_string();
    std::thread::spawn(move || {
        for line in BufReader::new(from).lines() {
            let Ok(line) = line else { break };
            errln!("{}", prefixed(&service, &line));
        }
    })
}

fn prefixed(service: &str, line: &str) -> String {
    if let Some(rest) = line.strip_prefix('#') {
        let digits = rest.chars().take_while(char::is_ascii_digit).count();
        if digits > 0 {
            if let Some(after) = rest[digits..].strip_prefix(" [") {
                return format!("#{} [{service} {after}", &rest[..digits]);
            }
        }
    }
    format!("[{service}] {line}")
}

/// Pulls the images of `services` (one `hoist pull` each, at once), compose's ` ✔ web Pulled` after each.
pub(crate) fn pull_services(
    root: &Path,
    project: &Project,
    services: &[String],
) -> anyhow::Result<()> {
    transfer_services(root, project, services, "pull", "Pulling", "Pulled")
}

/// Pushes the images of `services` (one `hoist push` each).
pub(crate) fn push_services(
    root: &Path,
    project: &Project,
    services: &[String],
) -> anyhow::Result<()> {
    transfer_services(root, project, services, "push", "Pushing", "Pushed")
}

fn transfer_services(
    root: &Path,
    project: &Project,
    services: &[String],
    verb: &str,
    doing: &str,
    done: &str,
) -> anyhow::Result<()> {
    let exe = std::env::current_exe().context("finding the hoist binary")?;
    let mut children = Vec::new();
    for name in services {
        let image = service_image(project, name);
        events::event("Image", &image, doing, false);
        let child = Command::new(&exe)
            .arg("--root")
            .arg(root)
            .args([verb, "-q", &image])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting hoist {verb} {image}"))?;
        children.push((image, child));
    }
    let mut failed = Vec::new();
    for (image, child) in children {
        let output = child.wait_with_output();
        match output {
            Ok(o) if o.status.success() => events::event("Image", &image, done, true),
            Ok(o) => {
                let reason = String::from_utf8_lossy(&o.stderr);
                let reason = reason.trim().trim_start_matches("hoist: ");
                events::failed("Image", &image, reason);
                failed.push(format!("{image}: {reason}"));
            }
            Err(e) => {
                events::failed("Image", &image, &e.to_string());
                failed.push(format!("{image}: {e}"));
            }
        }
    }
    if !failed.is_empty() {
        bail!("{verb} failed for {}", failed.join("; "));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{plan, ImagePolicy, PullPolicy};

    fn project() -> hoist_compose::Project {
        let mut project = hoist_compose::Project {
            name: "p".into(),
            ..Default::default()
        };
        let built = hoist_compose::Service {
            build: Some(Default::default()),
            ..Default::default()
        };
        let pulled = hoist_compose::Service {
            image: Some("redis:7".into()),
            ..Default::default()
        };
        project.services.insert("web".into(), built);
        project.services.insert("cache".into(), pulled);
        project
    }

    fn planned(policy: ImagePolicy, have: &[&str]) -> anyhow::Result<(Vec<String>, Vec<String>)> {
        let project = project();
        let names: Vec<String> = project.services.keys().cloned().collect();
        plan(&project, &names, policy, &mut |image| {
            Ok(have.contains(&image))
        })
    }

    const MISSING: ImagePolicy = ImagePolicy {
        build: false,
        no_build: false,
        pull: PullPolicy::Missing,
    };

    #[test]
    fn what_is_missing_is_built_or_pulled_and_what_is_there_is_left() {
        let (build, pull) = planned(MISSING, &[]).unwrap();
        assert_eq!(
            (build, pull),
            (vec!["web".to_string()], vec!["cache".to_string()])
        );
        let (build, pull) = planned(MISSING, &["p-web", "redis:7"]).unwrap();
        assert!(build.is_empty() && pull.is_empty());
    }

    #[test]
    fn build_rebuilds_and_always_pulls_even_what_is_there() {
        let policy = ImagePolicy {
            build: true,
            pull: PullPolicy::Always,
            ..MISSING
        };
        let (build, pull) = planned(policy, &["p-web", "redis:7"]).unwrap();
        assert_eq!(
            (build, pull),
            (vec!["web".to_string()], vec!["cache".to_string()])
        );
    }

    #[test]
    fn no_build_and_never_pull_refuse_a_missing_image() {
        let no_build = ImagePolicy {
            no_build: true,
            ..MISSING
        };
        let e = planned(no_build, &["redis:7"]).unwrap_err().to_string();
        assert!(e.contains("p-web is missing and --no-build"), "{e}");
        let never = ImagePolicy {
            pull: PullPolicy::Never,
            ..MISSING
        };
        let e = planned(never, &["p-web"]).unwrap_err().to_string();
        assert!(e.contains("no such image: redis:7"), "{e}");
    }

    #[test]
    fn build_lines_name_their_service() {
        assert_eq!(
            super::prefixed("web", "#3 [2/3] RUN echo hi"),
            "#3 [web 2/3] RUN echo hi"
        );
        assert_eq!(super::prefixed("web", "#3 DONE 0.1s"), "[web] #3 DONE 0.1s");
        assert_eq!(
            super::prefixed("db", "naming to x done"),
            "[db] naming to x done"
        );
    }

    #[test]
    fn a_service_without_image_gets_project_dash_service() {
        let mut project = hoist_compose::Project {
            name: "shop".into(),
            ..Default::default()
        };
        project
            .services
            .insert("web".into(), hoist_compose::Service::default());
        let tagged = hoist_compose::Service {
            image: Some("reg/web:1".into()),
            ..Default::default()
        };
        project.services.insert("api".into(), tagged);
        assert_eq!(super::service_image(&project, "web"), "shop-web");
        assert_eq!(super::service_image(&project, "api"), "reg/web:1");
    }
}
