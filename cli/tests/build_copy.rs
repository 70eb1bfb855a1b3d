//! The COPY/ADD matrix: files, directory contents, wildcards, several sources, trailing-slash rules, relative
//! destinations, --chown, --chmod, --link, --exclude, --parents, symlinks, ADD's tar extraction, heredocs, and
//! the errors for missing sources and unknown owners.
mod common;

use common::{context_with, stderr, Hoist};
use std::os::unix::fs::symlink;
use std::path::Path;

fn write_dockerfile(ctx: &Path, text: &str) {
    std::fs::write(ctx.join("Dockerfile"), text).unwrap();
}

fn build(h: &Hoist, tag: &str, ctx: &Path) {
    let out = h.build_dir(tag, ctx, &[]);
    assert!(
        out.status.success(),
        "build of {tag} failed: {}",
        stderr(&out)
    );
}

#[test]
fn files_dirs_wildcards_and_trailing_slash_rules() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let ctx = context_with(&[
        ("a.txt", b"A"),
        ("b.txt", b"B"),
        ("c.md", b"C"),
        ("dir/f1", b"F1"),
        ("dir/sub/f2", b"F2"),
    ]);
    write_dockerfile(
        ctx.path(),
        "\
FROM busybox
COPY a.txt /renamed.txt
COPY a.txt /newdir/
COPY a.txt /tmp
COPY dir /contents/
COPY dir /contents-noslash
COPY *.txt /wild/
COPY a.txt c.md /multi/
COPY nomatch* /never/
COPY [\"b.txt\", \"/json dest/\"]
WORKDIR /app
COPY a.txt rel/
COPY b.txt .
COPY ./dir/sub ./sub2
",
    );
    build(&h, "cp:1", ctx.path());
    let listing = h.sh(
        "cp:1",
        "cat /renamed.txt /newdir/a.txt /tmp/a.txt; echo; ls /contents /contents/sub /contents-noslash /wild /multi '/json dest'; \
         test ! -e /never && echo no-never; ls /app /app/rel /app/sub2",
    );
    assert_eq!(
        listing,
        "AAA\n/contents:\nf1\nsub\n\n/contents-noslash:\nf1\nsub\n\n/contents/sub:\nf2\n\n/json dest:\nb.txt\n\n\
/multi:\na.txt\nc.md\n\n/wild:\na.txt\nb.txt\nno-never\n/app:\nb.txt\nrel\nsub2\n\n/app/rel:\na.txt\n\n/app/sub2:\nf2\n"
    );
}

#[test]
fn chown_chmod_link_exclude_parents() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let ctx = context_with(&[
        ("a.txt", b"A"),
        ("dir/keep.txt", b"K"),
        ("dir/drop.log", b"D"),
        ("dir/sub/deep.txt", b"E"),
        ("src/x/one.txt", b"1"),
        ("src/y/two.txt", b"2"),
    ]);
    write_dockerfile(
        ctx.path(),
        "\
FROM busybox
COPY --chown=app:app a.txt /owned/by/app/a.txt
COPY --chown=1234:5678 a.txt /numeric.txt
COPY --chown=app a.txt /user-only.txt
COPY --chmod=750 dir /modes/
COPY --chmod=0600 a.txt /a600
COPY --link a.txt /linked/
COPY --exclude=*.log dir /excluded/
COPY --parents src/x/one.txt src/y/two.txt /parents/
COPY --parents ./src/./x/one.txt /pivot/
",
    );
    build(&h, "cp:2", ctx.path());
    let out = h.sh(
        "cp:2",
        "stat -c '%n %u:%g %a' /owned/by/app/a.txt /owned/by/app /owned/by /owned /numeric.txt /user-only.txt \
         /modes /modes/keep.txt /modes/sub /a600 /linked/a.txt; ls /excluded /excluded/sub; \
         find /parents /pivot -type f | sort",
    );
    assert_eq!(
        out,
        "/owned/by/app/a.txt 1000:1000 644\n/owned/by/app 1000:1000 755\n/owned/by 1000:1000 755\n/owned 1000:1000 755\n\
/numeric.txt 1234:5678 644\n/user-only.txt 1000:1000 644\n/modes 0:0 755\n/modes/keep.txt 0:0 750\n/modes/sub 0:0 750\n\
/a600 0:0 600\n/linked/a.txt 0:0 644\n/excluded:\nkeep.txt\nsub\n\n/excluded/sub:\ndeep.txt\n\
/parents/src/x/one.txt\n/parents/src/y/two.txt\n/pivot/x/one.txt\n"
    );
}

