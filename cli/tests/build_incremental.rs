//! A COPY whose sources changed a little: the step after it mounts the new layer as a small delta over the
//! earlier layer's snapshot (issue 17). What it sees must be exactly what a cold build sees, and the layer
//! must be the cold build's, byte for byte.
mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use common::{stderr, Hoist};

/// The RUN writes the tree it sees (names, modes, sizes, types, owners, mtimes, contents) into the image.
const DOCKERFILE: &str = "FROM busybox
COPY . /app
RUN cd /app && find . -exec stat -c '%n %a %s %F %u %Y' {} + | sort > /tree.txt \
 && find . -type f -exec md5sum {} + | sort >> /tree.txt
";

/// 300 small files in 10 directories: a one-file change is far below a quarter of the layer.
fn context() -> tempfile::TempDir {
    let ctx = tempfile::tempdir().unwrap();
    std::fs::write(ctx.path().join("Dockerfile"), DOCKERFILE).unwrap();
    for i in 0..300 {
        let dir = ctx.path().join(format!("d{}", i % 10));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("f{i}")), format!("file {i}\n").repeat(20)).unwrap();
    }
    ctx
}

fn build(h: &Hoist, tag: &str, ctx: &Path) {
    // A fixed epoch: a COPY stamps the directories it makes with the build time, which two builds do not share.
    let out = h.build_dir(
        tag,
        ctx,
        &[
            "--progress",
            "plain",
            "--build-arg",
            "SOURCE_DATE_EPOCH=1700000000",
        ],
    );
    assert!(out.status.success(), "build {tag}: {}", stderr(&out));
}

/// (tree the RUN saw, the COPY layer's diff ID)
fn result(h: &Hoist, tag: &str) -> (String, String) {
    let tree = h.sh(tag, "cat /tree.txt");
    let (config, _) = h.saved(tag);
    let copy_layer = config["rootfs"]["diff_ids"][1]
        .as_str()
        .unwrap()
        .to_string();
    (tree, copy_layer)
}

/// The same context built on a fresh state dir.
fn cold(ctx: &Path) -> (String, String) {
    let h = Hoist::with_busybox().unwrap();
    build(&h, "cold", ctx);
    result(&h, "cold")
}

/// Entries in the newest snapshot of a COPY layer (one with `app/`): a delta holds the change, a full
/// snapshot every file.
fn newest_copy_snapshot_entries(h: &Hoist) -> usize {
    let snapshots = h.root.path().join("snapshots");
    let newest = std::fs::read_dir(&snapshots)
        .unwrap()
        .flatten()
        .filter(|e| e.path().join("app").is_dir())
        .filter_map(|e| e.file_name().to_str()?.parse::<u64>().ok())
        .max()
        .unwrap();
    walk_count(&snapshots.join(newest.to_string()))
}

fn walk_count(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| {
            if e.file_type().unwrap().is_dir() {
                1 + walk_count(&e.path())
            } else {
                1
            }
        })
        .sum()
}

/// The lines only in `a` (`-`) and only in `b` (`+`).
fn line_diff(a: &str, b: &str) -> String {
    let (la, lb): (Vec<&str>, Vec<&str>) = (a.lines().collect(), b.lines().collect());
    let mut out = String::new();
    for l in la.iter().filter(|l| !lb.contains(l)) {
        out += &format!("- {l}\n");
    }
    for l in lb.iter().filter(|l| !la.contains(l)) {
        out += &format!("+ {l}\n");
    }
    out
}

fn store_check_is_clean(h: &Hoist) {
    let (code, out, err) = h.out(&["store", "check"]);
    assert_eq!(code, 0, "store check:\n{out}{err}");
}

/// A change to the context, named for the failure message.
type Edit<'a> = Box<dyn Fn() + 'a>;

#[test]
fn edits_adds_removals_type_and_mode_changes_match_a_cold_build() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let ctx = context();
    let dir = ctx.path();
    build(&h, "v0", dir);
    let edits: Vec<(&str, Edit)> = vec![
        (
            "an edited file",
            Box::new(|| std::fs::write(dir.join("d1/f1"), "edited\n").unwrap()),
        ),
        (
            "an added file",
            Box::new(|| std::fs::write(dir.join("d2/new"), "new\n").unwrap()),
        ),
        (
            "a removed file",
            Box::new(|| std::fs::remove_file(dir.join("d3/f3")).unwrap()),
        ),
        (
            "a file turned into a directory",
            Box::new(|| {
                std::fs::remove_file(dir.join("d4/f4")).unwrap();
                std::fs::create_dir(dir.join("d4/f4")).unwrap();
                std::fs::write(dir.join("d4/f4/inside"), "inside\n").unwrap();
            }),
        ),
        (
            "a changed mode",
            Box::new(|| {
                std::fs::set_permissions(dir.join("d5/f5"), std::fs::Permissions::from_mode(0o600))
                    .unwrap()
            }),
        ),
        (
            "a removed directory",
            Box::new(|| std::fs::remove_dir_all(dir.join("d6")).unwrap()),
        ),
    ];
    for (i, (what, edit)) in edits.iter().enumerate() {
        edit();
        let tag = format!("v{}", i + 1);
        // No pause between builds: records of one second are told apart by the order they were written, so the
        // delta's base is the previous build's snapshot (a tie broken at random unpacked some edits in full).
        build(&h, &tag, dir);
        let files = newest_copy_snapshot_entries(&h);
        // Removals and files turned directories too: busybox has no /app, so nothing below the layer is at
        // their shadowed paths (see store/src/shadow.rs).
        assert!(
            files < 20,
            "{what}: the new snapshot has {files} entries; a delta has a few, a full unpack hundreds"
        );
        let (tree, layer) = result(&h, &tag);
        let (cold_tree, cold_layer) = cold(dir);
        assert!(
            tree == cold_tree,
            "{what}: the tree differs from a cold build's:\n{}",
            line_diff(&tree, &cold_tree)
        );
        assert_eq!(
            layer, cold_layer,
            "{what}: the COPY layer differs from a cold build's"
        );
    }
    store_check_is_clean(&h);

    // The first image's layer is the base of every delta: with it untagged and the cache pruned, the deltas
    // still need it, and every image still runs and sees its own tree.
    let trees: Vec<String> = (1..=edits.len())
        .map(|i| result(&h, &format!("v{i}")).0)
        .collect();
    let out = h.run(&["rmi", "v0"]);
    assert!(out.status.success(), "rmi: {}", stderr(&out));
    let out = h.run(&["cache", "prune", "-a", "-f"]);
    assert!(out.status.success(), "prune: {}", stderr(&out));
    for (i, tree) in trees.iter().enumerate() {
        assert_eq!(
            &result(&h, &format!("v{}", i + 1)).0,
            tree,
            "v{} after prune",
            i + 1
        );
    }
    store_check_is_clean(&h);
}

