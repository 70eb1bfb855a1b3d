//! COPY semantics, one test per rule recorded from BuildKit (see shared/oracle/cases/copy-*).

mod fileops_support;

use std::fs;
use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};

use fileops_support::{exists, mkdir, read, stat, write, Fixture};
use hoist_executor::fileops::{copy, CopyError, SourceKind};
use nix::sys::stat::Mode;

#[test]
fn directory_source_copies_its_contents_and_single_file_is_renamed() {
    let fx = Fixture::new();
    write(&fx.src("dir/a.txt"), "a", 0o644);
    write(&fx.src("dir/sub/b.txt"), "b", 0o644);
    write(&fx.src("file.txt"), "f", 0o644);

    fx.copy(&["dir"], "/dest/").unwrap();
    fx.copy(&["file.txt"], "/dest/renamed.txt").unwrap();

    assert_eq!(read(&fx.dest("dest/a.txt")), "a");
    assert_eq!(read(&fx.dest("dest/sub/b.txt")), "b");
    assert_eq!(read(&fx.dest("dest/renamed.txt")), "f");
    assert!(!exists(&fx.dest("dest/dir")));
    assert_eq!(stat(&fx.dest("dest")), (0o755, 0, 0));
}

#[test]
fn missing_source_is_an_error() {
    let fx = Fixture::new();
    let err = fx.copy(&["missing.txt"], "/x").unwrap_err();
    assert!(
        matches!(&err, CopyError::SourceNotFound { source } if source == "missing.txt"),
        "{err}"
    );
    assert!(
        err.to_string().contains("\"/missing.txt\" not found"),
        "{err}"
    );
    assert!(!exists(&fx.dest("x")));
}

#[test]
fn ignored_source_does_not_exist() {
    let fx = Fixture::new();
    write(&fx.src("secret.txt"), "s", 0o644);
    let excluded = |p: &str| p == "secret.txt";
    let mut req = fx.request(&["secret.txt"], "/x");
    req.excluded = &excluded;
    assert!(matches!(copy(&req), Err(CopyError::SourceNotFound { .. })));
}

#[test]
fn wildcard_matching_nothing_copies_nothing_and_creates_no_destination() {
    let fx = Fixture::new();
    write(&fx.src("file.txt"), "f", 0o644);
    let stats = fx.copy(&["*.nomatch"], "/none/").unwrap();
    assert_eq!(stats.files, 0);
    assert!(!exists(&fx.dest("none")));

    fx.copy(&["file.txt", "*.nomatch"], "/some/").unwrap();
    assert_eq!(read(&fx.dest("some/file.txt")), "f");
}

