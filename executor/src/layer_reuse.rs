//! Writing a COPY's layer again from the layer the same step made last time (issue 17).
//!
//! A `COPY . /app` of a 20,000-file context whose one file changed writes a new full layer tar (the image's
//! layer must stay byte for byte what a cold build writes). Reading every file of the context again for it
//! costs an open, a read and a close per file; most of those bytes are already, in the same order, in the
//! previous layer's blob. So each layer written from copied files gets a [`LayerIndex`]: where each regular
//! file's entry starts in the tar and which source file, as it was then (device, inode, size, mtime, ctime),
//! its bytes came from. The next write of the same step takes an entry's bytes from the old blob when the
//! source file is still that file unchanged (same identity: any write or chmod/chown moves its ctime) and the
//! header it would write is byte-identical to the old one there; every other entry is read from its file.
//!
//! An entry is indexed only when its bytes are known to be the file's: its identity did not change while it
//! was read, and its ctime is older than the write by [`RACY_SECONDS`] (a write in the same clock tick as the
//! read could leave ctime as it was — git's "racily clean" problem). A lost or damaged index only means the
//! files are read again: every use is checked against the old blob's header bytes.

use std::collections::HashMap;
use std::fs::{File, Metadata};
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt};
use std::path::Path;

use tar::Header;

use crate::layer::{ExactSize, LayerError, LayerTar, Result};

/// Files changed less than this many seconds before they were read are not indexed (see the module doc).
pub const RACY_SECONDS: i64 = 2;

/// Files indexed per layer at most: the next write holds the index in memory (~130 bytes a file), which
/// must stay small beside the rest of a build; a bigger context has its other files read from disk.
const MAX_ENTRIES: usize = 200_000;

const MAGIC: &[u8] = b"hoist-layer-index-v1\n";
const END: &[u8] = b"end\n";

/// A source file as it was when its bytes were read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileIdent {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl FileIdent {
    pub fn of(meta: &Metadata) -> FileIdent {
        FileIdent {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.size(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
            ctime: (meta.ctime(), meta.ctime_nsec()),
        }
    }

    /// Whether its ctime is old enough, at `now` (seconds since the epoch), for an unchanged ctime later
    /// to mean unchanged bytes.
    fn settled(&self, now: i64) -> bool {
        self.ctime.0 < now - RACY_SECONDS
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct IndexEntry {
    /// The entry's name in the layer, as written (no trailing slash: regular files only).
    name: Vec<u8>,
    /// Offset in the tar of the entry's first header block (a GNU long-name entry's, when it has one).
    start: u64,
    ident: FileIdent,
}

/// Where a layer tar's copied regular files are, and what they were read from (see the module doc).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct LayerIndex {
    entries: Vec<IndexEntry>,
}

impl LayerIndex {
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Records the entry of `name` starting at `start`, read from a file whose identity was `before` when
    /// the walk saw it and `after` once its bytes were read; only a settled, unchanged file is recorded.
    pub(crate) fn record(
        &mut self,
        name: &[u8],
        start: u64,
        before: FileIdent,
        after: Option<FileIdent>,
        now: i64,
    ) {
        if after == Some(before) && before.settled(now) && self.entries.len() < MAX_ENTRIES {
            self.entries.push(IndexEntry {
                name: name.to_vec(),
                start,
                ident: before,
            });
        }
    }

    /// An entry copied from an indexed one keeps its (settled) identity.
    pub(crate) fn record_reused(&mut self, name: &[u8], start: u64, ident: FileIdent) {
        if self.entries.len() >= MAX_ENTRIES {
            return;
        }
        self.entries.push(IndexEntry {
            name: name.to_vec(),
            start,
            ident,
        });
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(MAGIC.len() + self.entries.len() * 96 + END.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&(self.entries.len() as u64).to_le_bytes());
        for e in &self.entries {
            out.extend_from_slice(&(e.name.len() as u32).to_le_bytes());
            out.extend_from_slice(&e.name);
            for v in [e.start, e.ident.dev, e.ident.ino, e.ident.size] {
                out.extend_from_slice(&v.to_le_bytes());
            }
            for v in [
                e.ident.mtime.0,
                e.ident.mtime.1,
                e.ident.ctime.0,
                e.ident.ctime.1,
            ] {
                out.extend_from_slice(&v.to_le_bytes());
            }
        }
        out.extend_from_slice(END);
        out
    }

    /// `None` for anything but a whole index as [`LayerIndex::encode`] writes it.
    pub fn decode(bytes: &[u8]) -> Option<LayerIndex> {
        let mut rest = bytes.strip_prefix(MAGIC)?;
        let count = take_u64(&mut rest)?;
        if count > MAX_ENTRIES as u64 {
            return None;
        }
        let mut entries = Vec::with_capacity(usize::try_from(count).ok()?.min(1 << 20));
        for _ in 0..count {
            let len = u32::from_le_bytes(take(&mut rest, 4)?.try_into().ok()?) as usize;
            let name = take(&mut rest, len)?.to_vec();
            let start = take_u64(&mut rest)?;
            let dev = take_u64(&mut rest)?;
            let ino = take_u64(&mut rest)?;
            let size = take_u64(&mut rest)?;
            let mut times = [0i64; 4];
            for t in &mut times {
                *t = take_u64(&mut rest)? as i64;
            }
            entries.push(IndexEntry {
                name,
                start,
                ident: FileIdent {
                    dev,
                    ino,
                    size,
                    mtime: (times[0], times[1]),
                    ctime: (times[2], times[3]),
                },
            });
        }
        (rest == END).then_some(LayerIndex { entries })
    }
}

fn take<'a>(rest: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
    if rest.len() < n {
        return None;
    }
    let (head, tail) = rest.split_at(n);
    *rest = tail;
    Some(head)
}

