//! Snapshots: unpacked layers in overlay format under `snapshots/<id>/`, `<id>` a small integer from the database
//! (short paths keep overlay's `lowerdir=` option under its one-page limit with 100+ layers).
//!
//! Durability: a snapshot can always be made again from its layer blob (which is synced before anything refers
//! to it), so a snapshot is not synced when it is made. Its row names the boot it was written in until
//! [`Store::sync_snapshots`] has synced the filesystem: `import`, `load` and `pull` do at their end; a build
//! never does (a `syncfs` waits for every dirty page of the filesystem, other processes' too, and for a cold build
//! of a big context that is most of its time). Only a crash of the machine loses unsynced writes, and a crash
//! means a new boot: a snapshot still marked with another boot is thrown away and unpacked again from its blob.
//! The price: after any reboot, a build's snapshots are unpacked again the first time they are needed.

use std::fs;
use std::path::{Path, PathBuf};

use rusqlite::{OptionalExtension, TransactionBehavior};

use crate::db::now;
use crate::digest::Digest;
use crate::error::{Result, StoreError};
use crate::fsutil::{fsync_dir, remove_any, sync_filesystem};
use crate::unpack::unpack_layer;
use crate::Store;

impl Store {
    /// The numeric id of the snapshot for `diff_id` (its directory is `snapshots_dir()/<id>`), if there is one.
    pub fn snapshot_id(&self, diff_id: &Digest) -> Result<Option<i64>> {
        let row: Option<(i64, Option<String>)> = {
            let conn = self.conn();
            conn.query_row(
                "SELECT id, unsynced_boot FROM snapshots WHERE diff_id = ?1",
                [diff_id.as_str()],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(self.db_err())?
        };
        let Some((id, unsynced_boot)) = row else {
            return Ok(None);
        };
        if let Some(boot) = unsynced_boot {
            if self.boot_id.as_deref() != Some(boot.as_str()) {
                // Written in an earlier boot and never synced: the machine went down since, and its files may
                // be anything. Nothing of an earlier boot is mounted now.
                self.forget_stale_snapshot(id, &boot)?;
                return Ok(None);
            }
        }
        Ok(Some(id).filter(|id| self.snapshot_dir(*id).is_dir()))
    }

    fn forget_stale_snapshot(&self, id: i64, boot: &str) -> Result<()> {
        let deleted = {
            let conn = self.conn();
            conn.execute(
                "DELETE FROM snapshots WHERE id = ?1 AND unsynced_boot = ?2",
                rusqlite::params![id, boot],
            )
            .map_err(self.db_err())?
        };
        // Only the process whose DELETE took the row removes the directory.
        if deleted == 1 {
            self.remove_snapshot_dirs(id)?;
            self.forget_deltas_over(id)?;
        }
        Ok(())
    }

    /// Syncs the snapshots this process made (one `syncfs` of the store's filesystem) and marks them as on
    /// disk for good (`import`, `load`, `pull`); a snapshot left unsynced is only redone from its blob after a
    /// reboot.
    pub fn sync_snapshots(&self) -> Result<()> {
        let ids = std::mem::take(
            &mut *self
                .unsynced_snapshots
                .lock()
                .unwrap_or_else(|p| p.into_inner()),
        );
        if ids.is_empty() {
            return Ok(());
        }
        sync_filesystem(&self.snapshots)?;
        let mut conn = self.conn();
        let err = self.db_err();
        let tx = conn.transaction().map_err(&err)?;
        {
            let mut mark = tx
                .prepare("UPDATE snapshots SET unsynced_boot = NULL WHERE id = ?1")
                .map_err(&err)?;
            for id in ids {
                mark.execute([id]).map_err(&err)?;
            }
        }
        tx.commit().map_err(&err)
    }

    /// The directory of the snapshot for `diff_id`, if it has been unpacked or adopted.
    pub fn snapshot_path(&self, diff_id: &Digest) -> Result<Option<PathBuf>> {
        Ok(self.snapshot_id(diff_id)?.map(|id| self.snapshot_dir(id)))
    }

    /// The snapshot for `diff_id`, unpacking the layer blob if there is none yet. For a delta snapshot this
    /// is only its top directory: mount [`Store::ensure_snapshot_stack`] to see the layer's whole tree.
    pub fn ensure_snapshot(&self, diff_id: &Digest) -> Result<PathBuf> {
        let stack = self.ensure_snapshot_stack(diff_id, None, &[])?;
        stack.into_iter().next().ok_or_else(|| StoreError::Io {
            action: "finding the snapshot",
            path: self.snapshots.clone(),
            source: std::io::Error::other(format!("no snapshot dir for layer {diff_id}")),
        })
    }

    /// Unpacks the whole layer `diff_id` into a new snapshot (the caller holds its unpack lock).
    pub(crate) fn unpack_full_snapshot(&self, diff_id: &Digest) -> Result<PathBuf> {
        let blob = self.open_blob(diff_id)?;
        let staging = self.new_tmp_dir("unpack")?;
        unpack_layer(
            std::io::BufReader::new(blob),
            staging.path(),
            &format!("layer {diff_id}"),
        )?;
        let path = self.adopt_snapshot(diff_id, staging.path())?;
        // Renamed into place (or deleted as a duplicate): nothing left for the drop to remove.
        let _ = staging.keep();
        Ok(path)
    }

    /// Move `dir` (under [`Store::tmp_dir`], already in overlay format, e.g. an overlay upper dir after a RUN)
    /// into the store as the snapshot for `diff_id`. If one exists already, it is kept and `dir` is deleted.
    pub fn adopt_snapshot(&self, diff_id: &Digest, dir: &Path) -> Result<PathBuf> {
        let size = self.blob_size(diff_id).unwrap_or(0);
        self.adopt_snapshot_over(diff_id, dir, None, size, &[])
    }

    /// [`Store::adopt_snapshot`] for a delta mounted over snapshot `parent` (`None`: a full snapshot) with
    /// its `shadowed` paths (see `shadow.rs`); `size` is what the directory itself takes (`hoist cache du`
    /// counts a delta's own bytes). The paths go in the row's insert: a delta never exists without them.
    pub(crate) fn adopt_snapshot_over(
        &self,
        diff_id: &Digest,
        dir: &Path,
        parent: Option<i64>,
        size: u64,
        shadowed: &[Vec<u8>],
    ) -> Result<PathBuf> {
        let mut conn = self.conn();
        let err = self.db_err();
        // IMMEDIATE: the id we insert and the rename are one step for every other hoist on this root.
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(&err)?;
        let existing: Option<i64> = tx
            .query_row(
                "SELECT id FROM snapshots WHERE diff_id = ?1",
                [diff_id.as_str()],
                |r| r.get(0),
            )
            .optional()
            .map_err(&err)?;
        if let Some(id) = existing {
            let path = self.snapshot_dir(id);
            if path.is_dir() {
                drop(tx);
                drop(conn);
                remove_any(dir)?;
                return Ok(path);
            }
            tx.execute("DELETE FROM snapshots WHERE id = ?1", [id])
                .map_err(&err)?;
        }
        // Unsynced until `sync_snapshots`; where the boot cannot be told apart, synced right away (below).
        tx.execute(
            "INSERT INTO snapshots (diff_id, size, created, unsynced_boot, parent, shadowed) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            rusqlite::params![
                diff_id.as_str(),
                size as i64,
                now(),
                self.boot_id,
                parent,
                crate::shadow::encode(shadowed)
            ],
        )
        .map_err(&err)?;
        let id = tx.last_insert_rowid();
        let path = self.snapshot_dir(id);
        // A directory without a row is what a hoist killed between rename and commit leaves behind.
        remove_any(&path)?;
        fs::rename(dir, &path).map_err(|e| {
            let hint = if e.raw_os_error() == Some(libc::EXDEV) {
                " (the directory must be on the store's filesystem: make it under Store::tmp_dir)"
            } else {
                ""
            };
            StoreError::Io {
                action: "moving snapshot into place",
                path: path.clone(),
                source: std::io::Error::new(e.kind(), format!("{e}{hint}; from {}", dir.display())),
            }
        })?;
        if self.boot_id.is_none() {
            sync_filesystem(&path)?;
            fsync_dir(&self.snapshots)?;
        }
        tx.commit().map_err(&err)?;
        if self.boot_id.is_some() {
            self.unsynced_snapshots
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(id);
        }
        Ok(path)
    }

