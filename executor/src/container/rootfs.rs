//! Paths in the container's root filesystem: symlinks resolve inside it ([`resolve_in_root`]), the
//! working directory is made before the container starts, mount points follow the image's symlinks.

use std::ffi::OsString;
use std::io;
use std::path::{Component, Path, PathBuf};

use super::error::{io_err, ContainerError, Result};
use super::request::InitRequest;

/// Create the working directory inside the rootfs. Symlinks on the way resolve inside the
/// rootfs (as they would in the container), never to the host.
pub(super) fn prepare_rootfs(request: &InitRequest) -> Result<()> {
    let cwd = resolve_in_root(&request.rootfs, Path::new(&request.cwd))
        .map_err(io_err("resolve the working directory in", &request.rootfs))?;
    if !cwd.is_dir() {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(&cwd)
            .map_err(io_err("create the working directory", &cwd))?;
    }
    Ok(())
}

/// Where a mount at `destination` lands in the container: a symlink on the way (an image's `/data -> /srv/data`)
/// is followed inside `rootfs`, as runc does, so the mount neither fails nor lands outside the root.
pub(super) fn mount_destination(rootfs: &Path, destination: &Path) -> Result<String> {
    let resolved = resolve_in_root(rootfs, destination).map_err(|e| {
        ContainerError::InvalidSpec(format!(
            "mount point {}: cannot follow its symlinks inside the image: {e}",
            destination.display()
        ))
    })?;
    let inside = resolved.strip_prefix(rootfs).unwrap_or(destination);
    Ok(Path::new("/").join(inside).to_string_lossy().into_owned())
}

/// `root` joined with `path`, following symlinks as if `root` were `/` (`..` and absolute
/// targets stay inside). Components that do not exist yet are appended as they are.
pub fn resolve_in_root(root: &Path, path: &Path) -> io::Result<PathBuf> {
    let mut pending: Vec<OsString> = path
        .components()
        .rev()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.to_os_string()),
            Component::ParentDir => Some(OsString::from("..")),
            _ => None,
        })
        .collect();
    let mut resolved: Vec<OsString> = Vec::new();
    let mut links_followed = 0;
    while let Some(part) = pending.pop() {
        if part == ".." {
            resolved.pop();
            continue;
        }
        let candidate: PathBuf = std::iter::once(root.as_os_str())
            .chain(resolved.iter().map(OsString::as_os_str))
            .chain(std::iter::once(part.as_os_str()))
            .collect();
        match std::fs::symlink_metadata(&candidate) {
            Ok(meta) if meta.file_type().is_symlink() => {
                links_followed += 1;
                if links_followed > 40 {
                    return Err(io::Error::from_raw_os_error(libc::ELOOP));
                }
                let target = std::fs::read_link(&candidate)?;
                if target.is_absolute() {
                    resolved.clear();
                }
                for c in target.components().rev() {
                    match c {
                        Component::Normal(n) => pending.push(n.to_os_string()),
                        Component::ParentDir => pending.push(OsString::from("..")),
                        _ => {}
                    }
                }
            }
            Ok(_) => resolved.push(part),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                resolved.push(part);
                // Nothing below a missing component exists: take the rest literally.
                while let Some(rest) = pending.pop() {
                    if rest == ".." {
                        resolved.pop();
                    } else {
                        resolved.push(rest);
                    }
                }
            }
            Err(e) => return Err(e),
        }
    }
    Ok(std::iter::once(root.as_os_str())
        .chain(resolved.iter().map(OsString::as_os_str))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolve_in_root_stays_inside() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("real/dir")).unwrap();
        std::os::unix::fs::symlink("/real", root.join("abs")).unwrap();
        std::os::unix::fs::symlink("../../../..", root.join("real/up")).unwrap();
        assert_eq!(
            resolve_in_root(root, Path::new("/abs/dir")).unwrap(),
            root.join("real/dir")
        );
        assert_eq!(
            resolve_in_root(root, Path::new("/real/up/etc")).unwrap(),
            root.join("etc")
        );
        assert_eq!(
            resolve_in_root(root, Path::new("/../../x/y")).unwrap(),
            root.join("x/y")
        );
        assert_eq!(
            resolve_in_root(root, Path::new("/")).unwrap(),
            root.to_path_buf()
        );
    }
}
