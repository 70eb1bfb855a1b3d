//! Snapshots as stacks: a full snapshot is one directory; a delta snapshot (see `delta.rs`) is its own
//! directory mounted over the full snapshot it was made against, its row's `parent`. The store keeps that
//! pairing honest: removing a full snapshot removes the deltas over it, garbage collection keeps a full
//! snapshot while a delta it keeps needs it, and a delta whose base is gone is forgotten (its layer is
//! unpacked again when next needed).

use std::io::BufReader;
use std::path::PathBuf;

use rusqlite::OptionalExtension;

use crate::delta;
use crate::digest::Digest;
use crate::error::Result;
use crate::fsutil::remove_any;
use crate::unpack::unpack_selected;
use crate::Store;

/// Test hook: with this set, a hoist that has written a delta into its staging directory SIGKILLs itself
/// before the snapshot is moved into place (the crash tests check what such a death leaves).
pub(crate) const KILL_IN_DELTA_ENV: &str = "HOIST_TEST_KILL_IN_DELTA";

impl Store {
    /// The directories of the snapshot of layer `diff_id` as overlay lower dirs, topmost first: one for a
    /// full snapshot, two for a delta. `None` when there is none (or a delta lost its base).
    pub fn snapshot_stack(&self, diff_id: &Digest) -> Result<Option<Vec<PathBuf>>> {
        let Some(id) = self.snapshot_id(diff_id)? else {
            return Ok(None);
        };
        let Some(parent) = self.snapshot_parent(id)? else {
            return Ok(Some(vec![self.snapshot_dir(id)]));
        };
        let parent_diff = self.snapshot_diff_id(parent)?;
        let parent_ok = match &parent_diff {
            Some(d) => self.snapshot_id(d)? == Some(parent),
            None => false,
        };
        if !parent_ok {
            self.forget_snapshot(id)?;
            return Ok(None);
        }
        Ok(Some(vec![self.snapshot_dir(id), self.snapshot_dir(parent)]))
    }

    /// [`Store::snapshot_stack`], making the snapshot if there is none: as a delta against the snapshot of
    /// layer `base` when there is one and the two layers differ little (`below`: the lower dirs the layer is
    /// mounted over, topmost first, see `delta::diff_layers`), else by unpacking the whole layer.
    pub fn ensure_snapshot_stack(
        &self,
        diff_id: &Digest,
        base: Option<&Digest>,
        below: &[PathBuf],
    ) -> Result<Vec<PathBuf>> {
        if let Some(stack) = self.snapshot_stack(diff_id)? {
            return Ok(stack);
        }
        let lock = self.unpack_lock(diff_id);
        let _unpacking = lock.lock().unwrap_or_else(|p| p.into_inner());
        // Another thread may have made it while we waited.
        if let Some(stack) = self.snapshot_stack(diff_id)? {
            return Ok(stack);
        }
        if let Some(base) = base.filter(|b| *b != diff_id) {
            if let Some(stack) = self.make_delta(diff_id, base, below)? {
                return Ok(stack);
            }
        }
        Ok(vec![self.unpack_full_snapshot(diff_id)?])
    }

    /// The delta snapshot of `diff_id` against the full snapshot under `base`'s (its own, or the one its
    /// delta sits on), or `None` when that cannot be (no such snapshot or blob, or see `delta::NoDelta`).
    fn make_delta(
        &self,
        diff_id: &Digest,
        base: &Digest,
        below: &[PathBuf],
    ) -> Result<Option<Vec<PathBuf>>> {
        let Some((root_diff, root_id)) = self.delta_root(base)? else {
            return Ok(None);
        };
        if root_diff == *diff_id || !self.has_blob(diff_id) {
            return Ok(None);
        }
        let label = format!("layer {diff_id}");
        let new_size = self.blob_size(diff_id)?;
        // Found while the layer was written (see `delta_tee.rs`), or by reading both tars now.
        let compared = match self.pending_diffs.take(diff_id, &root_diff) {
            Some(compared) => compared,
            None if self.has_blob(&root_diff) => {
                let reader = |d: &Digest| -> Result<BufReader<std::fs::File>> {
                    Ok(BufReader::with_capacity(256 * 1024, self.open_blob(d)?))
                };
                delta::diff_layers(
                    reader(diff_id)?,
                    reader(&root_diff)?,
                    new_size,
                    below,
                    &label,
                )?
            }
            None => return Ok(None),
        };
        let diff = match compared {
            Ok(diff) if diff.bytes <= new_size / delta::MAX_SHARE_DIVISOR => diff,
            _ => return Ok(None),
        };
        let staging = self.new_tmp_dir("delta")?;
        // Small buffer: the tar is read with a seek past every entry not written, and a seek empties it.
        unpack_selected(
            BufReader::with_capacity(8 * 1024, self.open_blob(diff_id)?),
            staging.path(),
            &label,
            &|path| diff.write.contains(path),
            &diff.removed,
        )?;
        if std::env::var_os(KILL_IN_DELTA_ENV).is_some() {
            // SAFETY: kill(2) on our own pid; nothing is borrowed.
            unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
        }
        self.adopt_snapshot_over(diff_id, staging.path(), Some(root_id), diff.bytes)?;
        // Renamed into place (or deleted as a duplicate): nothing left for the drop to remove.
        let _ = staging.keep();
        self.snapshot_stack(diff_id)
    }

