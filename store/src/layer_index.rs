//! Side files of layer blobs that a COPY wrote from copied files: where each file's entry lies in the tar and
//! which source file it was read from (`hoist_executor::layer_reuse`), so that the next write of the same step
//! takes its unchanged files from the blob instead of reading them all again (issue 17).
//!
//! The bytes are opaque here. An index is a cache of the blob, never a source of truth: it is written without
//! `fsync` (a crash may lose or cut it; its reader refuses a damaged one and every use is checked against the
//! blob), and it goes when its blob does.

use std::fs;
use std::io::Write;
use std::path::PathBuf;

use crate::digest::Digest;
use crate::error::{IoContext, Result};
use crate::Store;

/// Under the state directory: one file per layer, named by its hex digest.
const DIR: &str = "layer-index";

impl Store {
    fn layer_index_path(&self, layer: &Digest) -> PathBuf {
        self.root.join(DIR).join(layer.hex())
    }

    /// Keeps `bytes` as the index of layer blob `layer` (replacing an older one).
    pub fn put_layer_index(&self, layer: &Digest, bytes: &[u8]) -> Result<()> {
        let dir = self.root.join(DIR);
        fs::create_dir_all(&dir).io_ctx("creating", &dir)?;
        let tmp = self
            .tmp
            .join(crate::owner::owned_name(&self.tmp, "layer-index")?);
        let written = fs::File::create(&tmp)
            .and_then(|mut f| f.write_all(bytes))
            .io_ctx("writing", &tmp);
        if let Err(e) = written {
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
        let path = self.layer_index_path(layer);
        fs::rename(&tmp, &path).io_ctx("renaming into place", &path)
    }

    /// The index of layer blob `layer`, when there is one and its blob is there.
    pub fn layer_index(&self, layer: &Digest) -> Option<Vec<u8>> {
        if !self.has_blob(layer) {
            return None;
        }
        fs::read(self.layer_index_path(layer)).ok()
    }

    /// Removes the indexes whose blob is gone (after a blob was removed).
    pub(crate) fn forget_orphan_layer_indexes(&self) -> Result<()> {
        let dir = self.root.join(DIR);
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e).io_ctx("listing", &dir),
        };
        for entry in entries {
            let entry = entry.io_ctx("listing", &dir)?;
            let name = entry.file_name();
            let orphan = match Digest::from_hex(&name.to_string_lossy()) {
                Ok(digest) => !self.has_blob(&digest),
                Err(_) => true,
            };
            if orphan {
                let path = entry.path();
                match fs::remove_file(&path) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(e).io_ctx("removing", &path),
                }
            }
        }
        Ok(())
    }
}
