//! A read-only lower layer, shared by the containers of an image, that holds the mount points every
//! container needs and the image lacks (`/proc`, `/dev`, `/sys`, `/etc/hosts`, `/etc/hostname`,
//! `/etc/resolv.conf`), as Docker's `-init` layer. Without it libcontainer creates them in the
//! container's upper dir at every start, and `--rm` deletes them again at exit: a dozen ext4
//! creates and unlinks (≈ 2 ms of a 25 ms `run --rm`) for files no one writes.
//!
//! Only paths absent from *every* lower, under ancestors that are real directories in every lower,
//! are added, so the layer never hides or replaces anything of the image (a symlinked `/etc`, a
//! whiteout, an opaque dir, an existing `/etc/hosts` are left to libcontainer as before). An
//! ancestor it has to create (`etc`) takes the mode and owner of the image's own, since the
//! topmost layer's attributes are what the merged view shows.

use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use sha2::Digest;

/// Mount points libcontainer creates for every container (see `container::spec`): dirs, then files.
const DIRS: [&str; 3] = ["proc", "dev", "sys"];
const FILES: [&str; 3] = ["etc/hosts", "etc/hostname", "etc/resolv.conf"];
/// Changes when the layer's contents do, so an older layer is not reused.
const VERSION: &[u8] = b"mountpoints-v1";

/// The layer for a container with `lowers` (topmost first), made on first use under
/// `<containers>/.mountpoints/`; `None` when the image has every mount point already (or the
/// layer cannot be made: libcontainer then creates the mount points in the upper dir, as before).
pub(crate) fn layer(containers: &Path, lowers: &[PathBuf]) -> Option<PathBuf> {
    let mut hash = sha2::Sha256::new();
    hash.update(VERSION);
    for lower in lowers {
        hash.update([0]);
        hash.update(lower.as_os_str().as_bytes());
    }
    let dir = containers
        .join(".mountpoints")
        .join(&hex::encode(hash.finalize())[..32]);
    if dir.is_dir() {
        return Some(dir);
    }
    let missing: Vec<(&str, bool)> = DIRS
        .iter()
        .map(|d| (*d, true))
        .chain(FILES.iter().map(|f| (*f, false)))
        .filter(|(path, _)| absent_everywhere(lowers, Path::new(path)))
        .collect();
    if missing.is_empty() {
        // Nothing to add: no layer (and nothing cached, so an empty dir is never renamed over one
        // that a running container has as a lower; the check is a few lstat calls).
        return None;
    }
    build(&dir, lowers, &missing).ok().map(|()| dir)
}

/// Whether `rel` is missing from every lower while each of its ancestors there is absent or a
/// real directory (so adding it in a layer above merges with, rather than hides, the image).
fn absent_everywhere(lowers: &[PathBuf], rel: &Path) -> bool {
    lowers.iter().all(|lower| {
        let mut path = lower.clone();
        let count = rel.components().count();
        for (i, component) in rel.components().enumerate() {
            path.push(component);
            match std::fs::symlink_metadata(&path) {
                Ok(meta) if i + 1 < count && meta.is_dir() => continue,
                Ok(_) => return false,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return true,
                Err(_) => return false,
            }
        }
        false
    })
}

/// Make the layer in a temporary dir beside `dir` and rename it into place (atomic: a concurrent
/// run sees the whole layer or none; the loser of a race drops its copy).
fn build(dir: &Path, lowers: &[PathBuf], missing: &[(&str, bool)]) -> std::io::Result<()> {
    let parent = dir
        .parent()
        .ok_or_else(|| std::io::Error::other("the mount points layer has no parent dir"))?;
    std::fs::create_dir_all(parent)?;
    let tmp = parent.join(format!(
        ".tmp-{}-{}",
        std::process::id(),
        super::container_create::random_hex(4)
    ));
    let made = fill(&tmp, lowers, missing).and_then(|()| std::fs::rename(&tmp, dir));
    if made.is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
        if dir.is_dir() {
            return Ok(()); // another run made it first
        }
    }
    made
}

