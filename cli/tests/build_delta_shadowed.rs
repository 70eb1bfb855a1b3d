//! A COPY layer whose delta snapshot has shadowed paths (a removed file, a file turned into a directory) is
//! mounted over different stacks (issue 17): over busybox, which has no /app, the delta is used; over a base
//! image that has /app/f, the removed f must still show the base's /app/f, as BuildKit shows it (the COPY layer
//! does not hide it), so that stack gets a full unpack of the same layer.
mod common;

use std::path::Path;

use common::{stderr, Hoist};

/// Two stages copying the same context: the same COPY layer over two different stacks.
const DOCKERFILE: &str = "FROM busybox AS plain
COPY . /app
RUN cd /app && find . -exec stat -c '%n %a %s %F %u %Y' {} + | sort > /tree.txt \
 && find . -type f -exec md5sum {} + | sort >> /tree.txt

FROM base:1 AS over_base
COPY . /app
RUN cd /app && find . -exec stat -c '%n %a %s %F %u %Y' {} + | sort > /tree.txt \
 && find . -type f -exec md5sum {} + | sort >> /tree.txt
";

fn build(h: &Hoist, tag: &str, ctx: &Path, target: &str) {
    // A fixed epoch: a COPY stamps the directories it makes with the build time.
    let out = h.build_dir(
        tag,
        ctx,
        &[
            "--target",
            target,
            "--build-arg",
            "SOURCE_DATE_EPOCH=1700000000",
        ],
    );
    assert!(out.status.success(), "build {tag}: {}", stderr(&out));
}

/// `base:1`: busybox with /app/f.
fn build_base(h: &Hoist) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("Dockerfile"),
        // A fixed mtime: the views are compared with another state dir's.
        "FROM busybox\nRUN mkdir -p /app && echo base > /app/f && touch -d '2020-01-01 00:00:00' /app/f\n",
    )
    .unwrap();
    let out = h.build_dir("base:1", dir.path(), &[]);
    assert!(out.status.success(), "base: {}", stderr(&out));
}

/// 200 small files, and `f` and `x`, files the test removes and turns into a directory.
fn context() -> tempfile::TempDir {
    let ctx = tempfile::tempdir().unwrap();
    std::fs::write(ctx.path().join("Dockerfile"), DOCKERFILE).unwrap();
    for i in 0..200 {
        let dir = ctx.path().join(format!("d{}", i % 10));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("g{i}")), format!("file {i}\n").repeat(20)).unwrap();
    }
    std::fs::write(ctx.path().join("f"), "from the context\n").unwrap();
    std::fs::write(ctx.path().join("x"), "a file\n").unwrap();
    ctx
}

/// The trees the RUN of each stage saw (tags `plain-TAG`, `base-TAG`), the final `/app` as `hoist run` shows
/// it, and `/app/f` over the base.
fn results(h: &Hoist, tag: &str) -> Vec<String> {
    let mut out = Vec::new();
    for image in [format!("plain-{tag}"), format!("base-{tag}")] {
        out.push(h.sh(&image, "cat /tree.txt"));
        out.push(h.sh(
            &image,
            "cd /app && find . -exec stat -c '%n %a %s %F %u' {} + | sort",
        ));
    }
    out.push(h.sh(&format!("base-{tag}"), "cat /app/f"));
    out
}

fn build_both(h: &Hoist, tag: &str, ctx: &Path) {
    build(h, &format!("plain-{tag}"), ctx, "plain");
    build(h, &format!("base-{tag}"), ctx, "over_base");
}

#[test]
fn a_removed_file_still_shows_the_base_images_file_and_the_view_matches_a_cold_build() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    build_base(&h);
    let ctx = context();
    let dir = ctx.path();
    build_both(&h, "v0", dir);
    std::fs::remove_file(dir.join("f")).unwrap();
    std::fs::remove_file(dir.join("x")).unwrap();
    std::fs::create_dir(dir.join("x")).unwrap();
    std::fs::write(dir.join("x/inside"), "inside\n").unwrap();
    // The plain stage first: its RUN makes the delta (busybox has nothing at /app/f or /app/x); the stage over
    // the base then mounts the same layer, where the delta's whiteout would hide the base's /app/f.
    build(&h, "plain-v1", dir, "plain");
    // Killed while it makes the full unpack beside the delta: the next build cleans up and makes it.
    let out = h
        .cmd()
        .env("HOIST_TEST_KILL_IN_DELTA", "1")
        .args(["build", "--target", "over_base", "-t", "base-v1"])
        .args(["--build-arg", "SOURCE_DATE_EPOCH=1700000000"])
        .arg(dir)
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
    build_both(&h, "v1", dir);
    let seen = results(&h, "v1");
    assert_eq!(seen[4], "base\n", "the base's /app/f shows through");
    assert!(!seen[0].contains("./f "), "no f over busybox:\n{}", seen[0]);
    assert!(seen[0].contains("./x/inside"), "{}", seen[0]);

    let snapshots: Vec<String> = std::fs::read_dir(h.root.path().join("snapshots"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        snapshots.iter().any(|s| s.ends_with("-full")),
        "the layer is a delta over busybox and a full unpack over the base: {snapshots:?}"
    );

    // A cold build of the same context on a fresh state dir sees the same.
    let cold = Hoist::with_busybox().unwrap();
    build_base(&cold);
    build_both(&cold, "v1", dir);
    let cold_seen = results(&cold, "v1");
    for (i, (got, want)) in seen.iter().zip(&cold_seen).enumerate() {
        let (got, want): (Vec<&str>, Vec<&str>) = (got.lines().collect(), want.lines().collect());
        let only_got: Vec<&&str> = got.iter().filter(|l| !want.contains(l)).collect();
        let only_want: Vec<&&str> = want.iter().filter(|l| !got.contains(l)).collect();
        assert!(
            got == want,
            "view {i} differs from a cold build's: here {only_got:?}, cold {only_want:?}"
        );
    }
    let (code, out, err) = h.out(&["store", "check"]);
    assert_eq!(code, 0, "store check:\n{out}{err}");

    // Pruned and gone, both snapshots of the layer go; what is left checks clean.
    for tag in ["plain-v0", "base-v0", "plain-v1", "base-v1"] {
        assert!(h.run(&["rmi", tag]).status.success());
    }
    let out = h.run(&["cache", "prune", "-a", "-f"]);
    assert!(out.status.success(), "prune: {}", stderr(&out));
    let left: Vec<String> = std::fs::read_dir(h.root.path().join("snapshots"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|s| s.ends_with("-full"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
    let (code, out, err) = h.out(&["store", "check"]);
    assert_eq!(code, 0, "store check:\n{out}{err}");
}
