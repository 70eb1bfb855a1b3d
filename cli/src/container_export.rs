//! `hoist export`: a container's filesystem (its image's layers with its changes on top, flattened) as one
//! tar, as `docker export` writes it: names relative to `/`, owners, modes, devices, hardlinks and file
//! capabilities kept, nothing of what is mounted in the container (volumes, `/proc`), and the mount points
//! hoist gives every container (`/etc/hosts`, `/proc` …, see `runtime::mountpoints`) as the empty files and
//! directories Docker's init layer has.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::Args;
use hoist_executor::layer::write_tree_tar;
use hoist_executor::runtime::container_copy::{open_rootfs, Access};

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Write to a file, instead of STDOUT.
    #[arg(short = 'o', long)]
    output: Option<PathBuf>,
    container: String,
}

pub fn export(root: &Path, args: ExportArgs) -> anyhow::Result<i32> {
    let root = std::path::absolute(root).unwrap_or_else(|_| root.to_path_buf());
    if args.output.is_none() && std::io::stdout().is_terminal() {
        bail!("cowardly refusing to save to a terminal. Use the -o flag or redirect");
    }
    let (rootfs, _) = open_rootfs(&root, &args.container, Access::Flattened)?;
    match &args.output {
        Some(path) => {
            // Written beside the destination and renamed: a failed export leaves no half tar behind.
            let dir = path
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            let mut tmp = tempfile::NamedTempFile::new_in(dir)
                .with_context(|| format!("creating a file in {}", dir.display()))?;
            write_tree_tar(rootfs.path(), None, None, tmp.as_file_mut())
                .with_context(|| format!("exporting container {}", args.container))?;
            tmp.as_file().sync_all()?;
            std::fs::set_permissions(
                tmp.path(),
                std::os::unix::fs::PermissionsExt::from_mode(0o644),
            )?;
            tmp.persist(path)
                .with_context(|| format!("writing {}", path.display()))?;
        }
        None => {
            let stdout = std::io::stdout();
            let mut out = stdout.lock();
            write_tree_tar(rootfs.path(), None, None, &mut out)
                .with_context(|| format!("exporting container {}", args.container))?;
            out.flush()?;
        }
    }
    Ok(0)
}
