//! Shared helpers for the fileops_* integration tests.
#![allow(dead_code)]

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use hoist_executor::fileops::{copy, CopyRequest, CopyStats, Result, SourceKind};
use tempfile::TempDir;

pub fn nothing_excluded(_: &str) -> bool {
    false
}

/// A build context (`src`) and a step rootfs (`dest`).
pub struct Fixture {
    pub src: TempDir,
    pub dest: TempDir,
}

impl Fixture {
    pub fn new() -> Self {
        Fixture {
            src: tempfile::tempdir().unwrap(),
            dest: tempfile::tempdir().unwrap(),
        }
    }

    pub fn src(&self, rel: &str) -> PathBuf {
        self.src.path().join(rel)
    }

    pub fn dest(&self, rel: &str) -> PathBuf {
        self.dest.path().join(rel)
    }

    pub fn request<'a>(&'a self, sources: &[&str], dest: &str) -> CopyRequest<'a> {
        CopyRequest {
            src_root: self.src.path(),
            sources: sources.iter().map(|s| s.to_string()).collect(),
            dest_root: self.dest.path(),
            dest: dest.to_string(),
            workdir: "/".to_string(),
            chown: None,
            chmod: None,
            source_kind: SourceKind::Context,
            excluded: &nothing_excluded,
            parents: false,
            extract_archives: false,
        }
    }

    pub fn copy(&self, sources: &[&str], dest: &str) -> Result<CopyStats> {
        copy(&self.request(sources, dest))
    }
}

/// Writes a file with an exact mode, creating parent directories (0755).
pub fn write(path: &Path, content: &str, mode: u32) {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).unwrap();
    }
    fs::write(path, content).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

pub fn mkdir(path: &Path, mode: u32) {
    fs::create_dir_all(path).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

/// (mode & 07777, uid, gid) without following a symlink.
pub fn stat(path: &Path) -> (u32, u32, u32) {
    let m = fs::symlink_metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    (m.mode() & 0o7777, m.uid(), m.gid())
}

pub fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub fn exists(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok()
}
