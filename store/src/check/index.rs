//! The SQLite index: its integrity, and rows that point at blobs (images and tags, cache records, compressed
//! copies of layers).

use std::collections::{BTreeMap, HashSet};

use oci_spec::image::{ImageConfiguration, ImageManifest};
use rusqlite::TransactionBehavior;

use super::{BlobHealth, CheckOptions, CheckReport, Problem};
use crate::error::Result;
use crate::Store;

/// `PRAGMA integrity_check`; false (with a problem reported) when the database is damaged, and then the checks
/// of its rows are skipped: what they would read cannot be trusted.
pub(super) fn integrity(store: &Store, report: &mut CheckReport) -> Result<bool> {
    let result: rusqlite::Result<Vec<String>> = (|| {
        let conn = store.conn();
        let mut stmt = conn.prepare("PRAGMA integrity_check")?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
        rows.collect()
    })();
    let findings = match result {
        Ok(rows) if rows.len() == 1 && rows[0] == "ok" => return Ok(true),
        Ok(rows) => rows,
        Err(e) => vec![e.to_string()],
    };
    let shown: Vec<&str> = findings.iter().take(5).map(String::as_str).collect();
    let more = findings.len().saturating_sub(shown.len());
    let mut message = format!("is damaged: {}", shown.join("; "));
    if more > 0 {
        message.push_str(&format!(" (and {more} more)"));
    }
    report.problems.push(
        Problem::new(format!("index {}", store.db_path.display()), message).unrepairable(
            "hoist cannot rebuild the index; its rows were not checked. Move the state directory away and \
             build or import again (or try `sqlite3 cache.db .recover`)",
        ),
    );
    Ok(false)
}

/// An image row and what it needs.
struct ImageRow {
    id: String,
    manifest: String,
    tags: Vec<String>,
}

impl ImageRow {
    fn subject(&self) -> String {
        if self.tags.is_empty() {
            format!("image {}", self.id)
        } else {
            format!("image {} ({})", self.tags.join(", "), self.id)
        }
    }
}

/// Every image has its config, manifest and layers; every tag has its image.
pub(super) fn check_images(
    store: &Store,
    health: &BlobHealth,
    options: CheckOptions,
    report: &mut CheckReport,
) -> Result<()> {
    let (images, dangling_tags) = image_rows(store)?;
    report.images = images.len();
    let mut broken_images = Vec::new();
    let mut problems = Vec::new();
    for image in &images {
        let missing = missing_blobs(store, health, image);
        if !missing.is_empty() {
            problems.push(Problem::new(
                image.subject(),
                format!("is missing blobs it needs: {}", missing.join(", ")),
            ));
            broken_images.push(image.id.clone());
        }
    }
    for (tag, id) in &dangling_tags {
        problems.push(Problem::new(
            format!("tag {tag}"),
            format!("points at image {id}, which is not in the index"),
        ));
    }
    if options.repair && !problems.is_empty() {
        let tags: Vec<&str> = dangling_tags.iter().map(|(t, _)| t.as_str()).collect();
        let result = remove_images(store, &broken_images, &tags);
        problems = problems
            .into_iter()
            .map(|p| {
                let done = if p.subject.starts_with("image ") {
                    "removed (build or import it again)"
                } else {
                    "removed"
                };
                p.repaired(result.as_ref().map_err(|e| e.to_string()).copied(), done)
            })
            .collect();
    }
    report.problems.extend(problems);
    Ok(())
}

/// A tag and the image ID it names.
type TagRow = (String, String);

/// (images with their tags, tags whose image has no row).
fn image_rows(store: &Store) -> Result<(Vec<ImageRow>, Vec<TagRow>)> {
    let conn = store.conn();
    let err = store.db_err();
    let mut stmt = conn
        .prepare("SELECT id, manifest_digest FROM images ORDER BY id")
        .map_err(&err)?;
    let mut images: BTreeMap<String, ImageRow> = stmt
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
        .map_err(&err)?
        .map(|row| {
            row.map(|(id, manifest)| {
                let image = ImageRow {
                    id: id.clone(),
                    manifest,
                    tags: Vec::new(),
                };
                (id, image)
            })
        })
        .collect::<rusqlite::Result<_>>()
        .map_err(&err)?;
    let mut stmt = conn
        .prepare("SELECT reference, image_id FROM tags ORDER BY reference")
        .map_err(&err)?;
    let tags: Vec<TagRow> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .map_err(&err)?
        .collect::<rusqlite::Result<_>>()
        .map_err(&err)?;
    let mut dangling = Vec::new();
    for (tag, id) in tags {
        match images.get_mut(&id) {
            Some(image) => image.tags.push(tag),
            None => dangling.push((tag, id)),
        }
    }
    Ok((images.into_values().collect(), dangling))
}