#[test]
fn wildcards_match_files_and_directories() {
    let fx = Fixture::new();
    write(&fx.src("one.txt"), "1", 0o644);
    write(&fx.src("two.txt"), "2", 0o644);
    write(&fx.src("other.md"), "o", 0o644);
    write(&fx.src("dir/x.c"), "x", 0o644);
    write(&fx.src("dir/y.h"), "y", 0o644);
    write(&fx.src("dir/sub/deep.c"), "d", 0o644);

    fx.copy(&["*.txt", "other.md"], "/multi/").unwrap();
    fx.copy(&["d?r/*.c"], "/c/").unwrap();
    // A directory matched by a wildcard is copied like a named one: its contents.
    fx.copy(&["d[i]r"], "/w/").unwrap();

    let mut multi: Vec<_> = fs::read_dir(fx.dest("multi"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    multi.sort();
    assert_eq!(multi, ["one.txt", "other.md", "two.txt"]);
    assert_eq!(read(&fx.dest("c/x.c")), "x");
    assert!(!exists(&fx.dest("c/y.h")));
    assert!(!exists(&fx.dest("c/deep.c")));
    assert_eq!(read(&fx.dest("w/sub/deep.c")), "d");
    assert_eq!(read(&fx.dest("w/y.h")), "y");
}

#[test]
fn existing_directory_destination_without_slash_receives_the_file() {
    let fx = Fixture::new();
    write(&fx.src("file.txt"), "f", 0o644);
    mkdir(&fx.dest("etc"), 0o755);
    fx.copy(&["file.txt"], "/etc").unwrap();
    fx.copy(&["file.txt"], "/newname").unwrap();
    assert_eq!(read(&fx.dest("etc/file.txt")), "f");
    assert_eq!(read(&fx.dest("newname")), "f");
}

#[test]
fn several_sources_make_the_destination_a_directory() {
    let fx = Fixture::new();
    write(&fx.src("a"), "a", 0o644);
    write(&fx.src("b"), "b", 0o644);
    fx.copy(&["a", "b"], "/both").unwrap();
    assert_eq!(read(&fx.dest("both/a")), "a");
    assert_eq!(read(&fx.dest("both/b")), "b");
}

#[test]
fn missing_parents_are_created_0755_root_owned() {
    let fx = Fixture::new();
    write(&fx.src("f"), "f", 0o644);
    fx.copy(&["f"], "/a/b/c").unwrap();
    assert_eq!(read(&fx.dest("a/b/c")), "f");
    assert_eq!(stat(&fx.dest("a")), (0o755, 0, 0));
    assert_eq!(stat(&fx.dest("a/b")), (0o755, 0, 0));
}

#[test]
fn named_symlink_is_followed_and_inner_symlinks_are_kept() {
    let fx = Fixture::new();
    write(&fx.src("target.txt"), "t", 0o644);
    write(&fx.src("dir/f"), "f", 0o644);
    symlink("target.txt", fx.src("link")).unwrap();
    symlink("dir", fx.src("dirlink")).unwrap();

    fx.copy(&["link"], "/named/").unwrap();
    assert_eq!(read(&fx.dest("named/link")), "t");
    assert!(fs::symlink_metadata(fx.dest("named/link"))
        .unwrap()
        .is_file());

    fx.copy(&["dirlink"], "/viadir/").unwrap();
    assert_eq!(read(&fx.dest("viadir/f")), "f");

    fx.copy(&["."], "/ctx/").unwrap();
    assert_eq!(
        fs::read_link(fx.dest("ctx/link")).unwrap().to_str(),
        Some("target.txt")
    );
    assert_eq!(
        fs::read_link(fx.dest("ctx/dirlink")).unwrap().to_str(),
        Some("dir")
    );
    assert_eq!(stat(&fx.dest("ctx/link")).1, 0);
}

#[test]
fn copy_onto_existing_symlink_writes_through_even_dangling() {
    let fx = Fixture::new();
    write(&fx.src("file.txt"), "new", 0o644);
    write(&fx.dest("target"), "orig", 0o600);
    write(&fx.dest("bin/busybox"), "binary", 0o755);
    symlink("/target", fx.dest("link")).unwrap();
    symlink("/nonexistent", fx.dest("dangling")).unwrap();
    symlink("busybox", fx.dest("bin/myapp")).unwrap();

    fx.copy(&["file.txt"], "/link").unwrap();
    fx.copy(&["file.txt"], "/dangling").unwrap();
    fx.copy(&["file.txt"], "/bin/myapp").unwrap();

    assert_eq!(read(&fx.dest("target")), "new");
    assert_eq!(read(&fx.dest("nonexistent")), "new");
    assert_eq!(read(&fx.dest("bin/busybox")), "new");
    assert_eq!(stat(&fx.dest("bin/busybox")).0, 0o644);
    assert!(fs::symlink_metadata(fx.dest("link"))
        .unwrap()
        .file_type()
        .is_symlink());
    assert!(fs::symlink_metadata(fx.dest("bin/myapp"))
        .unwrap()
        .file_type()
        .is_symlink());
}

#[test]
fn modes_and_mtimes_are_preserved_owners_become_root() {
    let fx = Fixture::new();
    write(&fx.src("exec.sh"), "#!/bin/sh", 0o755);
    write(&fx.src("ro.txt"), "r", 0o444);
    write(&fx.src("suid"), "s", 0o4755);
    mkdir(&fx.src("private"), 0o700);
    std::os::unix::fs::lchown(fx.src("exec.sh"), Some(1234), Some(5678)).unwrap();
    fs::File::options()
        .write(true)
        .open(fx.src("ro.txt"))
        .unwrap()
        .set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000))
        .unwrap();

    fx.copy(&["."], "/ctx/").unwrap();

    assert_eq!(stat(&fx.dest("ctx/exec.sh")), (0o755, 0, 0));
    assert_eq!(stat(&fx.dest("ctx/ro.txt")), (0o444, 0, 0));
    assert_eq!(stat(&fx.dest("ctx/suid")), (0o4755, 0, 0));
    assert_eq!(stat(&fx.dest("ctx/private")), (0o700, 0, 0));
    assert_eq!(
        fs::metadata(fx.dest("ctx/ro.txt")).unwrap().mtime(),
        1_000_000
    );
}

