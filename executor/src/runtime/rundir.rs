//! Where a state root keeps what matters only while its containers run: the rootfs mount point,
//! libcontainer's state and bundle, `exec` specs, and the whole record of a `--rm` container.
//!
//! That is runtime state in the sense of `/run` (runc keeps it in `/run/runc`, Docker in
//! `/run/docker`): gone with a reboot, and on a tmpfs, because on disk each of these ~20 files
//! per container is an inode created and freed again — on ext4 without a journal that costs
//! 100–200 µs each (it scans past every recently freed inode), a quarter of `run --rm`.
//!
//! The run root is the first of: `$HOIST_RUN_DIR`, `/run/hoist`, `/dev/shm/hoist` that is on a
//! tmpfs and safely ours, with one directory per state root under it. Without one it is the
//! state root's own `containers/` directory, which is the layout hoist always had.

use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use sha2::Digest;

/// Overrides where the run root is made (tests, or a machine whose tmpfs is elsewhere).
pub const RUN_DIR_ENV: &str = "HOIST_RUN_DIR";

/// The run root of state root `root` (absolute): where each container has a run directory.
pub fn run_root(root: &Path) -> PathBuf {
    match tmpfs_base() {
        // The same root under any name (relative, through a symlink) has the same run root.
        Some(base) => {
            let canonical = std::fs::canonicalize(root)
                .or_else(|_| std::path::absolute(root))
                .unwrap_or_else(|_| root.to_path_buf());
            base.join(root_key(&canonical))
        }
        None => super::containers_dir(root),
    }
}

/// A short, stable name for a state root (two roots never share a run root).
fn root_key(root: &Path) -> String {
    let digest = sha2::Sha256::digest(root.as_os_str().as_encoded_bytes());
    hex::encode(&digest[..8])
}

/// The first usable base directory on a tmpfs, made if missing; computed once per process.
fn tmpfs_base() -> Option<PathBuf> {
    static BASE: std::sync::OnceLock<Option<PathBuf>> = std::sync::OnceLock::new();
    BASE.get_or_init(|| {
        let from_env = std::env::var_os(RUN_DIR_ENV)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from);
        if let Some(dir) = from_env {
            // Asked for explicitly: used wherever it is, tmpfs or not.
            return usable_base(&dir, Path::new("/")).then_some(dir);
        }
        [("/run", "hoist"), ("/dev/shm", "hoist")]
            .into_iter()
            .map(|(mount, name)| (Path::new(mount), Path::new(mount).join(name)))
            .find(|(mount, dir)| is_tmpfs(mount) && usable_base(dir, mount))
            .map(|(_, dir)| dir)
    })
    .clone()
}

fn is_tmpfs(path: &Path) -> bool {
    nix::sys::statfs::statfs(path)
        .is_ok_and(|fs| fs.filesystem_type() == nix::sys::statfs::TMPFS_MAGIC)
}

/// Whether `dir` exists or could be made, and is a real directory that only we can write to.
/// `/dev/shm` is writable by everyone: a directory someone else made there first (or a symlink
/// to somewhere else) must not become where containers' state and mounts live.
fn usable_base(dir: &Path, parent_must_exist: &Path) -> bool {
    if !parent_must_exist.is_dir() {
        return false;
    }
    if let Some(parent) = dir.parent() {
        if std::fs::create_dir_all(parent).is_err() {
            return false;
        }
    }
    let _ = std::fs::DirBuilder::new().mode(0o700).create(dir);
    let Ok(meta) = std::fs::symlink_metadata(dir) else {
        return false;
    };
    meta.is_dir()
        && meta.uid() == nix::unistd::geteuid().as_raw()
        && meta.permissions().mode() & 0o022 == 0
}

/// Make run directory `dir` (and the run root above it), which a concurrent [`remove_run_dir`]
/// may be removing at the same moment.
pub(crate) fn create_run_dir(dir: &Path) -> std::io::Result<()> {
    let mut tries = 0;
    loop {
        if let Some(parent) = dir.parent() {
            std::fs::create_dir_all(parent)?;
        }
        match std::fs::create_dir(dir) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && tries < 3 => tries += 1,
            other => return other,
        }
    }
}

/// Remove run directory `dir` (a tmpfs run root's, not the fallback `containers/<id>`), and its
/// run root when no other container is using it.
pub(crate) fn remove_run_dir(dir: &Path) {
    let _ = std::fs::remove_dir_all(dir);
    if let Some(run_root) = dir.parent() {
        // Fails while any other container has its directory there: that is the point.
        let _ = std::fs::remove_dir(run_root);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_state_root_has_its_own_key() {
        let a = root_key(Path::new("/var/lib/hoist"));
        let b = root_key(Path::new("/var/lib/hoist2"));
        assert_eq!(a.len(), 16);
        assert_ne!(a, b);
        assert_eq!(a, root_key(Path::new("/var/lib/hoist")));
    }

    #[test]
    fn a_directory_others_can_write_is_not_used() {
        let tmp = tempfile::tempdir().unwrap();
        let open = tmp.path().join("open");
        std::fs::create_dir(&open).unwrap();
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
        assert!(!usable_base(&open, tmp.path()));
        let link = tmp.path().join("link");
        std::os::unix::fs::symlink("/", &link).unwrap();
        assert!(!usable_base(&link, tmp.path()));
        let fresh = tmp.path().join("fresh");
        assert!(usable_base(&fresh, tmp.path()));
        let mode = std::fs::metadata(&fresh).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
    }
}
