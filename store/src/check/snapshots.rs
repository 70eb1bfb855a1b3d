//! Every snapshot directory is complete or absent, and known to the index.
//!
//! The store marks a snapshot complete by its row in `snapshots`: a layer is unpacked (or a step's upper dir
//! filled) under `tmp/`, and renamed to `snapshots/<id>` inside the transaction that inserts row `<id>`. So a
//! directory without a row is what a hoist killed between that rename and the commit left: half-made. A row
//! still naming an earlier boot (`unsynced_boot`) was never synced before the machine went down: its files may
//! be anything, and it is unpacked again from its blob when next needed.

use std::collections::HashMap;
use std::fs;
use std::path::PathBuf;

use rusqlite::TransactionBehavior;

use super::{CheckOptions, CheckReport, Problem};
use crate::error::{IoContext, Result};
use crate::full_twin::FULL_TWIN_SUFFIX;
use crate::Store;

/// A snapshot row: id, layer, and the boot it was written in while not yet synced.
struct Row {
    diff_id: String,
    unsynced_boot: Option<String>,
    /// A delta snapshot's base (see `delta.rs`).
    parent: Option<i64>,
    /// Whether the row claims a full unpack beside its delta, and the boot it was written in if not synced
    /// (see `full_twin.rs`).
    full_twin: bool,
    full_twin_boot: Option<String>,
}

pub(super) fn check(store: &Store, options: CheckOptions, report: &mut CheckReport) -> Result<()> {
    // Directories removed by a repair are first renamed here (inside the transaction, which is quick), and
    // deleted when it has ended, so other hoists wait for the database no longer than for a rename.
    let trash = if options.repair {
        Some(store.new_tmp_dir("check-removed")?)
    } else {
        None
    };
    let mut conn = store.conn();
    let err = store.db_err();
    // IMMEDIATE: `adopt_snapshot` renames a directory into place while it holds the write lock, before its
    // commit; holding the lock here too, no directory is seen between those two.
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(&err)?;
    let rows: HashMap<i64, Row> = {
        let mut stmt = tx
            .prepare(
                "SELECT id, diff_id, unsynced_boot, parent, full_twin IS NOT NULL, full_twin_boot \
                 FROM snapshots",
            )
            .map_err(&err)?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    Row {
                        diff_id: r.get(1)?,
                        unsynced_boot: r.get(2)?,
                        parent: r.get(3)?,
                        full_twin: r.get(4)?,
                        full_twin_boot: r.get(5)?,
                    },
                ))
            })
            .map_err(&err)?
            .collect::<rusqlite::Result<_>>()
            .map_err(&err)?;
        rows
    };
    report.snapshots = rows.len();
    let mut dirs: Vec<(String, PathBuf)> = Vec::new();
    for entry in fs::read_dir(&store.snapshots).io_ctx("listing", store.snapshots.clone())? {
        let entry = entry.io_ctx("listing", store.snapshots.clone())?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.starts_with('.') {
            dirs.push((name, entry.path()));
        }
    }
    dirs.sort();

    let move_to_trash = |path: &PathBuf| -> Result<()> {
        match &trash {
            Some(trash) => {
                let name = path.file_name().unwrap_or_default();
                fs::rename(path, trash.path().join(name)).io_ctx("moving aside", path.clone())
            }
            None => Ok(()),
        }
    };
    let mut problems = Vec::new();
    for (name, path) in &dirs {
        if name.parse::<i64>().is_ok_and(|id| rows.contains_key(&id)) {
            continue;
        }
        let twin_of = name
            .strip_suffix(FULL_TWIN_SUFFIX)
            .and_then(|id| id.parse::<i64>().ok());
        if twin_of.is_some_and(|id| rows.get(&id).is_some_and(|row| row.full_twin)) {
            // Checked with its row below.
            continue;
        }
        let problem = Problem::new(
            format!("snapshot directory {}", path.display()),
            "is half-unpacked: the index has no row marking it complete",
        );
        problems.push(if options.repair {
            problem.repaired(move_to_trash(path), "removed")
        } else {
            problem
        });
    }
    let mut ids: Vec<&i64> = rows.keys().collect();
    ids.sort();
    for id in ids {
        let row = &rows[id];
        let path = store.snapshot_dir(*id);
        let subject = format!("snapshot {id} (layer {})", row.diff_id);
        let from_earlier_boot = row
            .unsynced_boot
            .as_deref()
            .is_some_and(|boot| store.boot_id.as_deref() != Some(boot));
        let problem = if !path.is_dir() {
            Problem::new(
                subject,
                format!("has a row in the index but no directory {}", path.display()),
            )
        } else if let Some(parent) = row.parent.filter(|p| !rows.contains_key(p)) {
            Problem::new(
                subject,
                format!(
                    "is a delta over snapshot {parent}, which is gone (the layer is unpacked again from \
                     its blob when next needed)"
                ),
            )
        } else if from_earlier_boot {
            Problem::new(
                subject,
                "was never synced before the machine went down: its files cannot be trusted (it is \
                 unpacked again from its blob)",
            )
        } else {
            let twin = store.full_twin_dir(*id);
            if row.full_twin
                && twin.is_dir()
                && !store.boot_is_current(row.full_twin_boot.as_deref())
            {
                let problem = Problem::new(
                    format!("the full unpack {} beside snapshot {id}", twin.display()),
                    "was never synced before the machine went down: its files cannot be trusted (it is \
                     unpacked again from its blob when needed)",
                );
                problems.push(if options.repair {
                    let result = tx
                        .execute(
                            "UPDATE snapshots SET full_twin = NULL, full_twin_boot = NULL WHERE id = ?1",
                            [id],
                        )
                        .map_err(&err)
                        .and_then(|_| move_to_trash(&twin));
                    problem.repaired(result, "removed")
                } else {
                    problem
                });
            }
            continue;
        };
        problems.push(if options.repair {
            let result = tx
                .execute("DELETE FROM snapshots WHERE id = ?1", [id])
                .map_err(&err)
                .and_then(|_| {
                    let twin = store.full_twin_dir(*id);
                    for dir in [&path, &twin] {
                        if dir.is_dir() {
                            move_to_trash(dir)?;
                        }
                    }
                    Ok(())
                });
            problem.repaired(result, "removed")
        } else {
            problem
        });
    }
    let committed = tx.commit().map_err(&err);
    drop(conn);
    if let Err(e) = committed {
        // The rows are back: keep what was moved aside (under tmp/, for a person to look at).
        let _ = trash.map(|t| t.keep());
        for problem in problems.iter_mut().filter(|p| !p.remains()) {
            *problem = problem
                .clone()
                .unrepairable(format!("could not repair: {e}"));
        }
    }
    report.problems.extend(problems);
    // Otherwise `trash` is deleted (recursively) as it goes out of scope.
    Ok(())
}
