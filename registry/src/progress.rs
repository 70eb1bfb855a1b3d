//! Transfer progress: the registry client reports what happens to each blob; the CLI draws it.

use hoist_store::Digest;

/// One step of one blob's transfer. `id` is the blob's digest (the CLI shows its first 12 hex digits, as Docker).
#[derive(Debug, Clone, Copy)]
pub enum TransferEvent<'a> {
    /// Queued behind other transfers (`Pulling fs layer` / `Preparing`).
    Waiting { id: &'a Digest },
    /// The transfer began; `total` is the blob's size when known.
    Started { id: &'a Digest, total: u64 },
    /// `done` of `total` bytes moved.
    Bytes {
        id: &'a Digest,
        done: u64,
        total: u64,
    },
    /// All bytes are in; checking digests (`Verifying Checksum` / `Download complete`).
    Verifying { id: &'a Digest },
    /// Stored (pull: `Pull complete`) or sent (push: `Pushed`).
    Done { id: &'a Digest },
    /// Nothing to move: the store (pull) or the registry (push) has it already.
    Exists { id: &'a Digest },
    /// The registry linked it from another of its repositories (`Mounted from library/busybox`).
    Mounted { id: &'a Digest, from: &'a str },
}

/// Receives transfer events from any thread.
pub trait TransferProgress: Sync {
    fn event(&self, event: TransferEvent<'_>);
}

/// Progress that goes nowhere.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl TransferProgress for NoProgress {
    fn event(&self, _event: TransferEvent<'_>) {}
}
