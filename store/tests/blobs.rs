mod common;

use std::io::Write;

use hoist_store::{Digest, Store};

#[test]
fn put_blob_is_content_addressed_and_deduplicated() {
    let (_dir, store) = common::store();
    let a = store.put_blob(b"hello").unwrap();
    let b = store.put_blob(b"hello").unwrap();
    assert_eq!(a, b);
    assert_eq!(a, Digest::of_bytes(b"hello"));
    assert!(store.has_blob(&a));
    assert_eq!(store.read_blob(&a).unwrap(), b"hello");
    assert_eq!(
        store.blob_path(&a),
        store.root().join("blobs/sha256").join(a.hex())
    );
    // Nothing left behind in staging.
    assert_eq!(std::fs::read_dir(store.tmp_dir()).unwrap().count(), 0);
}

#[test]
fn blob_writer_hashes_while_writing_and_commits_atomically() {
    let (_dir, store) = common::store();
    let mut w = store.blob_writer().unwrap();
    w.write_all(b"part one, ").unwrap();
    w.write_all(b"part two").unwrap();
    // Before commit the blob is not visible.
    let expected = Digest::of_bytes(b"part one, part two");
    assert!(!store.has_blob(&expected));
    let (d, size) = w.commit().unwrap();
    assert_eq!(d, expected);
    assert_eq!(size, 18);
    assert_eq!(store.read_blob(&d).unwrap(), b"part one, part two");

    // A second writer of the same content dedups onto the first file.
    let mut w = store.blob_writer().unwrap();
    w.write_all(b"part one, part two").unwrap();
    assert_eq!(w.commit().unwrap().0, expected);
    assert_eq!(std::fs::read_dir(store.tmp_dir()).unwrap().count(), 0);
}

#[test]
fn dropped_blob_writer_leaves_nothing() {
    let (_dir, store) = common::store();
    let mut w = store.blob_writer().unwrap();
    w.write_all(b"abandoned").unwrap();
    drop(w);
    assert_eq!(std::fs::read_dir(store.tmp_dir()).unwrap().count(), 0);
    assert!(!store.has_blob(&Digest::of_bytes(b"abandoned")));
}

#[test]
fn missing_blob_error_names_digest_and_path() {
    let (_dir, store) = common::store();
    let d = Digest::of_bytes(b"nope");
    let msg = store.read_blob(&d).unwrap_err().to_string();
    assert!(msg.contains(d.as_str()), "{msg}");
    assert!(msg.contains("blobs/sha256"), "{msg}");
}

#[test]
fn digest_validation() {
    assert!("sha256:abc".parse::<Digest>().is_err());
    assert!(Digest::from_hex(&"0".repeat(64)).is_ok());
    assert!(Digest::from_hex("../../../../etc/passwd").is_err());
    let d = Digest::of_bytes(b"x");
    let json = serde_json::to_string(&d).unwrap();
    assert_eq!(serde_json::from_str::<Digest>(&json).unwrap(), d);
    assert!(serde_json::from_str::<Digest>("\"sha256:zz\"").is_err());
}

#[test]
fn open_creates_layout_and_reopens() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("state");
    let store = Store::open(&root).unwrap();
    for p in [
        "blobs/sha256",
        "snapshots",
        "tmp",
        "cache.db",
        "oci-layout",
        "index.json",
    ] {
        assert!(root.join(p).exists(), "{p} missing");
    }
    let d = store.put_blob(b"persist").unwrap();
    drop(store);
    let store = Store::open(&root).unwrap();
    assert!(store.has_blob(&d));
    let tmp = store.new_tmp_dir("t").unwrap();
    let path = tmp.path().to_path_buf();
    assert!(path.starts_with(store.tmp_dir()) && path.is_dir());
    drop(tmp);
    assert!(!path.exists());
    let tmp = store.new_tmp_dir("t").unwrap();
    let kept = tmp.keep();
    assert!(kept.is_dir());
}

#[test]
fn default_root_honours_env() {
    // Only reads the variable; other tests do not depend on it.
    let root = Store::default_root();
    match std::env::var_os("HOIST_ROOT") {
        Some(v) if !v.is_empty() => assert_eq!(root, std::path::PathBuf::from(v)),
        _ => assert_eq!(root, std::path::PathBuf::from("/var/lib/hoist")),
    }
}
