mod common;
#[path = "common/tree.rs"]
mod tree;

use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::Path;

use common::{exists_no_follow, put_layer, LayerTar};
use hoist_store::{unpack_layer, unpack_tar, StoreError, UnpackOptions};

/// Unpacks `tar` (as a layer: these are smaller than `PARALLEL_AFTER_ENTRIES`, so on one thread), and again
/// with worker threads from the first entry: both must end alike, with the same tree (but for the times of
/// directories no entry names, which are when they were made).
fn unpack(tar: &[u8]) -> (tempfile::TempDir, Result<(), StoreError>) {
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("root");
    fs::create_dir(&dest).unwrap();
    let r = unpack_layer(tar, &dest, "test layer");

    let parallel = tempfile::tempdir().unwrap();
    let parallel_dest = parallel.path().join("root");
    fs::create_dir(&parallel_dest).unwrap();
    let options = UnpackOptions {
        parallel_after_entries: 0,
        ..Default::default()
    };
    let parallel_r = unpack_tar(tar, &parallel_dest, "test layer", options);
    match (&r, &parallel_r) {
        (Ok(()), Ok(())) => assert_eq!(
            tree::describe_with(&dest, false),
            tree::describe_with(&parallel_dest, false),
            "one thread, then workers"
        ),
        (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string()),
        _ => panic!("one thread: {r:?}; workers: {parallel_r:?}"),
    }
    (dir, r)
}

fn root(dir: &tempfile::TempDir) -> std::path::PathBuf {
    dir.path().join("root")
}

#[test]
fn keeps_owners_modes_mtimes_links_devices_and_xattrs() {
    let mut t = LayerTar::new();
    t.dir_owned("etc/", 0o755, 0, 0, 1_500_000_000)
        .file_owned(
            "etc/passwd",
            0o644,
            0,
            0,
            1_500_000_001,
            b"root:x:0:0::/root:/bin/sh\n",
        )
        .file_owned("usr/bin/sudo", 0o4755, 0, 0, 1_500_000_002, b"#!suid")
        .dir_owned("tmp", 0o1777, 0, 0, 1_500_000_003)
        .file_owned("home/app/data", 0o600, 1000, 1001, 1_500_000_004, b"secret")
        .symlink("bin", "usr/bin")
        .symlink("abs", "/etc/passwd")
        .hardlink("etc/passwd.link", "etc/passwd")
        .device("dev/null", tar::EntryType::Char, 1, 3)
        .device("dev/sda", tar::EntryType::Block, 8, 0)
        .device("run/fifo", tar::EntryType::Fifo, 0, 0)
        .pax(&[
            ("SCHILY.xattr.user.note", b"hello"),
            ("SCHILY.xattr.trusted.overlay.redirect", b"/x"),
        ])
        .file("etc/noted", 0o640, b"x");
    let (dir, r) = unpack(&t.finish());
    r.unwrap();
    let root = root(&dir);

    let passwd = fs::metadata(root.join("etc/passwd")).unwrap();
    assert_eq!(passwd.mode() & 0o7777, 0o644);
    assert_eq!(passwd.mtime(), 1_500_000_001);
    assert_eq!(
        fs::read(root.join("etc/passwd")).unwrap(),
        b"root:x:0:0::/root:/bin/sh\n"
    );
    assert_eq!(
        fs::metadata(root.join("etc")).unwrap().mtime(),
        1_500_000_000,
        "dir mtime set after children"
    );

    assert_eq!(
        fs::metadata(root.join("usr/bin/sudo")).unwrap().mode() & 0o7777,
        0o4755
    );
    assert_eq!(
        fs::metadata(root.join("tmp")).unwrap().mode() & 0o7777,
        0o1777
    );
    let data = fs::metadata(root.join("home/app/data")).unwrap();
    assert_eq!(
        (data.uid(), data.gid(), data.mode() & 0o7777),
        (1000, 1001, 0o600)
    );
    // Implicit parents are 0755.
    assert_eq!(
        fs::metadata(root.join("home/app")).unwrap().mode() & 0o7777,
        0o755
    );

    assert_eq!(
        fs::read_link(root.join("bin")).unwrap(),
        Path::new("usr/bin")
    );
    assert_eq!(
        fs::read_link(root.join("abs")).unwrap(),
        Path::new("/etc/passwd")
    );
    let link = fs::metadata(root.join("etc/passwd.link")).unwrap();
    assert_eq!(link.ino(), passwd.ino(), "hardlink shares the inode");

    let null = fs::symlink_metadata(root.join("dev/null")).unwrap();
    assert!(null.file_type().is_char_device());
    assert_eq!(null.rdev(), libc::makedev(1, 3));
    assert!(fs::symlink_metadata(root.join("dev/sda"))
        .unwrap()
        .file_type()
        .is_block_device());
    assert!(fs::symlink_metadata(root.join("run/fifo"))
        .unwrap()
        .file_type()
        .is_fifo());

    assert_eq!(
        xattr::get(root.join("etc/noted"), "user.note")
            .unwrap()
            .as_deref(),
        Some(&b"hello"[..])
    );
    assert_eq!(
        xattr::get(root.join("etc/noted"), "trusted.overlay.redirect").unwrap(),
        None
    );
}