#[test]
fn chown_owns_entries_and_created_parents() {
    let fx = Fixture::new();
    write(&fx.src("file.txt"), "f", 0o644);
    write(&fx.src("dir/x"), "x", 0o644);
    let mut req = fx.request(&["file.txt"], "/o/named");
    req.chown = Some((1000, 1000));
    copy(&req).unwrap();
    let mut req = fx.request(&["dir"], "/o/dir");
    req.chown = Some((1000, 1000));
    copy(&req).unwrap();

    assert_eq!(stat(&fx.dest("o")), (0o755, 1000, 1000));
    assert_eq!(stat(&fx.dest("o/named")), (0o644, 1000, 1000));
    assert_eq!(stat(&fx.dest("o/dir")), (0o755, 1000, 1000));
    assert_eq!(stat(&fx.dest("o/dir/x")), (0o644, 1000, 1000));
}

#[test]
fn chmod_applies_to_copied_entries_not_to_the_created_destination() {
    let fx = Fixture::new();
    write(&fx.src("file.txt"), "f", 0o644);
    write(&fx.src("dir/a"), "a", 0o644);
    write(&fx.src("dir/sub/b"), "b", 0o644);
    let mut req = fx.request(&["file.txt"], "/secret");
    req.chmod = Some(0o600);
    copy(&req).unwrap();
    let mut req = fx.request(&["dir"], "/tree");
    req.chmod = Some(0o750);
    copy(&req).unwrap();
    let mut req = fx.request(&["file.txt"], "/owned/");
    req.chmod = Some(0o640);
    req.chown = Some((1000, 1000));
    copy(&req).unwrap();

    assert_eq!(stat(&fx.dest("secret")), (0o600, 0, 0));
    assert_eq!(stat(&fx.dest("tree")), (0o755, 0, 0));
    assert_eq!(stat(&fx.dest("tree/a")), (0o750, 0, 0));
    assert_eq!(stat(&fx.dest("tree/sub")), (0o750, 0, 0));
    assert_eq!(stat(&fx.dest("tree/sub/b")), (0o750, 0, 0));
    assert_eq!(stat(&fx.dest("owned")), (0o755, 1000, 1000));
    assert_eq!(stat(&fx.dest("owned/file.txt")), (0o640, 1000, 1000));
}

#[test]
fn relative_destination_is_under_workdir() {
    let fx = Fixture::new();
    write(&fx.src("file.txt"), "f", 0o644);
    mkdir(&fx.dest("app"), 0o755);
    let mut req = fx.request(&["file.txt"], ".");
    req.workdir = "/app".to_string();
    copy(&req).unwrap();
    let mut req = fx.request(&["file.txt"], "sub/");
    req.workdir = "/app".to_string();
    copy(&req).unwrap();
    assert_eq!(read(&fx.dest("app/file.txt")), "f");
    assert_eq!(read(&fx.dest("app/sub/file.txt")), "f");
}

