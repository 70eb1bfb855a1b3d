//! The build cache index and the context stat cache. The solver owns what a record means.

use rusqlite::{OptionalExtension, Row, TransactionBehavior};
use serde::{Deserialize, Serialize};

use crate::db::now;
use crate::digest::Digest;
use crate::error::Result;
use crate::Store;

/// One cached build step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheRecord {
    pub key: String,
    pub parent: Option<String>,
    pub description: String,
    /// Diff ID of the layer the step made; `None` for metadata-only steps.
    pub layer: Option<Digest>,
    /// JSON, owned by the solver.
    pub payload: String,
    pub size: u64,
    /// Unix seconds.
    pub created: i64,
    /// Unix seconds.
    pub last_used: i64,
    pub used_count: u64,
}

/// A context file's stat signature and its content digest: an unchanged file costs one `stat` per build.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatEntry {
    /// Absolute path of the file.
    pub path: String,
    pub size: u64,
    pub mtime_ns: i64,
    pub ctime_ns: i64,
    pub inode: u64,
    /// Content digest (`sha256:…`), as the solver computes it.
    pub digest: String,
}

const CACHE_COLUMNS: &str =
    "key, parent, description, layer, payload, size, created, last_used, used_count";

fn cache_row(r: &Row<'_>) -> rusqlite::Result<(CacheRecord, Option<String>)> {
    Ok((
        CacheRecord {
            key: r.get(0)?,
            parent: r.get(1)?,
            description: r.get(2)?,
            layer: None,
            payload: r.get(4)?,
            size: r.get::<_, i64>(5)? as u64,
            created: r.get(6)?,
            last_used: r.get(7)?,
            used_count: r.get::<_, i64>(8)? as u64,
        },
        r.get(3)?,
    ))
}

fn with_layer((mut rec, layer): (CacheRecord, Option<String>)) -> Result<CacheRecord> {
    rec.layer = layer.map(|l| l.parse()).transpose()?;
    Ok(rec)
}

impl Store {
    /// The record for `key`, marking it used (bumps `last_used` and `used_count`).
    pub fn cache_lookup(&self, key: &str) -> Result<Option<CacheRecord>> {
        let mut conn = self.conn();
        let err = self.db_err();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(&err)?;
        let updated = tx
            .execute(
                "UPDATE cache SET last_used = ?1, used_count = used_count + 1 WHERE key = ?2",
                rusqlite::params![now(), key],
            )
            .map_err(&err)?;
        if updated == 0 {
            return Ok(None);
        }
        let row = tx
            .query_row(
                &format!("SELECT {CACHE_COLUMNS} FROM cache WHERE key = ?1"),
                [key],
                cache_row,
            )
            .optional()
            .map_err(&err)?;
        tx.commit().map_err(&err)?;
        row.map(with_layer).transpose()
    }

    /// Insert or replace the record with `rec.key`.
    pub fn cache_insert(&self, rec: &CacheRecord) -> Result<()> {
        let conn = self.conn();
        conn.execute(
            &format!(
                "INSERT INTO cache ({CACHE_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
                 ON CONFLICT(key) DO UPDATE SET parent = excluded.parent, description = excluded.description,
                   layer = excluded.layer, payload = excluded.payload, size = excluded.size,
                   created = excluded.created, last_used = excluded.last_used, used_count = excluded.used_count"
            ),
            rusqlite::params![
                rec.key,
                rec.parent,
                rec.description,
                rec.layer.as_ref().map(|d| d.as_str()),
                rec.payload,
                rec.size as i64,
                rec.created,
                rec.last_used,
                rec.used_count as i64,
            ],
        )
        .map_err(self.db_err())?;
        Ok(())
    }

    /// Every cache record, oldest first; records of one second in the order they were written (callers take the
    /// last of a step as its latest, and builds a second apart are common).
    pub fn cache_records(&self) -> Result<Vec<CacheRecord>> {
        let rows: Vec<(CacheRecord, Option<String>)> = {
            let conn = self.conn();
            let err = self.db_err();
            let mut stmt = conn
                .prepare(&format!(
                    "SELECT {CACHE_COLUMNS} FROM cache ORDER BY created, rowid"
                ))
                .map_err(&err)?;
            let rows = stmt.query_map([], cache_row).map_err(&err)?;
            rows.collect::<std::result::Result<_, _>>().map_err(&err)?
        };
        rows.into_iter().map(with_layer).collect()
    }

    /// Delete the record for `key` (missing is fine).
    pub fn cache_remove(&self, key: &str) -> Result<()> {
        let conn = self.conn();
        conn.execute("DELETE FROM cache WHERE key = ?1", [key])
            .map_err(self.db_err())?;
        Ok(())
    }

    /// Delete every cache record last used before `last_used_before` (Unix seconds); returns what it removed.
    /// Follow with [`Store::gc`] to free the layers only they kept.
    pub fn cache_prune(&self, last_used_before: i64) -> Result<Vec<CacheRecord>> {
        let rows: Vec<(CacheRecord, Option<String>)> = {
            let conn = self.conn();
            let err = self.db_err();
            let mut stmt = conn
                .prepare(&format!(
                    "DELETE FROM cache WHERE last_used < ?1 RETURNING {CACHE_COLUMNS}"
                ))
                .map_err(&err)?;
            let rows = stmt
                .query_map([last_used_before], cache_row)
                .map_err(&err)?;
            rows.collect::<std::result::Result<_, _>>().map_err(&err)?
        };
        rows.into_iter().map(with_layer).collect()
    }

