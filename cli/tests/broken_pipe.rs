//! A reader that goes away (`| head`, a closed descriptor) ends hoist quietly: no panic, no exit 101. A build
//! carries on to its end (the image is made, later output is dropped); a listing ends normally; a stream whose
//! output is the point (`save -o -`) stops with 141, as a process SIGPIPE killed would.
mod common;
use common::*;

/// Runs `script` under bash with `$H` the hoist binary and HOIST_ROOT set; returns (hoist's exit code as the
/// script echoes it last, everything printed).
fn bash(h: &Hoist, script: &str) -> (i32, String) {
    let out = std::process::Command::new("bash")
        .args(["-c", script])
        .env("H", env!("CARGO_BIN_EXE_hoist"))
        .env("HOIST_ROOT", h.root.path())
        .output()
        .unwrap();
    let text = format!("{}{}", stdout(&out), stderr(&out));
    let code = stdout(&out)
        .lines()
        .last()
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or(-1);
    (code, text)
}

fn assert_quiet(what: &str, code: i32, text: &str) {
    assert_ne!(code, 101, "{what}: exit 101\n{text}");
    assert!(!text.contains("panicked"), "{what}: {text}");
    assert!(!text.contains("Broken pipe"), "{what}: {text}");
}

#[test]
fn a_build_piped_into_head_finishes_without_a_panic() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let ctx = tempfile::tempdir().unwrap();
    std::fs::write(
        ctx.path().join("Dockerfile"),
        "FROM busybox\nRUN for i in $(seq 1 200); do echo line $i; done\nRUN echo two\n",
    )
    .unwrap();
    let dir = ctx.path().display();
    for progress in ["plain", "json", "tty"] {
        let (code, text) = bash(
            &h,
            &format!(
                "$H build --no-cache --progress {progress} -t piped:{progress} {dir} 2>&1 | head -1; \
                 echo ${{PIPESTATUS[0]}}"
            ),
        );
        assert_quiet(progress, code, &text);
        assert_eq!(code, 0, "{progress}: {text}");
        // The build went on to its end: the image is there.
        let (code, _, err) = h.out(&["inspect", &format!("piped:{progress}")]);
        assert_eq!(code, 0, "{err}");
    }
    let (code, text) = bash(&h, &format!("$H build -q {dir} >&- 2>&-; echo $?"));
    assert_quiet("build -q, stdout closed", code, &text);
    assert_eq!(code, 0, "{text}");
}

#[test]
fn listings_into_a_closed_pipe_or_descriptor_end_quietly() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    for command in [
        "images",
        "images -q",
        "ps -a",
        "cache ls",
        "cache du",
        "inspect busybox",
        "rmi nothere",
    ] {
        for redirect in ["| head -0", ">&-", "2>&- | head -0"] {
            let (code, text) = bash(
                &h,
                &format!("$H {command} {redirect}; echo ${{PIPESTATUS[0]}}"),
            );
            assert_quiet(&format!("{command} {redirect}"), code, &text);
        }
    }
    // Printing to a closed stdout is not an error of the command: it ends as it would have.
    let (code, text) = bash(&h, "$H images >&-; echo $?");
    assert_eq!(code, 0, "{text}");
}

#[test]
fn save_to_a_reader_that_leaves_stops_with_141() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let (code, text) = bash(
        &h,
        "$H save -o - busybox | head -c 100 >/dev/null; echo ${PIPESTATUS[0]}",
    );
    assert_quiet("save -o - | head -c", code, &text);
    assert_eq!(code, 141, "{text}");
    let (code, text) = bash(&h, "$H save busybox >&-; echo $?");
    assert_quiet("save >&-", code, &text);
}

/// A full disk is not a reader going away: a listing redirected to a file that cannot take it is incomplete, and
/// a script must see that from the exit code (docker's Go client drops the error; coreutils exit 1).
#[test]
fn a_listing_into_a_full_disk_fails_with_the_reason() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    if !std::path::Path::new("/dev/full").exists() {
        eprintln!("SKIPPED: no /dev/full");
        return;
    }
    for listing in ["images", "ps -a", "network ls"] {
        let (code, text) = bash(&h, &format!("$H {listing} > /dev/full; echo $?"));
        assert_eq!(code, 1, "{listing} > /dev/full: {text}");
        assert!(
            text.contains("writing standard output: No space left on device"),
            "{listing}: {text}"
        );
        assert_quiet(listing, code, &text);
    }
    // A closed pipe still ends quietly with 0.
    let (code, text) = bash(&h, "$H images | true; echo ${PIPESTATUS[0]}");
    assert_eq!(code, 0, "{text}");
}