#[test]
fn converts_oci_whiteouts_to_overlay_format() {
    let mut t = LayerTar::new();
    t.dir("etc/", 0o755)
        .file("etc/.wh.motd", 0o644, b"")
        .dir("var/cache/", 0o755)
        .file("var/cache/.wh..wh..opq", 0o644, b"")
        .file("var/cache/new", 0o644, b"n")
        .file(".wh..wh.plnk", 0o644, b"");
    let (dir, r) = unpack(&t.finish());
    r.unwrap();
    let root = root(&dir);
    let wh = fs::symlink_metadata(root.join("etc/motd")).unwrap();
    assert!(wh.file_type().is_char_device());
    assert_eq!(wh.rdev(), 0);
    assert!(!exists_no_follow(&root.join("etc/.wh.motd")));
    assert_eq!(
        xattr::get(root.join("var/cache"), "trusted.overlay.opaque")
            .unwrap()
            .as_deref(),
        Some(&b"y"[..])
    );
    assert!(!exists_no_follow(&root.join("var/cache/.wh..wh..opq")));
    assert!(root.join("var/cache/new").is_file());
    assert!(!exists_no_follow(&root.join(".wh..wh.plnk")));
}

#[test]
fn later_entries_replace_earlier_ones() {
    let mut t = LayerTar::new();
    t.file("a", 0o644, b"first")
        .file("a", 0o600, b"second")
        .symlink("b", "x")
        .file("b", 0o644, b"file now");
    let (dir, r) = unpack(&t.finish());
    r.unwrap();
    let root = root(&dir);
    assert_eq!(fs::read(root.join("a")).unwrap(), b"second");
    assert_eq!(fs::metadata(root.join("a")).unwrap().mode() & 0o777, 0o600);
    assert!(fs::symlink_metadata(root.join("b")).unwrap().is_file());
}

/// A directory next to the unpack root that no entry may touch.
fn outside(dir: &tempfile::TempDir) -> std::path::PathBuf {
    let p = dir.path().join("outside");
    fs::create_dir_all(&p).unwrap();
    p
}

#[test]
fn refuses_dotdot_entries() {
    let mut t = LayerTar::new();
    t.file("../escape", 0o644, b"x");
    let (dir, r) = unpack(&t.finish());
    let msg = r.unwrap_err().to_string();
    assert!(msg.contains("..") && msg.contains("test layer"), "{msg}");
    assert!(!dir.path().join("escape").exists());

    let mut t = LayerTar::new();
    t.file("a/../../escape2", 0o644, b"x");
    let (dir, r) = unpack(&t.finish());
    assert!(r.is_err());
    assert!(!dir.path().join("escape2").exists());
}

#[test]
fn absolute_paths_stay_inside() {
    let mut t = LayerTar::new();
    t.file("/abs-file", 0o644, b"x");
    let (dir, r) = unpack(&t.finish());
    r.unwrap();
    assert!(root(&dir).join("abs-file").is_file());
}