#[test]
fn chown_with_an_empty_part_and_chmod_with_special_bits() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    // As BuildKit (Docker 20.10): `:group` is root and the group, `user:` the user and its own group, and --chmod
    // applies the permission bits only (the setuid, setgid and sticky bits of 4755, 2750, 1777 are dropped).
    h.build_ok(
        "cpe:1",
        "FROM busybox\nCOPY --chown=:app a /g\nCOPY --chown=app: a /u\nCOPY --chmod=4755 a /s\n\
         COPY --chmod=2750 a /sg\nCOPY --chmod=1777 a /st\n",
        &[("a", "A")],
        &[],
    );
    assert_eq!(
        h.sh("cpe:1", "stat -c '%n %u:%g %a' /g /u /s /sg /st"),
        "/g 0:1000 644\n/u 1000:1000 644\n/s 0:0 755\n/sg 0:0 750\n/st 0:0 777\n"
    );
}

#[test]
fn symlinks_inside_a_dir_are_kept_and_a_named_symlink_is_followed() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let ctx = context_with(&[("dir/target.txt", b"T"), ("real.txt", b"R")]);
    symlink("target.txt", ctx.path().join("dir/link")).unwrap();
    symlink("real.txt", ctx.path().join("named-link")).unwrap();
    write_dockerfile(
        ctx.path(),
        "FROM busybox\nCOPY dir /d/\nCOPY named-link /followed\n",
    );
    build(&h, "cp:3", ctx.path());
    let out = h.sh(
        "cp:3",
        "readlink /d/link; cat /d/link; test -L /followed || echo not-a-link; cat /followed",
    );
    assert_eq!(out, "target.txt\nTnot-a-link\nR");
}

#[test]
fn add_extracts_tar_archives_by_content_and_copies_other_files() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let ctx = tempfile::tempdir().unwrap();
    let src = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(src.path().join("pkg/bin")).unwrap();
    std::fs::write(src.path().join("pkg/bin/tool"), "tool\n").unwrap();
    std::fs::write(src.path().join("pkg/readme"), "readme\n").unwrap();
    let tar = ctx.path().join("plain.tar");
    let status = std::process::Command::new("tar")
        .args(["--owner=123", "--group=456", "-cf"])
        .arg(&tar)
        .arg("-C")
        .arg(src.path())
        .arg("pkg")
        .status()
        .unwrap();
    assert!(status.success());
    for (tool, name) in [
        ("gzip", "pkg.tgz"),
        ("bzip2", "pkg.tar.bz2"),
        ("xz", "pkg.tar.xz"),
    ] {
        let out = std::process::Command::new(tool)
            .arg("-c")
            .arg(&tar)
            .output()
            .unwrap();
        assert!(out.status.success());
        std::fs::write(ctx.path().join(name), out.stdout).unwrap();
    }
    // Extraction goes by content: a tar without a tar name is extracted too.
    std::fs::copy(&tar, ctx.path().join("archive.bin")).unwrap();
    std::fs::write(ctx.path().join("plain.txt"), "not an archive\n").unwrap();
    let gz_text = std::process::Command::new("gzip")
        .arg("-c")
        .arg(ctx.path().join("plain.txt"))
        .output()
        .unwrap();
    std::fs::write(ctx.path().join("text.gz"), gz_text.stdout).unwrap();
    write_dockerfile(
        ctx.path(),
        "FROM busybox\nADD plain.tar /x/plain/\nADD pkg.tgz /x/gz/\nADD pkg.tar.bz2 /x/bz2\nADD pkg.tar.xz /x/xz/\n\
ADD archive.bin /x/byname/\nADD plain.txt /x/plain.txt\nADD text.gz /x/\nCOPY plain.tar /x/copied.tar\n",
    );
    build(&h, "add:1", ctx.path());
    let out = h.sh(
        "add:1",
        "for d in plain gz bz2 xz byname; do cat /x/$d/pkg/bin/tool; stat -c '%u:%g' /x/$d/pkg/readme; done; \
         cat /x/plain.txt; test -f /x/text.gz && echo gz-kept; test -f /x/copied.tar && echo copy-does-not-extract",
    );
    assert_eq!(
        out,
        "tool\n123:456\n".repeat(5) + "not an archive\ngz-kept\ncopy-does-not-extract\n",
        "ADD keeps the archive's owners"
    );
}

