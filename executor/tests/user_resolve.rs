//! USER and --chown resolution against an image's /etc/passwd and /etc/group.

use std::fs;
use std::path::Path;

use hoist_executor::user::{resolve_chown, resolve_user, UserError, UserSpec};

fn rootfs() -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    fs::create_dir(root.path().join("etc")).unwrap();
    fs::write(
        root.path().join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\n\
         nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n\
         # a comment\n\
         app:x:1000:1000:app:/home/app:/bin/sh\n\
         web:x:1001:1000::/srv:/bin/sh\n",
    )
    .unwrap();
    fs::write(
        root.path().join("etc/group"),
        "root:x:0:\n\
         nogroup:x:65534:\n\
         app:x:1000:\n\
         staff:x:50:app,web\n\
         audio:x:29:web\n",
    )
    .unwrap();
    root
}

fn spec(uid: u32, gid: u32, additional_gids: &[u32]) -> UserSpec {
    UserSpec {
        uid,
        gid,
        additional_gids: additional_gids.to_vec(),
    }
}

#[test]
fn user_resolution_table() {
    let root = rootfs();
    let r = root.path();
    let cases: &[(&str, UserSpec)] = &[
        ("", spec(0, 0, &[])),
        ("root", spec(0, 0, &[])),
        ("app", spec(1000, 1000, &[50])),
        ("web", spec(1001, 1000, &[50, 29])),
        // All-numeric: BuildKit's fast path, no lookup, gid 0 unless given.
        ("1000", spec(1000, 0, &[])),
        ("4242", spec(4242, 0, &[])),
        ("1234:5678", spec(1234, 5678, &[])),
        // Named group: explicit gid, no supplementary groups.
        ("app:staff", spec(1000, 50, &[])),
        ("1000:staff", spec(1000, 50, &[])),
        ("4242:staff", spec(4242, 50, &[])),
        ("app:77", spec(1000, 77, &[])),
    ];
    for (user, expected) in cases {
        assert_eq!(&resolve_user(r, user).unwrap(), expected, "USER {user:?}");
    }
}

#[test]
fn unknown_names_are_errors_with_runc_wording() {
    let root = rootfs();
    let err = resolve_user(root.path(), "ghost").unwrap_err();
    assert!(matches!(err, UserError::UnknownUser { .. }));
    assert_eq!(
        err.to_string(),
        "unable to find user ghost: no matching entries in passwd file"
    );
    let err = resolve_user(root.path(), "app:ghosts").unwrap_err();
    assert_eq!(
        err.to_string(),
        "unable to find group ghosts: no matching entries in group file"
    );
    assert!(matches!(
        resolve_user(root.path(), "99999999999"),
        Err(UserError::Invalid { .. })
    ));
}

#[test]
fn missing_passwd_file_allows_numeric_users_only() {
    let root = tempfile::tempdir().unwrap();
    assert_eq!(resolve_user(root.path(), "12").unwrap(), spec(12, 0, &[]));
    assert_eq!(
        resolve_user(root.path(), "12:34").unwrap(),
        spec(12, 34, &[])
    );
    assert!(matches!(
        resolve_user(root.path(), "app"),
        Err(UserError::UnknownUser { .. })
    ));
    assert_eq!(resolve_chown(root.path(), "7").unwrap(), (7, 7));
}

#[test]
fn chown_resolution_table() {
    let root = rootfs();
    let r = root.path();
    let cases: &[(&str, (u32, u32))] = &[
        ("app", (1000, 1000)),
        ("app:app", (1000, 1000)),
        ("web", (1001, 1000)),
        ("web:staff", (1001, 50)),
        ("1001:1002", (1001, 1002)),
        ("1001", (1001, 1001)),
        ("1001:staff", (1001, 50)),
        ("app:0", (1000, 0)),
    ];
    for (chown, expected) in cases {
        assert_eq!(
            resolve_chown(r, chown).unwrap(),
            *expected,
            "--chown={chown}"
        );
    }
    assert!(matches!(
        resolve_chown(r, "ghost"),
        Err(UserError::UnknownUser { .. })
    ));
    assert!(matches!(
        resolve_chown(r, "app:ghosts"),
        Err(UserError::UnknownGroup { .. })
    ));
    assert!(matches!(
        resolve_chown(r, ":app"),
        Err(UserError::Invalid { .. })
    ));
}

#[test]
fn passwd_is_read_inside_the_rootfs_even_through_symlinks() {
    let root = rootfs();
    let real = root.path().join("etc/passwd");
    let moved = root.path().join("etc/passwd.real");
    fs::rename(&real, &moved).unwrap();
    // An absolute link must resolve inside the rootfs, not to the host's /etc/passwd.
    std::os::unix::fs::symlink("/etc/passwd.real", &real).unwrap();
    assert_eq!(resolve_user(root.path(), "app").unwrap().uid, 1000);

    fs::remove_file(&real).unwrap();
    std::os::unix::fs::symlink("/../../../../etc/nonexistent-host-passwd", &real).unwrap();
    assert!(resolve_user(root.path(), "root").is_err());
    assert!(Path::new(root.path()).exists());
}