#[test]
fn parents_keep_the_source_path_below_the_pivot() {
    let fx = Fixture::new();
    write(&fx.src("x/a.txt"), "xa", 0o644);
    write(&fx.src("y/a.txt"), "ya", 0o644);
    write(&fx.src("p/q/r/c.txt"), "c", 0o644);
    write(&fx.src("d/e/f.txt"), "f", 0o644);
    mkdir(&fx.src("p/q"), 0o711);

    let mut req = fx.request(&["./x/a.txt", "y/*.txt"], "/no_slash");
    req.parents = true;
    copy(&req).unwrap();
    let mut req = fx.request(&["p/./q/r/c.txt"], "/pivot/");
    req.parents = true;
    copy(&req).unwrap();
    let mut req = fx.request(&["d/e"], "/dirs/");
    req.parents = true;
    copy(&req).unwrap();

    assert_eq!(read(&fx.dest("no_slash/x/a.txt")), "xa");
    assert_eq!(read(&fx.dest("no_slash/y/a.txt")), "ya");
    assert_eq!(read(&fx.dest("pivot/q/r/c.txt")), "c");
    assert!(!exists(&fx.dest("pivot/p")));
    assert_eq!(stat(&fx.dest("pivot/q")).0, 0o711);
    assert_eq!(read(&fx.dest("dirs/d/e/f.txt")), "f");
}

#[test]
fn dockerignore_excluded_directory_with_reincluded_file() {
    let fx = Fixture::new();
    write(&fx.src("docs/README.md"), "r", 0o644);
    write(&fx.src("docs/other.md"), "o", 0o644);
    write(&fx.src("dir/unwanted"), "u", 0o644);
    write(&fx.src("gone/x"), "x", 0o644);
    write(&fx.src("src/main.c"), "m", 0o644);
    // `docs`, `!docs/README.md`, `gone`, `dir/unwanted` as a .dockerignore matcher would answer.
    let excluded = |p: &str| {
        (p == "docs" || p.starts_with("docs/")) && p != "docs/README.md"
            || p == "gone"
            || p.starts_with("gone/")
            || p == "dir/unwanted"
    };
    let mut req = fx.request(&["."], "/ctx/");
    req.excluded = &excluded;
    copy(&req).unwrap();

    assert_eq!(read(&fx.dest("ctx/docs/README.md")), "r");
    assert!(!exists(&fx.dest("ctx/docs/other.md")));
    assert!(!exists(&fx.dest("ctx/gone")));
    assert!(exists(&fx.dest("ctx/dir")));
    assert!(!exists(&fx.dest("ctx/dir/unwanted")));
    assert_eq!(read(&fx.dest("ctx/src/main.c")), "m");

    // Named directly, an excluded directory with a re-included file still exists.
    let mut req = fx.request(&["docs"], "/docs/");
    req.excluded = &excluded;
    copy(&req).unwrap();
    assert_eq!(read(&fx.dest("docs/README.md")), "r");
}

#[test]
fn hardlinked_sources_stay_hardlinked() {
    let fx = Fixture::new();
    write(&fx.src("a"), "same", 0o644);
    fs::hard_link(fx.src("a"), fx.src("b")).unwrap();
    let stats = fx.copy(&["."], "/h/").unwrap();
    let (a, b) = (
        fs::metadata(fx.dest("h/a")).unwrap(),
        fs::metadata(fx.dest("h/b")).unwrap(),
    );
    assert_eq!(a.ino(), b.ino());
    assert_eq!((stats.files, stats.hardlinks), (1, 1));
}

#[test]
fn overwrites_files_but_refuses_to_replace_directories() {
    let fx = Fixture::new();
    write(&fx.src("tree/x"), "new", 0o644);
    write(&fx.src("tree/sub"), "file", 0o644);
    write(&fx.dest("out/x"), "old", 0o600);
    mkdir(&fx.dest("out/sub"), 0o755);
    let err = fx.copy(&["tree"], "/out").unwrap_err();
    assert!(
        matches!(err, CopyError::CannotReplaceDirectory { ref path } if path == "/out/sub"),
        "{err}"
    );

    let fx = Fixture::new();
    write(&fx.src("d/f"), "f", 0o644);
    write(&fx.dest("file"), "x", 0o644);
    let err = fx.copy(&["d"], "/file").unwrap_err();
    assert!(matches!(err, CopyError::NotADirectory { .. }), "{err}");

    let fx = Fixture::new();
    write(&fx.src("f"), "new", 0o644);
    write(&fx.dest("etc/passwd"), "old", 0o600);
    fx.copy(&["f"], "/etc/passwd").unwrap();
    assert_eq!(read(&fx.dest("etc/passwd")), "new");
    assert_eq!(stat(&fx.dest("etc/passwd")).0, 0o644);
}

