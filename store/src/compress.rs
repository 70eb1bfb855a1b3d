//! Compressed copies of layer blobs for export.
//!
//! Layers stay uncompressed in the store (a layer's blob digest is its diff ID). The first export that wants a
//! layer gzip- or zstd-compressed makes a compressed blob once and records `diff_id + algorithm → digest` in the
//! `compressed_layers` table; later exports reuse it. Garbage collection keeps a compressed blob exactly as long
//! as its layer (see `gc.rs`).

use std::io::{self, BufReader, Read, Write};

use oci_spec::image::MediaType;
use rusqlite::{OptionalExtension, TransactionBehavior};

use crate::blobs::BlobWriter;
use crate::db::now;
use crate::digest::Digest;
use crate::error::{IoContext, Result, StoreError};
use crate::lock::WorkLock;
use crate::Store;

/// zstd's default level: about gzip's ratio at several times its speed.
const ZSTD_LEVEL: i32 = 3;

/// Read buffer for streaming a layer blob into a compressor.
const READ_BUFFER: usize = 1 << 20;

/// How an exported layer is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LayerCompression {
    /// gzip (RFC 1952) at the default level: what every registry and `docker load` accept.
    Gzip,
    /// zstd at level 3: OCI consumers only (`application/vnd.oci.image.layer.v1.tar+zstd`).
    Zstd,
}

impl LayerCompression {
    /// The name stored in the database and shown to users: `gzip` or `zstd`.
    pub fn name(self) -> &'static str {
        match self {
            LayerCompression::Gzip => "gzip",
            LayerCompression::Zstd => "zstd",
        }
    }

    /// The OCI media type of a layer compressed this way.
    pub fn oci_media_type(self) -> MediaType {
        match self {
            LayerCompression::Gzip => MediaType::ImageLayerGzip,
            LayerCompression::Zstd => MediaType::ImageLayerZstd,
        }
    }

    /// The file-name suffix of a layer compressed this way (`layer.tar.gz`).
    pub fn tar_extension(self) -> &'static str {
        match self {
            LayerCompression::Gzip => "tar.gz",
            LayerCompression::Zstd => "tar.zst",
        }
    }
}

impl std::fmt::Display for LayerCompression {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl Store {
    /// The compressed blob of layer `diff_id`: `(digest, size)`. Made on first use (the uncompressed blob is
    /// streamed through the compressor into a new blob) and remembered, so later calls cost one database query.
    ///
    /// Safe to call from many threads and processes at once: a per-layer `flock` makes the others wait for the
    /// first compression instead of repeating it, and even without it every writer renames a complete blob into
    /// place and the first recorded digest wins.
    pub fn compressed_layer(
        &self,
        diff_id: &Digest,
        compression: LayerCompression,
    ) -> Result<(Digest, u64)> {
        if let Some(found) = self.recorded_compressed_layer(diff_id, compression)? {
            return Ok(found);
        }
        // Fail before taking locks if the layer itself is missing.
        self.blob_size(diff_id)?;
        let lock_path = self.tmp.join(format!(
            "compress-{}-{}.lock",
            compression.name(),
            diff_id.hex()
        ));
        let _lock = WorkLock::acquire(&lock_path)?;
        if let Some(found) = self.recorded_compressed_layer(diff_id, compression)? {
            return Ok(found);
        }
        let made = self.compress_blob(diff_id, compression)?;
        self.record_compressed_layer(diff_id, compression, made)
    }

    /// The recorded compressed blob, if its row exists and the blob is still in the store.
    fn recorded_compressed_layer(
        &self,
        diff_id: &Digest,
        compression: LayerCompression,
    ) -> Result<Option<(Digest, u64)>> {
        let row: Option<(String, i64)> = self
            .conn()
            .query_row(
                "SELECT digest, size FROM compressed_layers WHERE diff_id = ?1 AND algorithm = ?2",
                [diff_id.as_str(), compression.name()],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(self.db_err())?;
        let Some((digest, size)) = row else {
            return Ok(None);
        };
        let digest: Digest = digest.parse()?;
        // A row whose blob vanished (removed by hand, or a crash between rename and fsync) is remade.
        match self.blob_size(&digest) {
            Ok(actual) if actual == size as u64 => Ok(Some((digest, actual))),
            Ok(_) | Err(StoreError::BlobNotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Record `made` unless another process recorded a blob that is still there first; returns the winner.
    fn record_compressed_layer(
        &self,
        diff_id: &Digest,
        compression: LayerCompression,
        made: (Digest, u64),
    ) -> Result<(Digest, u64)> {
        let mut conn = self.conn();
        let err = self.db_err();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(&err)?;
        let existing: Option<(String, i64)> = tx
            .query_row(
                "SELECT digest, size FROM compressed_layers WHERE diff_id = ?1 AND algorithm = ?2",
                [diff_id.as_str(), compression.name()],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(&err)?;
        if let Some((digest, size)) = existing {
            let digest: Digest = digest.parse()?;
            if self.blob_size(&digest).ok() == Some(size as u64) {
                // Ours is now unreferenced; garbage collection removes it.
                return Ok((digest, size as u64));
            }
        }
        tx.execute(
            "INSERT INTO compressed_layers (diff_id, algorithm, digest, size, created)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT(diff_id, algorithm)
             DO UPDATE SET digest = excluded.digest, size = excluded.size, created = excluded.created",
            rusqlite::params![
                diff_id.as_str(),
                compression.name(),
                made.0.as_str(),
                made.1 as i64,
                now()
            ],
        )
        .map_err(&err)?;
        tx.commit().map_err(&err)?;
        Ok(made)
    }

    /// Stream blob `diff_id` through the compressor into a new blob.
    fn compress_blob(
        &self,
        diff_id: &Digest,
        compression: LayerCompression,
    ) -> Result<(Digest, u64)> {
        let source_path = self.blob_path(diff_id);
        let source = BufReader::with_capacity(READ_BUFFER, self.open_blob(diff_id)?);
        let writer = self.blob_writer()?;
        let writer = match compression {
            LayerCompression::Gzip => gzip(source, writer),
            LayerCompression::Zstd => zstd(source, writer),
        }
        .io_ctx("compressing layer blob", source_path)?;
        writer.commit()
    }
}

fn gzip(source: impl Read, out: BlobWriter) -> io::Result<BlobWriter> {
    crate::gzip::gzip(source, out)
}

fn zstd(mut source: impl Read, out: BlobWriter) -> io::Result<BlobWriter> {
    let mut encoder = zstd::stream::write::Encoder::new(out, ZSTD_LEVEL)?;
    // Always multithreaded mode (even with one worker): its output is the same for any number of workers,
    // so every machine makes the same blob for a layer.
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    encoder.multithread(threads as u32)?;
    encoder.include_checksum(true)?;
    io::copy(&mut source, &mut encoder)?;
    let mut out = encoder.finish()?;
    out.flush()?;
    Ok(out)
}
