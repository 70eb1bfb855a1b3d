//! Reading an image archive for `load`: every regular file is streamed into a blob (decompressed), small plain
//! ones are also kept in memory (manifests, configs, `index.json`). Names are checked (no `..`, no absolute
//! paths), symbolic links between files (`docker save` of 20.10 links shared layers) are resolved inside the
//! archive, and every file named by a digest (`blobs/sha256/<hex>`, `<hex>.json`) must hash to that digest.

use std::collections::HashMap;
use std::io::{self, BufRead, BufReader, Read};

use sha2::{Digest as _, Sha256};

use crate::digest::Digest;
use crate::error::{IoContext, Result, StoreError};
use crate::import::{decompressing_reader, Compression};
use crate::Store;

/// Plain files up to this size are also kept in memory while loading (manifests, configs, index.json).
const SMALL_FILE: u64 = 4 << 20;

/// How many links a name may go through before it is taken for a loop.
const MAX_LINK_HOPS: usize = 16;

/// The regular files of an archive.
pub(crate) struct ArchiveFiles {
    pub label: String,
    /// Path in the archive → digest of its decompressed content.
    blobs: HashMap<String, Digest>,
    small: HashMap<String, Vec<u8>>,
    /// Symbolic links: path → target path in the archive (already made relative to the archive's root).
    links: HashMap<String, String>,
}

impl ArchiveFiles {
    pub fn has(&self, path: &str) -> bool {
        self.resolve(path)
            .is_ok_and(|p| self.small.contains_key(&p))
    }

    /// The bytes of a small file (a manifest or a config).
    pub fn bytes(&self, path: &str) -> Result<&[u8]> {
        let name = self.resolve(path)?;
        self.small
            .get(&name)
            .map(|v| v.as_slice())
            .ok_or_else(|| self.missing(path))
    }

    /// The blob a file was stored as (its decompressed content).
    pub fn blob(&self, path: &str) -> Result<&Digest> {
        let name = self.resolve(path)?;
        self.blobs.get(&name).ok_or_else(|| self.missing(path))
    }

    /// A path a manifest names, checked and cleaned, with links followed.
    fn resolve(&self, path: &str) -> Result<String> {
        let mut name = checked_name(path).map_err(|reason| self.bad_name(path, &reason))?;
        for _ in 0..MAX_LINK_HOPS {
            match self.links.get(&name) {
                Some(target) => name = target.clone(),
                None => return Ok(name),
            }
        }
        Err(self.bad_name(path, "too many levels of symbolic links"))
    }

    fn missing(&self, path: &str) -> StoreError {
        StoreError::InvalidImage(format!("{}: the archive has no file {path:?}", self.label))
    }

    fn bad_name(&self, path: &str, reason: &str) -> StoreError {
        StoreError::InvalidImage(format!(
            "{}: refusing the path {path:?}: {reason}; the archive is corrupt or hostile",
            self.label
        ))
    }
}

/// `./a//b` → `a/b`; a name with `..` or a leading `/` is refused: archives name files relative to their root.
pub(crate) fn checked_name(path: &str) -> std::result::Result<String, String> {
    if path.starts_with('/') {
        return Err("absolute paths are not allowed in an image archive".into());
    }
    let parts: Vec<&str> = path
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    if parts.contains(&"..") {
        return Err("'..' is not allowed in an image archive".into());
    }
    if parts.is_empty() {
        return Err("the name is empty".into());
    }
    Ok(parts.join("/"))
}

/// A link's target as a path from the archive's root (`a/layer.tar` → `../b/layer.tar` is `b/layer.tar`).
fn link_target(name: &str, target: &str) -> std::result::Result<String, String> {
    if target.starts_with('/') {
        return Err("a link to an absolute path".into());
    }
    let mut parts: Vec<&str> = name.split('/').collect();
    parts.pop();
    for part in target.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    return Err("a link out of the archive".into());
                }
            }
            p => parts.push(p),
        }
    }
    if parts.is_empty() {
        return Err("a link to the archive's root".into());
    }
    Ok(parts.join("/"))
}

/// The digest a name promises: `blobs/sha256/<hex>` (OCI layout, docker ≥ 25) or `<hex>.json` (a docker-archive
/// config).
fn promised_digest(name: &str) -> Option<Digest> {
    let hex = name
        .strip_prefix("blobs/sha256/")
        .or_else(|| name.strip_suffix(".json").filter(|n| !n.contains('/')))?;
    if hex.len() == 64 {
        Digest::from_hex(hex).ok()
    } else {
        None
    }
}

