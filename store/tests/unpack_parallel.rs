//! Unpacking a layer with worker threads (issue 17) gives exactly the tree one thread gives: same nodes,
//! contents, owners, modes, xattrs, nanosecond mtimes (directories' too), hardlinks, whiteouts; and the same
//! refusals of entries that would escape the destination.
mod common;
#[path = "common/tree.rs"]
mod tree;

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use common::{exists_no_follow, LayerTar};
use hoist_store::{unpack_tar, StoreError, UnpackOptions};

/// Unpack `tar` into a fresh `root` beside an `outside` dir, with worker threads from the entry
/// `parallel_after_entries` on (`usize::MAX`: one thread).
fn unpack_with(
    tar: &[u8],
    parallel_after_entries: usize,
) -> (tempfile::TempDir, Result<(), StoreError>) {
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("root");
    fs::create_dir(&dest).unwrap();
    fs::create_dir(dir.path().join("outside")).unwrap();
    let options = UnpackOptions {
        parallel_after_entries,
        ..Default::default()
    };
    let r = unpack_tar(tar, &dest, "test layer", options);
    (dir, r)
}

/// Unpacks `tar` on one thread and with workers from the first entry on; both must succeed or fail alike,
/// and succeed with the same tree. Returns the parallel unpack's directory and result.
fn unpack_both_ways(tar: &[u8]) -> (tempfile::TempDir, Result<(), StoreError>) {
    let (one_dir, one) = unpack_with(tar, usize::MAX);
    let (par_dir, par) = unpack_with(tar, 0);
    match (&one, &par) {
        (Ok(()), Ok(())) => same_trees(
            &one_dir.path().join("root"),
            &par_dir.path().join("root"),
            "parallel",
        ),
        (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string()),
        _ => panic!("one thread: {one:?}; parallel: {par:?}"),
    }
    for dir in [&one_dir, &par_dir] {
        let outside: Vec<PathBuf> = fs::read_dir(dir.path().join("outside"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert!(outside.is_empty(), "wrote outside the root: {outside:?}");
    }
    (par_dir, par)
}

/// Compares line by line: a failure shows the first node that differs, not two whole trees.
fn same_trees(expected: &Path, got: &Path, what: &str) {
    let expected = tree::describe(expected);
    let got = tree::describe(got);
    for (e, g) in expected.iter().zip(&got) {
        assert_eq!(e, g, "{what} unpack differs from one thread");
    }
    assert_eq!(expected.len(), got.len(), "{what}: node count");
}

fn content(n: usize) -> Vec<u8> {
    (0..(n * 7919) % 20_000)
        .map(|i| (i * 31 + n) as u8)
        .collect()
}

/// Many directories of many files, with everything a layer can hold mixed in.
fn big_layer() -> Vec<u8> {
    let mut t = LayerTar::new();
    t.dir_owned("./", 0o755, 0, 0, 1_500_000_000);
    for d in 0..24 {
        t.dir_owned(&format!("d{d:02}/"), 0o755, d, d, 1_500_000_100 + d);
        for f in 0..60 {
            let n = (d * 100 + f) as usize;
            t.file_owned(
                &format!("d{d:02}/f{f:03}"),
                [0o644, 0o600, 0o755, 0o4755, 0o2750, 0o000][n % 6],
                n as u64 % 3,
                1000 + n as u64 % 5,
                1_600_000_000 + n as u64,
                &content(n),
            );
        }
    }
    // A directory nobody may enter, which must still get its contents; and a sticky one.
    t.dir_owned("locked/", 0o000, 0, 0, 1_500_000_200)
        .file("locked/inside", 0o644, b"in a 0000 directory")
        .dir("locked/sub/", 0o000)
        .file("locked/sub/deeper", 0o640, b"deeper")
        .dir_owned("tmp/", 0o1777, 0, 0, 1_500_000_201);
    // Hardlinks: right after the target, to a file in another directory, to a replaced file.
    t.dir("links/", 0o755)
        .file("links/target", 0o644, b"linked")
        .hardlink("links/same-dir", "links/target")
        .hardlink("links/other-dir", "d03/f007")
        .hardlink("d20/to-d01", "d01/f001")
        .hardlink("links/abs", "/d02/f002");
    // Symlinks: relative, absolute, to a directory written through, replaced by a file later.
    t.dir("etc/", 0o755)
        .symlink("conf", "/etc")
        .file("conf/app.conf", 0o644, b"through an absolute symlink")
        .symlink("rel", "d04/f004")
        .symlink("up", "../../..")
        .file("up/clamped", 0o644, b"clamped at the root")
        .symlink("d05/becomes-file", "nowhere")
        .file("d05/becomes-file", 0o644, b"now a file");
    // Later entries replace earlier ones: a file, a file by a directory, a directory of files by a file,
    // a file by a symlink and by a hardlink.
    t.file("d06/f006", 0o600, b"second version")
        .dir("d07/f007/", 0o711)
        .file("d07/f007/inner", 0o644, b"inner")
        .file("d08", 0o644, b"a file where a directory of 60 files was")
        .symlink("d09/f009", "d09/f010")
        .hardlink("d09/f011", "d09/f012");
    // Whiteouts: of a file written just before, of a directory, opaque.
    t.file("d10/.wh.f010", 0o644, b"")
        .file(".wh.d11", 0o644, b"")
        .file("d12/.wh..wh..opq", 0o644, b"")
        .file("d12/after-opaque", 0o644, b"kept");
    // Long names (PAX path and linkpath), big owners, nanosecond times, xattrs on files and directories.
    let long_dir = format!("long/{}/", "x".repeat(120));
    let long_file = format!("{long_dir}{}", "y".repeat(150));
    t.dir("long/", 0o755)
        .pax(&[("path", long_dir.as_bytes())])
        .dir("placeholder-dir/", 0o750)
        .pax(&[
            ("path", long_file.as_bytes()),
            ("uid", b"100000"),
            ("gid", b"200000"),
        ])
        .file("placeholder", 0o640, b"long name")
        .pax(&[("linkpath", long_file.as_bytes())])
        .hardlink("long-link", "placeholder")
        .pax(&[
            ("mtime", b"1700000000.123456789"),
            ("SCHILY.xattr.user.note", b"file note"),
        ])
        .file("d13/noted", 0o644, b"x")
        .pax(&[
            ("mtime", b"1700000001.987654321"),
            ("SCHILY.xattr.user.dir", b"dir note"),
        ])
        .dir("d14/", 0o755);
    // Devices, and a file bigger than a worker takes (the reader writes it).
    t.dir("dev/", 0o755)
        .device("dev/null", tar::EntryType::Char, 1, 3)
        .device("dev/fifo", tar::EntryType::Fifo, 0, 0)
        .dir("big/", 0o755)
        .file("big/blob", 0o644, &vec![7u8; 3 << 20]);
    t.finish()
}

#[test]
fn a_parallel_unpack_gives_the_tree_of_one_thread() {
    let tar = big_layer();
    let (dir, r) = unpack_both_ways(&tar);
    r.unwrap();
    let root = dir.path().join("root");
    // A few checks that the layer holds what it claims (the comparison alone would pass on two empty trees).
    assert_eq!(fs::read(root.join("d06/f006")).unwrap(), b"second version");
    assert_eq!(fs::read(root.join("locked/sub/deeper")).unwrap(), b"deeper");
    assert!(fs::symlink_metadata(root.join("d08")).unwrap().is_file());
    let target = fs::metadata(root.join("d03/f007")).unwrap();
    assert_eq!(
        fs::metadata(root.join("links/other-dir")).unwrap().ino(),
        target.ino()
    );
    assert!(
        !exists_no_follow(&root.join("d10/f010")) || {
            let m = fs::symlink_metadata(root.join("d10/f010")).unwrap();
            m.rdev() == 0 && m.mode() & libc::S_IFMT == libc::S_IFCHR
        }
    );
    assert_eq!(
        xattr::get(root.join("d12"), "trusted.overlay.opaque")
            .unwrap()
            .as_deref(),
        Some(&b"y"[..])
    );
    assert_eq!(
        fs::metadata(root.join("d14")).unwrap().mtime_nsec(),
        987_654_321
    );
    assert_eq!(
        fs::read(root.join("etc/app.conf")).unwrap(),
        b"through an absolute symlink"
    );
    assert_eq!(
        fs::read(root.join("clamped")).unwrap(),
        b"clamped at the root"
    );
    // 24 directories of 60 files, less d08's and d11's, plus the rest.
    assert_eq!(tree::describe(&root).len(), 1375);
}

/// The same layer cut at every few entries: workers start part way (as they do after
/// `PARALLEL_AFTER_ENTRIES`) and the tree stays the same.
#[test]
fn starting_workers_part_way_changes_nothing() {
    let tar = big_layer();
    let (one, r) = unpack_with(&tar, usize::MAX);
    r.unwrap();
    for start in [1, 700, 1475] {
        let (dir, r) = unpack_with(&tar, start);
        r.unwrap();
        same_trees(
            &one.path().join("root"),
            &dir.path().join("root"),
            &format!("from entry {start}"),
        );
    }
}

#[test]
fn escapes_are_refused_the_same_way() {
    let probe = tempfile::tempdir().unwrap();
    let host = probe.path().to_str().unwrap().to_string();
    fs::write(probe.path().join("secret"), b"host").unwrap();
    let cases: Vec<(&str, LayerTar)> = vec![
        ("dotdot", {
            let mut t = LayerTar::new();
            t.file("a/f", 0o644, b"x")
                .file("a/../../outside/escape", 0o644, b"x");
            t
        }),
        ("symlinked parent to the host", {
            let mut t = LayerTar::new();
            t.file("a/f", 0o644, b"x")
                .symlink("evil", &host)
                .file("evil/pwned", 0o644, b"x");
            t
        }),
        ("relative symlink out", {
            let mut t = LayerTar::new();
            t.file("a/f", 0o644, b"x")
                .symlink("a/up", "../../outside")
                .file("a/up/pwned", 0o644, b"x");
            t
        }),
        ("symlink swapped in for a directory written just before", {
            let mut t = LayerTar::new();
            t.dir("d/", 0o755)
                .file("d/f1", 0o644, b"x")
                .symlink("d", &host)
                .file("d/f2", 0o644, b"x");
            t
        }),
        ("hardlink out with dotdot", {
            let mut t = LayerTar::new();
            t.file("a/f", 0o644, b"x").hardlink("link", "../outside/x");
            t
        }),
        ("hardlink through a symlink to the host", {
            let mut t = LayerTar::new();
            t.file("a/f", 0o644, b"x")
                .symlink("out", &host)
                .hardlink("link", "out/secret");
            t
        }),
        ("hardlink to an absolute host path", {
            let mut t = LayerTar::new();
            t.file("a/f", 0o644, b"x")
                .hardlink("link", &format!("{host}/secret"));
            t
        }),
    ];
    for (what, t) in cases {
        let tar = t.finish();
        let (_dir, _r) = unpack_both_ways(&tar);
        let names: Vec<_> = fs::read_dir(probe.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["secret"], "{what}: the host dir changed");
        assert_eq!(
            fs::metadata(probe.path().join("secret")).unwrap().nlink(),
            1,
            "{what}: the host file gained a link"
        );
    }
}

/// The first error stops the unpack, whichever thread hit it, and says which entry.
#[test]
fn a_worker_error_fails_the_unpack() {
    let mut t = LayerTar::new();
    for i in 0..50 {
        t.file(&format!("a/f{i}"), 0o644, b"x");
    }
    // An xattr namespace the kernel refuses: the worker writing this file fails.
    t.pax(&[("SCHILY.xattr.bogus.name", b"v")])
        .file("a/bad", 0o644, b"x");
    for i in 0..50 {
        t.file(&format!("b/f{i}"), 0o644, b"x");
    }
    let tar = t.finish();
    let (_dir, r) = unpack_both_ways(&tar);
    let msg = r.unwrap_err().to_string();
    assert!(msg.contains("a/bad") && msg.contains("xattr"), "{msg}");
}

/// A tar that ends in the middle: the reader's error is the one reported, after the workers stopped.
#[test]
fn a_truncated_tar_fails_the_unpack() {
    let mut t = LayerTar::new();
    for i in 0..40 {
        t.file(&format!("a/f{i}"), 0o644, &content(i));
    }
    let mut tar = t.finish();
    tar.truncate(tar.len() / 2);
    let (_dir, r) = unpack_with(&tar, 0);
    assert!(r.is_err());
    let (_dir, r1) = unpack_with(&tar, usize::MAX);
    assert_eq!(r.unwrap_err().to_string(), r1.unwrap_err().to_string());
}

#[test]
fn root_entry_and_files_in_root() {
    let mut t = LayerTar::new();
    t.dir_owned("./", 0o700, 5, 6, 1_400_000_000)
        .file("top", 0o644, b"t")
        .file("./dot-prefixed", 0o644, b"d");
    let (dir, r) = unpack_both_ways(&t.finish());
    r.unwrap();
    let root = dir.path().join("root");
    let m = fs::metadata(&root).unwrap();
    assert_eq!(
        (m.uid(), m.gid(), m.mode() & 0o777, m.mtime()),
        (5, 6, 0o700, 1_400_000_000)
    );
    assert!(Path::new(&root.join("dot-prefixed")).is_file());
}
