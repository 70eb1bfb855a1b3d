//! The full unpack kept beside a delta snapshot, for the stacks the delta is not exact over.
//!
//! A delta with shadowed paths (see `shadow.rs`) stands for its layer only over lower dirs that have nothing
//! at those paths. A stack that has something there mounts the whole layer instead, unpacked into
//! `snapshots/<id>-full` beside the delta `snapshots/<id>` and owned by the delta's row (`full_twin`: its
//! size; `full_twin_boot`: the boot it was written in, as `unsynced_boot` for a snapshot). The delta itself
//! stays: another hoist may have it mounted. Whatever removes the row removes both directories.
//!
//! Crash safety is the snapshots': the unpack is staged under `tmp/`, renamed into place inside the
//! transaction that marks the row, so a hoist killed before the commit leaves staging or a `-full`
//! directory its row does not claim, which `hoist store check` reports and removes like a half-made snapshot.

use std::fs;
use std::path::PathBuf;

use rusqlite::{OptionalExtension, TransactionBehavior};

use crate::digest::Digest;
use crate::error::{Result, StoreError};
use crate::fsutil::{fsync_dir, remove_any, sync_filesystem};
use crate::unpack::unpack_layer;
use crate::Store;

/// The suffix of a full twin's directory name, after its delta's id.
pub(crate) const FULL_TWIN_SUFFIX: &str = "-full";

impl Store {
    /// Where the full unpack beside delta snapshot `id` lives.
    pub(crate) fn full_twin_dir(&self, id: i64) -> PathBuf {
        self.snapshots.join(format!("{id}{FULL_TWIN_SUFFIX}"))
    }

    /// Removes snapshot `id`'s directory and the full unpack beside it, if any (its row is gone).
    pub(crate) fn remove_snapshot_dirs(&self, id: i64) -> Result<()> {
        remove_any(&self.snapshot_dir(id))?;
        remove_any(&self.full_twin_dir(id))
    }

    /// The full unpack beside delta snapshot `id`, when there is a usable one (written in this boot or
    /// synced since).
    pub(crate) fn full_twin(&self, id: i64) -> Result<Option<PathBuf>> {
        let conn = self.conn();
        let row: Option<(Option<i64>, Option<String>)> = conn
            .query_row(
                "SELECT full_twin, full_twin_boot FROM snapshots WHERE id = ?1",
                [id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(self.db_err())?;
        Ok(match row {
            Some((Some(_), boot)) if self.boot_is_current(boot.as_deref()) => {
                Some(self.full_twin_dir(id)).filter(|dir| dir.is_dir())
            }
            _ => None,
        })
    }

    /// Whether something written in boot `boot` (`None`: synced) can be trusted now.
    pub(crate) fn boot_is_current(&self, boot: Option<&str>) -> bool {
        boot.is_none_or(|b| self.boot_id.as_deref() == Some(b))
    }

    /// Unpacks the whole layer `diff_id` beside its delta snapshot `id` (the caller holds the layer's unpack
    /// lock) and returns it as a stack of one. When another hoist made one first, that one is kept; when the
    /// delta's row went away meanwhile, the unpack becomes the layer's (full) snapshot.
    pub(crate) fn make_full_twin(&self, id: i64, diff_id: &Digest) -> Result<Vec<PathBuf>> {
        let staging = self.new_tmp_dir("unpack")?;
        unpack_layer(
            std::io::BufReader::new(self.open_blob(diff_id)?),
            staging.path(),
            &format!("layer {diff_id}"),
        )?;
        if std::env::var_os(crate::snapshot_stack::KILL_IN_DELTA_ENV).is_some() {
            // SAFETY: kill(2) on our own pid; nothing is borrowed.
            unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
        }
        let size = self.blob_size(diff_id).unwrap_or(0);
        let mut conn = self.conn();
        let err = self.db_err();
        // IMMEDIATE: the check, the rename and the mark are one step for every other hoist on this root.
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(&err)?;
        let row: Option<(Option<i64>, Option<String>)> = tx
            .query_row(
                "SELECT full_twin, full_twin_boot FROM snapshots WHERE id = ?1 AND diff_id = ?2",
                rusqlite::params![id, diff_id.as_str()],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(&err)?;
        let twin = self.full_twin_dir(id);
        let Some((marked, boot)) = row else {
            drop(tx);
            drop(conn);
            let path = self.adopt_snapshot(diff_id, staging.path())?;
            let _ = staging.keep();
            return Ok(vec![path]);
        };
        if marked.is_some() && self.boot_is_current(boot.as_deref()) && twin.is_dir() {
            // Made by another hoist while we unpacked; it may be mounted already.
            drop(tx);
            drop(conn);
            return Ok(vec![twin]);
        }
        // Not claimed by the row, or from an earlier boot: nothing has it mounted.
        remove_any(&twin)?;
        fs::rename(staging.path(), &twin).map_err(|source| StoreError::Io {
            action: "moving a layer's full unpack into place",
            path: twin.clone(),
            source,
        })?;
        let _ = staging.keep();
        if self.boot_id.is_none() {
            sync_filesystem(&twin)?;
            fsync_dir(&self.snapshots)?;
        }
        tx.execute(
            "UPDATE snapshots SET full_twin = ?1, full_twin_boot = ?2 WHERE id = ?3",
            rusqlite::params![size as i64, self.boot_id, id],
        )
        .map_err(&err)?;
        tx.commit().map_err(&err)?;
        Ok(vec![twin])
    }
}
