//! The content store: `blobs/sha256/<hex>`, written through `tmp/` and renamed into place.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

use crate::digest::Digest;
use crate::error::{IoContext, Result, StoreError};
use crate::fsutil::fsync_dir;

/// Writes one blob: hashes while writing to a file in `tmp/`; [`BlobWriter::commit`] moves it into the store.
/// Dropped without commit, the partial file is removed.
pub struct BlobWriter {
    file: Option<File>,
    tmp_path: PathBuf,
    blobs_dir: PathBuf,
    hasher: Sha256,
    size: u64,
    /// Bytes already handed to the kernel for writeback (see [`WRITEBACK_CHUNK`]).
    writeback_started: u64,
    committed: bool,
}

/// A big blob (a layer of a large COPY) starts its writeback every this many bytes, so the fsync in
/// [`BlobWriter::commit`] waits for the last chunk rather than for the whole blob.
const WRITEBACK_CHUNK: u64 = 8 << 20;

impl BlobWriter {
    pub(crate) fn new(tmp_dir: &Path, blobs_dir: &Path) -> Result<BlobWriter> {
        let tmp_path = tmp_dir.join(crate::owner::owned_name(tmp_dir, "blob")?);
        let file = File::create(&tmp_path).io_ctx("creating", &tmp_path)?;
        Ok(BlobWriter {
            file: Some(file),
            tmp_path,
            blobs_dir: blobs_dir.to_path_buf(),
            hasher: Sha256::new(),
            size: 0,
            writeback_started: 0,
            committed: false,
        })
    }

    /// Bytes written so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The digest of the bytes written so far: check it against what the blob must be before [`commit`]
    /// (a blob that fails verification is then dropped, leaving nothing in the store).
    ///
    /// [`commit`]: BlobWriter::commit
    pub fn digest(&self) -> Digest {
        Digest::from_hasher(self.hasher.clone())
    }

    /// fsync, then rename into `blobs/sha256/<hex>`; if that blob already exists the new copy is discarded.
    pub fn commit(mut self) -> Result<(Digest, u64)> {
        let file = self.file.take().ok_or_else(|| StoreError::Io {
            action: "committing",
            path: self.tmp_path.clone(),
            source: io::Error::other("blob writer already committed"),
        })?;
        file.sync_all().io_ctx("syncing", &self.tmp_path)?;
        drop(file);
        let digest = Digest::from_hasher(std::mem::take(&mut self.hasher));
        let dest = self.blobs_dir.join(digest.hex());
        self.committed = true;
        if dest.exists() {
            fs::remove_file(&self.tmp_path).io_ctx("removing duplicate blob", &self.tmp_path)?;
        } else {
            fs::rename(&self.tmp_path, &dest).io_ctx("renaming blob into place", &dest)?;
            fsync_dir(&self.blobs_dir)?;
        }
        Ok((digest, self.size))
    }
}

impl BlobWriter {
    /// Takes the hasher out (with what it hashed so far): the caller hashes the rest of the bytes, which it
    /// writes with [`BlobWriter::write_unhashed`], and gives it back with [`BlobWriter::set_hasher`] before
    /// the commit (`LayerWriter` hashes a big layer on a thread of its own).
    pub(crate) fn take_hasher(&mut self) -> Sha256 {
        std::mem::take(&mut self.hasher)
    }

    pub(crate) fn set_hasher(&mut self, hasher: Sha256) {
        self.hasher = hasher;
    }

    /// [`Write::write`] without hashing the bytes (see [`BlobWriter::take_hasher`]).
    pub(crate) fn write_unhashed(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_file(buf, false)
    }

    fn write_file(&mut self, buf: &[u8], hash: bool) -> io::Result<usize> {
        let file = self
            .file
            .as_mut()
            .ok_or_else(|| io::Error::other("blob writer already committed"))?;
        let n = file.write(buf)?;
        if hash {
            self.hasher.update(&buf[..n]);
        }
        self.size += n as u64;
        if self.size - self.writeback_started >= WRITEBACK_CHUNK {
            use std::os::fd::AsRawFd as _;
            let (offset, len) = (self.writeback_started, self.size - self.writeback_started);
            // Only starts the writeback (never waits): durability still comes from the fsync in `commit`.
            // SAFETY: a plain syscall on an open file descriptor we own; no memory is passed.
            unsafe {
                libc::sync_file_range(
                    file.as_raw_fd(),
                    offset as i64,
                    len as i64,
                    libc::SYNC_FILE_RANGE_WRITE,
                );
            }
            self.writeback_started = self.size;
        }
        Ok(n)
    }
}

impl Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_file(buf, true)
    }

    fn flush(&mut self) -> io::Result<()> {
        match self.file.as_mut() {
            Some(f) => f.flush(),
            None => Ok(()),
        }
    }
}

impl Drop for BlobWriter {
    fn drop(&mut self) {
        if !self.committed {
            let _ = fs::remove_file(&self.tmp_path);
        }
    }
}
