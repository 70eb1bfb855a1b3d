//! A layer blob whose delta snapshot is worked out while the blob is written (issue 17).
//!
//! A changed `COPY . /app` writes a new full layer tar; the step after it mounts that layer as a delta over
//! the snapshot of the layer the same step made last time ([`Store::ensure_snapshot_stack`]). Finding the
//! delta afterwards reads both tars again (twice the layer's size, parsed and compared). Instead,
//! [`LayerWriter`] hands every byte it writes to a thread that compares the stream with the base layer's tar
//! as it goes (`delta::diff_layers`, on the other core while this one reads and hashes the files); the
//! result waits in the store until the snapshot is made, which then only unpacks the entries that differ.
//! The compared bytes are exactly the blob's bytes, so the delta is the one a second read would find.

use std::collections::HashMap;
use std::io::{self, BufReader, Read, Write};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use sha2::{Digest as _, Sha256};

use crate::blobs::BlobWriter;
use crate::delta::{self, LayerDiff, NoDelta};
use crate::digest::Digest;
use crate::error::{Result, StoreError};
use crate::Store;

/// Chunks of the blob in flight to the comparing thread (each one `write` call, ≤ 256 KiB from the layer
/// writer's buffer): a few MiB at most, and the writer waits when the thread falls behind.
const CHUNKS_IN_FLIGHT: usize = 16;

/// The outcome of comparing a layer with the full snapshot's layer it may sit on.
type Compared = std::result::Result<LayerDiff, NoDelta>;

/// Deltas found while their layers were written, by (new layer, the full snapshot's layer they were compared
/// with); each is taken once, when that snapshot is made.
#[derive(Default)]
pub(crate) struct PendingDiffs(Mutex<HashMap<(Digest, Digest), Compared>>);

impl PendingDiffs {
    fn put(&self, new: Digest, root: Digest, compared: Compared) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert((new, root), compared);
    }

    pub(crate) fn take(&self, new: &Digest, root: &Digest) -> Option<Compared> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&(new.clone(), root.clone()))
    }
}

/// Writes a layer blob (see [`Store::layer_writer`]); [`LayerWriter::commit`] as [`BlobWriter::commit`].
pub struct LayerWriter<'s> {
    store: &'s Store,
    blob: BlobWriter,
    tee: Option<Tee>,
    /// Hashes the blob on another core once it is big (see [`HASH_THREAD_AFTER`]).
    hashing: Option<HashThread>,
    /// Whether a hashing thread was started or could not be.
    hashing_tried: bool,
}

/// A layer bigger than this is hashed by a thread of its own while the writer reads the next files: sha256
/// of a 178 MB layer is ~0.2 s of one core, which the writer need not wait for.
const HASH_THREAD_AFTER: u64 = 4 << 20;

struct HashThread {
    chunks: SyncSender<Arc<[u8]>>,
    worker: JoinHandle<Sha256>,
}

impl HashThread {
    /// A thread that goes on hashing with `hasher`; `None` when no thread can be started.
    fn start(mut hasher: Sha256) -> Option<HashThread> {
        let (chunks, received) = sync_channel::<Arc<[u8]>>(CHUNKS_IN_FLIGHT);
        let worker = std::thread::Builder::new()
            .name("layer-hash".into())
            .spawn(move || {
                for chunk in received {
                    hasher.update(&chunk);
                }
                hasher
            })
            .ok()?;
        Some(HashThread { chunks, worker })
    }
}

/// The comparing thread and the channel that feeds it.
struct Tee {
    /// `None` once the thread stopped reading (it found that no delta can be made).
    chunks: Option<SyncSender<Arc<[u8]>>>,
    worker: JoinHandle<Result<Compared>>,
    root: Digest,
}

