mod common;

use std::path::Path;
use std::time::Duration;

use hoist_store::{Digest, Store};

/// Writes to the store in a loop until killed (run by `killed_writer_leaves_a_valid_store`).
#[test]
#[ignore]
fn child_busy_writer() {
    let Some(root) = std::env::var_os("HOIST_STORE_CRASH_ROOT") else {
        return;
    };
    let store = Store::open(Path::new(&root)).unwrap();
    for i in 0u64.. {
        let mut t = common::LayerTar::new();
        t.file("f", 0o644, &vec![(i % 251) as u8; 64 * 1024])
            .file(&format!("n{i}"), 0o644, b"x");
        let diff = store.put_blob(&t.finish()).unwrap();
        store.ensure_snapshot(&diff).unwrap();
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
        store.tag(&format!("img:{}", i % 7), &img).unwrap();
    }
}

fn check_valid(store: &Store) {
    // Every blob's name is its content's digest: no half-written blob was ever renamed into place.
    for entry in std::fs::read_dir(store.root().join("blobs/sha256")).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().to_string_lossy().into_owned();
        let digest = Digest::from_hex(&name).unwrap();
        assert_eq!(
            Digest::of_bytes(&std::fs::read(entry.path()).unwrap()),
            digest
        );
    }
    // Every snapshot row has its directory; every tag resolves to a readable image.
    for (_, diff, _) in store.list_snapshots().unwrap() {
        assert!(
            store.snapshot_path(&diff).unwrap().is_some(),
            "snapshot {diff} lost its directory"
        );
    }
    for (reference, image) in store.list_images().unwrap() {
        assert_eq!(
            store.resolve(image.id.as_ref()).unwrap().unwrap().id,
            image.id,
            "{reference}"
        );
    }
    serde_json::from_slice::<serde_json::Value>(
        &std::fs::read(store.root().join("index.json")).unwrap(),
    )
    .expect("index.json is whole");
}

#[test]
fn killed_writer_leaves_a_valid_store() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    Store::open(&root).unwrap();
    let exe = std::env::current_exe().unwrap();
    for delay_ms in [150u64, 400, 900] {
        let mut child = std::process::Command::new(&exe)
            .args([
                "--exact",
                "child_busy_writer",
                "--ignored",
                "--test-threads=1",
            ])
            .env("HOIST_STORE_CRASH_ROOT", &root)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let store = Store::open(&root).unwrap();
        check_valid(&store);
        // And it keeps working: a new snapshot can be made after whatever the killed process left behind.
        let mut t = common::LayerTar::new();
        t.file("after", 0o644, format!("{delay_ms}").as_bytes());
        let diff = store.put_blob(&t.finish()).unwrap();
        assert!(store
            .ensure_snapshot(&diff)
            .unwrap()
            .join("after")
            .is_file());
    }
}

#[test]
fn orphaned_snapshot_directory_is_replaced() {
    let (_d, store) = common::store();
    // What a hoist killed between rename and commit leaves: a directory with the next id and no row.
    std::fs::create_dir(store.snapshots_dir().join("1")).unwrap();
    std::fs::write(store.snapshots_dir().join("1/stale"), b"old").unwrap();
    let mut t = common::LayerTar::new();
    t.file("fresh", 0o644, b"new");
    let diff = store.put_blob(&t.finish()).unwrap();
    let path = store.ensure_snapshot(&diff).unwrap();
    assert!(path.join("fresh").is_file());
    assert!(!path.join("stale").exists());
}

#[test]
fn stale_staging_entries_are_removed_on_open() {
    let (_d, store) = common::store();
    let old = store.tmp_dir().join("blob-1-dead");
    let fresh = store.tmp_dir().join("blob-2-alive");
    std::fs::write(&old, b"x").unwrap();
    std::fs::write(&fresh, b"y").unwrap();
    let two_days_ago = std::time::SystemTime::now() - Duration::from_secs(2 * 24 * 3600);
    std::fs::File::options()
        .write(true)
        .open(&old)
        .unwrap()
        .set_modified(two_days_ago)
        .unwrap();
    let root = store.root().to_path_buf();
    drop(store);
    Store::open(&root).unwrap();
    assert!(!old.exists());
    assert!(
        fresh.exists(),
        "a fresh staging file may belong to a running hoist"
    );
}