    /// The stat cache entry for `path`, if any (the caller compares size/mtime/ctime/inode).
    pub fn stat_cache_get(&self, path: &str) -> Result<Option<StatEntry>> {
        let conn = self.conn();
        conn.query_row(
            "SELECT path, size, mtime_ns, ctime_ns, inode, digest FROM stat_cache WHERE path = ?1",
            [path],
            stat_entry,
        )
        .optional()
        .map_err(self.db_err())
    }

    /// Every stat cache entry whose path starts with `prefix` (one query: a build loads its context's entries at
    /// once rather than one query per file).
    pub fn stat_cache_under(&self, prefix: &str) -> Result<Vec<StatEntry>> {
        stat_entries_under(&self.conn(), prefix).map_err(self.db_err())
    }

    /// A handle that reads the stat cache over a connection of its own, from any thread: a build loads its
    /// context's entries while it walks the context.
    pub fn stat_cache_reader(&self) -> StatCacheReader {
        StatCacheReader {
            db_path: self.db_path.clone(),
        }
    }

    /// Insert or replace many stat cache entries in one transaction.
    pub fn stat_cache_put(&self, entries: &[StatEntry]) -> Result<()> {
        self.insert_many(
            "INSERT OR REPLACE INTO stat_cache (path, size, mtime_ns, ctime_ns, inode, digest)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            entries,
            |stmt, e| {
                stmt.execute(rusqlite::params![
                    e.path,
                    e.size as i64,
                    e.mtime_ns,
                    e.ctime_ns,
                    e.inode as i64,
                    e.digest
                ])
            },
        )
    }

    /// Runs `insert` for each row with one prepared statement, in one IMMEDIATE transaction.
    fn insert_many<T>(
        &self,
        sql: &str,
        rows: &[T],
        insert: impl Fn(&mut rusqlite::Statement, &T) -> rusqlite::Result<usize>,
    ) -> Result<()> {
        let mut conn = self.conn();
        let err = self.db_err();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(&err)?;
        {
            let mut stmt = tx.prepare(sql).map_err(&err)?;
            for row in rows {
                insert(&mut stmt, row).map_err(&err)?;
            }
        }
        tx.commit().map_err(&err)
    }
}

/// What a build learned of a walk of its context: for these sources (`key`), a walk whose stat signature is
/// `signature` has the content checksum `checksum`. A rebuild that sees the same signature skips hashing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContextTree {
    pub key: String,
    pub signature: String,
    pub checksum: String,
}

impl Store {
    /// Records tree signatures (replacing older ones of the same keys), in one transaction.
    pub fn put_context_trees(&self, trees: &[ContextTree]) -> Result<()> {
        self.insert_many(
            "INSERT OR REPLACE INTO context_trees (key, signature, checksum, created)
             VALUES (?1, ?2, ?3, ?4)",
            trees,
            |stmt, t| stmt.execute(rusqlite::params![t.key, t.signature, t.checksum, now()]),
        )
    }
}

/// Reads stat cache entries over its own read-only connection (see [`Store::stat_cache_reader`]).
#[derive(Debug, Clone)]
pub struct StatCacheReader {
    db_path: std::path::PathBuf,
}

impl StatCacheReader {
    fn connect(&self) -> rusqlite::Result<rusqlite::Connection> {
        let conn = rusqlite::Connection::open_with_flags(
            &self.db_path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(std::time::Duration::from_secs(60))?;
        Ok(conn)
    }

    /// The tree signature recorded for `key`, if any.
    pub fn context_tree(&self, key: &str) -> Result<Option<ContextTree>> {
        let err = crate::db::db_err(&self.db_path);
        let conn = self.connect().map_err(&err)?;
        conn.query_row(
            "SELECT key, signature, checksum FROM context_trees WHERE key = ?1",
            [key],
            |r| {
                Ok(ContextTree {
                    key: r.get(0)?,
                    signature: r.get(1)?,
                    checksum: r.get(2)?,
                })
            },
        )
        .optional()
        .map_err(&err)
    }

    /// Every stat cache entry whose path starts with `prefix`, as [`Store::stat_cache_under`].
    pub fn under(&self, prefix: &str) -> Result<Vec<StatEntry>> {
        let err = crate::db::db_err(&self.db_path);
        let conn = self.connect().map_err(&err)?;
        stat_entries_under(&conn, prefix).map_err(&err)
    }
}

fn stat_entries_under(
    conn: &rusqlite::Connection,
    prefix: &str,
) -> rusqlite::Result<Vec<StatEntry>> {
    let mut stmt = conn.prepare_cached(
        "SELECT path, size, mtime_ns, ctime_ns, inode, digest FROM stat_cache
         WHERE path >= ?1 AND path < ?2",
    )?;
    // Paths under the prefix sort between "prefix" and "prefix" + U+10FFFF.
    let upper = format!("{prefix}\u{10FFFF}");
    let rows = stmt.query_map(rusqlite::params![prefix, upper], stat_entry)?;
    rows.collect()
}

/// A `stat_cache` row selected as `path, size, mtime_ns, ctime_ns, inode, digest`.
fn stat_entry(r: &Row) -> rusqlite::Result<StatEntry> {
    Ok(StatEntry {
        path: r.get(0)?,
        size: r.get::<_, i64>(1)? as u64,
        mtime_ns: r.get(2)?,
        ctime_ns: r.get(3)?,
        inode: r.get::<_, i64>(4)? as u64,
        digest: r.get(5)?,
    })
}
