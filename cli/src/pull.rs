//! `hoist pull`, `hoist push`: the registry client with Docker's output.

use std::path::Path;

use anyhow::{bail, Context as _};
use clap::Args;
use hoist_registry::{ImageReference, Registry, RegistryOptions};
use hoist_store::Store;

use crate::transfer_progress::{Direction, DockerProgress};

#[derive(Debug, Args)]
pub struct PullArgs {
    /// Pull this platform of a multi-platform image (os/arch[/variant], e.g. linux/arm64) instead of the host's.
    #[arg(long)]
    platform: Option<String>,
    /// Print only the image's full name.
    #[arg(short = 'q', long)]
    quiet: bool,
    /// Reach this registry over plain http (or https with any certificate); repeatable.
    #[arg(long = "insecure-registry", value_name = "HOST[:PORT]")]
    insecure: Vec<String>,
    /// The image: `name[:tag]`, `name@sha256:…`, `registry[:port]/path[:tag]`.
    reference: String,
}

#[derive(Debug, Args)]
pub struct PushArgs {
    /// Print only the pushed digest line.
    #[arg(short = 'q', long)]
    quiet: bool,
    /// Reach this registry over plain http (or https with any certificate); repeatable.
    #[arg(long = "insecure-registry", value_name = "HOST[:PORT]")]
    insecure: Vec<String>,
    /// The image, tagged with this name in the store: `registry[:port]/path[:tag]`.
    reference: String,
}

/// The registry client for commands run on state directory `root`: hoist's config is `ROOT/config.json`, then
/// `/etc/hoist/config.json`.
pub fn registry_for(
    root: &Path,
    insecure: Vec<String>,
    platform: Option<String>,
) -> anyhow::Result<Registry> {
    Ok(Registry::new(registry_options(root, insecure, platform))?)
}

/// The registry client's options for state directory `root` (see [`registry_for`]).
pub fn registry_options(
    root: &Path,
    insecure: Vec<String>,
    platform: Option<String>,
) -> RegistryOptions {
    RegistryOptions {
        config_dirs: vec![root.join("config.json"), "/etc/hoist/config.json".into()],
        insecure,
        platform,
    }
}

pub fn pull(store: &Store, args: PullArgs) -> anyhow::Result<i32> {
    let reference = ImageReference::parse(&args.reference)?;
    let registry = registry_for(store.root(), args.insecure, args.platform)?;
    let progress = DockerProgress::new(Direction::Pull, args.quiet);
    if reference.tag.is_none() && reference.digest.is_none() {
        progress.line("Using default tag: latest");
    }
    let pulled = pull_with(store, &registry, &reference, &args.reference, &progress)?;
    outln!("{}", pulled.full_name);
    Ok(0)
}

/// `docker run`/`create` on an image the store lacks: `Unable to find image 'busybox:latest' locally`, then the
/// pull, its progress on stderr (stdout is the container's).
pub fn pull_for_run(store: &Store, name: &str) -> anyhow::Result<()> {
    let reference = ImageReference::parse(name)?;
    errln!(
        "Unable to find image '{}' locally",
        if reference.tag.is_none() && reference.digest.is_none() {
            format!("{name}:latest")
        } else {
            name.to_string()
        }
    );
    let registry = registry_for(store.root(), Vec::new(), None)?;
    let progress = DockerProgress::on_stderr(Direction::Pull);
    pull_with(store, &registry, &reference, name, &progress)?;
    Ok(())
}

/// The pull itself with docker's lines around it, for `pull` and `run`.
fn pull_with(
    store: &Store,
    registry: &Registry,
    reference: &ImageReference,
    name: &str,
    progress: &DockerProgress,
) -> anyhow::Result<hoist_registry::Pulled> {
    progress.line(&format!(
        "{}: Pulling from {}",
        reference
            .digest
            .as_ref()
            .map_or(reference.tag_or_latest().to_string(), |d| d.to_string()),
        reference.path
    ));
    // Garbage collection must not remove the layers of an image being written.
    let _lock = store.lock_shared()?;
    let pulled = registry.pull(store, name, progress)?;
    let digest = pulled.repo_digest.rsplit('@').next().unwrap_or("");
    progress.line(&format!("Digest: {digest}"));
    if pulled.up_to_date {
        progress.line(&format!("Status: Image is up to date for {}", pulled.name));
    } else {
        progress.line(&format!(
            "Status: Downloaded newer image for {}",
            pulled.name
        ));
    }
    Ok(pulled)
}

pub fn push(store: &Store, args: PushArgs) -> anyhow::Result<i32> {
    let reference = ImageReference::parse(&args.reference)?;
    if reference.digest.is_some() {
        bail!(
            "cannot push a digest reference ({}): push a tag",
            args.reference
        );
    }
    let name = reference.familiar();
    let Some(image) = store.resolve(&name)? else {
        bail!("An image does not exist locally with the tag: {name} (tag one with 'hoist tag IMAGE {name}')");
    };
    let registry = registry_for(store.root(), args.insecure, None)?;
    let progress = DockerProgress::new(Direction::Push, args.quiet);
    progress.line(&format!(
        "The push refers to repository [{}]",
        reference.full_name()
    ));
    let _lock = store.lock_shared()?;
    let pushed = registry
        .push(store, &image, &args.reference, &progress)
        .with_context(|| format!("pushing {name}"))?;
    outln!(
        "{}: digest: {} size: {}",
        pushed.tag,
        pushed.manifest_digest,
        pushed.size
    );
    Ok(0)
}