/// The blobs `image` needs that are missing or corrupt (or unreadable as JSON), each as `what DIGEST (why)`.
fn missing_blobs(store: &Store, health: &BlobHealth, image: &ImageRow) -> Vec<String> {
    let mut missing = Vec::new();
    let mut layers: Vec<String> = Vec::new();
    match read_json::<ImageManifest>(store, health, &image.manifest) {
        Ok(manifest) => layers.extend(manifest.layers().iter().map(|l| l.digest().to_string())),
        Err(why) => missing.push(format!("manifest {} ({why})", image.manifest)),
    }
    match read_json::<ImageConfiguration>(store, health, &image.id) {
        Ok(config) => layers.extend(config.rootfs().diff_ids().iter().cloned()),
        Err(why) => missing.push(format!("config {} ({why})", image.id)),
    }
    let mut seen = HashSet::new();
    for layer in layers {
        if seen.insert(layer.clone()) && !health.ok_str(&layer) {
            missing.push(format!("layer {layer} ({})", health.why_not(&layer)));
        }
    }
    missing
}

/// Blob `digest` parsed as JSON, or why not.
fn read_json<T: serde::de::DeserializeOwned>(
    store: &Store,
    health: &BlobHealth,
    digest: &str,
) -> std::result::Result<T, String> {
    if !health.ok_str(digest) {
        return Err(health.why_not(digest).to_string());
    }
    let bytes = digest
        .parse()
        .and_then(|d| store.read_blob(&d))
        .map_err(|e| e.to_string())?;
    serde_json::from_slice(&bytes).map_err(|e| format!("is not valid: {e}"))
}

/// Delete `images` with every tag pointing at them, and `tags`, then rewrite index.json: one transaction.
fn remove_images(store: &Store, images: &[String], tags: &[&str]) -> Result<()> {
    let mut conn = store.conn();
    let err = store.db_err();
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(&err)?;
    for id in images {
        tx.execute("DELETE FROM tags WHERE image_id = ?1", [id])
            .map_err(&err)?;
        tx.execute("DELETE FROM images WHERE id = ?1", [id])
            .map_err(&err)?;
    }
    for tag in tags {
        tx.execute("DELETE FROM tags WHERE reference = ?1", [tag])
            .map_err(&err)?;
    }
    store.write_index_json(&tx)?;
    tx.commit().map_err(&err)
}

/// Every cache record's layer blob is there (a record whose layer is gone can never be reused).
pub(super) fn check_cache_records(
    store: &Store,
    health: &BlobHealth,
    options: CheckOptions,
    report: &mut CheckReport,
) -> Result<()> {
    let rows: Vec<(String, String, Option<String>)> = {
        let conn = store.conn();
        let err = store.db_err();
        let mut stmt = conn
            .prepare("SELECT key, description, layer FROM cache ORDER BY created, key")
            .map_err(&err)?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .map_err(&err)?
            .collect::<rusqlite::Result<_>>()
            .map_err(&err)?;
        rows
    };
    report.cache_records = rows.len();
    for (key, description, layer) in rows {
        let Some(layer) = layer.filter(|l| !health.ok_str(l)) else {
            continue;
        };
        let problem = Problem::new(
            format!(
                "cache record {} ({})",
                short_key(&key),
                one_line(&description)
            ),
            format!("needs layer {layer}, which {}", health.why_not(&layer)),
        );
        report.problems.push(if options.repair {
            problem.repaired(store.cache_remove(&key), "removed")
        } else {
            problem
        });
    }
    Ok(())
}

/// Every recorded compressed copy of a layer is there.
pub(super) fn check_compressed_layers(
    store: &Store,
    health: &BlobHealth,
    options: CheckOptions,
    report: &mut CheckReport,
) -> Result<()> {
    let rows: Vec<(String, String, String)> = {
        let conn = store.conn();
        let err = store.db_err();
        let mut stmt = conn
            .prepare("SELECT diff_id, algorithm, digest FROM compressed_layers")
            .map_err(&err)?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .map_err(&err)?
            .collect::<rusqlite::Result<_>>()
            .map_err(&err)?;
        rows
    };
    for (diff_id, algorithm, digest) in rows {
        if health.ok_str(&digest) {
            continue;
        }
        let problem = Problem::new(
            format!("{algorithm} copy of layer {diff_id}"),
            format!(
                "is recorded as blob {digest}, which {}",
                health.why_not(&digest)
            ),
        );
        report.problems.push(if options.repair {
            let result = store
                .conn()
                .execute(
                    "DELETE FROM compressed_layers WHERE diff_id = ?1 AND algorithm = ?2",
                    [&diff_id, &algorithm],
                )
                .map(|_| ())
                .map_err(store.db_err());
            problem.repaired(result, "record removed (made again when next needed)")
        } else {
            problem
        });
    }
    Ok(())
}

/// A cache key as `hoist cache ls` shows it: 12 hex digits.
fn short_key(key: &str) -> &str {
    let hex = key.strip_prefix("sha256:").unwrap_or(key);
    hex.get(..12).unwrap_or(hex)
}

/// A description on one line, at most 40 characters.
fn one_line(s: &str) -> String {
    let line: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if line.chars().count() > 40 {
        format!("{}…", line.chars().take(39).collect::<String>())
    } else {
        line
    }
}
