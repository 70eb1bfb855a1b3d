//! Delta snapshots: a layer made as the difference from a similar layer's full snapshot (see `delta.rs`).
mod common;

use std::path::Path;
use std::time::Duration;

use common::{put_layer, LayerTar};
use hoist_store::{CacheRecord, Digest, Store};

/// `app/` with 40 files, file `changed` holding `text`, and `extra` files `e0…`.
fn layer(store: &Store, text: &str, extra: usize) -> Digest {
    let mut t = LayerTar::new();
    t.dir("app", 0o755);
    for i in 0..40 {
        t.file(
            &format!("app/f{i:02}"),
            0o644,
            format!("file {i}\n").repeat(50).as_bytes(),
        );
    }
    t.file("app/g-changed", 0o644, text.as_bytes());
    for i in 0..extra {
        t.file(&format!("app/h{i}"), 0o644, b"extra");
    }
    put_layer(store, &t.finish())
}

fn entries(dir: &Path) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(dir.join("app"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    out.sort();
    out
}

fn record(store: &Store, key: &str, layer: &Digest) {
    store
        .cache_insert(&CacheRecord {
            key: key.into(),
            parent: None,
            description: "COPY . /app".into(),
            layer: Some(layer.clone()),
            payload: "{}".into(),
            size: 0,
            created: 0,
            last_used: 0,
            used_count: 0,
        })
        .unwrap();
}

#[test]
fn a_delta_holds_what_changed_and_stays_one_deep() {
    let (_d, store) = common::store();
    let base = layer(&store, "one", 2);
    let full = store.ensure_snapshot_stack(&base, None, &[]).unwrap();
    assert_eq!(full.len(), 1);

    // Changed content, one file added (h2): the delta has the change and the new file, nothing else.
    let second = layer(&store, "two", 3);
    let stack = store
        .ensure_snapshot_stack(&second, Some(&base), &[])
        .unwrap();
    assert_eq!(stack.len(), 2, "a delta over the base");
    assert_eq!(stack[1], full[0]);
    assert_eq!(entries(&stack[0]), ["g-changed", "h2"]);
    assert_eq!(
        std::fs::read(stack[0].join("app/g-changed")).unwrap(),
        b"two"
    );
    // `hoist cache du` counts a delta's own size, not its layer's.
    let sizes: std::collections::HashMap<Digest, u64> = store
        .list_snapshots()
        .unwrap()
        .into_iter()
        .map(|(_, diff, size)| (diff, size))
        .collect();
    assert!(
        sizes[&second] * 4 < sizes[&base],
        "delta {} vs full {}",
        sizes[&second],
        sizes[&base]
    );

    // Based on the delta, the next one still sits on the full snapshot.
    let third = layer(&store, "three", 3);
    let stack3 = store
        .ensure_snapshot_stack(&third, Some(&second), &[])
        .unwrap();
    assert_eq!(stack3.len(), 2);
    assert_eq!(stack3[1], full[0], "depth stays one");
    assert_eq!(
        store.snapshot_stack(&third, &[]).unwrap(),
        Some(stack3.clone())
    );

    // A removed path (h1) is a whiteout in the delta: an overlay one, a 0/0 character device.
    let fourth = layer(&store, "four", 1);
    let stack4 = store
        .ensure_snapshot_stack(&fourth, Some(&base), &[])
        .unwrap();
    assert_eq!(stack4.len(), 2, "a delta");
    assert_eq!(entries(&stack4[0]), ["g-changed", "h1"]);
    assert_is_whiteout(&stack4[0].join("app/h1"));
}

fn assert_is_whiteout(path: &Path) {
    use std::os::unix::fs::{FileTypeExt as _, MetadataExt as _};
    let meta = std::fs::symlink_metadata(path).unwrap();
    assert!(meta.file_type().is_char_device(), "{}", path.display());
    assert_eq!(meta.rdev(), 0, "{}", path.display());
}

#[test]
fn gc_keeps_a_base_that_a_kept_delta_needs_and_removing_a_base_removes_its_deltas() {
    let (_d, store) = common::store();
    let base = layer(&store, "one", 0);
    store.ensure_snapshot(&base).unwrap();
    let second = layer(&store, "two", 0);
    let stack = store
        .ensure_snapshot_stack(&second, Some(&base), &[])
        .unwrap();
    assert_eq!(stack.len(), 2);
    // Only the delta's layer is used by anything.
    record(&store, "k2", &second);
    store.gc(Duration::ZERO).unwrap();
    assert_eq!(
        store.snapshot_stack(&second, &[]).unwrap(),
        Some(stack.clone()),
        "the base went with its layer"
    );
    assert!(store
        .check(hoist_store::CheckOptions::default())
        .unwrap()
        .problems
        .is_empty());

    assert!(store.remove_snapshot(&base).unwrap());
    assert_eq!(store.snapshot_stack(&second, &[]).unwrap(), None);
    assert!(!stack[0].exists(), "the delta went with its base");
    // Made again in full from its blob when next needed.
    assert_eq!(
        store
            .ensure_snapshot_stack(&second, None, &[])
            .unwrap()
            .len(),
        1
    );
}

/// The tar bytes of [`layer`], without storing them.
fn layer_bytes(text: &str, extra: usize) -> Vec<u8> {
    let (_d, scratch) = common::store();
    let digest = layer(&scratch, text, extra);
    scratch.read_blob(&digest).unwrap()
}

#[test]
fn a_layer_written_beside_its_base_gets_its_delta_without_reading_the_tars_again() {
    use std::io::Write as _;
    let (_d, store) = common::store();
    let base = layer(&store, "one", 2);
    let full = store.ensure_snapshot_stack(&base, None, &[]).unwrap();

    // Written in small pieces, as a layer tar reaches the blob: the comparison follows the stream.
    let mut writer = store.layer_writer(Some(&base)).unwrap();
    for piece in layer_bytes("two", 3).chunks(700) {
        writer.write_all(piece).unwrap();
    }
    let (second, _) = writer.commit().unwrap();
    assert_eq!(
        second,
        layer(&store, "two", 3),
        "the same blob as put_blob's"
    );

    // The delta was found while writing: the base's blob is not read again (here it is gone).
    std::fs::remove_file(store.blob_path(&base)).unwrap();
    let stack = store
        .ensure_snapshot_stack(&second, Some(&base), &[])
        .unwrap();
    assert_eq!(stack.len(), 2, "a delta over the base");
    assert_eq!(stack[1], full[0]);
    assert_eq!(entries(&stack[0]), ["g-changed", "h2"]);
    assert_eq!(
        std::fs::read(stack[0].join("app/g-changed")).unwrap(),
        b"two"
    );
}

#[test]
fn a_layer_written_beside_its_base_with_a_removed_path_gets_a_delta_with_a_whiteout() {
    use std::io::Write as _;
    let (_d, store) = common::store();
    let base = layer(&store, "one", 2);
    store.ensure_snapshot_stack(&base, None, &[]).unwrap();
    let mut writer = store.layer_writer(Some(&base)).unwrap();
    writer.write_all(&layer_bytes("two", 1)).unwrap();
    let (second, _) = writer.commit().unwrap();
    let stack = store
        .ensure_snapshot_stack(&second, Some(&base), &[])
        .unwrap();
    assert_eq!(stack.len(), 2, "a delta over the base");
    assert_eq!(entries(&stack[0]), ["g-changed", "h1"]);
    assert_is_whiteout(&stack[0].join("app/h1"));
}
