//! `hoist store check [--repair]`: verify the state directory, and with `repair` remove what is broken.
//!
//! One module per kind of thing checked: `blobs` (content matches name), `index` (SQLite integrity, and rows
//! that point at blobs: images, tags, cache records, compressed layers), `snapshots` (complete or absent,
//! and known to the index), `staging` (temp entries and mounts of dead processes). Blobs go first, so a
//! corrupt blob that `repair` removes makes the rows needing it problems of their own (removed in turn).
//!
//! Locking is the caller's, as for [`Store::gc`]: hold [`Store::lock`] for a repair (builds hold
//! [`Store::lock_shared`], so none runs meanwhile), [`Store::lock_shared`] for a check.

mod blobs;
mod index;
mod snapshots;
mod staging;

use std::collections::HashSet;
use std::fmt;
use std::time::Duration;

use crate::digest::Digest;
use crate::error::Result;
use crate::Store;

/// What [`Store::check`] may do.
#[derive(Debug, Clone, Copy, Default)]
pub struct CheckOptions {
    /// Remove what is broken or orphaned (blobs, rows, snapshots, temp entries, mounts).
    pub repair: bool,
}

/// What happened to one problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Found by a check without `repair`.
    Found,
    /// Repaired; the text says what was done ("removed", "unmounted and removed" …).
    Repaired(String),
    /// `repair` tried and failed, or the problem cannot be repaired by hoist; the text says why and what to do.
    NotRepaired(String),
}

/// One thing wrong in the state directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// What it is about: `blob sha256:…`, `snapshot 7`, `image sha256:… (demo:1)`, `temp entry tmp/…`.
    pub subject: String,
    /// What is wrong with it.
    pub message: String,
    pub outcome: Outcome,
}

impl Problem {
    fn new(subject: impl Into<String>, message: impl Into<String>) -> Problem {
        Problem {
            subject: subject.into(),
            message: message.into(),
            outcome: Outcome::Found,
        }
    }

    /// Whether the problem is still there (not repaired).
    pub fn remains(&self) -> bool {
        !matches!(self.outcome, Outcome::Repaired(_))
    }

    /// Records the result of a repair: `done` says what was done on success.
    fn repaired<E: fmt::Display>(
        mut self,
        result: std::result::Result<(), E>,
        done: &str,
    ) -> Problem {
        self.outcome = match result {
            Ok(()) => Outcome::Repaired(done.to_string()),
            Err(e) => Outcome::NotRepaired(format!("could not repair: {e}")),
        };
        self
    }

    fn unrepairable(mut self, why: impl Into<String>) -> Problem {
        self.outcome = Outcome::NotRepaired(why.into());
        self
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.subject, self.message)?;
        match &self.outcome {
            Outcome::Found => Ok(()),
            Outcome::Repaired(done) => write!(f, ": {done}"),
            Outcome::NotRepaired(why) => write!(f, ": NOT REPAIRED: {why}"),
        }
    }
}

/// What [`Store::check`] looked at and found.
#[derive(Debug, Clone, Default)]
pub struct CheckReport {
    pub blobs: usize,
    /// Bytes of blob content hashed.
    pub blob_bytes: u64,
    /// Time spent hashing blobs.
    pub blob_time: Duration,
    pub snapshots: usize,
    pub images: usize,
    pub cache_records: usize,
    pub temp_entries: usize,
    pub problems: Vec<Problem>,
}

impl CheckReport {
    /// Whether a problem is left (none found, or all repaired).
    pub fn is_clean(&self) -> bool {
        !self.problems.iter().any(Problem::remains)
    }
}

/// The blobs that are missing or were found corrupt, as the checks after the blob check see them.
pub(crate) struct BlobHealth<'s> {
    store: &'s Store,
    corrupt: HashSet<Digest>,
}

impl BlobHealth<'_> {
    /// Whether `digest` is in the store with the right content (corrupt ones count as absent, also when a
    /// check without repair left them in place).
    pub(crate) fn ok(&self, digest: &Digest) -> bool {
        !self.corrupt.contains(digest) && self.store.has_blob(digest)
    }

    /// `ok` for a digest string from the database (an unparsable one is not ok).
    pub(crate) fn ok_str(&self, digest: &str) -> bool {
        digest.parse().is_ok_and(|d| self.ok(&d))
    }

    /// Why `digest` is not ok, for a message.
    pub(crate) fn why_not(&self, digest: &str) -> &'static str {
        match digest.parse::<Digest>() {
            Err(_) => "is not a valid digest",
            Ok(d) if self.corrupt.contains(&d) => "is corrupt",
            Ok(_) => "is missing",
        }
    }
}

impl Store {
    /// Verify the state directory; with `options.repair`, remove what is broken or orphaned. Never reports or
    /// removes what a live process uses (see [`crate::entry_is_owned`]). Errors are for failures that stop the
    /// check itself (an unreadable directory); what is wrong in the store is in the report.
    pub fn check(&self, options: CheckOptions) -> Result<CheckReport> {
        let mut report = CheckReport::default();
        let corrupt = blobs::check(self, options, &mut report)?;
        let health = BlobHealth {
            store: self,
            corrupt,
        };
        if index::integrity(self, &mut report)? {
            index::check_images(self, &health, options, &mut report)?;
            index::check_cache_records(self, &health, options, &mut report)?;
            index::check_compressed_layers(self, &health, options, &mut report)?;
            snapshots::check(self, options, &mut report)?;
        }
        staging::check(self, options, &mut report)?;
        Ok(report)
    }
}
