//! `hoist cache ls | du | prune | export | import`: look at, measure, trim and carry the build cache.
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, Subcommand, ValueEnum};
use hoist_store::{CacheFilter, CacheItem, CacheItemKind, PruneOptions, Store, UsageLine};

#[derive(Debug, Args)]
pub struct CacheArgs {
    #[command(subcommand)]
    command: CacheCommand,
}

#[derive(Debug, Subcommand)]
enum CacheCommand {
    /// List build cache records.
    #[command(alias = "list")]
    Ls(LsArgs),
    /// Show the build cache's disk usage.
    Du(DuArgs),
    /// Remove build cache (never what a tagged image or a running build uses).
    Prune(PruneArgs),
    /// Write build cache records and their layers to a directory (what `--cache-to type=local` writes).
    Export(ExportArgs),
    /// Add the build cache records of a directory written by `export` or `--cache-to`.
    Import(ImportArgs),
    /// Show, for the build of an image (or `last`: the latest build), every step and why each miss missed.
    Explain(ExplainArgs),
}

#[derive(Debug, Args)]
struct ExplainArgs {
    /// An image built by hoist, or `last`.
    #[arg(default_value = "last")]
    image: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Table,
    Json,
}

#[derive(Debug, Args)]
struct LsArgs {
    /// `type=regular|exec.cachemount|source.local|run|copy|add|workdir`, `until=24h`, or a description substring.
    #[arg(long = "filter")]
    filters: Vec<String>,
    /// `table`, or `json` (one JSON array).
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
    /// Do not shorten keys and descriptions.
    #[arg(long)]
    no_trunc: bool,
}

#[derive(Debug, Args)]
struct DuArgs {
    /// `table`, or `json` (one JSON object).
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
}

#[derive(Debug, Args)]
struct PruneArgs {
    /// Also remove the records of layers that images use (the images keep their layers).
    #[arg(short = 'a', long)]
    all: bool,
    /// Keep this much reclaimable cache (e.g. `2GB`), removing the least recently used first.
    #[arg(long = "keep-storage")]
    keep_storage: Option<String>,
    /// `type=…`, `until=24h`, or a description substring; an item must match all of them.
    #[arg(long = "filter")]
    filters: Vec<String>,
    /// Accepted for docker compatibility: hoist never asks for confirmation.
    #[arg(short = 'f', long)]
    force: bool,
}

#[derive(Debug, Args)]
struct ExportArgs {
    /// Export only these records (keys or unique key prefixes) and their ancestors; default: every record.
    #[arg(long = "key")]
    keys: Vec<String>,
    /// The directory to write (created if missing; a previous export there is replaced).
    dir: PathBuf,
}

#[derive(Debug, Args)]
struct ImportArgs {
    /// A directory written by `hoist cache export` or `--cache-to type=local,dest=DIR`.
    dir: PathBuf,
}

pub fn run(store: &Store, args: CacheArgs) -> anyhow::Result<i32> {
    match args.command {
        CacheCommand::Ls(a) => ls(store, a),
        CacheCommand::Du(a) => du(store, a),
        CacheCommand::Prune(a) => prune(store, a),
        CacheCommand::Export(a) => export(store, a),
        CacheCommand::Import(a) => import(store, a),
        CacheCommand::Explain(a) => crate::explain::explain(store, &a.image),
    }
}

