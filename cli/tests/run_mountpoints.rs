//! The shared mount points layers of `hoist run` (`containers/.mountpoints/<hash>`, one per image layer stack)
//! live as long as a container or an image has their stack: `hoist rm` and `hoist rmi` prune the others,
//! `hoist store check` names them and `--repair` removes them; a running container's layer always stays.
mod common;
use common::*;

use std::path::PathBuf;

const DOCKERFILE: &str = "FROM busybox\nRUN echo mountpoints > /marker\n";

/// The entries of `.mountpoints/` (not its lock file).
fn entries(h: &Hoist) -> Vec<PathBuf> {
    let dir = h.root.path().join("containers/.mountpoints");
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.path())
                .filter(|p| !p.ends_with(".lock"))
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// The entry made between `before` and now.
fn new_entry(h: &Hoist, before: &[PathBuf]) -> PathBuf {
    let now = entries(h);
    let made: Vec<&PathBuf> = now.iter().filter(|e| !before.contains(e)).collect();
    assert_eq!(made.len(), 1, "before {before:?}, now {now:?}");
    made[0].clone()
}

fn check(h: &Hoist, extra: &[&str]) -> (i32, String) {
    let mut args = vec!["store", "check"];
    args.extend_from_slice(extra);
    let (code, out, err) = h.out(&args);
    assert!(!err.contains("panicked"), "{err}");
    (code, out)
}

/// Deletes image `reference` from the index behind hoist's back (as if removed while a container of it runs,
/// which `hoist rmi` refuses), leaving its blobs and snapshots.
fn forget_image(h: &Hoist, reference: &str) {
    let db = rusqlite::Connection::open(h.root.path().join("cache.db")).unwrap();
    let id: String = db
        .query_row(
            "SELECT image_id FROM tags WHERE reference = ?1 OR reference LIKE '%/' || ?1",
            [reference],
            |r| r.get(0),
        )
        .unwrap();
    db.execute("DELETE FROM tags WHERE image_id = ?1", [&id])
        .unwrap();
    db.execute("DELETE FROM images WHERE id = ?1", [&id])
        .unwrap();
}

#[test]
fn a_removed_images_layer_goes_with_its_last_container() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    h.build_ok("mp:1", DOCKERFILE, &[], &[]);
    assert_eq!(h.sh("busybox", "echo ok"), "ok\n");
    let busybox_entry = new_entry(&h, &[]);
    let (code, out, err) = h.out(&["run", "--name", "stopped", "mp:1", "cat", "/marker"]);
    assert_eq!((code, out.as_str()), (0, "mountpoints\n"), "{err}");
    let entry = new_entry(&h, std::slice::from_ref(&busybox_entry));

    // The image goes, its stopped container keeps the layer.
    let (code, _, err) = h.out(&["rmi", "-f", "mp:1"]);
    assert_eq!(code, 0, "{err}");
    assert!(entry.is_dir(), "a container still has the stack");
    let (code, out) = check(&h, &[]);
    assert_eq!(code, 0, "{out}");

    // The container goes: its layer too; busybox's stays, busybox is still there.
    let (code, _, err) = h.out(&["rm", "stopped"]);
    assert_eq!(code, 0, "{err}");
    assert!(!err.contains("warning"), "{err}");
    assert_eq!(entries(&h), vec![busybox_entry.clone()]);
    let (code, out) = check(&h, &[]);
    assert_eq!(code, 0, "{out}");
}

#[test]
fn check_names_an_orphan_and_a_running_containers_layer_stays() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    h.build_ok("mp:1", DOCKERFILE, &[], &[]);
    h.build_ok("mp:2", "FROM busybox\nRUN echo two > /marker\n", &[], &[]);
    let running = h.detach(&["--name", "running", "mp:1", "sleep", "60"]);
    let running_entry = new_entry(&h, &[]);
    let (code, _, err) = h.out(&["run", "--rm", "mp:2", "true"]);
    assert_eq!(code, 0, "{err}");
    let orphan = new_entry(&h, std::slice::from_ref(&running_entry));

    // Both images gone from the index, their layers left: the running container's is in use, the other
    // is an orphan.
    forget_image(&h, "mp:1");
    forget_image(&h, "mp:2");
    let (code, out) = check(&h, &[]);
    assert_eq!(code, 1, "{out}");
    let orphan_line = format!("mount points layer {}", orphan.display());
    assert!(out.contains(&orphan_line), "{out}");
    assert!(out.contains("no container and no image uses"), "{out}");
    assert!(!out.contains(&running_entry.display().to_string()), "{out}");

    let (code, out) = check(&h, &["--repair"]);
    assert_eq!(code, 0, "{out}");
    assert!(!orphan.exists(), "{out}");
    assert!(running_entry.is_dir(), "{out}");
    let (code, out) = check(&h, &[]);
    assert_eq!((code, out.contains("no problems")), (0, true), "{out}");

    // The running container still sees its mount points; once removed, its layer goes.
    let (code, out, err) = h.out(&["exec", "running", "cat", "/marker"]);
    assert_eq!((code, out.as_str()), (0, "mountpoints\n"), "{err}");
    let (code, _, err) = h.out(&["rm", "-f", &running]);
    assert_eq!(code, 0, "{err}");
    assert!(!running_entry.exists());
}