    /// The layer of the full snapshot a delta over `base`'s snapshot would sit on: `base`'s own when it is
    /// full, else the one its delta sits on (with that snapshot's id); `None` when `base` has no snapshot or
    /// that one is gone.
    pub(crate) fn delta_root(&self, base: &Digest) -> Result<Option<(Digest, i64)>> {
        let Some(base_id) = self.snapshot_id(base)? else {
            return Ok(None);
        };
        let root_id = self.snapshot_parent(base_id)?.unwrap_or(base_id);
        let Some(root_diff) = self.snapshot_diff_id(root_id)? else {
            return Ok(None);
        };
        if self.snapshot_id(&root_diff)? != Some(root_id) {
            return Ok(None);
        }
        Ok(Some((root_diff, root_id)))
    }

    /// The full snapshot a delta snapshot `id` is mounted over.
    pub(crate) fn snapshot_parent(&self, id: i64) -> Result<Option<i64>> {
        let conn = self.conn();
        let parent: Option<Option<i64>> = conn
            .query_row("SELECT parent FROM snapshots WHERE id = ?1", [id], |r| {
                r.get(0)
            })
            .optional()
            .map_err(self.db_err())?;
        Ok(parent.flatten())
    }

    /// Every delta snapshot's (id, parent id).
    pub(crate) fn snapshot_parents(&self) -> Result<Vec<(i64, i64)>> {
        let conn = self.conn();
        let err = self.db_err();
        let mut stmt = conn
            .prepare("SELECT id, parent FROM snapshots WHERE parent IS NOT NULL")
            .map_err(&err)?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(&err)?
            .collect::<rusqlite::Result<_>>()
            .map_err(&err)?;
        Ok(rows)
    }

    fn snapshot_diff_id(&self, id: i64) -> Result<Option<Digest>> {
        let conn = self.conn();
        let diff: Option<String> = conn
            .query_row("SELECT diff_id FROM snapshots WHERE id = ?1", [id], |r| {
                r.get(0)
            })
            .optional()
            .map_err(self.db_err())?;
        diff.map(|d| d.parse()).transpose()
    }

    /// Deletes snapshot `id`'s row and directory (only the process whose DELETE took the row removes it).
    fn forget_snapshot(&self, id: i64) -> Result<()> {
        let deleted = {
            let conn = self.conn();
            conn.execute("DELETE FROM snapshots WHERE id = ?1", [id])
                .map_err(self.db_err())?
        };
        if deleted == 1 {
            remove_any(&self.snapshot_dir(id))?;
        }
        Ok(())
    }

    /// Forgets the delta snapshots over snapshot `id`, which is gone.
    pub(crate) fn forget_deltas_over(&self, id: i64) -> Result<()> {
        let children: Vec<i64> = {
            let conn = self.conn();
            let err = self.db_err();
            let mut stmt = conn
                .prepare("SELECT id FROM snapshots WHERE parent = ?1")
                .map_err(&err)?;
            let rows = stmt
                .query_map([id], |r| r.get(0))
                .map_err(&err)?
                .collect::<rusqlite::Result<_>>()
                .map_err(&err)?;
            rows
        };
        for child in children {
            self.forget_snapshot(child)?;
        }
        Ok(())
    }
}