fn parse_filters(filters: &[String]) -> anyhow::Result<CacheFilter> {
    CacheFilter::parse(filters).map_err(|e| anyhow::anyhow!("--filter: {e}"))
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn type_name(kind: &CacheItemKind) -> &str {
    match kind {
        CacheItemKind::Step(step) => step.as_str(),
        CacheItemKind::CacheMount => "cache mount",
        CacheItemKind::ContextChecksums => "context",
    }
}

/// A record key without `sha256:`, 12 hex digits unless `full`.
fn short_id(id: &str, full: bool) -> &str {
    let hex = id.strip_prefix("sha256:").unwrap_or(id);
    if full {
        hex
    } else {
        hex.get(..12).unwrap_or(hex)
    }
}

fn ls(store: &Store, args: LsArgs) -> anyhow::Result<i32> {
    let filter = parse_filters(&args.filters)?;
    let t = now();
    let items: Vec<CacheItem> = store
        .cache_items()?
        .into_iter()
        .filter(|i| filter.matches(i, t))
        .collect();
    if args.format == Format::Json {
        let json: Vec<serde_json::Value> = items.iter().map(item_json).collect();
        outln!("{}", serde_json::to_string_pretty(&json)?);
        return Ok(0);
    }
    outln!(
        "{:<12}  {:<11}  {:>9}  {:<15}  {:<15}  {:>5}  {:<6}  DESCRIPTION",
        "ID",
        "TYPE",
        "SIZE",
        "CREATED",
        "LAST USED",
        "USAGE",
        "SHARED"
    );
    for item in &items {
        let description = truncate(
            &item.description,
            if args.no_trunc { usize::MAX } else { 60 },
        );
        outln!(
            "{:<12}  {:<11}  {:>9}  {:<15}  {:<15}  {:>5}  {:<6}  {}",
            short_id(&item.id, args.no_trunc),
            type_name(&item.kind),
            crate::output::human_size(item.size),
            ago(item.created, t),
            ago(item.last_used, t),
            item.used_count,
            if item.shared { "true" } else { "false" },
            description
        );
    }
    Ok(0)
}

fn item_json(item: &CacheItem) -> serde_json::Value {
    let time = |secs: i64| {
        chrono::DateTime::from_timestamp(secs, 0)
            .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
            .unwrap_or_default()
    };
    serde_json::json!({
        "id": item.id,
        "short_id": short_id(&item.id, false),
        "type": item.kind.record_type(),
        "step": match &item.kind { CacheItemKind::Step(s) => Some(s.as_str()), _ => None },
        "description": item.description,
        "size": item.size,
        "created": time(item.created),
        "last_used": time(item.last_used),
        "used_count": item.used_count,
        "shared": item.shared,
        "in_use_by_image": item.in_image,
        "layer": item.layer.as_ref().map(|l| l.to_string()),
    })
}

fn du(store: &Store, args: DuArgs) -> anyhow::Result<i32> {
    let usage = store.cache_disk_usage()?;
    if args.format == Format::Json {
        let lines = |ls: &[UsageLine]| -> Vec<serde_json::Value> {
            ls.iter()
                .map(|l| serde_json::json!({"name": l.name, "items": l.items, "size": l.size, "reclaimable": l.reclaimable}))
                .collect()
        };
        let json = serde_json::json!({
            "total": usage.total,
            "reclaimable": usage.reclaimable,
            "by_type": lines(&usage.by_type),
            "by_step": lines(&usage.by_step),
        });
        outln!("{}", serde_json::to_string_pretty(&json)?);
        return Ok(0);
    }
    let table = |title: &str, lines: &[UsageLine]| {
        outln!(
            "{title:<18}  {:>6}  {:>10}  {:>11}",
            "ITEMS",
            "SIZE",
            "RECLAIMABLE"
        );
        for l in lines {
            outln!(
                "{:<18}  {:>6}  {:>10}  {:>11}",
                l.name,
                l.items,
                crate::output::human_size(l.size),
                crate::output::human_size(l.reclaimable)
            );
        }
    };
    table("TYPE", &usage.by_type);
    if !usage.by_step.is_empty() {
        outln!();
        table("STEP", &usage.by_step);
    }
    outln!();
    outln!("Total:        {}", crate::output::human_size(usage.total));
    outln!(
        "Reclaimable:  {}",
        crate::output::human_size(usage.reclaimable)
    );
    Ok(0)
}

fn prune(store: &Store, args: PruneArgs) -> anyhow::Result<i32> {
    let _ = args.force;
    let filter = parse_filters(&args.filters)?;
    let keep_storage = args
        .keep_storage
        .as_deref()
        .map(hoist_store::parse_size)
        .transpose()
        .map_err(|e| anyhow::anyhow!("--keep-storage: {e}"))?;
    // Builds hold the shared lock: waiting for the exclusive one means no build is using what we remove.
    let _lock = lock_exclusive_telling_why(store)?;
    let options = PruneOptions {
        all: args.all,
        keep_storage,
        filter,
        // Under the exclusive lock no build is in flight, so nothing young needs sparing.
        gc_grace: Duration::ZERO,
    };
    let report = store
        .cache_prune_items(&options)
        .context("pruning the build cache")?;
    if !report.removed.is_empty() {
        outln!("Deleted build cache objects:");
        for item in &report.removed {
            outln!(
                "{}  {}",
                short_id(&item.id, false),
                truncate(&item.description, 70)
            );
        }
        outln!();
    }
    outln!(
        "Total reclaimed space: {}",
        crate::output::human_size(report.reclaimed_bytes)
    );
    Ok(0)
}

/// Take [`Store::lock`], saying on stderr what we wait for if running builds hold it for more than a second.
fn lock_exclusive_telling_why(store: &Store) -> anyhow::Result<hoist_store::StoreLock> {
    let acquired = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&acquired);
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(1));
        if !flag.load(Ordering::SeqCst) {
            errln!("waiting for running builds on this state directory to finish…");
        }
    });
    let lock = store.lock().context("locking the state directory")?;
    acquired.store(true, Ordering::SeqCst);
    Ok(lock)
}

