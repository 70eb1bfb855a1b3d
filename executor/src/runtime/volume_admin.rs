//! `hoist volume create|ls|inspect|rm|prune`: the volumes under `<state root>/volumes/<name>/`, each
//! a `_data` dir (what containers mount) and, for volumes made by `volume create`, a `meta.json`
//! with their labels. A volume `-v NAME:/dst` made implicitly has no meta file; an anonymous one
//! (`-v /dst`) is named by 64 hex digits, as docker's, and that is how it is told apart.
//!
//! "In use" means named by a container's record, running or not, as docker counts it: such a
//! volume is never removed, by `rm` or by `prune`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use super::state::{self, MountRecord};
use super::{io_err, volumes_dir, Result, RuntimeError};

const META_FILE: &str = "meta.json";
const DATA_DIR: &str = "_data";
/// Docker's label on anonymous volumes (shown by `volume inspect`).
pub const ANONYMOUS_LABEL: &str = "com.docker.volume.anonymous";

/// What `volume create` records besides the data.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct VolumeMeta {
    #[serde(default)]
    labels: BTreeMap<String, String>,
}

/// One volume as `volume ls` / `inspect` show it.
#[derive(Debug, Clone)]
pub struct VolumeInfo {
    pub name: String,
    /// The `_data` dir (docker's `Mountpoint`).
    pub mountpoint: PathBuf,
    /// When the volume dir was made.
    pub created: SystemTime,
    pub labels: BTreeMap<String, String>,
    /// Made by `-v /dst` (or `--mount type=volume` without a source).
    pub anonymous: bool,
}

fn no_such_volume(name: &str) -> RuntimeError {
    RuntimeError::Invalid(format!(
        "get {name}: no such volume (hoist volume ls lists the volumes)"
    ))
}

/// A name docker would have generated for an anonymous volume.
fn is_anonymous_name(name: &str) -> bool {
    name.len() == 64
        && name
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Create volume `name` (a random anonymous-style name when `None`) with `labels`; an existing volume
/// of that name is kept as it is, as docker does.
pub fn create(
    root: &Path,
    name: Option<&str>,
    labels: BTreeMap<String, String>,
) -> Result<VolumeInfo> {
    let name = match name {
        Some(n) => {
            if !super::volumes::valid_volume_name(n) {
                return Err(RuntimeError::Invalid(format!(
                    "create {n}: {n:?} includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed"
                )));
            }
            n.to_string()
        }
        None => super::container_create::random_hex(32),
    };
    let dir = volumes_dir(root).join(&name);
    if !dir.join(DATA_DIR).is_dir() {
        super::volumes::volume_data(root, &name)?;
        let meta = serde_json::to_vec_pretty(&VolumeMeta { labels })
            .map_err(|e| RuntimeError::Invalid(format!("volume metadata: {e}")))?;
        state::write_atomic(&dir.join(META_FILE), &meta)?;
    }
    inspect(root, &name)
}

/// Volume `name`, or docker's "no such volume".
pub fn inspect(root: &Path, name: &str) -> Result<VolumeInfo> {
    if !super::volumes::valid_volume_name(name) {
        return Err(no_such_volume(name));
    }
    let dir = volumes_dir(root).join(name);
    let data = dir.join(DATA_DIR);
    let meta_data = match std::fs::metadata(&dir) {
        Ok(m) if data.is_dir() => m,
        _ => return Err(no_such_volume(name)),
    };
    let meta: VolumeMeta = std::fs::read(dir.join(META_FILE))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    let anonymous = is_anonymous_name(name) && !dir.join(META_FILE).exists();
    let mut labels = meta.labels;
    if anonymous {
        labels.insert(ANONYMOUS_LABEL.into(), String::new());
    }
    Ok(VolumeInfo {
        name: name.to_string(),
        mountpoint: data,
        created: meta_data
            .created()
            .or_else(|_| meta_data.modified())
            .unwrap_or(SystemTime::UNIX_EPOCH),
        labels,
        anonymous,
    })
}

/// Every volume, by name.
pub fn list(root: &Path) -> Result<Vec<VolumeInfo>> {
    let dir = volumes_dir(root);
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_err("read", &dir)(e)),
    };
    let mut names: Vec<String> = entries
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| !n.starts_with('.'))
        .collect();
    names.sort();
    Ok(names.iter().filter_map(|n| inspect(root, n).ok()).collect())
}

