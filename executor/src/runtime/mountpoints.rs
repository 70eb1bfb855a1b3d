//! A read-only lower layer, shared by the containers of an image, that holds the mount points every
//! container needs and the image lacks (`/proc`, `/dev`, `/sys`, `/etc/hosts`, `/etc/hostname`,
//! `/etc/resolv.conf`, and `/.dockerenv`), as Docker's `-init` layer. Without it libcontainer creates them in the
//! container's upper dir at every start, and `--rm` deletes them again at exit: a dozen ext4
//! creates and unlinks (≈ 2 ms of a 25 ms `run --rm`) for files no one writes.
//!
//! Only paths absent from *every* lower, under ancestors that are real directories in every lower,
//! are added, so the layer never hides or replaces anything of the image (a symlinked `/etc`, a
//! whiteout, an opaque dir, an existing `/etc/hosts` are left to libcontainer as before). An
//! ancestor it has to create (`etc`) takes the mode and owner of the image's own, since the
//! topmost layer's attributes are what the merged view shows.
//!
//! An entry is named by a hash of its layer stack, and lives as long as a container or an image
//! has that stack: [`prune`] removes the others (`hoist rm`, `hoist rmi`, `hoist store check
//! --repair`). A lock file in `.mountpoints/` orders the two: [`layer`] holds it shared while it
//! finds or makes an entry, [`prune`] exclusively while it lists the containers and removes what
//! none uses. A container's record is written before its monitor asks for the layer, so a prune
//! either sees the record (and keeps the entry) or runs before the entry is looked up (which then
//! makes it again).

use std::collections::HashSet;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use sha2::Digest;

use super::{io_err, Result, RuntimeError};

/// Mount points libcontainer creates for every container (see `container::spec`): dirs, then files.
const DIRS: [&str; 3] = ["proc", "dev", "sys"];
/// `.dockerenv` is no mount point: Docker's init layer has it (empty), so `export` and programs
/// that look for it (am I in a container?) find it, as in Docker's containers.
const FILES: [&str; 4] = ["etc/hosts", "etc/hostname", "etc/resolv.conf", ".dockerenv"];
/// Changes when the layer's contents do, so an older layer is not reused.
const VERSION: &[u8] = b"mountpoints-v3";
/// The lock file in `.mountpoints/` (see the module docs).
const LOCK_FILE: &str = ".lock";
/// Prefix of an entry being made (see [`build`]).
const TMP_PREFIX: &str = ".tmp-";

/// Where the entries of a containers dir live.
fn entries_dir(containers: &Path) -> PathBuf {
    containers.join(".mountpoints")
}

/// The name of the entry for layer stack `lowers` (topmost first).
fn key(lowers: &[PathBuf]) -> String {
    let mut hash = sha2::Sha256::new();
    hash.update(VERSION);
    for lower in lowers {
        hash.update([0]);
        hash.update(lower.as_os_str().as_bytes());
    }
    hex::encode(hash.finalize())[..32].to_string()
}