#[test]
fn writing_through_a_symlink_stays_inside() {
    let probe = tempfile::tempdir().unwrap();
    let target = probe.path().to_path_buf();

    // An absolute symlink to a real host directory, then a file "through" it: the host is never touched; the
    // link resolves inside the root, where its target is missing, so the entry is refused.
    let mut t = LayerTar::new();
    t.symlink("evil", target.to_str().unwrap())
        .file("evil/pwned", 0o644, b"x");
    let (_dir, r) = unpack(&t.finish());
    let msg = r.unwrap_err().to_string();
    assert!(msg.contains("symlink"), "{msg}");
    assert!(
        !target.join("pwned").exists(),
        "wrote through an absolute symlink to the host"
    );

    // Relative escape through `..` in a symlink target: clamped at the root, as if the root were `/`.
    let mut t = LayerTar::new();
    t.symlink("rel", "../../../../../../..")
        .file("rel/pwned2", 0o644, b"y");
    let (dir, r) = unpack(&t.finish());
    r.unwrap();
    assert!(root(&dir).join("pwned2").is_file());
    assert!(!dir.path().join("pwned2").exists());

    // An absolute symlink whose target exists in the layer resolves inside it.
    let mut t = LayerTar::new();
    t.dir("etc/", 0o755)
        .symlink("conf", "/etc")
        .file("conf/app.conf", 0o644, b"z");
    let (dir, r) = unpack(&t.finish());
    r.unwrap();
    assert_eq!(fs::read(root(&dir).join("etc/app.conf")).unwrap(), b"z");
    assert!(!Path::new("/etc/app.conf").exists());
    let _ = outside(&dir);
}

#[test]
fn hardlinks_out_of_the_tree_are_contained() {
    let dir0 = tempfile::tempdir().unwrap();
    let secret = dir0.path().join("secret");
    fs::write(&secret, b"host secret").unwrap();
    let mut t = LayerTar::new();
    t.hardlink("link1", "../secret");
    let (dir, r) = unpack(&t.finish());
    assert!(r.is_err(), "hardlink with .. must be refused");
    assert!(!exists_no_follow(&root(&dir).join("link1")));

    // Absolute target: resolved inside the root, where it does not exist.
    let mut t = LayerTar::new();
    t.hardlink("link2", secret.to_str().unwrap());
    let (dir, r) = unpack(&t.finish());
    assert!(r.is_err());
    assert!(!exists_no_follow(&root(&dir).join("link2")));

    // Through a symlink pointing out: still resolved inside.
    let mut t = LayerTar::new();
    t.symlink("out", dir0.path().to_str().unwrap())
        .hardlink("link3", "out/secret");
    let (dir, r) = unpack(&t.finish());
    assert!(r.is_err());
    assert_eq!(
        fs::metadata(&secret).unwrap().nlink(),
        1,
        "host file gained a link"
    );
    let _ = dir;
}

