//! `hoist cp`: files between a container and the host (or a tar on stdin/stdout), with `docker cp`'s rules
//! for where things land:
//!
//! | source | destination | result |
//! | --- | --- | --- |
//! | file | missing | the file is saved as the destination (its parent must exist; a trailing `/` is an error) |
//! | file | a file | overwritten |
//! | file | a directory | copied into it, under its own name |
//! | directory | missing | created, with the source's contents |
//! | directory | a file | error: cannot copy a directory to a file |
//! | directory | a directory | copied into it under its own name; with `SRC/.`, its contents are |
//!
//! Ownership: into the container, files belong to root unless `-a`; out of it, to the calling user unless
//! `-a`; a tar on stdout keeps the container's owners. Paths in the container are resolved inside its root
//! (see `runtime::container_copy`).

use std::io::Write;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context};
use clap::Args;
use hoist_executor::layer::write_tree_tar;
use hoist_executor::runtime::container_copy::{open_rootfs, Access, Rootfs};
use hoist_store::{unpack_tar, UnpackOptions};

#[derive(Debug, Args)]
pub struct CpArgs {
    /// Always follow symbolic links in SRC_PATH.
    #[arg(short = 'L', long = "follow-link")]
    follow_link: bool,
    /// Archive mode (copy all uid/gid information).
    #[arg(short = 'a', long)]
    archive: bool,
    /// Suppress progress output during copy (hoist prints none).
    #[arg(short = 'q', long)]
    quiet: bool,
    /// `CONTAINER:SRC_PATH`, a host path, or `-` (a tar on stdin).
    source: String,
    /// `CONTAINER:DEST_PATH`, a host path, or `-` (a tar on stdout).
    destination: String,
}

/// One side of a copy.
enum Side<'a> {
    Container { name: &'a str, path: &'a str },
    Local(&'a str),
}

/// Docker's split: a path starting with `/` or `.` is local, else `NAME:PATH` names a container.
fn side(arg: &str) -> Side<'_> {
    if arg.starts_with('/') || arg.starts_with('.') {
        return Side::Local(arg);
    }
    match arg.split_once(':') {
        Some((name, path)) if !name.is_empty() => Side::Container { name, path },
        _ => Side::Local(arg),
    }
}

fn absolute(root: &Path) -> PathBuf {
    std::path::absolute(root).unwrap_or_else(|_| root.to_path_buf())
}

pub fn cp(root: &Path, args: CpArgs) -> anyhow::Result<i32> {
    let root = absolute(root);
    match (side(&args.source), side(&args.destination)) {
        (Side::Container { name, path }, Side::Local(dest)) => {
            copy_out(&root, name, path, dest, &args)?
        }
        (Side::Local(src), Side::Container { name, path }) => {
            copy_in(&root, src, name, path, &args)?
        }
        (Side::Container { .. }, Side::Container { .. }) => {
            bail!("copying between containers is not supported")
        }
        (Side::Local(_), Side::Local(_)) => {
            bail!("must specify at least one container source")
        }
    }
    Ok(0)
}

/// The last component of a path, as the name a copy gets (`/` for the root gives `.`).
fn base_name(path: &str) -> PathBuf {
    let trimmed = path.trim_end_matches('/');
    match trimmed.rsplit('/').next() {
        Some(name) if !name.is_empty() && name != "." && name != ".." => PathBuf::from(name),
        _ => PathBuf::from("."),
    }
}

/// Whether `path` asks for a directory's contents (`DIR/.`).
fn wants_contents(path: &str) -> bool {
    path == "." || path.ends_with("/.")
}

/// Where a copy lands: a directory and the name the source gets in it (`None`: the source's contents go
/// straight into the directory).
#[derive(Debug, PartialEq, Eq)]
enum Landing {
    Into(PathBuf),
    Contents,
}