/// Hashes what passes through it: the archive's bytes as stored, before decompression.
struct Hashing<R> {
    inner: R,
    hasher: Sha256,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

impl Store {
    pub(crate) fn read_archive_files<R: BufRead>(
        &self,
        reader: R,
        label: &str,
    ) -> Result<ArchiveFiles> {
        let tar_err = |source: io::Error| StoreError::Tar {
            what: label.to_string(),
            source,
        };
        let mut archive = tar::Archive::new(decompressing_reader(reader, label)?);
        let mut files = ArchiveFiles {
            label: label.to_string(),
            blobs: HashMap::new(),
            small: HashMap::new(),
            links: HashMap::new(),
        };
        for entry in archive.entries().map_err(tar_err)? {
            let mut entry = entry.map_err(tar_err)?;
            let raw_name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
            let kind = entry.header().entry_type();
            if kind.is_dir() || kind.is_pax_global_extensions() {
                continue;
            }
            let name =
                checked_name(&raw_name).map_err(|reason| files.bad_name(&raw_name, &reason))?;
            if kind.is_symlink() || kind.is_hard_link() {
                let target = entry
                    .link_name_bytes()
                    .map(|t| String::from_utf8_lossy(&t).into_owned())
                    .unwrap_or_default();
                // A hard link's target is named from the archive's root, a symbolic link's from its directory.
                let resolved = if kind.is_hard_link() {
                    checked_name(&target)
                } else {
                    link_target(&name, &target)
                }
                .map_err(|reason| files.bad_name(&format!("{raw_name} -> {target}"), &reason))?;
                files.links.insert(name, resolved);
                continue;
            }
            if !matches!(kind, tar::EntryType::Regular | tar::EntryType::Continuous) {
                continue;
            }
            let size = entry.size();
            let mut hashing = BufReader::with_capacity(
                256 * 1024,
                Hashing {
                    inner: &mut entry,
                    hasher: Sha256::new(),
                },
            );
            let head = hashing.fill_buf().map_err(tar_err)?;
            // Only a small plain file is kept in memory: a small gzip could inflate to any size.
            let keep = size <= SMALL_FILE && Compression::detect(head) == Compression::None;
            let what = format!("{label}: {name}");
            let mut content = decompressing_reader(&mut hashing, &what)?;
            let mut writer = self.blob_writer()?;
            if keep {
                let mut bytes = Vec::new();
                content.read_to_end(&mut bytes).map_err(tar_err)?;
                io::Write::write_all(&mut writer, &bytes)
                    .io_ctx("writing blob", self.tmp_dir().to_path_buf())?;
                files.small.insert(name.clone(), bytes);
            } else {
                io::copy(&mut content, &mut writer).map_err(tar_err)?;
            }
            drop(content);
            // What the decompressor left unread still belongs to the file's digest.
            io::copy(&mut hashing, &mut io::sink()).map_err(tar_err)?;
            let raw = Digest::from_hasher(hashing.into_inner().hasher);
            if let Some(promised) = promised_digest(&name) {
                if promised != raw {
                    return Err(StoreError::InvalidImage(format!(
                        "{label}: {name} has the digest {raw}, not the {promised} its name promises; the \
                         archive is corrupt"
                    )));
                }
            }
            let (digest, _) = writer.commit()?;
            files.links.remove(&name);
            files.blobs.insert(name, digest);
        }
        Ok(files)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_stay_inside_the_archive() {
        assert_eq!(checked_name("./a//b").unwrap(), "a/b");
        assert!(checked_name("../etc/passwd").is_err());
        assert!(checked_name("a/../../b").is_err());
        assert!(checked_name("/etc/passwd").is_err());
        assert_eq!(
            link_target("a/layer.tar", "../b/layer.tar").unwrap(),
            "b/layer.tar"
        );
        assert!(link_target("a/layer.tar", "../../x").is_err());
        assert!(link_target("a/layer.tar", "/etc/shadow").is_err());
    }

    #[test]
    fn digests_promised_by_names() {
        let hex = "a".repeat(64);
        assert!(promised_digest(&format!("blobs/sha256/{hex}")).is_some());
        assert!(promised_digest(&format!("{hex}.json")).is_some());
        assert!(promised_digest("manifest.json").is_none());
        assert!(promised_digest(&format!("{hex}/json")).is_none());
    }
}
