//! `hoist import`, `save`, `rmi` (`images` is in `image_list`).
use std::io::{IsTerminal as _, Write as _};
use std::path::PathBuf;

use anyhow::{bail, Context as _};
use clap::Args;
use hoist_store::{LayerCompression, Store};

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// A root filesystem tarball (plain, gzip, bzip2 or xz).
    file: PathBuf,
    /// The reference to tag the image with (`name[:tag]`).
    reference: String,
}

#[derive(Debug, Args)]
pub struct SaveArgs {
    /// Write to this file (a tar); `-`, or no -o, writes to stdout (refused when stdout is a terminal).
    #[arg(short = 'o', long)]
    output: Option<PathBuf>,
    /// Archive format: docker (`docker save`/`docker load`) or oci (an OCI image layout, also loadable by docker).
    #[arg(long, value_enum, default_value_t = SaveFormat::Docker)]
    format: SaveFormat,
    /// Same as `--format oci`.
    #[arg(long, conflicts_with = "format")]
    oci: bool,
    /// Layer compression [default: none for docker, gzip for oci]. Compressed layers are made once and kept
    /// in the store, so saving again is fast. zstd needs `--format oci`.
    #[arg(long, value_enum)]
    compress: Option<SaveCompression>,
    #[arg(required = true)]
    images: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SaveFormat {
    Docker,
    Oci,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SaveCompression {
    None,
    Gzip,
    Zstd,
}

impl SaveArgs {
    fn format(&self) -> SaveFormat {
        if self.oci {
            SaveFormat::Oci
        } else {
            self.format
        }
    }

    /// The layer compression: the flag, or the format's default (docker: none, like `docker save`; oci: gzip).
    fn layer_compression(&self) -> anyhow::Result<Option<LayerCompression>> {
        let format = self.format();
        let chosen = self.compress.unwrap_or(match format {
            SaveFormat::Docker => SaveCompression::None,
            SaveFormat::Oci => SaveCompression::Gzip,
        });
        Ok(match chosen {
            SaveCompression::None => None,
            SaveCompression::Gzip => Some(LayerCompression::Gzip),
            SaveCompression::Zstd if format == SaveFormat::Docker => bail!(
                "--compress zstd needs --format oci: docker load reads only plain or gzip layers from a \
                 docker-archive (use --format oci --compress zstd, or --compress gzip)"
            ),
            SaveCompression::Zstd => Some(LayerCompression::Zstd),
        })
    }
}

#[derive(Debug, Args)]
pub struct RmiArgs {
    /// Remove the image even if a stopped container uses it.
    #[arg(short = 'f', long)]
    force: bool,
    #[arg(required = true)]
    images: Vec<String>,
}

/// A reference `hoist` can tag with: `name[:tag]`, name in lower case (`registry/path/name` allowed).
pub fn check_reference(reference: &str) -> anyhow::Result<()> {
    let (name, tag) = match reference.rsplit_once(':') {
        Some((n, t)) if !t.contains('/') => (n, Some(t)),
        _ => (reference, None),
    };
    let name_ok = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-/:".contains(c))
        && !name.starts_with(['.', '-', '/'])
        && !name.ends_with(['.', '-', '/']);
    if !name_ok {
        bail!("{reference:?}: a repository name has lower-case letters, digits and . _ - / only");
    }
    if let Some(tag) = tag {
        let tag_ok = !tag.is_empty()
            && tag.len() <= 128
            && tag
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
            && !tag.starts_with(['.', '-']);
        if !tag_ok {
            bail!("{reference:?}: a tag has letters, digits, . _ - only (at most 128)");
        }
    }
    Ok(())
}

pub fn import(store: &Store, args: ImportArgs) -> anyhow::Result<i32> {
    check_reference(&args.reference)?;
    let image = store
        .import_rootfs_tar(&args.file, &args.reference)
        .with_context(|| format!("importing {}", args.file.display()))?;
    outln!("{}", image.id);
    Ok(0)
}

pub fn save(store: &Store, args: SaveArgs) -> anyhow::Result<i32> {
    let compression = args.layer_compression()?;
    // `-o -` is stdout, as for docker; no -o is stdout too, unless that is a terminal (docker's words).
    let to_file = args.output.as_ref().filter(|p| p.as_os_str() != "-");
    if to_file.is_none() && std::io::stdout().is_terminal() {
        bail!("cowardly refusing to save to a terminal. Use the -o flag or redirect");
    }
    // Shared lock: garbage collection must not remove layers (or their fresh compressed copies) mid-save.
    let _lock = store.lock_shared()?;
    for name in &args.images {
        if store.resolve(name)?.is_none() {
            bail!("no such image: {name}");
        }
    }
    let Some(output) = to_file else {
        return save_to_stdout(store, &args, compression);
    };
    match args.format() {
        SaveFormat::Oci => store.save_oci_layout_compressed(&args.images, output, compression),
        SaveFormat::Docker => {
            store.save_docker_archive_compressed(&args.images, output, compression)
        }
    }
    .with_context(|| format!("saving to {}", output.display()))?;
    Ok(0)
}

/// The archive streamed to stdout. A reader that goes away mid-archive (`| head -c`) stops the save: its
/// broken pipe ends hoist quietly (see [`crate::output`]).
fn save_to_stdout(
    store: &Store,
    args: &SaveArgs,
    compression: Option<LayerCompression>,
) -> anyhow::Result<i32> {
    let out = std::io::BufWriter::with_capacity(256 * 1024, std::io::stdout().lock());
    let mut out = match args.format() {
        SaveFormat::Oci => store.write_oci_layout_compressed(&args.images, out, compression),
        SaveFormat::Docker => store.write_docker_archive_compressed(&args.images, out, compression),
    }
    .context("saving to stdout")?;
    out.flush().context("saving to stdout")?;
    Ok(0)
}

pub fn rmi(store: &Store, args: RmiArgs) -> anyhow::Result<i32> {
    // As docker: every name is tried, the errors are printed together at the end; with -f, names that do not
    // exist are reported but do not fail the command.
    let mut errors = Vec::new();
    let mut fatal = false;
    for name in &args.images {
        match remove_one(store, name, args.force) {
            Ok(removed) => {
                for line in removed {
                    outln!("{line}");
                }
            }
            Err(RmiError::NotFound) => errors.push(format!("Error: No such image: {name}")),
            Err(RmiError::Failed(e)) => {
                fatal = true;
                errors.push(format!(
                    "Error response from daemon: {}",
                    crate::output::error_chain(&e)
                ));
            }
        }
    }
    let root = std::path::absolute(store.root()).unwrap_or_else(|_| store.root().to_path_buf());
    crate::layer_stacks::prune(&root, Some(store));
    if errors.is_empty() {
        return Ok(0);
    }
    errln!("{}", errors.join("\n"));
    Ok(if fatal || !args.force { 1 } else { 0 })
}

enum RmiError {
    NotFound,
    Failed(anyhow::Error),
}

fn remove_one(store: &Store, name: &str, force: bool) -> Result<Vec<String>, RmiError> {
    match store.resolve(name) {
        Ok(Some(_)) => {}
        Ok(None) => return Err(RmiError::NotFound),
        Err(e) => return Err(RmiError::Failed(e.into())),
    }
    crate::rmi_guard::check(store, store.root(), name, force).map_err(RmiError::Failed)?;
    store
        .remove_image(name)
        .map_err(|e| RmiError::Failed(e.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references() {
        assert!(check_reference("demo:1").is_ok());
        assert!(check_reference("registry.local:5000/team/app:v1.2").is_ok());
        assert!(check_reference("busybox").is_ok());
        assert!(check_reference("Demo").is_err());
        assert!(check_reference("demo:").is_err());
        assert!(check_reference("demo:bad tag").is_err());
    }

    #[test]
    fn sizes() {
        assert_eq!(crate::output::human_size(999), "999B");
        assert_eq!(crate::output::human_size(4_500_000), "4.5MB");
    }
}