/// Volume name → the ids of the containers (running or not) whose record mounts it.
pub fn users(root: &Path) -> Result<BTreeMap<String, BTreeSet<String>>> {
    let mut users: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for dir in state::all(root)? {
        let Ok(record) = dir.record() else { continue };
        for m in &record.mounts {
            if let MountRecord::Volume { name, .. } = m {
                users
                    .entry(name.clone())
                    .or_default()
                    .insert(record.id.clone());
            }
        }
    }
    Ok(users)
}

/// `volume rm [-f] NAME`: an unknown volume is an error unless `force`; one a container uses always is.
pub fn remove(root: &Path, name: &str, force: bool) -> Result<()> {
    let _lock = super::volume_lock::exclusive(root)?;
    if inspect(root, name).is_err() {
        return if force {
            Ok(())
        } else {
            Err(no_such_volume(name))
        };
    }
    if let Some(ids) = users(root)?.get(name) {
        let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
        return Err(RuntimeError::Invalid(format!(
            "remove {name}: volume is in use - [{}] (remove those containers first: hoist rm)",
            ids.join(", ")
        )));
    }
    delete(root, name)
}

fn delete(root: &Path, name: &str) -> Result<()> {
    let dir = volumes_dir(root).join(name);
    // Renamed out of the way first, so a half-deleted volume is never seen under its name.
    let trash = volumes_dir(root).join(format!(".rm-{name}-{}", std::process::id()));
    std::fs::rename(&dir, &trash).map_err(io_err("remove the volume", &dir))?;
    std::fs::remove_dir_all(&trash).map_err(io_err("remove the volume", &trash))
}

/// `volume prune [-a]`: the volumes no container uses (only anonymous ones without `all`, as docker
/// 23+), each removed; their names and sizes in bytes.
pub fn prune(
    root: &Path,
    all: bool,
    keep: impl Fn(&VolumeInfo) -> bool,
) -> Result<Vec<(String, u64)>> {
    let _lock = super::volume_lock::exclusive(root)?;
    let used = users(root)?;
    let mut removed = Vec::new();
    for volume in list(root)? {
        if used.contains_key(&volume.name) || (!all && !volume.anonymous) || keep(&volume) {
            continue;
        }
        let size = disk_usage(&volume.mountpoint);
        delete(root, &volume.name)?;
        removed.push((volume.name, size));
    }
    Ok(removed)
}

/// Bytes of the regular files under `dir` (symlinks not followed).
pub fn disk_usage(dir: &Path) -> u64 {
    walkdir::WalkDir::new(dir)
        .follow_links(false)
        .into_iter()
        .flatten()
        .filter_map(|e| e.metadata().ok())
        .filter(|m| m.is_file())
        .map(|m| m.len())
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_list_remove_and_prune() {
        let root = tempfile::tempdir().unwrap();
        let labels = BTreeMap::from([("a".to_string(), "b".to_string())]);
        let named = create(root.path(), Some("data"), labels.clone()).unwrap();
        assert_eq!(named.labels, labels);
        assert!(!named.anonymous);
        assert!(named.mountpoint.ends_with("volumes/data/_data"));
        // Created again: kept as it is.
        create(root.path(), Some("data"), BTreeMap::new()).unwrap();
        assert_eq!(inspect(root.path(), "data").unwrap().labels, labels);
        // An anonymous one, as `-v /dst` makes it (no meta file).
        let anon = super::super::container_create::random_hex(32);
        super::super::volumes::volume_data(root.path(), &anon).unwrap();
        let names: Vec<String> = list(root.path())
            .unwrap()
            .into_iter()
            .map(|v| v.name)
            .collect();
        assert_eq!(names.len(), 2);
        assert!(inspect(root.path(), &anon).unwrap().anonymous);
        assert!(create(root.path(), Some("../x"), BTreeMap::new()).is_err());
        assert!(remove(root.path(), "nope", false).is_err());
        remove(root.path(), "nope", true).unwrap();
        // Without -a only the anonymous one goes.
        let pruned = prune(root.path(), false, |_| false).unwrap();
        assert_eq!(pruned, vec![(anon, 0)]);
        let pruned = prune(root.path(), true, |_| false).unwrap();
        assert_eq!(pruned, vec![("data".to_string(), 0)]);
        assert!(list(root.path()).unwrap().is_empty());
    }
}
