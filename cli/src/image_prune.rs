//! `hoist image prune [-a] [-f] [--filter until=…|label=…]`: remove dangling images (with `-a`, every image no
//! container uses), then collect the layers nothing refers to any more, as `docker image prune`.
use std::collections::HashSet;
use std::io::BufRead as _;
use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context as _};
use clap::Args;
use hoist_executor::runtime;
use hoist_store::{ImageRecord, Store};

#[derive(Debug, Args)]
pub struct ImagePruneArgs {
    /// Remove every image no container uses, not only dangling (untagged) ones.
    #[arg(short = 'a', long)]
    all: bool,
    /// Do not ask for confirmation.
    #[arg(short = 'f', long)]
    force: bool,
    /// until=DURATION|TIMESTAMP (only images created before), label=KEY[=VALUE], label!=KEY[=VALUE].
    #[arg(long = "filter")]
    filters: Vec<String>,
}

/// What `--filter` may narrow a prune to.
#[derive(Default)]
pub struct PruneFilter {
    until: Option<chrono::DateTime<chrono::Utc>>,
    labels: Vec<(String, Option<String>, bool)>,
}

impl PruneFilter {
    pub fn parse(filters: &[String]) -> anyhow::Result<PruneFilter> {
        let mut f = PruneFilter::default();
        for spec in filters {
            let (key, value) = match spec.split_once("!=") {
                Some(("label", v)) => ("label!", v),
                _ => spec.split_once('=').ok_or_else(|| {
                    anyhow::anyhow!("bad format of filter (expected name=value): {spec}")
                })?,
            };
            match key {
                "until" => f.until = Some(parse_until(value)?),
                "label" | "label!" => {
                    let (k, v) = match value.split_once('=') {
                        Some((k, v)) => (k.to_string(), Some(v.to_string())),
                        None => (value.to_string(), None),
                    };
                    f.labels.push((k, v, key == "label!"));
                }
                other => bail!("invalid filter '{other}' (prune takes until and label)"),
            }
        }
        Ok(f)
    }

    fn accepts(&self, image: &ImageRecord) -> bool {
        if let Some(until) = self.until {
            if crate::image_list::created(image).is_none_or(|c| c >= until) {
                return false;
            }
        }
        self.labels.iter().all(|(key, value, negated)| {
            crate::image_list::label_matches(image, key, value.as_deref()) != *negated
        })
    }
}

/// Docker's `until`: a Go duration (`24h`, `90m`, `1h30m`) before now, a Unix time, or an RFC 3339 time.
fn parse_until(value: &str) -> anyhow::Result<chrono::DateTime<chrono::Utc>> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(value) {
        return Ok(t.with_timezone(&chrono::Utc));
    }
    if let Ok(secs) = value.parse::<i64>() {
        return chrono::DateTime::from_timestamp(secs, 0)
            .ok_or_else(|| anyhow::anyhow!("until={value}: not a valid time"));
    }
    let ago = hoist_store::parse_duration(value).ok_or_else(|| {
        anyhow::anyhow!(
            "until={value}: not a duration or time (give a duration such as 24h, a Unix time or an RFC 3339 time)"
        )
    })?;
    let ago = chrono::Duration::from_std(ago).context("until: duration too long")?;
    Ok(chrono::Utc::now() - ago)
}

/// Asks on the terminal as Docker does; true to go on. Anything but `y`/`Y` (or no answer) is a no.
pub fn confirm(warning: &str) -> bool {
    outln!("{warning}");
    crate::output::write_stdout(format_args!("Are you sure you want to continue? [y/N] "));
    let mut answer = String::new();
    let _ = std::io::stdin().lock().read_line(&mut answer);
    matches!(answer.trim(), "y" | "Y")
}

/// The image IDs some container (running or not) was made from.
pub fn images_in_use(root: &Path) -> anyhow::Result<HashSet<String>> {
    let root = std::path::absolute(root).unwrap_or_else(|_| root.to_path_buf());
    Ok(runtime::list(&root, true)?
        .into_iter()
        .map(|c| c.record.image_id)
        .collect())
}

/// Removes the images a prune selects; returns Docker's `untagged: …` / `deleted: sha256:…` lines.
pub fn remove_unused_images(
    store: &Store,
    all: bool,
    filter: &PruneFilter,
) -> anyhow::Result<Vec<String>> {
    let in_use = images_in_use(store.root())?;
    let mut lines = Vec::new();
    let mut done = HashSet::new();
    for (reference, image) in store.list_images()? {
        let dangling = reference == "<none>:<none>";
        if (!all && !dangling) || in_use.contains(&image.id.to_string()) || !filter.accepts(&image)
        {
            continue;
        }
        if !done.insert(image.id.clone()) {
            continue;
        }
        // By ID: every tag goes, then the image.
        for line in store.remove_image(image.id.as_str())? {
            lines.push(lowercase_verb(&line));
        }
    }
    Ok(lines)
}

/// `Untagged: x` → `untagged: x`, as prune prints them.
fn lowercase_verb(line: &str) -> String {
    let mut chars = line.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Collects what nothing refers to any more (under the exclusive lock: no build in flight); bytes freed.
pub fn collect_garbage(store: &Store) -> anyhow::Result<u64> {
    let _lock = store.lock().context("locking the state directory")?;
    let report = store
        .gc(Duration::ZERO)
        .context("collecting unused layers")?;
    let root = std::path::absolute(store.root()).unwrap_or_else(|_| store.root().to_path_buf());
    crate::layer_stacks::prune(&root, Some(store));
    Ok(report.freed_bytes)
}

pub fn prune(store: &Store, args: ImagePruneArgs) -> anyhow::Result<i32> {
    let filter = PruneFilter::parse(&args.filters)?;
    if !args.force {
        let warning = if args.all {
            "WARNING! This will remove all images without at least one container associated to them."
        } else {
            "WARNING! This will remove all dangling images."
        };
        if !confirm(warning) {
            return Ok(0);
        }
    }
    let lines = remove_unused_images(store, args.all, &filter)?;
    let freed = collect_garbage(store)?;
    if !lines.is_empty() {
        outln!("Deleted Images:");
        for line in &lines {
            outln!("{line}");
        }
        outln!();
    }
    outln!(
        "Total reclaimed space: {}",
        crate::listing::docker_size(freed)
    );
    Ok(0)
}
