//! Resolving paths inside a root directory, the way `filepath-securejoin` / continuity's `RootPath` do:
//! symlinks are followed, but an absolute symlink target starts again at the root and `..` stops at the root,
//! so the result always lies inside the root.

use std::ffi::{OsStr, OsString};
use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::error::{CopyError, Result};
use super::paths::{clean_components, display_in_root};

/// Linux gives up after 40 links per lookup; BuildKit's securejoin after 255 for a whole path.
const MAX_SYMLINK_FOLLOWS: u32 = 255;

/// Resolves `path` (absolute, or relative to `root`) inside `root`, following every symlink including the last
/// component. Components that do not exist are kept as written. The result always starts with `root`.
pub fn resolve_in_root(root: &Path, path: &str) -> Result<PathBuf> {
    let components = clean_components(path);
    resolve_components(root, components.iter().map(|c| OsStr::new(*c)), path)
}

/// Like [`resolve_in_root`], but the last component is not followed: the result names the symlink itself when
/// there is one there (for operations that replace an entry rather than write through it).
pub fn resolve_parent_in_root(root: &Path, path: &str) -> Result<PathBuf> {
    let mut components = clean_components(path);
    let Some(last) = components.pop() else {
        return Ok(root.to_path_buf());
    };
    let mut parent = resolve_components(root, components.iter().map(|c| OsStr::new(*c)), path)?;
    parent.push(last);
    Ok(parent)
}

/// Creates the missing directories of `path` inside `root` (mode 0755, owned by `owner`, 0:0 when `None`),
/// following symlinks inside the root; existing directories are left untouched. Returns the resolved path.
pub fn mkdir_all_in_root(root: &Path, path: &str, owner: Option<(u32, u32)>) -> Result<PathBuf> {
    let resolved = resolve_in_root(root, path)?;
    mkdir_all_resolved(root, &resolved, owner.unwrap_or((0, 0)))?;
    Ok(resolved)
}

/// Resolves already-split components (each a single name, `.` or `..`) inside `root`.
pub(crate) fn resolve_components<'a>(
    root: &Path,
    components: impl DoubleEndedIterator<Item = &'a OsStr>,
    shown: &str,
) -> Result<PathBuf> {
    // A stack of components still to walk; the next one is on top.
    let mut pending: Vec<OsString> = components.rev().map(OsStr::to_os_string).collect();
    let mut resolved = root.to_path_buf();
    let mut depth = 0usize;
    let mut follows = 0u32;
    // Once a component is missing, nothing below it can be a symlink: skip the lstat calls.
    let mut missing = false;

    while let Some(component) = pending.pop() {
        let bytes = component.as_bytes();
        if bytes.is_empty() || bytes == b"." {
            continue;
        }
        if bytes == b".." {
            if depth > 0 {
                resolved.pop();
                depth -= 1;
            }
            // Back above the missing component, the next one may exist again (and be a symlink).
            missing = false;
            continue;
        }
        resolved.push(&component);
        depth += 1;
        if missing {
            continue;
        }
        match fs::symlink_metadata(&resolved) {
            Ok(meta) if meta.file_type().is_symlink() => {
                follows += 1;
                if follows > MAX_SYMLINK_FOLLOWS {
                    return Err(CopyError::SymlinkLoop {
                        path: shown.to_string(),
                    });
                }
                let target = fs::read_link(&resolved)
                    .map_err(|e| CopyError::io("read symlink", &resolved, e))?;
                resolved.pop();
                depth -= 1;
                let target_bytes = target.as_os_str().as_bytes();
                if target_bytes.first() == Some(&b'/') {
                    resolved = root.to_path_buf();
                    depth = 0;
                }
                for part in target_bytes.split(|b| *b == b'/').rev() {
                    if !part.is_empty() {
                        pending.push(OsStr::from_bytes(part).to_os_string());
                    }
                }
            }
            Ok(_) => {}
            Err(e) if is_missing(&e) => missing = true,
            Err(e) => return Err(CopyError::io("inspect", &resolved, e)),
        }
    }
    Ok(resolved)
}

/// NotFound, or ENOTDIR (a file in the middle of the path): either way the path does not exist.
pub(crate) fn is_missing(error: &io::Error) -> bool {
    error.kind() == io::ErrorKind::NotFound || error.raw_os_error() == Some(libc::ENOTDIR)
}