/// Docker's rules (see the module docs): `dest_is_dir` is `None` when the destination is missing.
fn landing(
    src: &str,
    src_is_dir: bool,
    dest: &str,
    dest_is_dir: Option<bool>,
) -> anyhow::Result<(bool, Landing)> {
    // The first value: whether the landing directory is the destination itself (else its parent).
    match (src_is_dir, dest_is_dir) {
        (false, Some(true)) => Ok((true, Landing::Into(base_name(src)))),
        (false, Some(false)) if dest.ends_with('/') => bail!("{dest}: not a directory"),
        (false, _) if dest.ends_with('/') => {
            bail!("destination directory {dest} does not exist (a path ending in / must be a directory)")
        }
        (false, _) => Ok((false, Landing::Into(base_name(dest)))),
        (true, Some(false)) => {
            bail!("cannot copy a directory to a file: {dest} is not a directory")
        }
        (true, Some(true)) if wants_contents(src) => Ok((true, Landing::Contents)),
        (true, Some(true)) => Ok((true, Landing::Into(base_name(src)))),
        (true, None) => Ok((false, Landing::Into(base_name(dest)))),
    }
}

/// The parent of `path` as written (`a/b` → `a`, `b` → `.`, `/b` → `/`).
fn parent_of(path: &str) -> String {
    let trimmed = path.trim_end_matches('/');
    match trimmed.rfind('/') {
        Some(0) => "/".to_string(),
        Some(i) => trimmed[..i].to_string(),
        None => ".".to_string(),
    }
}

/// Writes a tar of `path` on a thread while `extract` reads it, through a pipe.
fn stream_tar(
    path: &Path,
    root_name: Option<&Path>,
    owner: Option<(u32, u32)>,
    extract: impl FnOnce(std::fs::File) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let (read_end, write_end) = nix::unistd::pipe().context("making a pipe")?;
    let (read_end, write_end): (OwnedFd, OwnedFd) = (read_end, write_end);
    std::thread::scope(|scope| {
        let writer = scope.spawn(move || {
            let mut out = std::fs::File::from(write_end);
            write_tree_tar(path, root_name, owner, &mut out).map(|_| ())
        });
        let extracted = extract(std::fs::File::from(read_end));
        let written = writer
            .join()
            .map_err(|_| anyhow!("the tar writer panicked"))?;
        // The extractor's error says more when both failed (the writer then only saw a closed pipe).
        extracted?;
        written.with_context(|| format!("reading {}", path.display()))
    })
}

fn calling_user() -> (u32, u32) {
    (
        nix::unistd::getuid().as_raw(),
        nix::unistd::getgid().as_raw(),
    )
}

fn copy_out(
    root: &Path,
    container: &str,
    src: &str,
    dest: &str,
    args: &CpArgs,
) -> anyhow::Result<()> {
    let (rootfs, _) = open_rootfs(root, container, Access::Read)?;
    let found = rootfs
        .locate(src, args.follow_link)?
        .filter(|l| l.meta.is_some())
        .ok_or_else(|| anyhow!("Could not find the file {src} in container {container}"))?;
    if src.ends_with('/') && !found.is_dir() {
        bail!("{src} in container {container}: not a directory");
    }
    if dest == "-" {
        let stdout = std::io::stdout();
        let mut out = stdout.lock();
        write_tree_tar(&found.path(), Some(&base_name(src)), None, &mut out)
            .with_context(|| format!("copying {src} out of container {container}"))?;
        out.flush()?;
        return Ok(());
    }
    let dest_meta = std::fs::metadata(dest).ok();
    let (into_dest, landing) = landing(src, found.is_dir(), dest, dest_meta.map(|m| m.is_dir()))?;
    let dir = if into_dest {
        PathBuf::from(dest)
    } else {
        let parent = parent_of(dest);
        if !Path::new(&parent).is_dir() {
            bail!("destination directory {parent} does not exist");
        }
        PathBuf::from(parent)
    };
    let owner = (!args.archive).then(calling_user);
    let root_name = match &landing {
        Landing::Into(name) => Some(name.as_path()),
        Landing::Contents => None,
    };
    stream_tar(&found.path(), root_name, owner, |tar| {
        unpack_tar(tar, &dir, src, plain_tar()).map_err(anyhow::Error::from)
    })
    .with_context(|| format!("copying {container}:{src} to {dest}"))
}

/// A tar as it is (its `.wh.` names are files), not a layer.
fn plain_tar() -> UnpackOptions {
    UnpackOptions {
        overlay_whiteouts: false,
        ..Default::default()
    }
}

