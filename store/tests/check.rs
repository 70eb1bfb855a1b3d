//! `Store::check`: each kind of damage is found by a check, and removed by a repair; live work is left alone.
mod common;

use std::fs;
use std::path::Path;

use common::{put_layer, LayerTar};
use hoist_store::{CacheRecord, CheckOptions, CheckReport, Digest, Outcome, Store};

const CHECK: CheckOptions = CheckOptions { repair: false };
const REPAIR: CheckOptions = CheckOptions { repair: true };

fn layer(store: &Store, name: &str) -> Digest {
    let mut t = LayerTar::new();
    t.file(name, 0o644, name.as_bytes());
    put_layer(store, &t.finish())
}

fn record(key: &str, layer: Option<Digest>) -> CacheRecord {
    CacheRecord {
        key: key.into(),
        parent: None,
        description: format!("RUN {key}"),
        layer,
        payload: "{}".into(),
        size: 0,
        created: 0,
        last_used: 0,
        used_count: 0,
    }
}

/// A store with an image of two layers (tagged `img:1`), a cache record for each layer, and their snapshots.
fn populated() -> (tempfile::TempDir, Store, Vec<Digest>) {
    let (dir, store) = common::store();
    let layers = vec![layer(&store, "base"), layer(&store, "top")];
    for (i, l) in layers.iter().enumerate() {
        store.ensure_snapshot(l).unwrap();
        store
            .cache_insert(&record(&format!("k{i}"), Some(l.clone())))
            .unwrap();
    }
    store.sync_snapshots().unwrap();
    let config = oci_spec::image::ImageConfigurationBuilder::default()
        .rootfs(
            oci_spec::image::RootFsBuilder::default()
                .typ("layers")
                .diff_ids(layers.iter().map(|l| l.to_string()).collect::<Vec<_>>())
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    let image = store.write_image(&config).unwrap();
    store.tag("img:1", &image).unwrap();
    (dir, store, layers)
}

fn db(root: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open(root.join("cache.db")).unwrap()
}

fn subjects(report: &CheckReport) -> Vec<String> {
    report.problems.iter().map(|p| p.to_string()).collect()
}

/// Check finds exactly problems whose text contains each of `expected`; repair removes them all; a check
/// afterwards is clean.
fn found_then_repaired(store: &Store, expected: &[&str]) {
    let report = store.check(CHECK).unwrap();
    let texts = subjects(&report);
    assert_eq!(texts.len(), expected.len(), "{texts:#?}");
    for want in expected {
        assert!(
            texts.iter().any(|t| t.contains(want)),
            "no {want:?} in {texts:#?}"
        );
    }
    assert!(!report.is_clean());
    let repaired = store.check(REPAIR).unwrap();
    assert_eq!(
        repaired.problems.len(),
        expected.len(),
        "{:#?}",
        subjects(&repaired)
    );
    for p in &repaired.problems {
        assert!(matches!(p.outcome, Outcome::Repaired(_)), "{p}");
    }
    assert!(repaired.is_clean());
    let after = store.check(CHECK).unwrap();
    assert!(after.problems.is_empty(), "{:#?}", subjects(&after));
}

#[test]
fn a_sound_store_is_clean_and_counted() {
    let (_d, store, _) = populated();
    let report = store.check(CHECK).unwrap();
    assert!(report.problems.is_empty(), "{:#?}", subjects(&report));
    // 2 layers + config + manifest.
    assert_eq!(report.blobs, 4);
    assert_eq!(
        (report.snapshots, report.images, report.cache_records),
        (2, 1, 2)
    );
    assert!(report.blob_bytes > 0);
}

#[test]
fn a_corrupt_blob_and_what_needs_it_are_removed() {
    let (_d, store, layers) = populated();
    let top = &layers[1];
    let mut bytes = fs::read(store.blob_path(top)).unwrap();
    bytes[600] ^= 0xff;
    fs::write(store.blob_path(top), &bytes).unwrap();
    found_then_repaired(
        &store,
        &[
            &format!("blob {top} content does not match its name"),
            "image img:1",
            "cache record k1",
        ],
    );
    assert!(!store.has_blob(top));
    assert!(store.resolve("img:1").unwrap().is_none());
    let keys: Vec<String> = store
        .cache_records()
        .unwrap()
        .into_iter()
        .map(|r| r.key)
        .collect();
    assert_eq!(keys, vec!["k0"]);
    // index.json was rewritten without the image.
    let index = fs::read_to_string(store.root().join("index.json")).unwrap();
    assert!(!index.contains("img:1"), "{index}");
}

#[test]
fn a_snapshot_without_its_row_is_half_unpacked() {
    let (_d, store, layers) = populated();
    let path = store.snapshot_path(&layers[0]).unwrap().unwrap();
    db(store.root())
        .execute(
            "DELETE FROM snapshots WHERE diff_id = ?1",
            [layers[0].as_str()],
        )
        .unwrap();
    found_then_repaired(&store, &["is half-unpacked"]);
    assert!(!path.exists());
    // It is unpacked again from its blob when needed.
    let again = store.ensure_snapshot(&layers[0]).unwrap();
    assert_eq!(fs::read(again.join("base")).unwrap(), b"base");
}

#[test]
fn a_snapshot_unsynced_in_an_earlier_boot_is_removed() {
    let (_d, store, layers) = populated();
    let path = store.snapshot_path(&layers[1]).unwrap().unwrap();
    db(store.root())
        .execute(
            "UPDATE snapshots SET unsynced_boot = 'an-earlier-boot' WHERE diff_id = ?1",
            [layers[1].as_str()],
        )
        .unwrap();
    found_then_repaired(&store, &["was never synced"]);
    assert!(!path.exists());
}

#[test]
fn rows_pointing_at_nothing_are_removed() {
    let (_d, store, _) = populated();
    let nothing = Digest::of_bytes(b"nothing");
    store
        .cache_insert(&record("dangling", Some(nothing.clone())))
        .unwrap();
    let conn = db(store.root());
    conn.pragma_update(None, "foreign_keys", "OFF").unwrap();
    conn.execute(
        "INSERT INTO snapshots (diff_id, size, created) VALUES (?1, 0, 0)",
        [nothing.as_str()],
    )
    .unwrap();
    // A tag whose image row is gone (as an index written without foreign keys could have).
    conn.execute(
        "INSERT INTO tags (reference, image_id) VALUES ('ghost:1', ?1)",
        [nothing.as_str()],
    )
    .unwrap();
    conn.execute(
        "INSERT INTO compressed_layers (diff_id, algorithm, digest, size, created) VALUES (?1, 'gzip', ?1, 1, 0)",
        [nothing.as_str()],
    )
    .unwrap();
    found_then_repaired(
        &store,
        &[
            "cache record dangling",
            "has a row in the index but no directory",
            "tag ghost:1",
            "gzip copy of layer",
        ],
    );
    assert!(store.resolve("img:1").unwrap().is_some());
}

#[test]
fn an_image_without_its_layer_blob_is_removed() {
    let (_d, store, layers) = populated();
    fs::remove_file(store.blob_path(&layers[0])).unwrap();
    found_then_repaired(&store, &["image img:1", "cache record k0"]);
    assert!(store.resolve("img:1").unwrap().is_none());
}

#[test]
fn temp_entries_of_dead_processes_go_live_ones_stay() {
    let (_d, store, _) = populated();
    let tmp = store.tmp_dir();
    // Entries are `PREFIX-PID_RANDOM-RANDOM`; their owner holds `owners/PID_RANDOM.lock` while it lives.
    let dead = tmp.join("step-2147483646_0badf00d-0000000000000000");
    let dead_step_state = tmp.join("run-2147483646_0badf00d-0000000000000001");
    fs::write(
        tmp.with_file_name("owners")
            .join("2147483646_0badf00d.lock"),
        b"",
    )
    .unwrap();
    let mine_dir = store.new_tmp_dir("step").unwrap();
    let mine = mine_dir.path().to_path_buf();
    let unknown = tmp.join("compress-gzip-0123.lock");
    let held = store.step_lock("sha256:0123").unwrap();
    let held_path = tmp.join("steplock-sha256-0123.lock");
    fs::create_dir_all(dead.join("u/deep")).unwrap();
    fs::create_dir_all(dead_step_state.join("hoist-2147483646-0-00000000")).unwrap();
    fs::create_dir_all(mine.join("u")).unwrap();
    fs::write(&unknown, b"").unwrap();
    // A mount left inside the dead entry (a killed build's overlay).
    let mounted = dead.join("m");
    fs::create_dir(&mounted).unwrap();
    nix::mount::mount(
        Some("tmpfs"),
        &mounted,
        Some("tmpfs"),
        nix::mount::MsFlags::empty(),
        None::<&str>,
    )
    .unwrap();
    found_then_repaired(
        &store,
        &[
            "step-2147483646_0badf00d-0000000000000000 belongs to process 2147483646, which is gone (1 mount inside)",
            "run-2147483646_0badf00d-0000000000000001 belongs to process 2147483646",
        ],
    );
    assert!(!dead.exists() && !dead_step_state.exists());
    assert!(mine.exists());
    // A work lock nobody holds (a killed hoist's) goes with the repair; one a live build holds stays.
    assert!(!unknown.exists());
    assert!(held_path.exists());
    drop(held);
    let mountinfo = fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mountinfo.contains(mounted.to_str().unwrap()));
}

