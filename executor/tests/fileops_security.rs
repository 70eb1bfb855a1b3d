//! COPY never reads outside `src_root` and never writes outside `dest_root`.

mod fileops_support;

use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;

use fileops_support::{exists, read, write, Fixture};
use hoist_executor::fileops::{mkdir_all_in_root, resolve_in_root, CopyError};

#[test]
fn dotdot_in_a_source_stays_in_the_context() {
    let fx = Fixture::new();
    write(&fx.src("etc/passwd"), "context copy", 0o644);
    fx.copy(&["../../etc/passwd"], "/got").unwrap();
    assert_eq!(read(&fx.dest("got")), "context copy");

    let fx = Fixture::new();
    let err = fx.copy(&["../../../../etc/passwd"], "/got").unwrap_err();
    assert!(matches!(err, CopyError::SourceNotFound { .. }), "{err}");
}

#[test]
fn context_symlinks_to_host_paths_resolve_inside_the_context() {
    let fx = Fixture::new();
    symlink("/etc", fx.src("etclink")).unwrap();
    symlink("/etc/passwd", fx.src("pwlink")).unwrap();
    symlink("../../../../../../etc/passwd", fx.src("relpw")).unwrap();

    for source in ["etclink/passwd", "pwlink", "relpw", "etclink"] {
        let err = fx.copy(&[source], "/x/").unwrap_err();
        assert!(
            matches!(err, CopyError::SourceNotFound { .. }),
            "{source}: {err}"
        );
    }
    // A wildcard through such a link finds nothing either.
    fx.copy(&["etclink/pass*"], "/w/").unwrap();
    assert!(!exists(&fx.dest("w")));

    // Inside a copied directory the link is copied as a link, never read through.
    write(&fx.src("tree/ok"), "ok", 0o644);
    symlink("/etc/shadow", fx.src("tree/shadow")).unwrap();
    fx.copy(&["tree"], "/tree/").unwrap();
    assert!(fs::symlink_metadata(fx.dest("tree/shadow"))
        .unwrap()
        .file_type()
        .is_symlink());
}

#[test]
fn destination_through_an_absolute_symlink_stays_in_the_rootfs() {
    let fx = Fixture::new();
    let outside = tempfile::tempdir().unwrap();
    write(&fx.src("f"), "data", 0o644);
    // An absolute host path as symlink target: inside the rootfs it means <dest_root><outside>.
    symlink(outside.path(), fx.dest("out")).unwrap();
    symlink(outside.path().join("file"), fx.dest("filelink")).unwrap();
    symlink("../../../../../../..", fx.dest("up")).unwrap();

    fx.copy(&["f"], "/out/").unwrap();
    fx.copy(&["f"], "/filelink").unwrap();
    fx.copy(&["f"], "/up/escaped").unwrap();
    fx.copy(&["f"], "/../../../../dotdot").unwrap();

    assert_eq!(
        fs::read_dir(outside.path()).unwrap().count(),
        0,
        "nothing written outside dest_root"
    );
    let inner = |p: &Path| fx.dest.path().join(p.strip_prefix("/").unwrap());
    assert_eq!(read(&inner(&outside.path().join("f"))), "data");
    assert_eq!(read(&inner(&outside.path().join("file"))), "data");
    assert_eq!(read(&fx.dest("escaped")), "data");
    assert_eq!(read(&fx.dest("dotdot")), "data");
}

#[test]
fn copied_tree_replaces_symlinks_in_the_destination_instead_of_following_them() {
    let fx = Fixture::new();
    let outside = tempfile::tempdir().unwrap();
    write(&outside.path().join("victim"), "host", 0o644);
    write(&fx.src("tree/victim"), "evil", 0o644);
    fs::create_dir(fx.dest("app")).unwrap();
    symlink(outside.path().join("victim"), fx.dest("app/victim")).unwrap();

    fx.copy(&["tree"], "/app/").unwrap();
    assert_eq!(read(&outside.path().join("victim")), "host");
    assert_eq!(read(&fx.dest("app/victim")), "evil");
}

#[test]
fn mkdir_and_resolve_stay_inside_root() {
    let root = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    symlink(outside.path(), root.path().join("link")).unwrap();
    let made = mkdir_all_in_root(root.path(), "/link/a/b", None).unwrap();
    assert!(made.starts_with(root.path()));
    assert_eq!(fs::read_dir(outside.path()).unwrap().count(), 0);
    let resolved = resolve_in_root(root.path(), "link/../../../../etc").unwrap();
    assert!(resolved.starts_with(root.path()), "{}", resolved.display());
}
