//! `hoist system df` and `hoist system prune`: what images, containers, volumes and the build cache take on
//! disk, and removing what nothing uses — Docker's columns and words.
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, Subcommand};
use hoist_executor::runtime::{self, MountRecord, Status};
use hoist_store::{PruneOptions, Store};

use crate::image_prune::{self, PruneFilter};
use crate::listing::docker_size;

#[derive(Debug, Args)]
pub struct SystemArgs {
    #[command(subcommand)]
    command: SystemCommand,
}

#[derive(Debug, Subcommand)]
enum SystemCommand {
    /// Show disk usage: images, containers, local volumes, build cache.
    Df(DfArgs),
    /// Remove stopped containers, dangling images and dangling build cache (and with -a / --volumes, more).
    Prune(SystemPruneArgs),
}

#[derive(Debug, Args)]
struct DfArgs {
    /// A Go template or `json`. Fields: Type, TotalCount, Active, Size, Reclaimable.
    #[arg(long)]
    format: Option<String>,
}

#[derive(Debug, Args)]
struct SystemPruneArgs {
    /// Remove every image no container uses (not only dangling ones), and all build cache.
    #[arg(short = 'a', long)]
    all: bool,
    /// Also remove volumes no container uses.
    #[arg(long)]
    volumes: bool,
    /// Do not ask for confirmation.
    #[arg(short = 'f', long)]
    force: bool,
    /// until=DURATION|TIMESTAMP, label=KEY[=VALUE] (for images).
    #[arg(long = "filter")]
    filters: Vec<String>,
}

pub fn run(store: &Store, args: SystemArgs) -> anyhow::Result<i32> {
    match args.command {
        SystemCommand::Df(a) => df(store, a),
        SystemCommand::Prune(a) => prune(store, a),
    }
}

/// Bytes of the regular files under `dir` (symlinks not followed; a missing dir is 0).
pub fn dir_size(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_size(&e.path()),
            Ok(m) if m.is_file() => m.len(),
            _ => 0,
        })
        .sum()
}

fn percent(part: u64, whole: u64) -> String {
    (part.saturating_mul(100))
        .checked_div(whole)
        .map_or_else(|| "0%".to_string(), |p| format!("{p}%"))
}