#[test]
fn copy_heredoc() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    h.build_ok(
        "hd:1",
        "FROM busybox\nARG WHO=world\nCOPY <<EOF /greeting\nhello $WHO\nEOF\nCOPY --chmod=755 <<-\"SCRIPT\" /run.sh\n\t#!/bin/sh\n\techo ran $WHO\n\tSCRIPT\nRUN /run.sh > /ran\n\
COPY <<EOF /quotes\n\"$WHO\" '$WHO' \\$WHO a\\\\b\nEOF\nCOPY <<'RAW' /raw\n$WHO\nRAW\nCOPY <<ONE <<TWO /two/\n1\nONE\n2\nTWO\n",
        &[],
        &[],
    );
    // An unquoted delimiter expands variables (quotes and escapes stay as written); a quoted one does not.
    assert_eq!(
        h.sh("hd:1", "cat /greeting /ran /quotes /raw /two/ONE /two/TWO"),
        "hello world\nran world\n\"world\" 'world' \\$WHO a\\\\b\n$WHO\n1\n2\n"
    );
}

#[test]
fn missing_source_and_unknown_owner_are_clear_errors() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let log = h.build_err("ce:1", "FROM busybox\nCOPY missing.txt /x\n", &[], &[]);
    assert!(log.contains("file not found in build context"), "{log}");
    assert!(
        log.contains("missing.txt") && log.contains("Dockerfile:2"),
        "{log}"
    );
    let log = h.build_err(
        "ce:2",
        "FROM busybox\nCOPY --chown=nosuchuser a /a\n",
        &[("a", "a")],
        &[],
    );
    assert!(
        log.contains("nosuchuser") && log.contains("Dockerfile:2"),
        "{log}"
    );
    let log = h.build_err(
        "ce:3",
        "FROM busybox\nCOPY --chmod=abc a /a\n",
        &[("a", "a")],
        &[],
    );
    assert!(
        log.contains("--chmod") && log.contains("Dockerfile:2"),
        "{log}"
    );
    let log = h.build_err(
        "ce:4",
        "FROM busybox\nCOPY http://example.com/x /x\n",
        &[],
        &[],
    );
    assert!(log.contains("use ADD"), "{log}");
    // A .dockerignore'd file is as missing as an absent one.
    let log = h.build_err(
        "ce:5",
        "FROM busybox\nCOPY secret.txt /s\n",
        &[("secret.txt", "s"), (".dockerignore", "secret.txt\n")],
        &[],
    );
    assert!(log.contains("file not found in build context"), "{log}");
}

#[test]
fn copy_result_is_cached_by_content_not_by_mtime() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let ctx = context_with(&[("a.txt", b"one")]);
    write_dockerfile(ctx.path(), "FROM busybox\nCOPY a.txt /a.txt\n");
    build(&h, "cc:1", ctx.path());
    std::fs::write(ctx.path().join("a.txt"), "one").unwrap();
    let out = h.build_dir("cc:2", ctx.path(), &[]);
    assert!(
        stderr(&out).contains("CACHED"),
        "same content, same key: {}",
        stderr(&out)
    );
    std::fs::write(ctx.path().join("a.txt"), "two").unwrap();
    build(&h, "cc:3", ctx.path());
    assert_eq!(h.sh("cc:3", "cat /a.txt"), "two");
}

