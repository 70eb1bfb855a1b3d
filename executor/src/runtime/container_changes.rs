//! `hoist diff` and `hoist rename`: what a container changed in its filesystem, and giving it another name.
use std::os::unix::fs::FileTypeExt;
use std::path::Path;

use super::state;
use super::{io_err, Result, RuntimeError};

/// One change as `docker diff` prints it: `A` added, `C` changed, `D` deleted, and the path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub kind: char,
    pub path: String,
}

/// The changes of container `name`: its writable layer (the overlay upper dir) against the image's layers.
/// Mount points hoist makes (`/etc/hosts`, `/etc/resolv.conf`, `/etc/hostname`, `/dev`, `/proc`, `/sys`) are
/// not the container's changes, as in Docker.
pub fn diff(root: &Path, name: &str) -> Result<Vec<Change>> {
    let (dir, record) = state::find(root, name)?;
    let mut out = Vec::new();
    walk(&dir.upper(), "", &record.lowers, &mut out)?;
    out.retain(|c| !is_runtime_mount(&c.path));
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

/// Whether `path` (absolute, inside the container) is a mount point hoist gives every container.
pub fn is_runtime_mount(path: &str) -> bool {
    matches!(
        path,
        "/etc/hosts" | "/etc/resolv.conf" | "/etc/hostname" | "/.dockerenv"
    ) || ["/dev", "/proc", "/sys"]
        .iter()
        .any(|m| path == *m || path.starts_with(&format!("{m}/")))
}

fn in_lowers(lowers: &[std::path::PathBuf], rel: &str) -> bool {
    let rel = rel.trim_start_matches('/');
    lowers
        .iter()
        .any(|l| l.join(rel).symlink_metadata().is_ok())
}

fn walk(
    upper: &Path,
    prefix: &str,
    lowers: &[std::path::PathBuf],
    out: &mut Vec<Change>,
) -> Result<()> {
    let dir = upper.join(prefix.trim_start_matches('/'));
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io_err("read", &dir)(e)),
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = format!("{prefix}/{name}");
        let Ok(meta) = entry.metadata() else { continue };
        // An overlay whiteout (a 0/0 character device) is a deletion.
        if meta.file_type().is_char_device() && meta_rdev_is_zero(&meta) {
            out.push(Change { kind: 'D', path });
            continue;
        }
        let kind = if in_lowers(lowers, &path) { 'C' } else { 'A' };
        out.push(Change {
            kind,
            path: path.clone(),
        });
        if meta.is_dir() {
            walk(upper, &path, lowers, out)?;
        }
    }
    Ok(())
}

fn meta_rdev_is_zero(meta: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    meta.rdev() == 0
}

/// `hoist rename OLD NEW`: the new name is taken first (so two renames to one name cannot both win), then the
/// record says it, then the old name is let go.
pub fn rename(root: &Path, old: &str, new: &str) -> Result<()> {
    let (dir, mut record) = state::find(root, old)?;
    if record.name == new {
        return Err(RuntimeError::Invalid(
            "Renaming a container with the same name as its current name".into(),
        ));
    }
    if !super::container_create::valid_name(new) {
        return Err(RuntimeError::Invalid(format!(
            "invalid container name {new:?}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
        )));
    }
    let names = super::containers_dir(root).join(".names");
    super::container_create::take_name(root, &names, &names.join(new), new, &record.id)?;
    let old_name = std::mem::replace(&mut record.name, new.to_string());
    if let Err(e) = dir.write_record(&record) {
        let _ = std::fs::remove_file(names.join(new));
        return Err(e);
    }
    let old_file = names.join(&old_name);
    if std::fs::read_to_string(&old_file).ok().as_deref() == Some(record.id.as_str()) {
        let _ = std::fs::remove_file(&old_file);
    }
    Ok(())
}

/// Waits until container `name` has exited; its exit code.
pub fn wait(root: &Path, name: &str) -> Result<i32> {
    let (dir, record) = state::find(root, name)?;
    loop {
        if !dir.path().exists() {
            return Err(RuntimeError::NoSuchContainer(record.id.clone()));
        }
        let state = dir.current_state()?;
        if state.status == state::Status::Exited {
            return Ok(state.exit_code.unwrap_or(-1));
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn runtime_mounts_are_not_changes() {
        assert!(super::is_runtime_mount("/etc/hosts"));
        assert!(super::is_runtime_mount("/dev/shm"));
        assert!(!super::is_runtime_mount("/etc/passwd"));
        assert!(!super::is_runtime_mount("/devices"));
    }
}