#[test]
fn copy_into_existing_directory_keeps_its_metadata() {
    let fx = Fixture::new();
    write(&fx.src("d/f"), "f", 0o644);
    mkdir(&fx.dest("app"), 0o700);
    std::os::unix::fs::lchown(fx.dest("app"), Some(7), Some(8)).unwrap();
    fx.copy(&["d"], "/app").unwrap();
    assert_eq!(stat(&fx.dest("app")), (0o700, 7, 8));
    assert_eq!(read(&fx.dest("app/f")), "f");
}

#[test]
fn xattrs_are_copied_from_a_rootfs_except_overlay_ones_and_never_from_the_context() {
    let fx = Fixture::new();
    write(&fx.src("tree/bin"), "b", 0o755);
    let supported = xattr::set(fx.src("tree/bin"), "user.keep", b"1").is_ok()
        && xattr::set(fx.src("tree"), "trusted.overlay.opaque", b"y").is_ok();
    if !supported {
        eprintln!("skipped: the temp file system lacks user/trusted xattrs");
        return;
    }
    let mut req = fx.request(&["."], "/stage/");
    req.source_kind = SourceKind::Rootfs;
    copy(&req).unwrap();
    assert_eq!(
        xattr::get(fx.dest("stage/tree/bin"), "user.keep").unwrap(),
        Some(b"1".to_vec())
    );
    assert_eq!(
        xattr::get(fx.dest("stage/tree"), "trusted.overlay.opaque").unwrap(),
        None
    );
    // BuildKit's context transfer carries no xattrs.
    fx.copy(&["."], "/ctx/").unwrap();
    assert_eq!(
        xattr::get(fx.dest("ctx/tree/bin"), "user.keep").unwrap(),
        None
    );
}

/// A source tree with owners, modes and times of its own, a FIFO and a device node.
fn owned_tree(fx: &Fixture) {
    use std::os::unix::fs::lchown;
    write(&fx.src("d/f"), "f", 0o604);
    write(&fx.src("d/sub/g"), "g", 0o644);
    write(&fx.src("top"), "t", 0o4755);
    symlink("f", fx.src("d/link")).unwrap();
    nix::unistd::mkfifo(&fx.src("d/fifo"), Mode::from_bits_truncate(0o640)).unwrap();
    nix::sys::stat::mknod(
        &fx.src("d/null"),
        nix::sys::stat::SFlag::S_IFCHR,
        Mode::from_bits_truncate(0o640),
        nix::sys::stat::makedev(1, 3),
    )
    .unwrap();
    fs::set_permissions(fx.src("d/sub"), fs::Permissions::from_mode(0o700)).unwrap();
    fs::set_permissions(fx.src("d"), fs::Permissions::from_mode(0o750)).unwrap();
    for (path, owner) in [
        ("d", 1000),
        ("d/f", 1001),
        ("d/sub", 1002),
        ("d/sub/g", 1003),
        ("d/link", 1004),
        ("d/null", 1005),
        ("top", 1006),
    ] {
        lchown(fx.src(path), Some(owner), Some(owner + 100)).unwrap();
    }
    // chown cleared the setuid bit
    fs::set_permissions(fx.src("top"), fs::Permissions::from_mode(0o4755)).unwrap();
    let old = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000_000);
    for dir in ["d/sub", "d"] {
        fs::File::open(fx.src(dir))
            .unwrap()
            .set_modified(old)
            .unwrap();
    }
}