    /// Delete the snapshot for `diff_id` (the layer blob stays). Returns whether there was one.
    /// Only call this while nothing has it mounted, e.g. under [`Store::lock`].
    pub fn remove_snapshot(&self, diff_id: &Digest) -> Result<bool> {
        let id = {
            let conn = self.conn();
            let id: Option<i64> = conn
                .query_row(
                    "DELETE FROM snapshots WHERE diff_id = ?1 RETURNING id",
                    [diff_id.as_str()],
                    |r| r.get(0),
                )
                .optional()
                .map_err(self.db_err())?;
            id
        };
        match id {
            Some(id) => {
                self.remove_snapshot_dirs(id)?;
                // A delta over it would show a layer with holes.
                self.forget_deltas_over(id)?;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Every snapshot: (id, diff id, size in bytes: a delta's own, plus its layer's with a full unpack beside it).
    pub fn list_snapshots(&self) -> Result<Vec<(i64, Digest, u64)>> {
        let conn = self.conn();
        let err = self.db_err();
        let mut stmt = conn
            .prepare("SELECT id, diff_id, size + COALESCE(full_twin, 0) FROM snapshots ORDER BY id")
            .map_err(&err)?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                ))
            })
            .map_err(&err)?;
        let mut out = Vec::new();
        for row in rows {
            let (id, diff, size) = row.map_err(&err)?;
            out.push((id, diff.parse()?, size as u64));
        }
        Ok(out)
    }

    pub(crate) fn snapshot_dir(&self, id: i64) -> PathBuf {
        self.snapshots.join(id.to_string())
    }
}
