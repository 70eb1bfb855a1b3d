//! What the store remembers about registries: where a layer lives in compressed form (`layer_sources`: its
//! compressed digest, media type and size in a registry's repository, with the diff ID it decompresses to) and the
//! repo digests of images (`repo_digests`: `busybox@sha256:…`, the manifest digest a registry knows the image by).
//!
//! Pulls record both, so a layer already in the store is not fetched again (by compressed digest) and a push
//! back to the registry can reuse the original blob (HEAD, or a cross-repository mount). Neither table keeps
//! anything alive: garbage collection drops rows whose layer or image is gone (see `gc.rs`).

use rusqlite::OptionalExtension;

use crate::db::now;
use crate::digest::Digest;
use crate::error::Result;
use crate::Store;

/// One compressed copy of a layer in a registry repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerSource {
    /// The uncompressed layer (its blob in this store).
    pub diff_id: Digest,
    /// The compressed blob's digest in the registry.
    pub digest: Digest,
    /// The descriptor's media type (gzip, zstd or uncompressed tar, Docker or OCI spelling).
    pub media_type: String,
    /// The compressed blob's size.
    pub size: u64,
    /// The registry host (`registry-1.docker.io`, `localhost:5000`).
    pub registry: String,
    /// The repository in that registry (`library/busybox`).
    pub repository: String,
}

impl Store {
    /// Remember that `source.digest` in `source.registry/source.repository` decompresses to `source.diff_id`.
    pub fn record_layer_source(&self, source: &LayerSource) -> Result<()> {
        self.conn()
            .execute(
                "INSERT INTO layer_sources (diff_id, digest, media_type, size, registry, repository, created)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT(digest, registry, repository) DO UPDATE SET
                     diff_id = excluded.diff_id, media_type = excluded.media_type,
                     size = excluded.size, created = excluded.created",
                rusqlite::params![
                    source.diff_id.as_str(),
                    source.digest.as_str(),
                    source.media_type,
                    source.size as i64,
                    source.registry,
                    source.repository,
                    now()
                ],
            )
            .map_err(self.db_err())?;
        Ok(())
    }

