mod common;

use std::path::Path;
use std::sync::Arc;

use common::LayerTar;
use hoist_store::{CacheRecord, Digest, Store};

fn layer_tar() -> Vec<u8> {
    let mut t = LayerTar::new();
    t.dir("shared/", 0o755)
        .file("shared/file", 0o644, b"same content everywhere");
    t.finish()
}

/// What each writer (thread or process) does to the store.
fn writer_work(store: &Store, who: &str) {
    let diff = store.put_blob(&layer_tar()).unwrap();
    let snap = store.ensure_snapshot(&diff).unwrap();
    assert!(snap.join("shared/file").is_file());
    for i in 0..20 {
        let d = store
            .put_blob(format!("{who} blob {i}").as_bytes())
            .unwrap();
        assert!(store.has_blob(&d));
        store.put_blob(b"common blob").unwrap();
        store
            .cache_insert(&CacheRecord {
                key: format!("{who}-{i}"),
                parent: None,
                description: who.to_string(),
                layer: Some(diff.clone()),
                payload: "{}".into(),
                size: 1,
                created: i,
                last_used: i,
                used_count: 0,
            })
            .unwrap();
        store.cache_lookup("shared-key").unwrap();
        // Each writer adopts its own copy of one snapshot: exactly one wins, the rest are deleted.
        let upper = store.new_tmp_dir("upper").unwrap();
        std::fs::write(upper.path().join("x"), who).unwrap();
        let adopted = store
            .adopt_snapshot(&Digest::of_bytes(b"contended"), upper.path())
            .unwrap();
        let _ = upper.keep();
        assert!(adopted.join("x").is_file());
    }
    let config = oci_spec::image::ImageConfigurationBuilder::default()
        .rootfs(
            oci_spec::image::RootFsBuilder::default()
                .typ("layers")
                .diff_ids(vec![diff.to_string()])
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    let img = store.write_image(&config).unwrap();
    store.tag(&format!("img-{who}"), &img).unwrap();
    store.tag("contended", &img).unwrap();
}

fn check(store: &Store, writers: &[String]) {
    let records = store.cache_records().unwrap();
    assert_eq!(records.len(), writers.len() * 20);
    for w in writers {
        assert!(store.resolve(&format!("img-{w}")).unwrap().is_some());
    }
    assert!(store.resolve("contended").unwrap().is_some());
    // One snapshot per diff id, no strays.
    let snaps = store.list_snapshots().unwrap();
    assert_eq!(snaps.len(), 2, "{snaps:?}");
    assert_eq!(std::fs::read_dir(store.snapshots_dir()).unwrap().count(), 2);
    assert_eq!(
        std::fs::read_dir(store.tmp_dir()).unwrap().count(),
        0,
        "staging left behind"
    );
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(store.root().join("index.json")).unwrap()).unwrap();
    assert_eq!(
        index["manifests"].as_array().unwrap().len(),
        writers.len() + 1
    );
}

#[test]
fn threads_share_one_store() {
    let (_d, store) = common::store();
    let store = Arc::new(store);
    let writers: Vec<String> = (0..6).map(|i| format!("t{i}")).collect();
    let handles: Vec<_> = writers
        .iter()
        .cloned()
        .map(|w| {
            let store = Arc::clone(&store);
            std::thread::spawn(move || writer_work(&store, &w))
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    check(&store, &writers);
}

#[test]
fn threads_with_separate_stores_on_one_root() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let writers: Vec<String> = (0..4).map(|i| format!("s{i}")).collect();
    let handles: Vec<_> = writers
        .iter()
        .cloned()
        .map(|w| {
            let root = root.clone();
            std::thread::spawn(move || writer_work(&Store::open(&root).unwrap(), &w))
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    check(&Store::open(&root).unwrap(), &writers);
}

/// Run by `processes_on_one_root` in child processes; does nothing when run directly.
#[test]
#[ignore]
fn child_writer() {
    let (Some(root), Some(who)) = (
        std::env::var_os("HOIST_STORE_TEST_ROOT"),
        std::env::var("HOIST_STORE_TEST_WHO").ok(),
    ) else {
        return;
    };
    writer_work(&Store::open(Path::new(&root)).unwrap(), &who);
}

#[test]
fn processes_on_one_root() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let exe = std::env::current_exe().unwrap();
    let writers: Vec<String> = (0..3).map(|i| format!("p{i}")).collect();
    let children: Vec<_> = writers
        .iter()
        .map(|w| {
            std::process::Command::new(&exe)
                .args(["--exact", "child_writer", "--ignored", "--test-threads=1"])
                .env("HOIST_STORE_TEST_ROOT", &root)
                .env("HOIST_STORE_TEST_WHO", w)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "child failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("1 passed"));
    }
    check(&Store::open(&root).unwrap(), &writers);
}

#[test]
fn lock_is_exclusive_across_opens() {
    let (_d, store) = common::store();
    let other = Store::open(store.root()).unwrap();
    let held = store.lock().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let t = std::thread::spawn(move || {
        let _l = other.lock().unwrap();
        tx.send(()).unwrap();
    });
    assert!(
        rx.recv_timeout(std::time::Duration::from_millis(300))
            .is_err(),
        "second lock got in"
    );
    drop(held);
    rx.recv_timeout(std::time::Duration::from_secs(10)).unwrap();
    t.join().unwrap();
    let _a = store.lock_shared().unwrap();
    let _b = store.lock_shared().unwrap();
}

/// Two stores on one root (two processes' view) running the step with one cache key: the second waits until the
/// first is done, and no lock file is left behind.
#[test]
fn a_step_lock_makes_other_stores_wait_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let first = Store::open(&root).unwrap();
    let key = "sha256:00ff";
    let held = first.step_lock(key).unwrap();
    let inside = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let waiter = {
        let (root, inside) = (root.clone(), Arc::clone(&inside));
        std::thread::spawn(move || {
            let second = Store::open(&root).unwrap();
            let _lock = second.step_lock(key).unwrap();
            assert!(
                !inside.load(std::sync::atomic::Ordering::SeqCst),
                "took the lock while the first store held it"
            );
        })
    };
    std::thread::sleep(std::time::Duration::from_millis(100));
    inside.store(false, std::sync::atomic::Ordering::SeqCst);
    drop(held);
    waiter.join().unwrap();
    // Another key is independent.
    let _other = first.step_lock("sha256:0011").unwrap();
    drop(_other);
    let left: Vec<_> = std::fs::read_dir(first.tmp_dir())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".lock"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}