impl Store {
    /// A writer for a new layer blob. With `base`, the layer the same step made last time, the blob is compared
    /// with the layer of the full snapshot a delta over `base` would sit on while it is written, so that
    /// mounting the new layer later makes its delta snapshot without reading either tar again. Without
    /// `base`, or when that snapshot or its blob is missing, it is a plain [`BlobWriter`].
    pub fn layer_writer(&self, base: Option<&Digest>) -> Result<LayerWriter<'_>> {
        let blob = self.blob_writer()?;
        let tee = match base {
            Some(base) => self.start_tee(base)?,
            None => None,
        };
        Ok(LayerWriter {
            store: self,
            blob,
            tee,
            hashing: None,
            hashing_tried: false,
        })
    }

    fn start_tee(&self, base: &Digest) -> Result<Option<Tee>> {
        let Some((root, _)) = self.delta_root(base)? else {
            return Ok(None);
        };
        let base_tar = match self.open_blob(&root) {
            Ok(file) => BufReader::with_capacity(256 * 1024, file),
            Err(_) => return Ok(None),
        };
        // The new layer's size is not known yet: the thread gives up once the delta passes half the base
        // layer (a delta is kept only under a quarter of the new layer, which that bound lets through unless
        // the layer more than doubled); the exact bound is applied when the delta is taken.
        let size_bound = self.blob_size(&root)?.saturating_mul(2);
        let (chunks, received) = sync_channel(CHUNKS_IN_FLIGHT);
        let label = format!("the layer compared with {root}");
        let worker = std::thread::Builder::new()
            .name("layer-delta".into())
            .spawn(move || {
                delta::diff_layers(
                    ChunkReader::new(received),
                    base_tar,
                    size_bound,
                    &[],
                    &label,
                )
            });
        match worker {
            Ok(worker) => Ok(Some(Tee {
                chunks: Some(chunks),
                worker,
                root,
            })),
            // No thread: the delta is found by reading the tars when it is needed.
            Err(_) => Ok(None),
        }
    }
}

impl LayerWriter<'_> {
    /// Commits the blob (see [`BlobWriter::commit`]) and keeps the delta found on the way for the snapshot.
    pub fn commit(mut self) -> Result<(Digest, u64)> {
        let tee = self.tee.take();
        if let Some(HashThread { chunks, worker }) = self.hashing.take() {
            drop(chunks);
            let hasher = worker.join().map_err(|_| StoreError::Io {
                action: "hashing",
                path: "a layer blob".into(),
                source: io::Error::other("the hashing thread panicked"),
            })?;
            self.blob.set_hasher(hasher);
        }
        let (digest, size) = self.blob.commit()?;
        if let Some(Tee {
            chunks,
            worker,
            root,
        }) = tee
        {
            drop(chunks);
            // A comparison that failed (a thread that panicked, a tar it could not read) leaves nothing: the
            // snapshot is then made by reading the tars, as without this writer.
            if let Ok(Ok(compared)) = worker.join() {
                self.store.pending_diffs.put(digest.clone(), root, compared);
            }
        }
        Ok((digest, size))
    }
}

impl Write for LayerWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if !self.hashing_tried && self.blob.size() >= HASH_THREAD_AFTER {
            self.hashing_tried = true;
            let hasher = self.blob.take_hasher();
            // A clone goes to the thread: a failed spawn leaves the writer hashing as before.
            match HashThread::start(hasher.clone()) {
                Some(thread) => self.hashing = Some(thread),
                None => self.blob.set_hasher(hasher),
            }
        }
        let n = match &self.hashing {
            Some(_) => self.blob.write_unhashed(buf)?,
            None => self.blob.write(buf)?,
        };
        // One copy of the bytes, shared by the threads that need them.
        let chunk: Option<Arc<[u8]>> = (self.hashing.is_some()
            || self.tee.as_ref().is_some_and(|t| t.chunks.is_some()))
        .then(|| Arc::from(&buf[..n]));
        if let (Some(hashing), Some(chunk)) = (&self.hashing, &chunk) {
            hashing
                .chunks
                .send(chunk.clone())
                .map_err(|_| io::Error::other("the layer's hashing thread stopped"))?;
        }
        if let (Some(tee), Some(chunk)) = (&mut self.tee, chunk) {
            if let Some(chunks) = &tee.chunks {
                if chunks.send(chunk).is_err() {
                    // The thread is done early (no delta possible): the rest is the blob's alone.
                    tee.chunks = None;
                }
            }
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.blob.flush()
    }
}

/// The blob's bytes as the comparing thread reads them; the end of the stream is the writer's commit (or
/// its drop).
struct ChunkReader {
    chunks: Receiver<Arc<[u8]>>,
    current: Arc<[u8]>,
    at: usize,
}

impl ChunkReader {
    fn new(chunks: Receiver<Arc<[u8]>>) -> Self {
        ChunkReader {
            chunks,
            current: Arc::from(Vec::new()),
            at: 0,
        }
    }
}

impl Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.at == self.current.len() {
            match self.chunks.recv() {
                Ok(chunk) => {
                    self.current = chunk;
                    self.at = 0;
                }
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len() - self.at);
        buf[..n].copy_from_slice(&self.current[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}
