mod common;

use std::time::Duration;

use common::{put_layer, LayerTar};
use hoist_store::{CacheRecord, Digest};

#[test]
fn gc_keeps_what_images_and_cache_use() {
    let (_d, store) = common::store();
    let layer = |name: &str| {
        let mut t = LayerTar::new();
        t.file(name, 0o644, name.as_bytes());
        put_layer(&store, &t.finish())
    };
    let kept_by_image = layer("image");
    let kept_by_cache = layer("cache");
    let garbage = layer("garbage");
    let stray = store.put_blob(b"stray").unwrap();
    // The context file list a COPY step's record keeps for `--explain`: named by the payload, kept with it.
    let sources = store.put_blob(b"[\"a.txt\"]").unwrap();
    for l in [&kept_by_image, &kept_by_cache, &garbage] {
        store.ensure_snapshot(l).unwrap();
    }
    let config = oci_spec::image::ImageConfigurationBuilder::default()
        .rootfs(
            oci_spec::image::RootFsBuilder::default()
                .typ("layers")
                .diff_ids(vec![kept_by_image.to_string()])
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    let img = store.write_image(&config).unwrap();
    store.tag("keep", &img).unwrap();
    store
        .cache_insert(&CacheRecord {
            key: "k".into(),
            parent: None,
            description: "RUN x".into(),
            layer: Some(kept_by_cache.clone()),
            payload: format!(r#"{{"step":"s","sources":"{sources}"}}"#),
            size: 0,
            created: 0,
            last_used: 0,
            used_count: 0,
        })
        .unwrap();

    // Within the grace period nothing goes.
    let report = store.gc(Duration::from_secs(3600)).unwrap();
    assert!(report.removed_blobs.is_empty() && report.removed_snapshots.is_empty());

    let report = store.gc(Duration::ZERO).unwrap();
    let mut removed = report.removed_blobs.clone();
    removed.sort();
    let mut expected = vec![garbage.clone(), stray];
    expected.sort();
    assert_eq!(removed, expected);
    assert_eq!(report.removed_snapshots, vec![garbage.clone()]);
    assert!(
        store.has_blob(&sources),
        "a record's sources blob was collected"
    );
    assert!(report.freed_bytes > 0);
    for d in [
        &kept_by_image,
        &kept_by_cache,
        &img.id,
        &img.manifest_digest,
    ] {
        assert!(store.has_blob(d), "{d} was collected");
    }
    assert!(store.snapshot_path(&kept_by_image).unwrap().is_some());
    assert!(store.snapshot_path(&kept_by_cache).unwrap().is_some());
    assert!(store.snapshot_path(&garbage).unwrap().is_none());
    assert_eq!(store.resolve("keep").unwrap().unwrap().id, img.id);

    // Removing the image and the record frees the rest.
    store.remove_image("keep").unwrap();
    store.cache_remove("k").unwrap();
    let report = store.gc(Duration::ZERO).unwrap();
    assert_eq!(
        report.removed_blobs.len(),
        5,
        "2 layers, config, manifest, sources"
    );
    assert_eq!(report.removed_snapshots.len(), 2);
    assert_eq!(
        std::fs::read_dir(store.root().join("blobs/sha256"))
            .unwrap()
            .count(),
        0
    );
    let _ = Digest::of_bytes(b"");
}
