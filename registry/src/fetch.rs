//! Streaming one blob from a registry into the store, verified.
//!
//! The download runs as a task on the registry's runtime and hands its chunks through a small bounded channel
//! to the calling thread, which hashes the compressed bytes, decompresses them (gzip, zstd or none, told by
//! their first bytes as Docker does) and writes the uncompressed tar through a [`hoist_store::BlobWriter`] (which
//! hashes again: the diff ID). Only when both digests are right is the blob committed, so a truncated or
//! corrupt download leaves nothing. Memory stays flat whatever the layer's size: a few chunks in flight.

use std::io::{self, BufRead, BufReader, Read};

use bytes::Bytes;
use futures_util::StreamExt;
use hoist_store::{Compression, Digest, LayerSource, Store, WorkLock};
use oci_client::manifest::OciDescriptor;
use sha2::{Digest as _, Sha256};

use crate::client::{Endpoint, Operation, Registry};
use crate::error::{RegistryError, Result};
use crate::manifest::BlobRef;
use crate::progress::{TransferEvent, TransferProgress};

/// Chunks in flight between the download task and the writing thread.
const CHANNEL_CHUNKS: usize = 16;
/// Progress is reported at most this often (in bytes).
const PROGRESS_STEP: u64 = 512 << 10;

/// Where a layer comes from: a repository on an endpoint, and the registry it stands for (a mirror's blobs are
/// recorded as Docker Hub's).
pub(crate) struct LayerOrigin<'a> {
    pub endpoint: &'a Endpoint,
    pub path: &'a str,
    pub registry: &'a str,
}

/// What [`Registry::fetch_layer_into`] did.
pub(crate) struct Fetched {
    pub diff_id: Digest,
    /// Compressed bytes downloaded (0 when the store had the layer).
    pub downloaded: u64,
}

/// Reads the download's chunks, hashing and counting the compressed bytes as they pass.
struct ChannelReader<'a> {
    rx: tokio::sync::mpsc::Receiver<io::Result<Bytes>>,
    current: Bytes,
    hasher: Sha256,
    received: u64,
    reported: u64,
    total: u64,
    id: &'a Digest,
    progress: &'a dyn TransferProgress,
}

impl Read for ChannelReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                None => return Ok(0),
                Some(Err(e)) => return Err(e),
                Some(Ok(chunk)) => self.current = chunk,
            }
        }
        let n = buf.len().min(self.current.len());
        let chunk = self.current.split_to(n);
        buf[..n].copy_from_slice(&chunk);
        self.hasher.update(&chunk);
        self.received += n as u64;
        if self.received - self.reported >= PROGRESS_STEP {
            self.reported = self.received;
            self.progress.event(TransferEvent::Bytes {
                id: self.id,
                done: self.received,
                total: self.total,
            });
        }
        Ok(n)
    }
}

