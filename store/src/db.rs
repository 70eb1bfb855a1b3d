//! The SQLite state database (`cache.db`): schema, migrations and connection setup.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, TransactionBehavior};

use crate::error::{Result, StoreError};

/// Each entry upgrades the schema from version `index` to `index + 1`.
const MIGRATIONS: &[&str] = &[
    // 0 -> 1
    "CREATE TABLE snapshots (
         id INTEGER PRIMARY KEY AUTOINCREMENT,
         diff_id TEXT NOT NULL UNIQUE,
         size INTEGER NOT NULL,
         created INTEGER NOT NULL
     );
     CREATE TABLE images (
         id TEXT PRIMARY KEY,
         manifest_digest TEXT NOT NULL,
         created TEXT,
         size INTEGER NOT NULL,
         added INTEGER NOT NULL
     );
     CREATE TABLE tags (
         reference TEXT PRIMARY KEY,
         image_id TEXT NOT NULL REFERENCES images(id)
     );
     CREATE INDEX tags_by_image ON tags(image_id);
     CREATE TABLE cache (
         key TEXT PRIMARY KEY,
         parent TEXT,
         description TEXT NOT NULL,
         layer TEXT,
         payload TEXT NOT NULL,
         size INTEGER NOT NULL,
         created INTEGER NOT NULL,
         last_used INTEGER NOT NULL,
         used_count INTEGER NOT NULL
     );
     CREATE TABLE stat_cache (
         path TEXT PRIMARY KEY,
         size INTEGER NOT NULL,
         mtime_ns INTEGER NOT NULL,
         ctime_ns INTEGER NOT NULL,
         inode INTEGER NOT NULL,
         digest TEXT NOT NULL
     );",
    // 1 -> 2: compressed copies of layers, made once for export (see compress.rs).
    "CREATE TABLE compressed_layers (
         diff_id TEXT NOT NULL,
         algorithm TEXT NOT NULL,
         digest TEXT NOT NULL,
         size INTEGER NOT NULL,
         created INTEGER NOT NULL,
         PRIMARY KEY (diff_id, algorithm)
     );",
    // 2 -> 3: tree signatures of context walks (see `Store::put_context_trees`).
    "CREATE TABLE context_trees (
         key TEXT PRIMARY KEY,
         signature TEXT NOT NULL,
         checksum TEXT NOT NULL,
         created INTEGER NOT NULL
     );",
    // 3 -> 4: a snapshot not yet synced to disk names the boot it was written in (see
    // `Store::sync_snapshots`); NULL is on disk for good.
    "ALTER TABLE snapshots ADD COLUMN unsynced_boot TEXT;",
    // 4 -> 5: where pulled or pushed layers live in registries (compressed digest <-> diff ID, see
    // `registry_records.rs`), and the repo digests (`name@sha256:...`) of pulled and pushed images.
    "CREATE TABLE layer_sources (
         diff_id TEXT NOT NULL,
         digest TEXT NOT NULL,
         media_type TEXT NOT NULL,
         size INTEGER NOT NULL,
         registry TEXT NOT NULL,
         repository TEXT NOT NULL,
         created INTEGER NOT NULL,
         PRIMARY KEY (digest, registry, repository)
     );
     CREATE INDEX layer_sources_by_diff_id ON layer_sources(diff_id);
     CREATE TABLE repo_digests (
         image_id TEXT NOT NULL,
         name TEXT NOT NULL,
         digest TEXT NOT NULL,
         created INTEGER NOT NULL,
         PRIMARY KEY (image_id, name)
     );",
    // 5 -> 6: a delta snapshot names the full snapshot it is mounted over (see delta.rs); NULL: a full one.
    "ALTER TABLE snapshots ADD COLUMN parent INTEGER;
     CREATE INDEX snapshots_by_parent ON snapshots(parent);",
    // 6 -> 7: a delta snapshot's shadowed paths (NUL-separated; see `shadow.rs`), and whether it has a full
    // unpack of its layer beside it (`snapshots/<id>-full`) for the stacks it is not exact over, with the boot
    // that unpack was written in until synced.
    "ALTER TABLE snapshots ADD COLUMN shadowed BLOB;
     ALTER TABLE snapshots ADD COLUMN full_twin INTEGER;
     ALTER TABLE snapshots ADD COLUMN full_twin_boot TEXT;",
];

pub(crate) fn db_err(path: &Path) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
    move |source| StoreError::Db {
        path: path.to_path_buf(),
        source,
    }
}

/// Switches the database to WAL. Switching needs the database to itself for a moment, and SQLite answers
/// "database is locked" at once (no busy handler) when another process opens a new store at the same time:
/// try again for as long as the busy timeout would have waited.
fn set_wal(conn: &Connection) -> rusqlite::Result<()> {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let mut pause = Duration::from_millis(1);
    loop {
        match conn.pragma_update(None, "journal_mode", "WAL") {
            Err(rusqlite::Error::SqliteFailure(e, _))
                if matches!(
                    e.code,
                    rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
                ) && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(50));
            }
            other => return other,
        }
    }
}

/// Open the database, set WAL and a busy timeout, and bring the schema up to date.
pub(crate) fn open(path: &Path) -> Result<Connection> {
    let err = db_err(path);
    let mut conn = Connection::open(path).map_err(&err)?;
    conn.busy_timeout(Duration::from_secs(60)).map_err(&err)?;
    set_wal(&conn).map_err(&err)?;
    conn.pragma_update(None, "synchronous", "NORMAL")
        .map_err(&err)?;
    // Every hoist command is one short process: a checkpoint when its connection closes would cost two
    // fsyncs and a new WAL file (one more fsync, of the directory) per command. The WAL is checkpointed when it
    // grows past SQLite's 1,000 pages instead; WAL with synchronous=NORMAL stays consistent across crashes.
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE,
        true,
    )
    .map_err(&err)?;
    conn.pragma_update(None, "foreign_keys", "ON")
        .map_err(&err)?;
    migrate(&mut conn, path)?;
    Ok(conn)
}

fn migrate(conn: &mut Connection, path: &Path) -> Result<()> {
    let err = db_err(path);
    let supported = MIGRATIONS.len() as i64;
    // IMMEDIATE: two processes opening a fresh store must not both run the same migration.
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(&err)?;
    let version: i64 = tx
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(&err)?;
    if version > supported {
        return Err(StoreError::SchemaTooNew {
            path: path.to_path_buf(),
            found: version,
            supported,
        });
    }
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        tx.execute_batch(sql).map_err(&err)?;
        tx.pragma_update(None, "user_version", index as i64 + 1)
            .map_err(&err)?;
    }
    tx.commit().map_err(&err)?;
    Ok(())
}

/// Seconds since the Unix epoch.
pub(crate) fn now() -> i64 {
    chrono::Utc::now().timestamp()
}