#[test]
fn a_copy_from_a_rootfs_keeps_each_entrys_owner_and_creates_root_owned_parents() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: needs root for chown and mknod");
        return;
    }
    let fx = Fixture::new();
    owned_tree(&fx);
    let mut req = fx.request(&["d"], "/new/dir");
    req.source_kind = SourceKind::Rootfs;
    copy(&req).unwrap();
    let mut req = fx.request(&["top"], "/new/file");
    req.source_kind = SourceKind::Rootfs;
    copy(&req).unwrap();
    assert_eq!(stat(&fx.dest("new")), (0o755, 0, 0));
    assert_eq!(stat(&fx.dest("new/dir")), (0o755, 0, 0));
    assert_eq!(stat(&fx.dest("new/dir/f")), (0o604, 1001, 1101));
    assert_eq!(stat(&fx.dest("new/dir/sub")), (0o700, 1002, 1102));
    assert_eq!(stat(&fx.dest("new/dir/sub/g")), (0o644, 1003, 1103));
    assert_eq!(stat(&fx.dest("new/dir/link")).1, 1004);
    assert_eq!(stat(&fx.dest("new/file")), (0o4755, 1006, 1106));
    // A source directory's time is kept.
    let mtime = |p: &str| fs::symlink_metadata(fx.dest(p)).unwrap().mtime();
    assert_eq!(mtime("new/dir/sub"), 1_000_000_000);

    // --chown owns everything, the created parents too; --chmod keeps the setuid bit.
    let mut req = fx.request(&["d", "top"], "/chown/");
    req.source_kind = SourceKind::Rootfs;
    req.chown = Some((7, 8));
    req.chmod = Some(0o640);
    copy(&req).unwrap();
    assert_eq!(stat(&fx.dest("chown")), (0o755, 7, 8));
    assert_eq!(stat(&fx.dest("chown/sub")), (0o640, 7, 8));
    assert_eq!(stat(&fx.dest("chown/top")), (0o4640, 7, 8));
}

#[test]
fn a_copy_from_the_context_is_root_owned_and_its_directories_get_the_time_of_the_copy() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: needs root for chown and mknod");
        return;
    }
    let fx = Fixture::new();
    owned_tree(&fx);
    fx.copy(&["d"], "/ctx").unwrap();
    assert_eq!(stat(&fx.dest("ctx/f")), (0o604, 0, 0));
    assert_eq!(stat(&fx.dest("ctx/sub")), (0o700, 0, 0));
    assert_eq!(stat(&fx.dest("ctx/link")).1, 0);
    let mtime = |p: &str| fs::symlink_metadata(fx.dest(p)).unwrap().mtime();
    assert!(mtime("ctx/sub") > 1_000_000_000);
}

#[test]
fn a_copy_leaves_fifos_out_and_makes_device_nodes_empty_files() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: needs root for mknod");
        return;
    }
    // As BuildKit's copy (Docker 20.10's fsutil) does, from the context and from a stage alike.
    let fx = Fixture::new();
    owned_tree(&fx);
    for (kind, dest) in [
        (SourceKind::Context, "/ctx"),
        (SourceKind::Rootfs, "/stage"),
    ] {
        let mut req = fx.request(&["d"], dest);
        req.source_kind = kind;
        copy(&req).unwrap();
        let dest = dest.trim_start_matches('/');
        assert!(!fx.dest(&format!("{dest}/fifo")).exists(), "{dest}");
        let null = fs::symlink_metadata(fx.dest(&format!("{dest}/null"))).unwrap();
        assert!(null.is_file(), "{dest}: {null:?}");
        assert_eq!(null.len(), 0);
        assert_eq!(null.mode() & 0o7777, 0o640);
        let owner = if kind == SourceKind::Rootfs { 1005 } else { 0 };
        assert_eq!(null.uid(), owner);
    }
}

#[test]
fn matched_sources_lists_what_copy_reads() {
    use hoist_executor::fileops::{matched_sources, MatchedSource};
    let fx = Fixture::new();
    write(&fx.src("a.txt"), "a", 0o644);
    write(&fx.src("b.txt"), "b", 0o644);
    write(&fx.src("dir/x"), "x", 0o644);
    symlink("dir", fx.src("link")).unwrap();
    let req = fx.request(&["*.txt", "link", "*.none"], "/d/");
    let found = matched_sources(&req).unwrap();
    let m = |written: &str, path: &str, is_dir| MatchedSource {
        written: written.into(),
        path: path.into(),
        is_dir,
    };
    assert_eq!(
        found,
        [
            m("a.txt", "a.txt", false),
            m("b.txt", "b.txt", false),
            m("link", "dir", true)
        ]
    );
    assert!(matches!(
        matched_sources(&fx.request(&["nope"], "/")),
        Err(CopyError::SourceNotFound { .. })
    ));
}
