//! Delta snapshots with shadowed paths (a removed path, a file turned directory): the delta over its base,
//! mounted with overlayfs over the lower dirs it is used over, shows exactly what a full unpack of the layer
//! shows over them; over lower dirs that have something at a shadowed path the full unpack is used instead.
mod common;

use std::collections::BTreeMap;
use std::os::unix::fs::{FileTypeExt as _, MetadataExt as _};
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{put_layer, LayerTar};
use hoist_store::{Digest, Store};

/// One entry of a layer: a directory (`None`) or a file with its bytes.
type Entry<'a> = (&'a str, Option<&'a [u8]>);

/// A layer with 40 unchanging files under `app/` (so a small change stays a delta) and then `entries`.
fn layer_tar(entries: &[Entry]) -> Vec<u8> {
    let mut t = LayerTar::new();
    t.dir("app", 0o755);
    for i in 0..40 {
        t.file(
            &format!("app/f{i:02}"),
            0o644,
            format!("file {i}\n").repeat(50).as_bytes(),
        );
    }
    for (name, data) in entries {
        match data {
            Some(d) => t.file(name, 0o600, d),
            None => t.dir(name, 0o750),
        };
    }
    t.finish()
}

/// A description of everything under `root`, by relative path: kind, mode, owner, mtime and content.
fn tree(root: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let meta = std::fs::symlink_metadata(&path).unwrap();
        let rel = path.strip_prefix(root).unwrap().display().to_string();
        let kind = if meta.is_dir() {
            "dir".to_string()
        } else if meta.file_type().is_char_device() {
            format!("char {}", meta.rdev())
        } else {
            format!("file {:?}", std::fs::read(&path).unwrap())
        };
        let mtime = if meta.is_dir() { 0 } else { meta.mtime() };
        out.insert(
            rel,
            format!(
                "{kind} {:o} {}:{} {mtime}",
                meta.mode(),
                meta.uid(),
                meta.gid()
            ),
        );
        if meta.is_dir() {
            walk(root, &path, out);
        }
    }
}

/// What overlayfs shows of `lowers` (topmost first), read-only.
fn merged(lowers: &[PathBuf]) -> BTreeMap<String, String> {
    let scratch = tempfile::tempdir().unwrap();
    let (mnt, empty) = (scratch.path().join("m"), scratch.path().join("e"));
    std::fs::create_dir(&mnt).unwrap();
    std::fs::create_dir(&empty).unwrap();
    // An empty bottom dir: a mount without an upper dir needs two lower dirs on some kernels.
    let dirs: Vec<String> = lowers
        .iter()
        .chain([&empty])
        .map(|d| d.display().to_string())
        .collect();
    let status = Command::new("mount")
        .args(["-t", "overlay", "overlay", "-o"])
        .arg(format!("lowerdir={}", dirs.join(":")))
        .arg(&mnt)
        .status()
        .unwrap();
    assert!(status.success(), "mounting {dirs:?}");
    let seen = tree(&mnt);
    // Another test's child, between its fork and exec, may still hold a descriptor of the walk: EBUSY for
    // a moment.
    let unmounted = (0..50).any(|_| {
        let ok = Command::new("umount").arg(&mnt).status().unwrap().success();
        if !ok {
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        ok
    });
    assert!(unmounted, "unmounting {}", mnt.display());
    seen
}

/// A lower dir (an older layer under `app/`) holding `files`.
fn lower_with(files: &[&str]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for file in files {
        let path = dir.path().join(file);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, b"from a lower layer").unwrap();
    }
    dir
}

/// The layer `new` made after `base`'s snapshot, over `below` (topmost first), and its full unpack.
struct Case {
    _dir: tempfile::TempDir,
    store: Store,
    base: Digest,
    new: Digest,
    full: tempfile::TempDir,
}

fn case(base: &[Entry], new: &[Entry]) -> Case {
    let (dir, store) = common::store();
    let base = put_layer(&store, &layer_tar(base));
    store.ensure_snapshot_stack(&base, None, &[]).unwrap();
    let new_tar = layer_tar(new);
    let new = put_layer(&store, &new_tar);
    let full = tempfile::tempdir().unwrap();
    hoist_store::unpack_layer(&new_tar[..], full.path(), "the new layer").unwrap();
    Case {
        _dir: dir,
        store,
        base,
        new,
        full,
    }
}

impl Case {
    /// Mounts the new layer over `below` as a build would (making its snapshot if needed), checks the view
    /// against the full unpack over `below`, and returns how many dirs the layer's snapshot took.
    fn mount_over(&self, below: &[PathBuf]) -> usize {
        let stack = self
            .store
            .ensure_snapshot_stack(&self.new, Some(&self.base), below)
            .unwrap();
        let mut view: Vec<PathBuf> = stack.clone();
        view.extend(below.iter().cloned());
        let mut expected: Vec<PathBuf> = vec![self.full.path().to_path_buf()];
        expected.extend(below.iter().cloned());
        assert_eq!(merged(&view), merged(&expected), "stack {stack:?}");
        stack.len()
    }

    fn clean(&self) {
        let report = self
            .store
            .check(hoist_store::CheckOptions::default())
            .unwrap();
        assert!(report.problems.is_empty(), "{:?}", report.problems);
    }
}