/// Creates the missing directories of `resolved` (a path inside `root` without symlinks, as returned by
/// [`resolve_in_root`]) with mode 0755 and `owner`. Returns true when the last directory was created.
pub(crate) fn mkdir_all_resolved(root: &Path, resolved: &Path, owner: (u32, u32)) -> Result<bool> {
    let inner = match resolved.strip_prefix(root) {
        Ok(inner) => inner,
        Err(_) => {
            return Err(CopyError::io(
                "create directory",
                resolved,
                io::Error::new(io::ErrorKind::InvalidInput, "path is outside the root"),
            ))
        }
    };
    // Fast path: the whole directory already exists.
    match fs::symlink_metadata(resolved) {
        Ok(meta) if meta.is_dir() => return Ok(false),
        Ok(_) => {
            return Err(CopyError::NotADirectory {
                path: display_in_root(root, resolved),
            });
        }
        Err(e) if is_missing(&e) => {}
        Err(e) => return Err(CopyError::io("inspect", resolved, e)),
    }
    let mut current = root.to_path_buf();
    let mut created_last = false;
    for component in inner.components() {
        current.push(component);
        created_last = false;
        match fs::symlink_metadata(&current) {
            Ok(meta) if meta.is_dir() => continue,
            Ok(_) => {
                // A symlink here would mean the tree changed after resolving; refuse rather than follow it.
                return Err(CopyError::NotADirectory {
                    path: display_in_root(root, &current),
                });
            }
            Err(e) if is_missing(&e) => {}
            Err(e) => return Err(CopyError::io("inspect", &current, e)),
        }
        create_dir(&current, 0o755, owner)?;
        created_last = true;
    }
    Ok(created_last)
}

/// mkdir with an exact mode (the umask does not apply) and owner.
pub(crate) fn create_dir(path: &Path, mode: u32, owner: (u32, u32)) -> Result<()> {
    match fs::DirBuilder::new().mode(mode).create(path) {
        Ok(()) => {}
        // Someone (an earlier step of the same copy) made it meanwhile: fine if it is a directory.
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && path.is_dir() => return Ok(()),
        Err(e) => return Err(CopyError::io("create directory", path, e)),
    }
    std::os::unix::fs::lchown(path, Some(owner.0), Some(owner.1))
        .map_err(|e| CopyError::io("change owner of", path, e))?;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .map_err(|e| CopyError::io("change mode of", path, e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn symlinks_resolve_inside_root() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        fs::create_dir_all(r.join("real/dir")).unwrap();
        symlink("/real", r.join("abs")).unwrap();
        symlink("../../../../real", r.join("climb")).unwrap();
        symlink("dir", r.join("real/rel")).unwrap();
        symlink("/etc", r.join("etc-link")).unwrap();
        symlink("loop2", r.join("loop1")).unwrap();
        symlink("loop1", r.join("loop2")).unwrap();

        assert_eq!(resolve_in_root(r, "/abs/dir").unwrap(), r.join("real/dir"));
        assert_eq!(resolve_in_root(r, "climb/rel").unwrap(), r.join("real/dir"));
        assert_eq!(
            resolve_in_root(r, "../../etc/passwd").unwrap(),
            r.join("etc/passwd")
        );
        assert_eq!(
            resolve_in_root(r, "etc-link/passwd").unwrap(),
            r.join("etc/passwd")
        );
        assert_eq!(resolve_in_root(r, "/").unwrap(), r.to_path_buf());
        assert_eq!(resolve_parent_in_root(r, "abs").unwrap(), r.join("abs"));
        assert_eq!(
            resolve_parent_in_root(r, "abs/rel").unwrap(),
            r.join("real/rel")
        );
        assert!(matches!(
            resolve_in_root(r, "loop1"),
            Err(CopyError::SymlinkLoop { .. })
        ));
        // A link whose target passes through a missing directory and back up still has its rest followed.
        symlink("nowhere/../abs/dir", r.join("detour")).unwrap();
        assert_eq!(resolve_in_root(r, "detour").unwrap(), r.join("real/dir"));
    }

    #[test]
    fn mkdir_all_creates_owned_dirs_and_keeps_existing() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        fs::create_dir(r.join("keep")).unwrap();
        fs::set_permissions(r.join("keep"), fs::Permissions::from_mode(0o700)).unwrap();
        symlink("/keep", r.join("via")).unwrap();
        let made = mkdir_all_in_root(r, "/via/a/b", Some((1000, 1001))).unwrap();
        assert_eq!(made, r.join("keep/a/b"));
        use std::os::unix::fs::MetadataExt;
        let keep = fs::metadata(r.join("keep")).unwrap();
        assert_eq!((keep.mode() & 0o7777, keep.uid()), (0o700, 0));
        let b = fs::metadata(r.join("keep/a/b")).unwrap();
        assert_eq!((b.mode() & 0o7777, b.uid(), b.gid()), (0o755, 1000, 1001));
        fs::write(r.join("file"), "x").unwrap();
        assert!(matches!(
            mkdir_all_in_root(r, "/file/sub", None),
            Err(CopyError::NotADirectory { .. })
        ));
    }
}