fn export(store: &Store, args: ExportArgs) -> anyhow::Result<i32> {
    let records = store.cache_records()?;
    let keys: Vec<String> = if args.keys.is_empty() {
        records.iter().map(|r| r.key.clone()).collect()
    } else {
        let mut keys = Vec::new();
        for wanted in &args.keys {
            let bare = wanted.strip_prefix("sha256:").unwrap_or(wanted);
            let matching: Vec<&str> = records
                .iter()
                .map(|r| r.key.as_str())
                .filter(|k| short_id(k, true).starts_with(bare))
                .collect();
            match matching.as_slice() {
                [one] => keys.push(one.to_string()),
                [] => anyhow::bail!("--key {wanted}: no cache record has this key (see `hoist cache ls --no-trunc`)"),
                _ => anyhow::bail!("--key {wanted}: {} records start with it; give more digits", matching.len()),
            }
        }
        keys
    };
    let _lock = store.lock_shared().context("locking the state directory")?;
    let report = store
        .export_cache(&keys, &args.dir)
        .with_context(|| format!("exporting the build cache to {}", args.dir.display()))?;
    errln!(
        "exported {} cache records to {} ({} layers copied, {})",
        report.records,
        args.dir.display(),
        report.blobs_copied,
        crate::output::human_size(report.bytes_copied)
    );
    Ok(0)
}

fn import(store: &Store, args: ImportArgs) -> anyhow::Result<i32> {
    let _lock = store.lock_shared().context("locking the state directory")?;
    let added = store
        .import_cache(&args.dir)
        .with_context(|| format!("importing the build cache from {}", args.dir.display()))?;
    errln!("imported {added} cache records from {}", args.dir.display());
    Ok(0)
}

/// The directory of a `--cache-to type=local,dest=DIR` (`dir_key` `dest`) or `--cache-from type=local,src=DIR`
/// (`dir_key` `src`) value, docker buildx's syntax; `mode=min|max` is accepted (hoist exports every step).
pub fn parse_local_cache_spec(flag: &str, spec: &str, dir_key: &str) -> anyhow::Result<PathBuf> {
    let fields: Vec<(&str, &str)> = spec
        .split(',')
        .map(|f| f.split_once('=').unwrap_or((f, "")))
        .collect();
    match fields.iter().find(|(k, _)| *k == "type").map(|(_, v)| *v) {
        Some("local") => {}
        Some(other) => anyhow::bail!(
            "{flag} {spec}: cache type {other:?} is not supported; hoist has type=local,{dir_key}=DIR and type=registry,ref=REGISTRY/REPO:TAG"
        ),
        None => anyhow::bail!("{flag} {spec}: expected type=local,{dir_key}=DIR"),
    }
    let mut dir = None;
    for (key, value) in fields {
        match (key, value) {
            ("type", _) | ("mode", "min" | "max") => {}
            (k, "") if k == dir_key => {}
            (k, v) if k == dir_key && !v.is_empty() => dir = Some(PathBuf::from(v)),
            _ => anyhow::bail!(
                "{flag} {spec}: unknown field {key:?}; expected type=local,{dir_key}=DIR"
            ),
        }
    }
    dir.ok_or_else(|| anyhow::anyhow!("{flag} {spec}: {dir_key}=DIR is required"))
}

