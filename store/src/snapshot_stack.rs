//! Snapshots as stacks: a full snapshot is one directory; a delta snapshot (see `delta.rs`) is its own
//! directory mounted over the full snapshot it was made against, its row's `parent`. The store keeps that
//! pairing honest: removing a full snapshot removes the deltas over it, garbage collection keeps a full
//! snapshot while a delta it keeps needs it, and a delta whose base is gone is forgotten (its layer is
//! unpacked again when next needed). A delta with shadowed paths is used only over lower dirs that have
//! nothing there (`shadow.rs`); other stacks get the full unpack beside it (`full_twin.rs`).

use std::io::BufReader;
use std::path::PathBuf;

use rusqlite::OptionalExtension;

use crate::delta;
use crate::delta_read::SelectedEntries;
use crate::digest::Digest;
use crate::error::{Result, StoreError};
use crate::shadow;
use crate::unpack::unpack_selected;
use crate::Store;

/// Test hook: with this set, a hoist that has written a delta (or the full unpack beside one, see
/// `full_twin.rs`) into its staging directory SIGKILLs itself before it is moved into place (the crash tests
/// check what such a death leaves).
pub(crate) const KILL_IN_DELTA_ENV: &str = "HOIST_TEST_KILL_IN_DELTA";

/// What the snapshots hold for a layer mounted over some lower dirs.
enum Lookup {
    /// The directories to mount, topmost first.
    Found(Vec<PathBuf>),
    /// Delta snapshot `id` is not exact over those lower dirs, and there is no full unpack beside it yet.
    NeedsFull(i64),
    Missing,
}

impl Store {
    /// The directories of the snapshot of layer `diff_id` as overlay lower dirs, topmost first, for mounting
    /// the layer over lower dirs `below` (topmost first; every lower dir of the stack under this layer): one
    /// for a full snapshot, two for a delta. `None` when there is none (or a delta lost its base, or a delta
    /// is not exact over `below` and there is no full unpack beside it).
    pub fn snapshot_stack(
        &self,
        diff_id: &Digest,
        below: &[PathBuf],
    ) -> Result<Option<Vec<PathBuf>>> {
        Ok(match self.lookup_stack(diff_id, below)? {
            Lookup::Found(stack) => Some(stack),
            Lookup::NeedsFull(_) | Lookup::Missing => None,
        })
    }

    fn lookup_stack(&self, diff_id: &Digest, below: &[PathBuf]) -> Result<Lookup> {
        let Some(id) = self.snapshot_id(diff_id)? else {
            return Ok(Lookup::Missing);
        };
        let Some(parent) = self.snapshot_parent(id)? else {
            return Ok(Lookup::Found(vec![self.snapshot_dir(id)]));
        };
        let parent_diff = self.snapshot_diff_id(parent)?;
        let parent_ok = match &parent_diff {
            Some(d) => self.snapshot_id(d)? == Some(parent),
            None => false,
        };
        if !parent_ok {
            self.forget_snapshot(id)?;
            return Ok(Lookup::Missing);
        }
        if shadow::nothing_at(below, &self.snapshot_shadowed(id)?) {
            return Ok(Lookup::Found(vec![
                self.snapshot_dir(id),
                self.snapshot_dir(parent),
            ]));
        }
        Ok(match self.full_twin(id)? {
            Some(full) => Lookup::Found(vec![full]),
            None => Lookup::NeedsFull(id),
        })
    }

    /// [`Store::snapshot_stack`], making the snapshot if there is none: as a delta against the snapshot of
    /// layer `base` when there is one and the two layers differ little, and it is exact over `below` (see
    /// `shadow.rs`), else by unpacking the whole layer (beside a delta that is not exact over `below`).
    pub fn ensure_snapshot_stack(
        &self,
        diff_id: &Digest,
        base: Option<&Digest>,
        below: &[PathBuf],
    ) -> Result<Vec<PathBuf>> {
        if let Lookup::Found(stack) = self.lookup_stack(diff_id, below)? {
            return Ok(stack);
        }
        let lock = self.unpack_lock(diff_id);
        let _unpacking = lock.lock().unwrap_or_else(|p| p.into_inner());
        // Another thread may have made it while we waited.
        match self.lookup_stack(diff_id, below)? {
            Lookup::Found(stack) => return Ok(stack),
            Lookup::NeedsFull(id) => return self.make_full_twin(id, diff_id),
            Lookup::Missing => {}
        }
        if let Some(base) = base.filter(|b| *b != diff_id) {
            if let Some(stack) = self.make_delta(diff_id, base, below)? {
                return Ok(stack);
            }
        }
        let full = self.unpack_full_snapshot(diff_id)?;
        // Another hoist may have adopted a snapshot of this layer first (a delta, perhaps), which was kept.
        match self.lookup_stack(diff_id, below)? {
            Lookup::Found(stack) => Ok(stack),
            Lookup::NeedsFull(id) => self.make_full_twin(id, diff_id),
            Lookup::Missing => Ok(vec![full]),
        }
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
        let shadowed = diff.shadowed();
        if !shadow::nothing_at(below, &shadowed) {
            // Not exact over the stack that needs it now: that stack needs the full unpack anyway.
            return Ok(None);
        }
        let staging = self.new_tmp_dir("delta")?;
        let keep = |path: &[u8]| diff.write.contains(path);
        // The entries to write alone, read from where the comparison saw them start; else the whole tar.
        let selected = SelectedEntries::new(self.open_blob(diff_id)?, &diff.entry_starts())
            .map_err(|e| StoreError::Io {
                action: "reading",
                path: self.blob_path(diff_id),
                source: e,
            })?;
        match selected {
            Some(entries) => {
                unpack_selected(entries, staging.path(), &label, &keep, &diff.removed)?
            }
            // Small buffer: the tar is read with a seek past every entry not written, and a seek empties it.
            None => unpack_selected(
                BufReader::with_capacity(8 * 1024, self.open_blob(diff_id)?),
                staging.path(),
                &label,
                &keep,
                &diff.removed,
            )?,
        }
        if std::env::var_os(KILL_IN_DELTA_ENV).is_some() {
            // SAFETY: kill(2) on our own pid; nothing is borrowed.
            unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
        }
        self.adopt_snapshot_over(
            diff_id,
            staging.path(),
            Some(root_id),
            diff.bytes,
            &shadowed,
        )?;
        // Renamed into place (or deleted as a duplicate): nothing left for the drop to remove.
        let _ = staging.keep();
        self.snapshot_stack(diff_id, below)
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

    /// The shadowed paths of snapshot `id` (none for a full one).
    fn snapshot_shadowed(&self, id: i64) -> Result<Vec<Vec<u8>>> {
        let conn = self.conn();
        let stored: Option<Option<Vec<u8>>> = conn
            .query_row("SELECT shadowed FROM snapshots WHERE id = ?1", [id], |r| {
                r.get(0)
            })
            .optional()
            .map_err(self.db_err())?;
        Ok(stored
            .flatten()
            .map(|s| shadow::decode(&s))
            .unwrap_or_default())
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
            self.remove_snapshot_dirs(id)?;
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