#[test]
fn ensure_snapshot_unpacks_once_and_reuses() {
    let (_d, store) = common::store();
    let mut t = LayerTar::new();
    t.dir("app/", 0o755)
        .file("app/run.sh", 0o755, b"#!/bin/sh\n");
    let diff = put_layer(&store, &t.finish());
    assert_eq!(store.snapshot_path(&diff).unwrap(), None);
    let p = store.ensure_snapshot(&diff).unwrap();
    assert!(p.starts_with(store.snapshots_dir()));
    let name = p.file_name().unwrap().to_str().unwrap().to_string();
    assert!(
        name.parse::<u64>().is_ok(),
        "snapshot ids are small integers: {name}"
    );
    assert_eq!(
        fs::metadata(p.join("app/run.sh"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o755
    );
    assert_eq!(store.ensure_snapshot(&diff).unwrap(), p);
    assert_eq!(store.snapshot_path(&diff).unwrap(), Some(p.clone()));
    assert_eq!(
        store.snapshot_id(&diff).unwrap(),
        Some(name.parse().unwrap())
    );
    assert_eq!(fs::read_dir(store.tmp_dir()).unwrap().count(), 0);
}

#[test]
fn bad_layer_leaves_no_snapshot() {
    let (_d, store) = common::store();
    let mut t = LayerTar::new();
    t.file("ok", 0o644, b"").file("../bad", 0o644, b"");
    let diff = put_layer(&store, &t.finish());
    assert!(store.ensure_snapshot(&diff).is_err());
    assert_eq!(store.snapshot_path(&diff).unwrap(), None);
    assert_eq!(fs::read_dir(store.tmp_dir()).unwrap().count(), 0);
    assert_eq!(fs::read_dir(store.snapshots_dir()).unwrap().count(), 0);
}

#[test]
fn adopt_snapshot_keeps_the_first() {
    let (_d, store) = common::store();
    let diff = hoist_store::Digest::of_bytes(b"pretend layer");
    let a = store.new_tmp_dir("upper").unwrap();
    fs::write(a.path().join("first"), b"1").unwrap();
    let pa = store.adopt_snapshot(&diff, a.path()).unwrap();
    let _ = a.keep();
    let b = store.new_tmp_dir("upper").unwrap();
    fs::write(b.path().join("second"), b"2").unwrap();
    let pb = store.adopt_snapshot(&diff, b.path()).unwrap();
    assert_eq!(pa, pb);
    assert!(pa.join("first").exists() && !pa.join("second").exists());
    assert!(!b.path().exists(), "the duplicate was deleted");
    assert!(store.remove_snapshot(&diff).unwrap());
    assert!(!pa.exists());
    assert_eq!(store.snapshot_path(&diff).unwrap(), None);
}

/// The boot a snapshot row says it is still unsynced in (`None`: on disk for good).
fn unsynced_boot(root: &Path, diff: &hoist_store::Digest) -> Option<String> {
    let db = rusqlite::Connection::open(root.join("cache.db")).unwrap();
    db.query_row(
        "SELECT unsynced_boot FROM snapshots WHERE diff_id = ?1",
        [diff.as_str()],
        |r| r.get(0),
    )
    .unwrap()
}

#[test]
fn a_snapshot_left_unsynced_by_an_earlier_boot_is_unpacked_again() {
    let (_dir, store) = common::store();
    let root = store.root().to_path_buf();
    let mut t = LayerTar::new();
    t.file("etc/conf", 0o644, b"right\n");
    let diff = put_layer(&store, &t.finish());
    let p = store.ensure_snapshot(&diff).unwrap();
    let this_boot = fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap();
    assert_eq!(
        unsynced_boot(&root, &diff).as_deref(),
        Some(this_boot.trim()),
        "not synced when made"
    );
    // What a power cut could leave of unsynced writes, and a row from before the reboot.
    fs::write(p.join("etc/conf"), "").unwrap();
    drop(store);
    let db = rusqlite::Connection::open(root.join("cache.db")).unwrap();
    db.execute("UPDATE snapshots SET unsynced_boot = 'an-earlier-boot'", [])
        .unwrap();
    drop(db);

    let store = hoist_store::Store::open(&root).unwrap();
    assert_eq!(store.snapshot_path(&diff).unwrap(), None, "not trusted");
    assert!(!p.exists(), "its directory is gone");
    let again = store.ensure_snapshot(&diff).unwrap();
    assert_eq!(fs::read(again.join("etc/conf")).unwrap(), b"right\n");

    store.sync_snapshots().unwrap();
    assert_eq!(unsynced_boot(&root, &diff), None, "synced for good");
    drop(store);
    let db = rusqlite::Connection::open(root.join("cache.db")).unwrap();
    db.execute("UPDATE snapshots SET unsynced_boot = NULL", [])
        .unwrap();
    drop(db);
    let store = hoist_store::Store::open(&root).unwrap();
    assert_eq!(store.snapshot_path(&diff).unwrap(), Some(again));
}

/// `apply_layer` (a build's `--output type=local`): whiteouts remove what lower layers put there, an opaque
/// directory loses its lower contents but keeps what its own layer puts in it, wherever the marker comes in
/// the tar; no whiteout is left, and a whiteout through a symlink stays inside the destination.
#[test]
fn apply_layer_applies_whiteouts_and_opaque_directories() {
    let dest = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("victim"), "x").unwrap();
    let mut lower = LayerTar::new();
    lower
        .dir("d", 0o755)
        .file("d/a", 0o644, b"a")
        .dir("d/sub", 0o755)
        .file("d/sub/b", 0o644, b"b")
        .file("x", 0o644, b"x")
        .file("keep", 0o644, b"k")
        .symlink("out", outside.path().to_str().unwrap());
    let mut upper = LayerTar::new();
    upper
        .file("d/c", 0o600, b"c")
        .file("d/.wh..wh..opq", 0o644, b"")
        .file(".wh.x", 0o644, b"")
        .file("out/.wh.victim", 0o644, b"")
        .file("new", 0o644, b"n");
    for layer in [lower.finish(), upper.finish()] {
        hoist_store::apply_layer(layer.as_slice(), dest.path(), "test").unwrap();
    }
    let d = dest.path().join("d");
    let mut names: Vec<String> = std::fs::read_dir(&d)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["c"],
        "opaque: lower entries gone, this layer's kept"
    );
    assert!(!exists_no_follow(&dest.path().join("x")));
    assert!(!exists_no_follow(&dest.path().join(".wh.x")));
    assert_eq!(std::fs::read(dest.path().join("keep")).unwrap(), b"k");
    assert_eq!(std::fs::read(dest.path().join("new")).unwrap(), b"n");
    assert!(
        outside.path().join("victim").exists(),
        "nothing outside the destination removed"
    );
}