impl ChannelReader<'_> {
    /// Hash whatever the decompressor left, up to the end of the download, so the digest covers every byte
    /// received and the download task never waits on a full channel. Returns the first transfer error.
    fn drain(&mut self) -> io::Result<()> {
        let mut first_error = None;
        let rest = std::mem::take(&mut self.current);
        self.hasher.update(&rest);
        self.received += rest.len() as u64;
        while let Some(item) = self.rx.blocking_recv() {
            match item {
                Ok(chunk) => {
                    self.hasher.update(&chunk);
                    self.received += chunk.len() as u64;
                }
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

/// A work lock on `tmp/pull-<hex>.lock`: two hoists pulling one layer download it once.
fn lock_download(store: &Store, digest: &Digest) -> Result<WorkLock> {
    Ok(WorkLock::acquire(
        &store.tmp_dir().join(format!("pull-{}.lock", digest.hex())),
    )?)
}

impl Registry {
    /// The layer `layer` (a compressed or plain tar blob of `origin`) in the store, uncompressed; downloaded
    /// unless the store has it (as `expected_diff_id`, or known by its compressed digest). Verifies the
    /// compressed digest and size, and the diff ID when `expected_diff_id` is given.
    pub(crate) fn fetch_layer_into(
        &self,
        store: &Store,
        origin: &LayerOrigin<'_>,
        layer: &BlobRef,
        expected_diff_id: Option<&Digest>,
        progress: &dyn TransferProgress,
    ) -> Result<Fetched> {
        let repository = format!("{}/{}", origin.endpoint.host, origin.path);
        let digest: Digest = layer.digest.parse().map_err(|_| RegistryError::Protocol {
            registry: origin.endpoint.host.clone(),
            detail: format!(
                "{repository}: layer digest {:?} is not sha256",
                layer.digest
            ),
        })?;
        let record = |diff_id: &Digest| {
            store.record_layer_source(&LayerSource {
                diff_id: diff_id.clone(),
                digest: digest.clone(),
                media_type: layer.media_type.clone(),
                size: layer.size.max(0) as u64,
                registry: origin.registry.to_string(),
                repository: origin.path.to_string(),
            })
        };
        let in_store = |store: &Store| -> Result<Option<Digest>> {
            if let Some(diff_id) = expected_diff_id {
                if store.has_blob(diff_id) {
                    return Ok(Some(diff_id.clone()));
                }
            }
            let known = store.layer_of_compressed(&digest)?;
            Ok(known.filter(|d| expected_diff_id.is_none_or(|e| e == d)))
        };
        if let Some(diff_id) = in_store(store)? {
            record(&diff_id)?;
            progress.event(TransferEvent::Exists { id: &digest });
            return Ok(Fetched {
                diff_id,
                downloaded: 0,
            });
        }
        let _lock = lock_download(store, &digest)?;
        // Another hoist may have fetched it while we waited for the lock.
        if let Some(diff_id) = in_store(store)? {
            record(&diff_id)?;
            progress.event(TransferEvent::Exists { id: &digest });
            return Ok(Fetched {
                diff_id,
                downloaded: 0,
            });
        }
        let total = layer.size.max(0) as u64;
        progress.event(TransferEvent::Started { id: &digest, total });
        let (diff_id, writer, downloaded) =
            self.download_layer(store, origin, layer, &digest, total, progress)?;
        if let Some(expected) = expected_diff_id {
            if &diff_id != expected {
                return Err(RegistryError::DiffIdMismatch {
                    digest: digest.to_string(),
                    repository,
                    expected: expected.to_string(),
                    got: diff_id.to_string(),
                });
            }
        }
        writer.commit()?;
        record(&diff_id)?;
        Ok(Fetched {
            diff_id,
            downloaded,
        })
    }

    /// Download, verify and decompress one layer into an uncommitted blob writer.
    fn download_layer(
        &self,
        store: &Store,
        origin: &LayerOrigin<'_>,
        layer: &BlobRef,
        digest: &Digest,
        total: u64,
        progress: &dyn TransferProgress,
    ) -> Result<(Digest, hoist_store::BlobWriter, u64)> {
        let repository = format!("{}/{}", origin.endpoint.host, origin.path);
        let (tx, rx) = tokio::sync::mpsc::channel(CHANNEL_CHUNKS);
        let endpoint = origin.endpoint.clone();
        let oci_ref = endpoint.reference(origin.path, "latest");
        let descriptor = OciDescriptor {
            media_type: layer.media_type.clone(),
            digest: layer.digest.clone(),
            size: layer.size,
            ..Default::default()
        };
        let pump = self.runtime.spawn(async move {
            endpoint.authenticate().await;
            let mut stream = endpoint
                .client
                .pull_blob_stream(&oci_ref, &descriptor)
                .await?;
            while let Some(chunk) = stream.next().await {
                // oci-client's verifying stream repeats its digest error forever: the first error ends it.
                let failed = chunk.is_err();
                if tx.send(chunk).await.is_err() || failed {
                    break;
                }
            }
            Ok::<(), oci_client::errors::OciDistributionError>(())
        });
        let mut reader = ChannelReader {
            rx,
            current: Bytes::new(),
            hasher: Sha256::new(),
            received: 0,
            reported: 0,
            total,
            id: digest,
            progress,
        };
        let mut writer = store.blob_writer()?;
        let decoded = decompress_into(&mut reader, &mut writer);
        // Whatever the decompressor thought, hash every byte that came.
        let drained = reader.drain();
        let pumped = self.runtime.block_on(pump).unwrap_or_else(|e| {
            Err(oci_client::errors::OciDistributionError::GenericError(
                Some(e.to_string()),
            ))
        });
        progress.event(TransferEvent::Verifying { id: digest });
        let got = Digest::from_hex(&hex::encode(reader.hasher.clone().finalize()))?;
        let complete = total == 0 || reader.received >= total;
        if let Err(e) = pumped {
            if !(complete && got != *digest) {
                return Err(self.error(
                    e,
                    &origin.endpoint.host,
                    &repository,
                    digest.as_str(),
                    Operation::Pull,
                ));
            }
        }
        if let Err(e) = &drained {
            if got == *digest {
                return Err(RegistryError::Unreachable {
                    registry: origin.endpoint.host.clone(),
                    detail: format!("downloading {digest}: {e}"),
                });
            }
        }
        if got != *digest || (total > 0 && reader.received != total) {
            let detail = match &decoded {
                Err(e) => format!("{e}; "),
                Ok(()) if reader.received != total && total > 0 => {
                    format!("{} of {total} bytes; ", reader.received)
                }
                Ok(()) => String::new(),
            };
            return Err(RegistryError::Corrupt {
                what: "blob",
                digest: digest.to_string(),
                repository,
                got: got.to_string(),
                detail,
            });
        }
        if let Err(e) = decoded {
            return Err(RegistryError::Corrupt {
                what: "layer",
                digest: digest.to_string(),
                repository,
                got: got.to_string(),
                detail: format!("its digest is right but it does not decompress: {e}; "),
            });
        }
        progress.event(TransferEvent::Bytes {
            id: digest,
            done: reader.received,
            total,
        });
        Ok((writer.digest(), writer, reader.received))
    }

    /// Download a small blob (a config, a JSON document) whole, verified against `digest`.
    pub(crate) fn fetch_small_blob(
        &self,
        endpoint: &Endpoint,
        path: &str,
        digest: &Digest,
        max_size: u64,
    ) -> Result<Vec<u8>> {
        let repository = format!("{}/{}", endpoint.host, path);
        let oci_ref = endpoint.reference(path, "latest");
        let descriptor = OciDescriptor {
            digest: digest.to_string(),
            ..Default::default()
        };
        let result: std::result::Result<Result<Vec<u8>>, oci_client::errors::OciDistributionError> =
            self.runtime.block_on(async {
                endpoint.authenticate().await;
                let mut stream = endpoint
                    .client
                    .pull_blob_stream(&oci_ref, &descriptor)
                    .await?;
                let mut bytes = Vec::new();
                while let Some(chunk) = stream.next().await {
                    // A digest mismatch shows as an error here; the check below names it.
                    let Ok(chunk) = chunk else { break };
                    if bytes.len() as u64 + chunk.len() as u64 > max_size {
                        return Ok(Err(RegistryError::TooLarge {
                            what: format!("blob {digest}"),
                            repository: repository.clone(),
                            limit: max_size,
                        }));
                    }
                    bytes.extend_from_slice(&chunk);
                }
                Ok(Ok(bytes))
            });
        let bytes = result.map_err(|e| {
            self.error(
                e,
                &endpoint.host,
                &repository,
                digest.as_str(),
                Operation::Pull,
            )
        })??;
        let got = Digest::of_bytes(&bytes);
        if &got != digest {
            return Err(RegistryError::Corrupt {
                what: "blob",
                digest: digest.to_string(),
                repository,
                got: got.to_string(),
                detail: String::new(),
            });
        }
        Ok(bytes)
    }
}

/// Decompress (by the stream's first bytes) everything `reader` gives into `out`.
fn decompress_into(
    reader: &mut ChannelReader<'_>,
    out: &mut hoist_store::BlobWriter,
) -> io::Result<()> {
    let mut buffered = BufReader::with_capacity(256 << 10, reader);
    let head = buffered.fill_buf()?;
    match Compression::detect(head) {
        Compression::None => io::copy(&mut buffered, out).map(drop),
        Compression::Gzip => {
            io::copy(&mut flate2::bufread::MultiGzDecoder::new(buffered), out).map(drop)
        }
        Compression::Zstd => io::copy(
            &mut zstd::stream::read::Decoder::with_buffer(buffered)?,
            out,
        )
        .map(drop),
        other => Err(io::Error::other(format!(
            "layers compressed as {other:?} are not supported (gzip, zstd or plain tar)"
        ))),
    }
}