#[test]
fn a_crash_while_making_a_delta_leaves_a_store_that_checks_clean() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let ctx = context();
    build(&h, "v0", ctx.path());
    std::fs::write(ctx.path().join("d1/f1"), "edited\n").unwrap();
    let out = h
        .cmd()
        .env("HOIST_TEST_KILL_IN_DELTA", "1")
        .args([
            "build",
            "--build-arg",
            "SOURCE_DATE_EPOCH=1700000000",
            "-t",
            "v1",
        ])
        .arg(ctx.path())
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "the hook should have killed the build"
    );
    let (code, out, err) = h.out(&["store", "check"]);
    assert!(
        code == 0 || code == 1,
        "store check failed to run:\n{out}{err}"
    );
    // The next build sweeps what the dead one left, and makes the delta.
    build(&h, "v1", ctx.path());
    store_check_is_clean(&h);
    let ((tree, layer), (cold_tree, cold_layer)) = (result(&h, "v1"), cold(ctx.path()));
    assert!(tree == cold_tree, "{}", line_diff(&tree, &cold_tree));
    assert_eq!(layer, cold_layer);
}

/// A build does not sync the snapshots it made (a `syncfs` waits for the whole host filesystem's writeback):
/// their rows keep this boot's id, so only a crash of the machine has them unpacked again from their blobs.
#[test]
fn a_build_leaves_its_snapshots_to_be_redone_after_a_crash_instead_of_syncing_them() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let ctx = context();
    build(&h, "v0", ctx.path());
    let this_boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap();
    let db = rusqlite::Connection::open(h.root.path().join("cache.db")).unwrap();
    let boots: Vec<Option<String>> = db
        .prepare("SELECT unsynced_boot FROM snapshots")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    // The COPY's layer (mounted by the RUN) and the RUN's upper dir; busybox's was synced by `import`.
    let unsynced = boots
        .iter()
        .filter(|b| b.as_deref() == Some(this_boot.trim()))
        .count();
    assert_eq!(unsynced, 2, "rows: {boots:?}");
}

/// A rewritten COPY layer takes the files that did not change from the previous layer's blob instead of
/// reading them again (`hoist_executor::layer_reuse`), and is still a cold build's layer byte for byte —
/// also when a file got new bytes of the same size and its old mtime back (only its ctime tells).
#[test]
fn a_layer_rewritten_from_the_previous_one_is_a_cold_builds() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let ctx = context();
    let dir = ctx.path();
    // Files changed in the last seconds are never taken from an old layer (a write in the same clock tick as
    // the read would not move their ctime): let the context settle so that the next build indexes them.
    std::thread::sleep(std::time::Duration::from_millis(3300));
    build(&h, "v0", dir);
    let index_of = |tag: &str| {
        let layer = result(&h, tag).1;
        let hex = layer.trim_start_matches("sha256:").to_string();
        std::fs::metadata(h.root.path().join("layer-index").join(hex)).map(|m| m.len())
    };
    assert!(
        index_of("v0").is_ok_and(|len| len > 300 * 40),
        "the COPY layer's index is missing or short"
    );

    let victim = dir.join("d7/f7");
    let before = std::fs::metadata(&victim).unwrap();
    let same_size = std::fs::read(&victim).unwrap().to_ascii_uppercase();
    std::fs::write(&victim, &same_size).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&victim)
        .unwrap()
        .set_modified(before.modified().unwrap())
        .unwrap();
    std::fs::write(dir.join("d8/f8"), "edited\n").unwrap();
    build(&h, "v1", dir);
    let ((tree, layer), (cold_tree, cold_layer)) = (result(&h, "v1"), cold(dir));
    assert!(tree == cold_tree, "{}", line_diff(&tree, &cold_tree));
    assert_eq!(
        layer, cold_layer,
        "the rewritten layer differs from a cold build's"
    );
    // The two changed files are too recent to be indexed; the other 298 came from v0's layer and are.
    assert!(index_of("v1").is_ok_and(|len| len > 290 * 40));
    store_check_is_clean(&h);
}
