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
