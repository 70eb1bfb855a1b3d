//! Build reports: what each step of a build did (cached or not, and why not), kept for `hoist cache explain`.
//! One JSON file per image ID under `builds/`, plus `last` for the latest build, written atomically.
use std::path::PathBuf;

use crate::error::{IoContext, Result, StoreError};
use crate::fsutil::write_atomic;
use crate::Store;

impl Store {
    fn report_path(&self, name: &str) -> Result<PathBuf> {
        // Names are image IDs (`sha256:<hex>`) or `last`: nothing that could leave the directory.
        let file = name.trim_start_matches("sha256:");
        if file.is_empty() || !file.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(StoreError::InvalidReference {
                reference: name.to_string(),
                reason: "not a build report name".into(),
            });
        }
        Ok(self.root().join("builds").join(format!("{file}.json")))
    }

    /// Stores the report of a build under `name` (an image ID, or `last`).
    pub fn put_build_report(&self, name: &str, json: &[u8]) -> Result<()> {
        let path = self.report_path(name)?;
        // A no-op rebuild makes the same report again: leave the file (and the disk) alone.
        if std::fs::read(&path).is_ok_and(|old| old == json) {
            return Ok(());
        }
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).io_ctx("creating", dir)?;
        }
        write_atomic(self.tmp_dir(), &path, json)
    }

    /// The report stored under `name`, if any.
    pub fn build_report(&self, name: &str) -> Result<Option<Vec<u8>>> {
        let path = self.report_path(name)?;
        match std::fs::read(&path) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).io_ctx("reading", &path),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_round_trip_and_names_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store.put_build_report("last", b"[1]").unwrap();
        store.put_build_report("sha256:abc123", b"[2]").unwrap();
        assert_eq!(store.build_report("last").unwrap().unwrap(), b"[1]");
        assert_eq!(
            store.build_report("sha256:abc123").unwrap().unwrap(),
            b"[2]"
        );
        assert!(store.build_report("sha256:ffff").unwrap().is_none());
        assert!(store.put_build_report("../x", b"").is_err());
    }

    #[test]
    fn the_same_report_again_leaves_the_file_alone() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let path = dir.path().join("builds/last.json");
        store.put_build_report("last", b"[1]").unwrap();
        let first = std::fs::metadata(&path).unwrap().ino();
        store.put_build_report("last", b"[1]").unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().ino(), first);
        store.put_build_report("last", b"[2]").unwrap();
        assert_ne!(
            std::fs::metadata(&path).unwrap().ino(),
            first,
            "replaced atomically"
        );
        assert_eq!(store.build_report("last").unwrap().unwrap(), b"[2]");
    }
}