/// The layer for a container with `lowers` (topmost first), made on first use under
/// `<containers>/.mountpoints/`; `None` when the image has every mount point already (or the
/// layer cannot be made: libcontainer then creates the mount points in the upper dir, as before).
pub(crate) fn layer(containers: &Path, lowers: &[PathBuf]) -> Option<PathBuf> {
    let entries = entries_dir(containers);
    // No lock, no layer: a prune could remove it under the container.
    let _lock = EntriesLock::take(&entries, false).ok()?;
    let dir = entries.join(key(lowers));
    if dir.is_dir() {
        return Some(dir);
    }
    let missing: Vec<(&str, bool)> = DIRS
        .iter()
        .map(|d| (*d, true))
        .chain(FILES.iter().map(|f| (*f, false)))
        .filter(|(path, is_dir)| {
            absent_everywhere(lowers, Path::new(path))
                || (!is_dir && symlink_in_topmost(lowers, Path::new(path)))
        })
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

/// Whether the topmost lower that has `rel` has it as a symlink, under ancestors that are real directories
/// there. Docker's init layer puts a regular file over such a link (systemd-resolved makes `/etc/resolv.conf` a
/// link to `../run/systemd/resolve/stub-resolv.conf`): the container sees a plain file with the mounted content,
/// and the link's target is neither created nor mounted over. The runtime refuses a symlink as a destination.
fn symlink_in_topmost(lowers: &[PathBuf], rel: &Path) -> bool {
    let count = rel.components().count();
    for lower in lowers {
        let mut path = lower.clone();
        for (i, component) in rel.components().enumerate() {
            path.push(component);
            match std::fs::symlink_metadata(&path) {
                Ok(meta) if i + 1 < count && meta.is_dir() => continue,
                Ok(meta) if i + 1 == count => return meta.file_type().is_symlink(),
                Ok(_) => return false,
                // Not in this lower: the one below decides.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => break,
                Err(_) => return false,
            }
        }
    }
    false
}

/// Make the layer in a temporary dir beside `dir` and rename it into place (atomic: a concurrent
/// run sees the whole layer or none; the loser of a race drops its copy).
fn build(dir: &Path, lowers: &[PathBuf], missing: &[(&str, bool)]) -> std::io::Result<()> {
    let parent = dir
        .parent()
        .ok_or_else(|| std::io::Error::other("the mount points layer has no parent dir"))?;
    std::fs::create_dir_all(parent)?;
    let tmp = parent.join(format!(
        "{TMP_PREFIX}{}-{}",
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

/// An entry no container and no image has the layer stack of (or a half-made one of a process
/// that died), as [`orphans`] finds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Orphan {
    pub path: PathBuf,
    /// Whether it is a half-made entry rather than a whole one.
    pub half_made: bool,
}

/// The layer stacks of the images (each one's snapshot dirs, topmost first, as `hoist run` mounts
/// them), or why they could not be listed. Asked for only when some entry is used by no container,
/// so that `hoist rm` reads the store only then.
pub type ImageStacks<'a> = &'a mut dyn FnMut() -> std::result::Result<Vec<Vec<PathBuf>>, String>;

/// The entries of state root `root` (absolute) that no container uses and whose layer stack is
/// none of the images'.
pub fn orphans(root: &Path, image_stacks: ImageStacks) -> Result<Vec<Orphan>> {
    let found = with_orphans(root, image_stacks, |_| Ok(()))?;
    Ok(found.into_iter().map(|(orphan, _)| orphan).collect())
}

/// Remove what [`orphans`] finds; returns each with the outcome of its removal.
pub fn prune(root: &Path, image_stacks: ImageStacks) -> Result<Vec<(Orphan, std::io::Result<()>)>> {
    with_orphans(root, image_stacks, |orphan| {
        std::fs::remove_dir_all(&orphan.path)
    })
}

/// Find the orphans under the exclusive lock and call `act` on each, still under it.
fn with_orphans(
    root: &Path,
    image_stacks: ImageStacks,
    mut act: impl FnMut(&Orphan) -> std::io::Result<()>,
) -> Result<Vec<(Orphan, std::io::Result<()>)>> {
    let entries = entries_dir(&super::containers_dir(root));
    if !entries.is_dir() {
        return Ok(Vec::new());
    }
    let _lock = EntriesLock::take(&entries, true).map_err(io_err("lock", &entries))?;
    let mut used = HashSet::new();
    for dir in super::state::all(root)? {
        // A damaged record names no stack its container could still mount.
        if let Ok(record) = dir.record() {
            used.insert(key(&record.lowers));
        }
    }
    let listing = std::fs::read_dir(&entries).map_err(io_err("read", &entries))?;
    // Under the exclusive lock no entry is being made: a temp one is a dead process's.
    let candidates: Vec<Orphan> = listing
        .flatten()
        .map(|entry| {
            (
                entry.file_name().to_string_lossy().into_owned(),
                entry.path(),
            )
        })
        .filter(|(name, _)| name != LOCK_FILE && !used.contains(name))
        .map(|(name, path)| Orphan {
            path,
            half_made: name.starts_with(TMP_PREFIX),
        })
        .collect();
    if candidates.iter().any(|c| !c.half_made) {
        let stacks = image_stacks().map_err(|e| {
            RuntimeError::Invalid(format!(
                "could not list the images' layer stacks to prune {}: {e}",
                entries.display()
            ))
        })?;
        used.extend(stacks.iter().map(|s| key(s)));
    }
    let mut found = Vec::new();
    for orphan in candidates {
        let name = orphan.path.file_name().map(|n| n.to_string_lossy());
        if name.is_some_and(|n| used.contains(n.as_ref())) {
            continue;
        }
        let outcome = act(&orphan);
        found.push((orphan, outcome));
    }
    found.sort_by(|a, b| a.0.path.cmp(&b.0.path));
    Ok(found)
}

/// `flock` on `.mountpoints/.lock`, released when dropped (or when the process dies).
struct EntriesLock {
    /// Never read: closing it releases the lock.
    _file: std::fs::File,
}

impl EntriesLock {
    fn take(entries: &Path, exclusive: bool) -> std::io::Result<EntriesLock> {
        let path = entries.join(LOCK_FILE);
        let open = || {
            std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .custom_flags(libc::O_CLOEXEC)
                .mode(0o600)
                .open(&path)
        };
        let file = match open() {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::create_dir_all(entries)?;
                open()?
            }
            other => other?,
        };
        let operation = if exclusive {
            libc::LOCK_EX
        } else {
            libc::LOCK_SH
        };
        loop {
            // SAFETY: flock(2) on a descriptor this struct owns.
            if unsafe { libc::flock(file.as_raw_fd(), operation) } == 0 {
                return Ok(EntriesLock { _file: file });
            }
            let error = std::io::Error::last_os_error();
            if error.kind() != std::io::ErrorKind::Interrupted {
                return Err(error);
            }
        }
    }
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
            .filter(|n| n != LOCK_FILE)
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
    }

    #[test]
    fn a_symlinked_mount_point_file_is_shadowed_by_a_plain_file() {
        let root = tempfile::tempdir().unwrap();
        let top = root.path().join("top");
        let bottom = root.path().join("bottom");
        for d in ["proc", "dev", "sys", "etc"] {
            std::fs::create_dir_all(bottom.join(d)).unwrap();
        }
        std::fs::write(bottom.join("etc/hosts"), "").unwrap();
        std::fs::write(bottom.join("etc/hostname"), "").unwrap();
        std::fs::write(bottom.join("etc/resolv.conf"), "").unwrap();
        // The top layer turned resolv.conf into a link (as installing systemd-resolved does).
        std::fs::create_dir_all(top.join("etc")).unwrap();
        std::os::unix::fs::symlink(
            "../run/systemd/resolve/stub-resolv.conf",
            top.join("etc/resolv.conf"),
        )
        .unwrap();
        let layer = layer(&root.path().join("containers"), &[top, bottom]).unwrap();
        let resolv = std::fs::symlink_metadata(layer.join("etc/resolv.conf")).unwrap();
        assert!(resolv.file_type().is_file());
        assert!(
            !layer.join("etc/hosts").exists(),
            "a plain file stays the image's"
        );
        assert!(!layer.join("run").exists(), "the link's target is not made");
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

    #[test]
    fn prune_keeps_the_stacks_of_images_and_removes_the_rest() {
        let root = tempfile::tempdir().unwrap();
        let kept = vec![root.path().join("snapshots/1")];
        let gone = vec![root.path().join("snapshots/2")];
        for lowers in [&kept, &gone] {
            std::fs::create_dir_all(&lowers[0]).unwrap();
        }
        let containers = crate::runtime::containers_dir(root.path());
        let kept_layer = layer(&containers, &kept).unwrap();
        let gone_layer = layer(&containers, &gone).unwrap();
        // A dead process's half-made entry.
        let half = entries_dir(&containers).join(".tmp-2147483646-00000000");
        std::fs::create_dir_all(half.join("proc")).unwrap();

        let stacks = vec![kept.clone()];
        let mut image_stacks = || Ok(stacks.clone());
        let found = orphans(root.path(), &mut image_stacks).unwrap();
        let mut want = vec![
            Orphan {
                path: gone_layer.clone(),
                half_made: false,
            },
            Orphan {
                path: half.clone(),
                half_made: true,
            },
        ];
        want.sort_by(|a, b| a.path.cmp(&b.path));
        assert_eq!(found, want);
        assert!(gone_layer.is_dir(), "a check removes nothing");

        let pruned = prune(root.path(), &mut image_stacks).unwrap();
        assert!(pruned.iter().all(|(_, outcome)| outcome.is_ok()));
        let pruned: Vec<Orphan> = pruned.into_iter().map(|(o, _)| o).collect();
        assert_eq!(pruned, want);
        assert!(kept_layer.is_dir());
        assert!(!gone_layer.exists() && !half.exists());
        // Images unreadable: nothing is removed.
        let mut unreadable = || Err("the index is locked".to_string());
        assert!(prune(root.path(), &mut unreadable).is_err());
        assert!(kept_layer.is_dir());
        // Made again when a container needs it.
        assert_eq!(layer(&containers, &gone), Some(gone_layer));
    }

    #[test]
    fn prune_without_entries_does_nothing() {
        let root = tempfile::tempdir().unwrap();
        let mut image_stacks =
            || -> std::result::Result<Vec<Vec<PathBuf>>, String> { panic!("not needed") };
        assert!(prune(root.path(), &mut image_stacks).unwrap().is_empty());
        assert!(!entries_dir(&crate::runtime::containers_dir(root.path())).exists());
    }
}
