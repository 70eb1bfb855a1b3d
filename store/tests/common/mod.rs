//! Helpers shared by the store's integration tests: hand-built layer tars.
#![allow(dead_code)]

use std::path::Path;

use hoist_store::Store;

/// Builds a tar in memory, entry by entry, with raw (unvalidated) names so tests can write hostile ones.
pub struct LayerTar {
    builder: tar::Builder<Vec<u8>>,
}

impl Default for LayerTar {
    fn default() -> Self {
        Self::new()
    }
}

fn header(name: &str, kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    let bytes = name.as_bytes();
    assert!(bytes.len() < 100, "test names must fit the old header");
    h.as_old_mut().name[..bytes.len()].copy_from_slice(bytes);
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_size(size);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(1_600_000_000);
    h
}

impl LayerTar {
    pub fn new() -> Self {
        LayerTar {
            builder: tar::Builder::new(Vec::new()),
        }
    }

    fn push(&mut self, mut h: tar::Header, data: &[u8]) -> &mut Self {
        h.set_cksum();
        self.builder.append(&h, data).unwrap();
        self
    }

    pub fn dir(&mut self, name: &str, mode: u32) -> &mut Self {
        self.push(header(name, tar::EntryType::Directory, mode, 0), b"")
    }

    pub fn dir_owned(
        &mut self,
        name: &str,
        mode: u32,
        uid: u64,
        gid: u64,
        mtime: u64,
    ) -> &mut Self {
        let mut h = header(name, tar::EntryType::Directory, mode, 0);
        h.set_uid(uid);
        h.set_gid(gid);
        h.set_mtime(mtime);
        self.push(h, b"")
    }

    pub fn file(&mut self, name: &str, mode: u32, data: &[u8]) -> &mut Self {
        self.push(
            header(name, tar::EntryType::Regular, mode, data.len() as u64),
            data,
        )
    }

    pub fn file_owned(
        &mut self,
        name: &str,
        mode: u32,
        uid: u64,
        gid: u64,
        mtime: u64,
        data: &[u8],
    ) -> &mut Self {
        let mut h = header(name, tar::EntryType::Regular, mode, data.len() as u64);
        h.set_uid(uid);
        h.set_gid(gid);
        h.set_mtime(mtime);
        self.push(h, data)
    }

    pub fn symlink(&mut self, name: &str, target: &str) -> &mut Self {
        let mut h = header(name, tar::EntryType::Symlink, 0o777, 0);
        h.set_link_name_literal(target).unwrap();
        self.push(h, b"")
    }

    pub fn hardlink(&mut self, name: &str, target: &str) -> &mut Self {
        let mut h = header(name, tar::EntryType::Link, 0o644, 0);
        h.set_link_name_literal(target).unwrap();
        self.push(h, b"")
    }

    pub fn device(
        &mut self,
        name: &str,
        kind: tar::EntryType,
        major: u32,
        minor: u32,
    ) -> &mut Self {
        let mut h = header(name, kind, 0o620, 0);
        h.set_device_major(major).unwrap();
        h.set_device_minor(minor).unwrap();
        self.push(h, b"")
    }

    /// A PAX extended header (applies to the next entry).
    pub fn pax(&mut self, records: &[(&str, &[u8])]) -> &mut Self {
        let mut data = Vec::new();
        for (key, value) in records {
            let body_len = 1 + key.len() + 1 + value.len() + 1; // " key=value\n"
            let mut len = body_len + 1;
            while len.to_string().len() + body_len != len {
                len = len.to_string().len() + body_len;
            }
            data.extend_from_slice(format!("{len} {key}=").as_bytes());
            data.extend_from_slice(value);
            data.push(b'\n');
        }
        let h = header(
            "././@PaxHeader",
            tar::EntryType::XHeader,
            0o644,
            data.len() as u64,
        );
        self.push(h, &data)
    }

    pub fn finish(self) -> Vec<u8> {
        self.builder.into_inner().unwrap()
    }
}

/// A fresh store in a temp dir (kept alive by the returned guard).
pub fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("root")).unwrap();
    (dir, store)
}

/// Store `tar` as a layer blob and return its diff ID.
pub fn put_layer(store: &Store, tar: &[u8]) -> hoist_store::Digest {
    store.put_blob(tar).unwrap()
}

pub fn exists_no_follow(p: &Path) -> bool {
    std::fs::symlink_metadata(p).is_ok()
}