fn copy_in(
    root: &Path,
    src: &str,
    container: &str,
    dest: &str,
    args: &CpArgs,
) -> anyhow::Result<()> {
    let (rootfs, _) = open_rootfs(root, container, Access::Write)?;
    let found = rootfs.locate(dest, true)?;
    if src == "-" {
        let dir = found
            .filter(|l| l.is_dir())
            .ok_or_else(|| anyhow!("destination \"{container}:{dest}\" must be a directory"))?;
        let (_fd, dir_path) = rootfs.open_dir(&dir.resolved)?;
        return unpack_tar(
            std::io::stdin().lock(),
            &dir_path,
            "the tar on stdin",
            plain_tar(),
        )
        .with_context(|| format!("extracting the tar on stdin into {container}:{dest}"));
    }
    let src_meta = if args.follow_link {
        std::fs::metadata(src)
    } else {
        std::fs::symlink_metadata(src)
    }
    .map_err(|e| anyhow!("lstat {src}: {}", io_message(&e)))?;
    if src.ends_with('/') && !src_meta.is_dir() {
        bail!("{src}: not a directory");
    }
    let dest_is_dir = found
        .as_ref()
        .and_then(|l| l.meta.as_ref().map(|m| m.is_dir()));
    let (into_dest, landing) = landing(src, src_meta.is_dir(), dest, dest_is_dir)?;
    let dir_in_container = match (&found, into_dest) {
        (Some(found), true) => found.resolved.clone(),
        (Some(found), false) => parent_of(&found.resolved),
        (None, _) => bail!(
            "Could not find the file {} in container {container}",
            parent_of(dest)
        ),
    };
    let (_fd, dir_path) = open_landing(&rootfs, &dir_in_container)?;
    let src_path = if args.follow_link {
        std::fs::canonicalize(src).with_context(|| format!("resolving {src}"))?
    } else {
        PathBuf::from(src)
    };
    let owner = (!args.archive).then_some((0, 0));
    let root_name = match &landing {
        Landing::Into(name) => Some(name.as_path()),
        Landing::Contents => None,
    };
    stream_tar(&src_path, root_name, owner, |tar| {
        unpack_tar(tar, &dir_path, src, plain_tar()).map_err(anyhow::Error::from)
    })
    .with_context(|| format!("copying {src} to {container}:{dest}"))
}

fn open_landing(rootfs: &Rootfs, dir: &str) -> anyhow::Result<(OwnedFd, PathBuf)> {
    Ok(rootfs.open_dir(dir)?)
}

/// `io::Error`'s text without Rust's ` (os error N)`, as Go words it.
fn io_message(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".to_string(),
        _ => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_cp_landings() {
        let into = |n: &str| Landing::Into(PathBuf::from(n));
        assert_eq!(
            landing("/a/f", false, "d", Some(true)).unwrap(),
            (true, into("f"))
        );
        assert_eq!(
            landing("/a/f", false, "g", None).unwrap(),
            (false, into("g"))
        );
        assert_eq!(
            landing("/a/f", false, "g", Some(false)).unwrap(),
            (false, into("g"))
        );
        assert!(landing("/a/f", false, "g/", None).is_err());
        assert!(landing("/a/f", false, "g/", Some(false))
            .unwrap_err()
            .to_string()
            .contains("not a directory"));
        assert!(landing("/a/d", true, "g", Some(false))
            .unwrap_err()
            .to_string()
            .contains("cannot copy a directory to a file"));
        assert_eq!(
            landing("/a/d", true, "e", Some(true)).unwrap(),
            (true, into("d"))
        );
        assert_eq!(
            landing("/a/d/.", true, "e", Some(true)).unwrap(),
            (true, Landing::Contents)
        );
        assert_eq!(
            landing("/a/d", true, "new", None).unwrap(),
            (false, into("new"))
        );
        assert_eq!(parent_of("/x"), "/");
        assert_eq!(parent_of("x"), ".");
        assert_eq!(parent_of("a/b/"), "a");
        assert_eq!(base_name("/"), PathBuf::from("."));
        assert_eq!(base_name("/a/b/"), PathBuf::from("b"));
    }

    #[test]
    fn sides_as_docker_splits_them() {
        assert!(matches!(
            side("c:/x"),
            Side::Container {
                name: "c",
                path: "/x"
            }
        ));
        assert!(matches!(side("./c:/x"), Side::Local(_)));
        assert!(matches!(side("/c:/x"), Side::Local(_)));
        assert!(matches!(side("-"), Side::Local("-")));
    }
}