/// `hoist build --cache-from type=local,src=DIR`: add each directory's records before the build. A directory
/// that is not there yet (the first CI run) is a warning, as in BuildKit.
pub fn import_cache_from(store: &Store, specs: &[String]) -> anyhow::Result<()> {
    for spec in specs {
        let dir = parse_local_cache_spec("--cache-from", spec, "src")?;
        if !dir.join("index.json").exists() {
            errln!(
                "WARNING: --cache-from {spec}: no build cache at {} yet; building without it",
                dir.display()
            );
            continue;
        }
        let _lock = store.lock_shared().context("locking the state directory")?;
        let added = store
            .import_cache(&dir)
            .with_context(|| format!("--cache-from {spec}: importing the build cache"))?;
        errln!("importing cache from {}: {added} records", dir.display());
    }
    Ok(())
}

/// `hoist build --cache-to type=local,dest=DIR`: write the build's steps (`keys`, e.g. the keys of
/// `BuildOutput::report`) and their layers to DIR.
pub fn export_cache_to(store: &Store, spec: &str, keys: &[String]) -> anyhow::Result<()> {
    let dir = parse_local_cache_spec("--cache-to", spec, "dest")?;
    let _lock = store.lock_shared().context("locking the state directory")?;
    let report = store
        .export_cache(keys, &dir)
        .with_context(|| format!("--cache-to {spec}: exporting the build cache"))?;
    errln!(
        "exporting cache to {}: {} records, {} layers copied ({})",
        dir.display(),
        report.records,
        report.blobs_copied,
        crate::output::human_size(report.bytes_copied)
    );
    Ok(())
}

/// `s` on one line (control characters, such as a heredoc's newlines or escapes from an imported cache, become
/// spaces), cut to `max` characters with an ellipsis.
fn truncate(s: &str, max: usize) -> String {
    let line: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if line.chars().count() <= max {
        return line;
    }
    let mut t: String = line.chars().take(max.saturating_sub(1)).collect();
    t.push('…');
    t
}

/// `5 seconds ago`, `3 hours ago`.
fn ago(when: i64, now: i64) -> String {
    let secs = now.saturating_sub(when).max(0);
    match secs {
        0..=59 => format!("{secs} seconds ago"),
        60..=3599 => format!("{} minutes ago", secs / 60),
        3600..=86399 => format!("{} hours ago", secs / 3600),
        _ => format!("{} days ago", secs / 86400),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_ids_and_truncation() {
        let key = format!("sha256:{}", "ab".repeat(32));
        assert_eq!(short_id(&key, false), "abababababab");
        assert_eq!(short_id(&key, true).len(), 64);
        assert_eq!(short_id("m1", false), "m1");
        assert_eq!(truncate("abcdef", 4), "abc…");
        assert_eq!(truncate("abc", 4), "abc");
        assert_eq!(truncate("RUN <<EOF\necho\x1b[2J", 80), "RUN <<EOF echo [2J");
    }

    #[test]
    fn cache_specs() {
        let dir = parse_local_cache_spec("--cache-to", "type=local,dest=/tmp/c,mode=max", "dest")
            .unwrap();
        assert_eq!(dir, PathBuf::from("/tmp/c"));
        let dir = parse_local_cache_spec("--cache-from", "src=ci-cache,type=local", "src").unwrap();
        assert_eq!(dir, PathBuf::from("ci-cache"));
        let e = parse_local_cache_spec("--cache-to", "type=registry,ref=x", "dest").unwrap_err();
        assert!(e.to_string().contains("not supported"), "{e}");
        let e = parse_local_cache_spec("--cache-to", "type=local", "dest").unwrap_err();
        assert!(e.to_string().contains("dest=DIR is required"), "{e}");
        let e = parse_local_cache_spec("--cache-from", "type=local,dest=x", "src").unwrap_err();
        assert!(e.to_string().contains("unknown field"), "{e}");
        assert!(parse_local_cache_spec("--cache-from", "/some/dir", "src").is_err());
    }

    #[test]
    fn ages() {
        assert_eq!(ago(100, 130), "30 seconds ago");
        assert_eq!(ago(0, 7200), "2 hours ago");
        assert_eq!(ago(200, 100), "0 seconds ago");
    }
}