/// Snapshot directories in the state dir.
fn snapshot_count(h: &Hoist) -> usize {
    std::fs::read_dir(h.root.path().join("snapshots"))
        .map(|d| d.count())
        .unwrap_or(0)
}

#[test]
fn a_copy_into_a_new_directory_is_written_into_the_layer_and_unpacked_when_used() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let ctx = context_with(&[
        ("src/main.c", b"int main;"),
        ("src/lib/a.h", b"#define A"),
        ("README", b"readme"),
        ("secret.key", b"never copied"),
    ]);
    std::fs::write(ctx.path().join(".dockerignore"), "secret.key\n").unwrap();
    std::fs::set_permissions(
        ctx.path().join("README"),
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    std::fs::hard_link(ctx.path().join("README"), ctx.path().join("src/README")).unwrap();
    symlink("main.c", ctx.path().join("src/link")).unwrap();
    write_dockerfile(ctx.path(), "FROM busybox\nCOPY --chown=12:34 . /app\n");
    let before = snapshot_count(&h);
    build(&h, "grafted", ctx.path());
    assert_eq!(
        snapshot_count(&h),
        before,
        "the COPY's layer went straight into the blob, with no snapshot made"
    );
    let (_, layers) = h.saved("grafted");
    let entries = common::read_tar(layers.last().unwrap());
    assert_eq!(entries["app/src/lib/a.h"], b"#define A");
    assert!(!entries.contains_key("app/secret.key"));
    // The image runs: its snapshot is unpacked from the blob now.
    let listing = h.sh(
        "grafted",
        "cd /app && stat -c '%n %a %u:%g %h' README src/README src/main.c && readlink src/link",
    );
    assert_eq!(
        listing,
        "README 600 12:34 2\nsrc/README 600 12:34 2\nsrc/main.c 644 12:34 1\nmain.c\n"
    );
    assert_eq!(snapshot_count(&h), before + 1);
    // A later build's RUN mounts it too.
    let (out, _ctx) = h.build_text(
        "on-top",
        "FROM grafted\nRUN cat /app/src/main.c /app/README > /both\n",
        &[],
        &[],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(h.sh("on-top", "cat /both"), "int main;readme");
}

/// A COPY of more files than `PARALLEL_AFTER_ENTRIES`: its snapshot is unpacked on worker threads, and the
/// next RUN sees every file whole, with its mode.
#[test]
fn a_copy_of_thousands_of_files_is_seen_whole() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let ctx = tempfile::tempdir().unwrap();
    let mut expected = Vec::new();
    for d in 0..25 {
        let dir = ctx.path().join(format!("d{d:02}"));
        std::fs::create_dir(&dir).unwrap();
        for f in 0..90 {
            let body = format!("file {d}/{f}\n").repeat(1 + (d * 90 + f) % 40);
            std::fs::write(dir.join(format!("f{f:02}")), &body).unwrap();
            expected.push(body);
        }
    }
    let exe = ctx.path().join("d07/f03");
    std::fs::set_permissions(&exe, std::os::unix::fs::PermissionsExt::from_mode(0o751)).unwrap();
    write_dockerfile(
        ctx.path(),
        "FROM busybox\nCOPY . /app\nRUN cd /app && find . -type f -path './d*' | wc -l > /count && cat d*/f* | sha256sum > /sum\n",
    );
    build(&h, "many", ctx.path());
    let sum = common::sha256_hex(expected.concat().as_bytes());
    let seen = h.sh("many", "cat /count /sum; stat -c '%a' /app/d07/f03");
    assert_eq!(seen, format!("2250\n{sum}  -\n751\n"));
}
