//! `hoist load`: images from a `docker save` / `hoist save` archive (docker-archive or OCI layout), as `docker load`.
use std::collections::HashMap;
use std::io::IsTerminal as _;
use std::path::PathBuf;

use anyhow::{bail, Context as _};
use clap::Args;
use hoist_store::Store;

#[derive(Debug, Args)]
pub struct LoadArgs {
    /// Read from this tar archive (plain, gzip, bzip2, xz or zstd) instead of standard input.
    #[arg(short = 'i', long)]
    input: Option<PathBuf>,
    /// Suppress the load output (accepted for docker's sake: hoist shows no progress while loading).
    #[arg(short = 'q', long)]
    quiet: bool,
}

pub fn load(store: &Store, args: LoadArgs) -> anyhow::Result<i32> {
    let from_stdin = args.input.as_ref().is_none_or(|p| p.as_os_str() == "-");
    if from_stdin && std::io::stdin().is_terminal() {
        bail!("requested load from stdin, but stdin is empty");
    }
    // Shared lock: garbage collection must not remove the new blobs before the image names them.
    let _lock = store.lock_shared()?;
    let before: HashMap<String, String> = store
        .list_images()?
        .into_iter()
        .map(|(reference, image)| (reference, image.id.to_string()))
        .collect();
    let loaded = match &args.input {
        Some(path) if !from_stdin => store
            .load_archive(path)
            .with_context(|| format!("loading {}", path.display()))?,
        _ => store
            .load_archive(std::path::Path::new("-"))
            .context("loading from standard input")?,
    };
    for (tags, image) in &loaded {
        if tags.is_empty() {
            outln!("Loaded image ID: {}", image.id);
            continue;
        }
        for tag in tags {
            let replaced = before.get(tag).filter(|old| **old != image.id.to_string());
            if let Some(old) = replaced {
                outln!(
                    "The image {tag} already exists, renaming the old one with ID {old} to empty string"
                );
            }
            outln!("Loaded image: {tag}");
        }
    }
    Ok(0)
}
