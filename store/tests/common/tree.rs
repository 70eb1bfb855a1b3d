//! A whole unpacked tree described line by line (type, owner, mode, nanosecond mtime, device, link target,
//! xattrs, content digest, hardlink group), so two unpacks can be compared exactly. Directories that no
//! entry names get the time they were made: give every directory an entry.
#![allow(dead_code)]

use std::collections::HashMap;
use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use sha2::{Digest, Sha256};

/// One line per node under `root` (the root included, as `.`), in name order.
pub fn describe(root: &Path) -> Vec<String> {
    describe_with(root, true)
}

/// [`describe`], leaving out directories' times if `dir_times` is false (for layers with directories that
/// no entry names).
pub fn describe_with(root: &Path, dir_times: bool) -> Vec<String> {
    let mut walker = Walker {
        lines: Vec::new(),
        first_link: HashMap::new(),
        dir_times,
    };
    walker.walk(root, ".");
    walker.lines
}

struct Walker {
    lines: Vec<String>,
    first_link: HashMap<u64, String>,
    dir_times: bool,
}

impl Walker {
    fn walk(&mut self, path: &Path, rel: &str) {
        let meta = fs::symlink_metadata(path).unwrap();
        let kind = meta.file_type();
        let mut line = format!(
            "{rel} uid={} gid={} mode={:o}",
            meta.uid(),
            meta.gid(),
            meta.mode()
        );
        // An overlay whiteout (a 0/0 char device) gets the time it was made: no layer says what it is.
        let whiteout = kind.is_char_device() && meta.rdev() == 0;
        if !whiteout && (self.dir_times || !kind.is_dir()) {
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
                let first = self
                    .first_link
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
        self.lines.push(line);
        if kind.is_dir() {
            let mut children: Vec<_> = fs::read_dir(path)
                .unwrap()
                .map(|e| e.unwrap().file_name())
                .collect();
            children.sort();
            for child in children {
                let name = child.to_string_lossy();
                self.walk(&path.join(&child), &format!("{rel}/{name}"));
            }
        }
    }
}
