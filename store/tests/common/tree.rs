//! A whole unpacked tree described line by line (type, owner, mode, nanosecond mtime, device, link target,
//! xattrs, content digest, hardlink group), so two unpacks can be compared exactly. Directories that no
//! entry names get the time they were made: give every directory an entry.

use std::collections::HashMap;
use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use sha2::{Digest, Sha256};

/// One line per node under `root` (the root included, as `.`), in name order.
pub fn describe(root: &Path) -> Vec<String> {
    let mut lines = Vec::new();
    let mut first_link: HashMap<u64, String> = HashMap::new();
    walk(root, ".", &mut lines, &mut first_link);
    lines
}

fn walk(path: &Path, rel: &str, lines: &mut Vec<String>, first_link: &mut HashMap<u64, String>) {
    let meta = fs::symlink_metadata(path).unwrap();
    let kind = meta.file_type();
    let mut line = format!(
        "{rel} uid={} gid={} mode={:o}",
        meta.uid(),
        meta.gid(),
        meta.mode()
    );
    // An overlay whiteout (a 0/0 char device) gets the time it was made: no layer says what it is.
    if !(kind.is_char_device() && meta.rdev() == 0) {
        line += &format!(" mtime={}.{:09}", meta.mtime(), meta.mtime_nsec());
    }
    let mut names: Vec<_> = xattr::list(path).unwrap().collect();
    names.sort();
    for name in names {
        let value = xattr::get(path, &name).unwrap().unwrap_or_default();
        line += &format!(" xattr:{}={}", name.to_string_lossy(), hex::encode(value));
    }
    if kind.is_symlink() {
        line += &format!(" -> {}", fs::read_link(path).unwrap().display());
    } else if kind.is_char_device() || kind.is_block_device() {
        line += &format!(" rdev={}", meta.rdev());
    } else if kind.is_file() {
        if meta.nlink() > 1 {
            let first = first_link
                .entry(meta.ino())
                .or_insert_with(|| rel.to_string());
            line += &format!(" links={} group={first}", meta.nlink());
        }
        line += &format!(
            " size={} sha256={}",
            meta.len(),
            hex::encode(Sha256::digest(fs::read(path).unwrap()))
        );
    }
    lines.push(line);
    if kind.is_dir() {
        let mut children: Vec<_> = fs::read_dir(path)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        children.sort();
        for child in children {
            let name = child.to_string_lossy();
            walk(
                &path.join(&child),
                &format!("{rel}/{name}"),
                lines,
                first_link,
            );
        }
    }
}