fn take_u64(rest: &mut &[u8]) -> Option<u64> {
    Some(u64::from_le_bytes(take(rest, 8)?.try_into().ok()?))
}

/// The previous layer of a step, to take unchanged entries from: its blob and its index.
pub struct ReuseSource {
    by_name: HashMap<Vec<u8>, (u64, FileIdent)>,
    blob: File,
    blob_len: u64,
    window: Window,
}

/// A read-ahead buffer over the old blob: entries are taken in the order they were written, so most reads
/// are served from the buffer.
struct Window {
    buf: Vec<u8>,
    /// Offset in the blob of `buf[0]`.
    at: u64,
}

const WINDOW_BYTES: usize = 1024 * 1024;

impl ReuseSource {
    pub fn new(index: LayerIndex, blob: File) -> io::Result<ReuseSource> {
        let blob_len = blob.metadata()?.len();
        let by_name = index
            .entries
            .into_iter()
            .map(|e| (e.name, (e.start, e.ident)))
            .collect();
        Ok(ReuseSource {
            by_name,
            blob,
            blob_len,
            window: Window {
                buf: Vec::new(),
                at: 0,
            },
        })
    }

    /// The bytes of the old blob at `[offset, offset + len)`, `len` ≤ the window: from the window, or after
    /// refilling it from `offset`.
    fn bytes_at(&mut self, offset: u64, len: usize) -> io::Result<&[u8]> {
        let w = &mut self.window;
        let inside = offset >= w.at && offset + len as u64 <= w.at + w.buf.len() as u64;
        if !inside {
            let want = (self.blob_len.saturating_sub(offset) as usize).min(WINDOW_BYTES);
            if want < len {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the previous layer is shorter than its index says",
                ));
            }
            w.buf.resize(want, 0);
            self.blob.read_exact_at(&mut w.buf, offset)?;
            w.at = offset;
        }
        let from = (offset - w.at) as usize;
        Ok(&w.buf[from..from + len])
    }

    /// Writes the entry of `name` (its header blocks `header`, then `size` bytes of data and the padding)
    /// from the old blob to `out` when the old blob has it for the same unchanged source file `ident` with
    /// the same header; false (nothing written) otherwise.
    pub(crate) fn copy_entry(
        &mut self,
        name: &[u8],
        ident: FileIdent,
        header: &[u8],
        size: u64,
        out: &mut dyn Write,
    ) -> io::Result<bool> {
        let Some(&(start, old_ident)) = self.by_name.get(name) else {
            return Ok(false);
        };
        let padded = size.div_ceil(512) * 512;
        let end = start + header.len() as u64 + padded;
        if old_ident != ident || end > self.blob_len || header.len() > WINDOW_BYTES {
            return Ok(false);
        }
        if self.bytes_at(start, header.len())? != header {
            return Ok(false);
        }
        out.write_all(header)?;
        let mut offset = start + header.len() as u64;
        while offset < end {
            let n = ((end - offset) as usize).min(WINDOW_BYTES);
            let chunk = self.bytes_at(offset, n)?;
            out.write_all(chunk)?;
            offset += n as u64;
        }
        Ok(true)
    }
}