#[test]
fn a_removed_file_is_a_whiteout_used_only_over_stacks_without_that_file() {
    let c = case(
        &[("app/gone", Some(b"old")), ("app/kept", Some(b"k"))],
        &[("app/kept", Some(b"k"))],
    );
    let unrelated = lower_with(&["app/other", "etc/x"]);
    assert_eq!(
        c.mount_over(&[unrelated.path().to_path_buf()]),
        2,
        "a delta"
    );
    // Reused by a stack whose lower layer has app/gone: the full unpack, which does not hide it.
    let has_it = lower_with(&["app/gone"]);
    assert_eq!(c.mount_over(&[has_it.path().to_path_buf()]), 1, "full");
    // Both stay: the delta for stacks it is exact over, the full unpack for the others.
    assert_eq!(c.mount_over(&[]), 2);
    assert_eq!(c.mount_over(&[has_it.path().to_path_buf()]), 1);
    c.clean();
}

#[test]
fn a_removed_directory_is_one_whiteout() {
    let c = case(
        &[
            ("app/gone", None),
            ("app/gone/a", Some(b"a")),
            ("app/gone/b", Some(b"b")),
        ],
        &[],
    );
    assert_eq!(c.mount_over(&[]), 2, "a delta");
    let delta = c.store.snapshot_stack(&c.new, &[]).unwrap().unwrap()[0].clone();
    let gone = std::fs::symlink_metadata(delta.join("app/gone")).unwrap();
    assert!(gone.file_type().is_char_device() && gone.rdev() == 0);
    let in_delta = tree(&delta);
    assert_eq!(
        in_delta.keys().collect::<Vec<_>>(),
        ["app", "app/gone"],
        "the directory and one whiteout"
    );
    let has_under = lower_with(&["app/gone/c"]);
    assert_eq!(c.mount_over(&[has_under.path().to_path_buf()]), 1, "full");
    c.clean();
}

#[test]
fn a_file_turned_directory_is_used_only_over_stacks_without_that_path() {
    let c = case(
        &[("app/x", Some(b"a file"))],
        &[("app/x", None), ("app/x/in", Some(b"inside"))],
    );
    assert_eq!(c.mount_over(&[]), 2, "a delta");
    // A lower directory app/x merges with the layer's in the full view; the base's file would stop that.
    let has_dir = lower_with(&["app/x/lower"]);
    assert_eq!(c.mount_over(&[has_dir.path().to_path_buf()]), 1, "full");
    c.clean();
}

#[test]
fn a_directory_turned_file_hides_the_lower_directory_either_way() {
    let c = case(
        &[("app/y", None), ("app/y/in", Some(b"inside"))],
        &[("app/y", Some(b"now a file"))],
    );
    let has_dir = lower_with(&["app/y/lower"]);
    assert_eq!(c.mount_over(&[has_dir.path().to_path_buf()]), 2, "a delta");
    c.clean();
}

#[test]
fn a_delta_made_over_a_stack_it_is_not_exact_over_is_not_made() {
    let c = case(&[("app/gone", Some(b"old"))], &[]);
    let has_it = lower_with(&["app/gone"]);
    assert_eq!(c.mount_over(&[has_it.path().to_path_buf()]), 1, "full");
    // That full unpack is the layer's snapshot, good for every stack.
    assert_eq!(c.mount_over(&[]), 1);
    c.clean();
}

#[test]
fn removing_a_delta_removes_the_full_unpack_beside_it() {
    let c = case(&[("app/gone", Some(b"old"))], &[]);
    assert_eq!(c.mount_over(&[]), 2);
    let has_it = lower_with(&["app/gone"]);
    let full = c
        .store
        .ensure_snapshot_stack(&c.new, None, &[has_it.path().to_path_buf()])
        .unwrap();
    assert_eq!(full.len(), 1);
    // `hoist cache du` counts the full unpack too.
    let size = |d: &Digest| {
        c.store
            .list_snapshots()
            .unwrap()
            .into_iter()
            .find(|(_, diff, _)| diff == d)
            .map(|(_, _, size)| size)
            .unwrap()
    };
    assert!(size(&c.new) >= c.store.blob_size(&c.new).unwrap());
    assert!(c.store.remove_snapshot(&c.base).unwrap());
    assert!(!full[0].exists(), "gone with the delta over the base");
    c.clean();
}

#[test]
fn a_full_unpack_its_row_does_not_claim_is_reported_by_check() {
    let c = case(&[("app/gone", Some(b"old"))], &[]);
    assert_eq!(c.mount_over(&[]), 2);
    let id = c.store.snapshot_id(&c.new).unwrap().unwrap();
    // What a hoist killed between moving the unpack into place and its commit leaves.
    let stray = c.store.snapshots_dir().join(format!("{id}-full"));
    std::fs::create_dir(&stray).unwrap();
    let report = c
        .store
        .check(hoist_store::CheckOptions { repair: true })
        .unwrap();
    assert_eq!(report.problems.len(), 1, "{:?}", report.problems);
    assert!(!stray.exists());
    c.clean();
}