    /// Every known registry copy of layer `diff_id`, newest first.
    pub fn layer_sources_of(&self, diff_id: &Digest) -> Result<Vec<LayerSource>> {
        let conn = self.conn();
        let err = self.db_err();
        let mut stmt = conn
            .prepare(
                "SELECT digest, media_type, size, registry, repository FROM layer_sources
                 WHERE diff_id = ?1 ORDER BY created DESC, registry, repository",
            )
            .map_err(&err)?;
        let rows: Vec<(String, String, i64, String, String)> = stmt
            .query_map([diff_id.as_str()], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })
            .map_err(&err)?
            .collect::<std::result::Result<_, _>>()
            .map_err(&err)?;
        rows.into_iter()
            .map(|(digest, media_type, size, registry, repository)| {
                Ok(LayerSource {
                    diff_id: diff_id.clone(),
                    digest: digest.parse()?,
                    media_type,
                    size: size as u64,
                    registry,
                    repository,
                })
            })
            .collect()
    }

    /// The layer that compressed blob `digest` decompresses to, if that layer is in the store.
    pub fn layer_of_compressed(&self, digest: &Digest) -> Result<Option<Digest>> {
        let diff_ids: Vec<String> = {
            let conn = self.conn();
            let err = self.db_err();
            let mut stmt = conn
                .prepare("SELECT DISTINCT diff_id FROM layer_sources WHERE digest = ?1")
                .map_err(&err)?;
            let rows = stmt
                .query_map([digest.as_str()], |r| r.get(0))
                .map_err(&err)?
                .collect::<std::result::Result<_, _>>()
                .map_err(&err)?;
            rows
        };
        for diff_id in diff_ids {
            let diff_id: Digest = diff_id.parse()?;
            if self.has_blob(&diff_id) {
                return Ok(Some(diff_id));
            }
        }
        Ok(None)
    }

    /// Remember that image `image_id` is `name@digest` (`name` without tag: `busybox`, `localhost:5000/app`).
    pub fn record_repo_digest(&self, image_id: &Digest, name: &str, digest: &Digest) -> Result<()> {
        self.conn()
            .execute(
                "INSERT INTO repo_digests (image_id, name, digest, created) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT(image_id, name) DO UPDATE SET digest = excluded.digest, created = excluded.created",
                rusqlite::params![image_id.as_str(), name, digest.as_str(), now()],
            )
            .map_err(self.db_err())?;
        Ok(())
    }

    /// The repo digests of image `image_id` as `(name, digest)`, sorted by name.
    pub fn repo_digests(&self, image_id: &Digest) -> Result<Vec<(String, Digest)>> {
        let rows: Vec<(String, String)> = {
            let conn = self.conn();
            let err = self.db_err();
            let mut stmt = conn
                .prepare("SELECT name, digest FROM repo_digests WHERE image_id = ?1 ORDER BY name")
                .map_err(&err)?;
            let rows = stmt
                .query_map([image_id.as_str()], |r| Ok((r.get(0)?, r.get(1)?)))
                .map_err(&err)?
                .collect::<std::result::Result<_, _>>()
                .map_err(&err)?;
            rows
        };
        rows.into_iter()
            .map(|(name, digest)| Ok((name, digest.parse()?)))
            .collect()
    }

    /// The image a repo digest names (`name` as recorded, `digest` the manifest digest), if it is still here.
    pub fn image_by_repo_digest(&self, name: &str, digest: &Digest) -> Result<Option<Digest>> {
        let id: Option<String> = self
            .conn()
            .query_row(
                "SELECT r.image_id FROM repo_digests r JOIN images i ON i.id = r.image_id
                 WHERE r.name = ?1 AND r.digest = ?2 LIMIT 1",
                [name, digest.as_str()],
                |r| r.get(0),
            )
            .optional()
            .map_err(self.db_err())?;
        id.map(|id| id.parse()).transpose()
    }

    /// Drop the rows of layers whose blob is gone and of images that were removed (called by `gc`).
    pub(crate) fn forget_orphan_registry_records(&self) -> Result<()> {
        let diff_ids: Vec<String> = {
            let conn = self.conn();
            let err = self.db_err();
            conn.execute(
                "DELETE FROM repo_digests WHERE image_id NOT IN (SELECT id FROM images)",
                [],
            )
            .map_err(&err)?;
            let mut stmt = conn
                .prepare("SELECT DISTINCT diff_id FROM layer_sources")
                .map_err(&err)?;
            let rows = stmt
                .query_map([], |r| r.get(0))
                .map_err(&err)?
                .collect::<std::result::Result<_, _>>()
                .map_err(&err)?;
            rows
        };
        let gone: Vec<String> = diff_ids
            .into_iter()
            .filter(|d| {
                d.parse::<Digest>()
                    .map(|d| !self.has_blob(&d))
                    .unwrap_or(true)
            })
            .collect();
        let conn = self.conn();
        for diff_id in gone {
            conn.execute(
                "DELETE FROM layer_sources WHERE diff_id = ?1",
                [diff_id.as_str()],
            )
            .map_err(self.db_err())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layer_sources_and_repo_digests_round_trip_and_gc_forgets_orphans() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let diff_id = store.put_blob(b"layer").unwrap();
        let compressed = Digest::of_bytes(b"compressed");
        let source = LayerSource {
            diff_id: diff_id.clone(),
            digest: compressed.clone(),
            media_type: "application/vnd.docker.image.rootfs.diff.tar.gzip".into(),
            size: 10,
            registry: "localhost:5000".into(),
            repository: "a/b".into(),
        };
        store.record_layer_source(&source).unwrap();
        assert_eq!(store.layer_sources_of(&diff_id).unwrap(), vec![source]);
        assert_eq!(
            store.layer_of_compressed(&compressed).unwrap(),
            Some(diff_id.clone())
        );

        let image_id = Digest::of_bytes(b"config");
        let manifest = Digest::of_bytes(b"manifest");
        store
            .record_repo_digest(&image_id, "busybox", &manifest)
            .unwrap();
        assert_eq!(
            store.repo_digests(&image_id).unwrap(),
            vec![("busybox".to_string(), manifest.clone())]
        );
        // No image row: not found by repo digest, and gc forgets the row and the unreferenced layer's source.
        assert_eq!(
            store.image_by_repo_digest("busybox", &manifest).unwrap(),
            None
        );
        store.gc(std::time::Duration::ZERO).unwrap();
        assert!(store.repo_digests(&image_id).unwrap().is_empty());
        assert!(store.layer_sources_of(&diff_id).unwrap().is_empty());
        assert_eq!(store.layer_of_compressed(&compressed).unwrap(), None);
    }
}