impl LayerTar<'_> {
    /// Appends a regular file copied from outside the upper dir (`header` ready but for its name): from the
    /// previous layer when it holds this file unchanged, else from the file; indexed either way when it can be.
    pub(crate) fn add_copied_file(
        &mut self,
        path: &Path,
        name: &Path,
        meta: &Metadata,
        header: &mut Header,
    ) -> Result<()> {
        let write_err = |source| LayerError::Write {
            path: path.to_path_buf(),
            source,
        };
        // The header blocks exactly as `tar::Builder::append_data` writes them (a GNU long-name entry first
        // when the name needs one), so that they can be compared with the old ones.
        self.scratch.get_mut().clear();
        self.scratch
            .append_data(header, name, io::empty())
            .map_err(write_err)?;
        let name_bytes = name.as_os_str().as_bytes();
        let ident = FileIdent::of(meta);
        let size = meta.len();
        let start = self.builder.get_ref().count;
        let out = self.builder.get_mut();
        let reused = match self.reuse.as_mut() {
            Some(reuse) => reuse
                .copy_entry(name_bytes, ident, self.scratch.get_ref(), size, out)
                .map_err(write_err)?,
            None => false,
        };
        if reused {
            self.index.record_reused(name_bytes, start, ident);
        } else {
            // O_NOFOLLOW: the entry was a regular file when we looked; never follow a swapped-in link.
            let file = std::fs::OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_NOFOLLOW)
                .open(path)
                .map_err(|source| LayerError::Read {
                    path: path.to_path_buf(),
                    source,
                })?;
            out.write_all(self.scratch.get_ref()).map_err(write_err)?;
            let mut data = ExactSize::new(file, size);
            io::copy(&mut data, out).map_err(write_err)?;
            let padding = (512 - size % 512) % 512;
            out.write_all(&[0u8; 512][..padding as usize])
                .map_err(write_err)?;
            let after = data.into_file().metadata().ok().map(|m| FileIdent::of(&m));
            self.index
                .record(name_bytes, start, ident, after, self.started);
        }
        self.stats.entries += 1;
        self.stats.content_bytes += size;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layer::{write_layer_tar_reusing, EntryAs};
    use std::path::PathBuf;

    const HOW: EntryAs = EntryAs {
        owner: Some((0, 0)),
        mode: None,
        xattrs: false,
        dir_mtime: Some(1_700_000_000),
    };

    /// Adds `src`'s tree under `name` as a COPY's graft does: depth first, sorted by name.
    fn add_tree(tar: &mut LayerTar, src: &Path, name: &Path) -> crate::layer::Result<()> {
        let mut children: Vec<_> = std::fs::read_dir(src)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        children.sort();
        for child in children {
            let (path, child_name) = (src.join(&child), name.join(&child));
            let meta = std::fs::symlink_metadata(&path).unwrap();
            tar.add_as(&path, &child_name, &meta, HOW)?;
            if meta.is_dir() {
                add_tree(tar, &path, &child_name)?;
            }
        }
        Ok(())
    }

    /// The layer of `COPY src /app` and its index, taking unchanged files from `reuse`.
    fn copy_layer(src: &Path, reuse: Option<ReuseSource>) -> (Vec<u8>, LayerIndex) {
        let upper = tempfile::tempdir().unwrap();
        std::fs::create_dir(upper.path().join("app")).unwrap();
        let mut out = Vec::new();
        let mut graft = |_: &Path, name: &Path, tar: &mut LayerTar| {
            let meta = std::fs::symlink_metadata(src).unwrap();
            tar.add_as(src, name, &meta, HOW)?;
            add_tree(tar, src, name)?;
            Ok(true)
        };
        let (_, index) =
            write_layer_tar_reusing(upper.path(), &mut out, &mut graft, None, reuse).unwrap();
        (out, index)
    }

    fn reuse_of(tar: &[u8], index: &LayerIndex) -> ReuseSource {
        let blob = tempfile::tempfile().unwrap();
        blob.write_all_at(tar, 0).unwrap();
        ReuseSource::new(index.clone(), blob).unwrap()
    }

    fn context() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("ctx");
        std::fs::create_dir_all(src.join("sub")).unwrap();
        std::fs::write(src.join("a"), "aaaa").unwrap();
        std::fs::write(src.join("sub/b"), "b".repeat(1000)).unwrap();
        std::fs::write(src.join("sub/c"), "c".repeat(700)).unwrap();
        std::fs::write(src.join("empty"), "").unwrap();
        std::fs::write(src.join("x".repeat(150)), "a long name").unwrap();
        std::os::unix::fs::symlink("a", src.join("link")).unwrap();
        (dir, src)
    }

    #[test]
    fn a_rewrite_from_the_previous_layer_is_the_fresh_layer_byte_for_byte() {
        let (_dir, src) = context();
        // Files changed within RACY_SECONDS of a write are not indexed.
        let (_, index) = copy_layer(&src, None);
        assert!(index.is_empty(), "just-written files must not be indexed");
        std::thread::sleep(std::time::Duration::from_millis(
            1000 * RACY_SECONDS as u64 + 1100,
        ));
        let (first, index) = copy_layer(&src, None);
        assert_eq!(index.len(), 5, "every settled regular file is indexed");

        // Same size, new bytes; a new mode; a new file; a removed one.
        std::fs::write(src.join("sub/b"), "B".repeat(1000)).unwrap();
        std::fs::set_permissions(
            src.join("sub/c"),
            std::os::unix::fs::PermissionsExt::from_mode(0o600),
        )
        .unwrap();
        std::fs::write(src.join("new"), "new").unwrap();
        std::fs::remove_file(src.join("a")).unwrap();
        let (reused, reused_index) = copy_layer(&src, Some(reuse_of(&first, &index)));
        let (fresh, _) = copy_layer(&src, None);
        assert!(reused == fresh, "the rewrite differs from a fresh write");
        // The long-named and the empty file came from the old layer and stay indexed; the changed ones are
        // too recent to be.
        assert_eq!(reused_index.len(), 2);

        // The bytes of an unchanged file really come from the old layer: altered there, they show.
        let at = first.windows(11).position(|w| w == b"a long name").unwrap();
        let mut altered = first.clone();
        altered[at..at + 11].copy_from_slice(b"FROM THE OL");
        let (from_old, _) = copy_layer(&src, Some(reuse_of(&altered, &index)));
        assert!(from_old.windows(11).any(|w| w == b"FROM THE OL"));

        // An old header that differs from the one the file would get (here its mtime) is not taken.
        let (with_dates, _) = copy_layer(&src, None);
        let mut header_changed = first.clone();
        let name_at = first
            .windows(20)
            .position(|w| w == "x".repeat(20).as_bytes())
            .unwrap();
        // The GNU long-name entry's header ("././@LongLink"), its data block (where the name first shows), then
        // the file's own header: change a digit of its mtime field (offset 136, 12 bytes).
        let own_header = (name_at / 512 + 1) * 512;
        assert!(first[own_header..].starts_with(b"app/xxxxxxxx"));
        header_changed[own_header + 140] ^= 1;
        let (rewritten, _) = copy_layer(&src, Some(reuse_of(&header_changed, &index)));
        assert!(
            rewritten == with_dates,
            "a differing header must mean a read of the file"
        );
    }

    fn ident(n: u64) -> FileIdent {
        FileIdent {
            dev: 1,
            ino: n,
            size: 10 + n,
            mtime: (100, 5),
            ctime: (100, 7),
        }
    }

    #[test]
    fn an_index_survives_encoding_and_a_damaged_one_is_refused() {
        let mut index = LayerIndex::default();
        index.record(b"app/a", 1024, ident(1), Some(ident(1)), 1_000);
        index.record(b"app/b", 4096, ident(2), Some(ident(2)), 1_000);
        let bytes = index.encode();
        assert_eq!(LayerIndex::decode(&bytes), Some(index));
        assert_eq!(LayerIndex::decode(&bytes[..bytes.len() - 1]), None);
        assert_eq!(LayerIndex::decode(&bytes[..bytes.len() / 2]), None);
        assert_eq!(LayerIndex::decode(b"something else"), None);
    }

    #[test]
    fn only_settled_unchanged_files_are_recorded() {
        let mut index = LayerIndex::default();
        // Changed while read.
        index.record(b"a", 0, ident(1), Some(ident(2)), 1_000);
        // Vanished.
        index.record(b"b", 0, ident(1), None, 1_000);
        // Changed within RACY_SECONDS of the read.
        index.record(b"c", 0, ident(1), Some(ident(1)), 100 + RACY_SECONDS);
        assert!(index.is_empty());
        index.record(b"d", 0, ident(1), Some(ident(1)), 101 + RACY_SECONDS);
        assert_eq!(index.len(), 1);
    }
}