#[test]
fn a_stray_file_among_blobs_is_removed() {
    let (_d, store, _) = populated();
    let stray = store.root().join("blobs/sha256/not-a-digest");
    fs::write(&stray, b"x").unwrap();
    found_then_repaired(&store, &["is not named by a sha256 digest"]);
    assert!(!stray.exists());
}

#[test]
fn a_damaged_index_is_reported_and_not_repaired() {
    let (_d, store, _) = populated();
    let root = store.root().to_path_buf();
    drop(store);
    // Fold the WAL into the file, then overwrite every page but the first (the header and schema root).
    {
        let conn = db(&root);
        conn.pragma_update(None, "journal_mode", "DELETE").unwrap();
    }
    let path = root.join("cache.db");
    let mut bytes = fs::read(&path).unwrap();
    let page = 4096;
    assert!(bytes.len() > page * 2, "{}", bytes.len());
    for b in &mut bytes[page * 2..] {
        *b = 0x5a;
    }
    fs::write(&path, &bytes).unwrap();
    let store = Store::open(&root).unwrap();
    let report = store.check(REPAIR).unwrap();
    let texts = subjects(&report);
    assert!(
        texts
            .iter()
            .any(|t| t.contains("cache.db is damaged") && t.contains("NOT REPAIRED")),
        "{texts:#?}"
    );
    assert!(!report.is_clean());
}

#[test]
fn a_snapshot_being_moved_into_place_is_not_an_orphan() {
    let (_d, store, _) = populated();
    // Another process's view: a connection of its own (opening a store takes the write lock, so open it first).
    let other = Store::open(store.root()).unwrap();
    // What `adopt_snapshot` in another process does: insert the row and rename the directory into place inside
    // one write transaction, then commit.
    let mut conn = db(store.root());
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .unwrap();
    tx.execute(
        "INSERT INTO snapshots (diff_id, size, created) VALUES (?1, 0, 0)",
        [Digest::of_bytes(b"in flight").as_str()],
    )
    .unwrap();
    let id = tx.last_insert_rowid();
    fs::create_dir(store.snapshots_dir().join(id.to_string())).unwrap();
    let checker = std::thread::spawn(move || other.check(CHECK).unwrap());
    std::thread::sleep(std::time::Duration::from_millis(500));
    tx.commit().unwrap();
    let report = checker.join().unwrap();
    assert!(report.problems.is_empty(), "{:#?}", subjects(&report));
    assert_eq!(report.snapshots, 3);
}