fn fill(tmp: &Path, lowers: &[PathBuf], missing: &[(&str, bool)]) -> std::io::Result<()> {
    std::fs::DirBuilder::new().mode(0o755).create(tmp)?;
    for (rel, is_dir) in missing {
        let rel = Path::new(rel);
        if let Some(ancestor) = rel.parent().filter(|p| !p.as_os_str().is_empty()) {
            make_ancestor(tmp, lowers, ancestor)?;
        }
        let path = tmp.join(rel);
        if *is_dir {
            std::fs::DirBuilder::new().mode(0o755).create(&path)?;
        } else {
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o644)
                .open(&path)?;
        }
    }
    Ok(())
}

/// Create `tmp/ancestor` (one level, as the mount points are) with the mode and owner of the
/// image's topmost copy of it; root's 0755, as libcontainer would make it, when the image has none.
fn make_ancestor(tmp: &Path, lowers: &[PathBuf], ancestor: &Path) -> std::io::Result<()> {
    let path = tmp.join(ancestor);
    if path.is_dir() {
        return Ok(());
    }
    let image_dir = lowers
        .iter()
        .find_map(|l| std::fs::symlink_metadata(l.join(ancestor)).ok());
    let (mode, uid, gid) =
        image_dir.map_or((0o755, 0, 0), |m| (m.mode() & 0o7777, m.uid(), m.gid()));
    std::fs::DirBuilder::new().mode(0o755).create(&path)?;
    std::os::unix::fs::chown(&path, Some(uid), Some(gid))?;
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(mode))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adds_only_what_every_lower_lacks() {
        let root = tempfile::tempdir().unwrap();
        let top = root.path().join("top");
        let bottom = root.path().join("bottom");
        std::fs::create_dir_all(top.join("etc")).unwrap();
        std::fs::create_dir_all(bottom.join("proc")).unwrap();
        std::fs::create_dir_all(bottom.join("etc")).unwrap();
        std::fs::write(bottom.join("etc/hosts"), "127.0.0.1 x\n").unwrap();
        std::os::unix::fs::symlink("/nowhere", top.join("sys")).unwrap();
        let lowers = vec![top.clone(), bottom.clone()];
        let containers = root.path().join("containers");

        let layer = layer(&containers, &lowers).unwrap();
        assert!(layer.join("dev").is_dir());
        assert!(!layer.join("proc").exists(), "the image has /proc");
        assert!(!layer.join("sys").exists(), "the image's /sys is a symlink");
        assert!(
            !layer.join("etc/hosts").exists(),
            "the image has /etc/hosts"
        );
        assert!(layer.join("etc/hostname").is_file());
        assert!(layer.join("etc/resolv.conf").is_file());
        // Made once, then reused.
        assert_eq!(super::layer(&containers, &lowers), Some(layer.clone()));
        let names: Vec<_> = std::fs::read_dir(layer.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
    }

    #[test]
    fn no_layer_when_the_image_has_every_mount_point() {
        let root = tempfile::tempdir().unwrap();
        let lower = root.path().join("lower");
        for d in ["proc", "dev", "sys", "etc"] {
            std::fs::create_dir_all(lower.join(d)).unwrap();
        }
        for f in FILES {
            std::fs::write(lower.join(f), "").unwrap();
        }
        assert_eq!(layer(&root.path().join("containers"), &[lower]), None);
    }

    #[test]
    fn a_symlinked_etc_is_left_alone() {
        let root = tempfile::tempdir().unwrap();
        let lower = root.path().join("lower");
        std::fs::create_dir_all(lower.join("private/etc")).unwrap();
        std::os::unix::fs::symlink("private/etc", lower.join("etc")).unwrap();
        let layer = layer(&root.path().join("containers"), &[lower]).unwrap();
        assert!(!layer.join("etc").exists());
        assert!(layer.join("proc").is_dir());
    }
}