/// Every volume name under the state dir, and the ones some container mounts.
fn volumes(
    root: &Path,
    containers: &[runtime::ContainerSummary],
) -> (Vec<String>, HashSet<String>) {
    let mut names: Vec<String> = std::fs::read_dir(runtime::volumes_dir(root))
        .map(|d| {
            d.flatten()
                .filter(|e| e.path().join("_data").is_dir())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    let used = containers
        .iter()
        .flat_map(|c| c.record.mounts.iter())
        .filter_map(|m| match m {
            MountRecord::Volume { name, .. } => Some(name.clone()),
            _ => None,
        })
        .collect();
    (names, used)
}

fn df(store: &Store, args: DfArgs) -> anyhow::Result<i32> {
    let root = std::path::absolute(store.root()).unwrap_or_else(|_| store.root().to_path_buf());
    let containers = runtime::list(&root, true)?;
    let in_use: HashSet<String> = containers
        .iter()
        .map(|c| c.record.image_id.clone())
        .collect();

    // Images: layers shared between images count once; reclaimable = layers no used image has.
    let mut image_ids = HashSet::new();
    let mut layer_sizes: HashMap<String, u64> = HashMap::new();
    let mut used_layers = HashSet::new();
    for (_, image) in store.list_images()? {
        if !image_ids.insert(image.id.clone()) {
            continue;
        }
        let used = in_use.contains(&image.id.to_string());
        for layer in image.diff_ids()? {
            let size = store.blob_size(&layer).unwrap_or(0);
            if used {
                used_layers.insert(layer.to_string());
            }
            layer_sizes.insert(layer.to_string(), size);
        }
    }
    let images_size: u64 = layer_sizes.values().sum();
    let images_reclaimable: u64 = layer_sizes
        .iter()
        .filter(|(d, _)| !used_layers.contains(*d))
        .map(|(_, s)| s)
        .sum();
    let active_images = image_ids
        .iter()
        .filter(|id| in_use.contains(&id.to_string()))
        .count();

    // Containers: what each wrote (its upper dir).
    let containers_dir = runtime::containers_dir(&root);
    let mut containers_size = 0;
    let mut containers_reclaimable = 0;
    for c in &containers {
        let size = dir_size(&containers_dir.join(&c.record.id).join("upper"));
        containers_size += size;
        if c.state.status != Status::Running {
            containers_reclaimable += size;
        }
    }
    let running = containers
        .iter()
        .filter(|c| c.state.status == Status::Running)
        .count();

    let (volume_names, used_volumes) = volumes(&root, &containers);
    let mut volumes_size = 0;
    let mut volumes_reclaimable = 0;
    for name in &volume_names {
        let size = dir_size(&runtime::volumes_dir(&root).join(name).join("_data"));
        volumes_size += size;
        if !used_volumes.contains(name) {
            volumes_reclaimable += size;
        }
    }
    let active_volumes = volume_names
        .iter()
        .filter(|n| used_volumes.contains(*n))
        .count();

    let cache = store.cache_disk_usage()?;
    let cache_items: usize = cache.by_type.iter().map(|l| l.items).sum();

    let rows = [
        (
            "Images",
            image_ids.len(),
            active_images,
            images_size,
            images_reclaimable,
            true,
        ),
        (
            "Containers",
            containers.len(),
            running,
            containers_size,
            containers_reclaimable,
            true,
        ),
        (
            "Local Volumes",
            volume_names.len(),
            active_volumes,
            volumes_size,
            volumes_reclaimable,
            true,
        ),
        (
            "Build Cache",
            cache_items,
            0,
            cache.total,
            cache.reclaimable,
            false,
        ),
    ];
    let values: Vec<serde_json::Value> = rows
        .iter()
        .map(|(kind, total, active, size, reclaimable, with_percent)| {
            let reclaim = if *with_percent {
                format!(
                    "{} ({})",
                    docker_size(*reclaimable),
                    percent(*reclaimable, *size)
                )
            } else {
                docker_size(*reclaimable)
            };
            serde_json::json!({
                "Type": kind,
                "TotalCount": total.to_string(),
                "Active": active.to_string(),
                "Size": docker_size(*size),
                "Reclaimable": reclaim,
            })
        })
        .collect();
    let listing = crate::listing::Listing::new(
        args.format.as_deref(),
        "table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}",
    )?;
    let headers = [
        ("Type", "TYPE"),
        ("TotalCount", "TOTAL"),
        ("Active", "ACTIVE"),
        ("Size", "SIZE"),
        ("Reclaimable", "RECLAIMABLE"),
    ];
    crate::output::write_stdout(format_args!("{}", listing.render(&values, &headers)?));
    Ok(0)
}

fn prune(store: &Store, args: SystemPruneArgs) -> anyhow::Result<i32> {
    let filter = PruneFilter::parse(&args.filters)?;
    if !args.force {
        let mut warning = String::from(
            "WARNING! This will remove:\n  - all stopped containers\n  - all networks not used by at least one container\n",
        );
        if args.volumes {
            warning.push_str("  - all volumes not used by at least one container\n");
        }
        warning.push_str(if args.all {
            "  - all images without at least one container associated to them\n  - all build cache\n"
        } else {
            "  - all dangling images\n  - all dangling build cache\n"
        });
        if !image_prune::confirm(&warning) {
            return Ok(0);
        }
    }
    let root = std::path::absolute(store.root()).unwrap_or_else(|_| store.root().to_path_buf());
    let mut reclaimed = 0u64;

    // Stopped containers first: the images and volumes they held become unused.
    let containers = runtime::list(&root, true)?;
    let mut removed_containers = Vec::new();
    for c in containers
        .iter()
        .filter(|c| c.state.status != Status::Running)
    {
        let upper = runtime::containers_dir(&root)
            .join(&c.record.id)
            .join("upper");
        let size = dir_size(&upper);
        match runtime::remove(&root, &c.record.id, false) {
            Ok(_) => {
                reclaimed += size;
                removed_containers.push(c.record.id.clone());
            }
            Err(e) => errln!("hoist: removing container {}: {e}", &c.record.id[..12]),
        }
    }
    if !removed_containers.is_empty() {
        outln!("Deleted Containers:");
        for id in &removed_containers {
            outln!("{id}");
        }
        outln!();
    }

    if args.volumes {
        let left = runtime::list(&root, true)?;
        let (names, used) = volumes(&root, &left);
        let mut removed = Vec::new();
        for name in names.iter().filter(|n| !used.contains(*n)) {
            let dir = runtime::volumes_dir(&root).join(name);
            let size = dir_size(&dir.join("_data"));
            if std::fs::remove_dir_all(&dir).is_ok() {
                reclaimed += size;
                removed.push(name.clone());
            }
        }
        if !removed.is_empty() {
            outln!("Deleted Volumes:");
            for name in &removed {
                outln!("{name}");
            }
            outln!();
        }
    }

    let image_lines = image_prune::remove_unused_images(store, args.all, &filter)?;
    if !image_lines.is_empty() {
        outln!("Deleted Images:");
        for line in &image_lines {
            outln!("{line}");
        }
        outln!();
    }

    // The build cache (dangling: records no image uses; -a: all), then the layers nothing refers to.
    let _lock = store.lock().context("locking the state directory")?;
    let cache = store
        .cache_prune_items(&PruneOptions {
            all: args.all,
            keep_storage: None,
            filter: Default::default(),
            gc_grace: Duration::ZERO,
        })
        .context("pruning the build cache")?;
    if !cache.removed.is_empty() {
        outln!("Deleted build cache objects:");
        for item in &cache.removed {
            outln!("{}", item.id);
        }
        outln!();
    }
    reclaimed += cache.reclaimed_bytes;
    drop(_lock);
    reclaimed += image_prune::collect_garbage(store)?;
    outln!("Total reclaimed space: {}", docker_size(reclaimed));
    Ok(0)
}
