//! Cache keys and `--explain`: a step misses exactly when what it reads changed, and says why in words.
mod common;

use common::{context_with, stderr, stdout, Hoist};

const DOCKERFILE: &str = "\
FROM busybox
ARG VERSION=1.2
COPY a.txt /a.txt
COPY src/ /src/
RUN echo $VERSION > /v
RUN cat /src/main.rs
";

fn step_lines<'a>(log: &'a str, needle: &str) -> Vec<&'a str> {
    log.lines().filter(|l| l.contains(needle)).collect()
}

#[test]
fn explain_names_the_changed_file_and_argument() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let ctx = context_with(&[
        ("Dockerfile", DOCKERFILE.as_bytes()),
        ("a.txt", b"one\n"),
        ("src/main.rs", b"fn main() {}\n"),
        ("other.txt", b"not read by any step\n"),
    ]);
    let first = h.build_dir("ex:1", ctx.path(), &[]);
    assert!(first.status.success(), "{}", stderr(&first));

    // A file no step reads, and a new mtime on a file a step does read: every step stays cached.
    std::fs::write(ctx.path().join("other.txt"), "changed\n").unwrap();
    let f = std::fs::File::options()
        .write(true)
        .open(ctx.path().join("a.txt"))
        .unwrap();
    f.set_modified(std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(86_400))
        .unwrap();
    drop(f);
    let again = h.build_dir("ex:1", ctx.path(), &["--explain"]);
    let log = stderr(&again);
    assert!(again.status.success(), "{log}");
    assert!(log.contains("4 steps cached, 0 executed"), "{log}");
    // That rebuild made nothing: the image keeps the report of the build that made it.
    let (code, out, err) = h.out(&["cache", "explain", "ex:1"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("4 steps, 0 from the cache"), "{out}");

    // One file's content and one build arg change.
    std::fs::write(ctx.path().join("src/main.rs"), "fn main() { run() }\n").unwrap();
    let changed = h.build_dir(
        "ex:2",
        ctx.path(),
        &["--explain", "--build-arg", "VERSION=1.3"],
    );
    let log = stderr(&changed);
    assert!(changed.status.success(), "{log}");
    assert!(log.contains("1 steps cached, 3 executed"), "{log}");
    let misses = step_lines(&log, "MISS:");
    assert_eq!(misses.len(), 3, "{log}");
    assert!(
        misses[0].contains("sources changed: src/main.rs (content)"),
        "{log}"
    );
    assert!(misses[1].contains("parent missed"), "{log}");
    assert!(
        misses[1].contains("VERSION changed 1.2 → 1.3"),
        "the argument is named too: {log}"
    );

    // The same story, later, from the store.
    let (code, out, err) = h.out(&["cache", "explain", "ex:2"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("4 steps, 1 from the cache"), "{out}");
    assert!(out.contains("COPY a.txt /a.txt: CACHED"), "{out}");
    assert!(out.contains("src/main.rs (content)"), "{out}");
    let (code, out, _) = h.out(&["cache", "explain", "last"]);
    assert_eq!(code, 0);
    assert!(out.contains("the latest build"), "{out}");
    let missing = h.run(&["cache", "explain", "no-such:image"]);
    assert!(!missing.status.success());
    assert!(
        stderr(&missing).contains("no such image"),
        "{}",
        stdout(&missing)
    );
}

/// A rebuild of an unchanged context reuses the checksum of the walk's stat signature (recorded only for files
/// older than two seconds): it must still see every content change, and still name changed files.
#[test]
fn unchanged_context_is_not_rehashed_but_every_change_is_seen() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let dockerfile =
        "FROM busybox\nARG STEP=1\nRUN echo $STEP > /step\nCOPY . /app\nRUN cat /app/src/main.rs\n";
    let ctx = context_with(&[
        ("Dockerfile", dockerfile.as_bytes()),
        ("src/main.rs", b"version one\n"),
        ("notes.txt", b"notes\n"),
    ]);
    // Older than the window in which a change could hide within one timestamp tick (100 ms where
    // timestamps have fractions of a second).
    std::thread::sleep(std::time::Duration::from_millis(300));
    let first = h.build_dir("tree:1", ctx.path(), &[]);
    assert!(first.status.success(), "{}", stderr(&first));
    let again = h.build_dir("tree:1", ctx.path(), &[]);
    assert!(
        stderr(&again).contains("3 steps cached, 0 executed"),
        "{}",
        stderr(&again)
    );

    // The RUN before the COPY changes: the COPY runs with a reused checksum and must still copy the files.
    let rerun = h.build_dir("tree:2", ctx.path(), &["--build-arg", "STEP=2"]);
    let log = stderr(&rerun);
    assert!(rerun.status.success(), "{log}");
    assert!(log.contains("version one"), "{log}");

    // Same size, new content: the signature changes (ctime), the file is hashed, the COPY misses and names it.
    std::fs::write(ctx.path().join("src/main.rs"), "version two\n").unwrap();
    let changed = h.build_dir(
        "tree:3",
        ctx.path(),
        &["--explain", "--build-arg", "STEP=2"],
    );
    let log = stderr(&changed);
    assert!(changed.status.success(), "{log}");
    assert!(log.contains("version two"), "{log}");
    assert!(
        log.contains("sources changed: src/main.rs (content)"),
        "{log}"
    );

    // A new .dockerignore changes what the walk sees.
    std::fs::write(ctx.path().join(".dockerignore"), "notes.txt\n").unwrap();
    let ignored = h.build_dir("tree:4", ctx.path(), &["--build-arg", "STEP=2"]);
    assert!(ignored.status.success(), "{}", stderr(&ignored));
    let listing = h.sh("tree:4", "ls -a /app");
    assert!(!listing.contains("notes.txt"), "{listing}");
    assert!(listing.contains(".dockerignore"), "{listing}");
}

#[test]
fn explain_finds_the_earlier_build_of_the_same_project_in_another_checkout() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let files: [(&str, &[u8]); 3] = [
        ("Dockerfile", DOCKERFILE.as_bytes()),
        ("a.txt", b"one\n"),
        ("src/main.rs", b"fn main() {}\n"),
    ];
    let first = context_with(&files);
    let built = h.build_dir("co:1", first.path(), &[]);
    assert!(built.status.success(), "{}", stderr(&built));
    // The same project checked out elsewhere, one source changed.
    let second = context_with(&files);
    std::fs::write(second.path().join("src/main.rs"), "fn main() { run() }\n").unwrap();
    let rebuilt = h.build_dir("co:2", second.path(), &["--explain", "--progress", "plain"]);
    let log = stderr(&rebuilt);
    assert!(rebuilt.status.success(), "{log}");
    assert!(!log.contains("no earlier build of this step"), "{log}");
    assert!(log.contains("src/main.rs"), "{log}");
}
