//! The container log in Docker's json-file format, read back by `hoist logs` with `--since`,
//! `--until`, `-t`, `--tail`, `-f`; stderr to hoist's stderr; rotation by `--log-opt`;
//! `--log-driver none`.
mod common;
use common::*;

use std::time::Duration;

fn log_file(h: &Hoist, id: &str) -> std::path::PathBuf {
    h.root
        .path()
        .join("containers")
        .join(id)
        .join("container.log")
}

#[test]
fn json_lines_with_streams_and_times() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let id = h.detach(&[
        "--name",
        "talk",
        "busybox",
        "sh",
        "-c",
        "echo out; echo err >&2; printf 'no newline'",
    ]);
    assert_eq!(h.wait_exited("talk", 10), 0);
    let text = std::fs::read_to_string(log_file(&h, &id)).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3, "{text}");
    let find = |log: &str| {
        lines
            .iter()
            .find(|l| l["log"] == log)
            .unwrap_or_else(|| panic!("{log:?} in {text}"))
    };
    assert_eq!(find("out\n")["stream"], "stdout");
    assert_eq!(find("err\n")["stream"], "stderr");
    assert_eq!(find("no newline")["stream"], "stdout");
    for l in &lines {
        let time = l["time"].as_str().unwrap();
        assert!(chrono::DateTime::parse_from_rfc3339(time).is_ok(), "{time}");
    }
    let (code, out, err) = h.out(&["logs", "talk"]);
    assert_eq!(code, 0);
    assert_eq!(out, "out\nno newline");
    assert_eq!(err, "err\n");
    let (_, out, _) = h.out(&["logs", "-t", "talk"]);
    let first = out.lines().next().unwrap();
    let (time, rest) = first.split_once(' ').unwrap();
    assert!(
        chrono::DateTime::parse_from_rfc3339(time).is_ok() && rest == "out",
        "{out}"
    );
    assert_eq!(h.out(&["logs", "--tail", "1", "talk"]).1, "no newline");
}

#[test]
fn since_and_until() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    h.detach(&[
        "--name",
        "timed",
        "busybox",
        "sh",
        "-c",
        "echo early; sleep 2; echo late",
    ]);
    assert_eq!(h.wait_exited("timed", 15), 0);
    let (_, out, _) = h.out(&["logs", "-t", "timed"]);
    let times: Vec<chrono::DateTime<chrono::FixedOffset>> = out
        .lines()
        .map(|l| chrono::DateTime::parse_from_rfc3339(l.split_once(' ').unwrap().0).unwrap())
        .collect();
    let middle = times[0] + (times[1] - times[0]) / 2;
    let middle_text = middle.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
    assert_eq!(
        h.out(&["logs", "--since", &middle_text, "timed"]).1,
        "late\n"
    );
    assert_eq!(
        h.out(&["logs", "--until", &middle_text, "timed"]).1,
        "early\n"
    );
    let unix = format!(
        "{}.{:09}",
        middle.timestamp(),
        middle.timestamp_subsec_nanos()
    );
    assert_eq!(h.out(&["logs", "--since", &unix, "timed"]).1, "late\n");
    assert_eq!(
        h.out(&["logs", "--since", "10m", "timed"]).1,
        "early\nlate\n"
    );
    assert_eq!(h.out(&["logs", "--until", "10m", "timed"]).1, "");
    let (code, _, err) = h.out(&["logs", "--since", "yesterday", "timed"]);
    assert_ne!(code, 0);
    assert!(err.contains("yesterday"), "{err}");
}

#[test]
fn rotation_keeps_max_file_files_and_logs_reads_across_them() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let id = h.detach(&[
        "--name",
        "chatty",
        "--log-opt",
        "max-size=1k",
        "--log-opt",
        "max-file=3",
        "busybox",
        "sh",
        "-c",
        "i=0; while [ $i -lt 200 ]; do i=$((i+1)); echo line $i; done",
    ]);
    assert_eq!(h.wait_exited("chatty", 15), 0);
    let path = log_file(&h, &id);
    let dir = path.parent().unwrap();
    let mut logs: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("container.log"))
        .collect();
    logs.sort();
    assert_eq!(
        logs,
        ["container.log", "container.log.1", "container.log.2"]
    );
    for name in &logs {
        assert!(
            std::fs::metadata(dir.join(name)).unwrap().len() <= 1024,
            "{name}"
        );
    }
    let (_, out, _) = h.out(&["logs", "chatty"]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.last(), Some(&"line 200"));
    // Consecutive: nothing lost between the files kept.
    let first: usize = lines[0].trim_start_matches("line ").parse().unwrap();
    assert!(first > 1, "old lines rotated away");
    let expected: Vec<String> = (first..=200).map(|i| format!("line {i}")).collect();
    assert_eq!(lines, expected);
    // --tail reaches into the rotated files.
    let tail_n = lines.len() - 2;
    let (_, out, _) = h.out(&["logs", "--tail", &tail_n.to_string(), "chatty"]);
    assert_eq!(out.lines().count(), tail_n);
    assert!(out.ends_with("line 200\n"));
}

#[test]
fn log_driver_none_cannot_be_read_and_tty_output_is_readable() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let id = h.detach(&[
        "--name",
        "quiet",
        "--log-driver",
        "none",
        "busybox",
        "echo",
        "hi",
    ]);
    assert_eq!(h.wait_exited("quiet", 10), 0);
    let (code, _, err) = h.out(&["logs", "quiet"]);
    assert_ne!(code, 0);
    assert!(
        err.contains("configured logging driver does not support reading"),
        "{err}"
    );
    assert!(!log_file(&h, &id).exists());
    let (_, out, _) = h.out(&["inspect", "-f", "{{.HostConfig.LogConfig.Type}}", "quiet"]);
    assert_eq!(out.trim(), "none");
    // A tty's output: one stream, readable.
    h.detach(&[
        "--name",
        "term",
        "-t",
        "busybox",
        "sh",
        "-c",
        "echo on-a-tty; echo also >&2",
    ]);
    assert_eq!(h.wait_exited("term", 10), 0);
    let (_, out, _) = h.out(&["logs", "term"]);
    assert_eq!(out.replace('\r', ""), "on-a-tty\nalso\n");
}

#[test]
fn follow_prints_new_lines_until_exit() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    h.detach(&[
        "--name",
        "tick",
        "busybox",
        "sh",
        "-c",
        "for i in 1 2 3; do echo tick $i; sleep 0.3; done",
    ]);
    let started = std::time::Instant::now();
    let (code, out, _) = h.out(&["logs", "-f", "tick"]);
    assert_eq!(code, 0);
    assert_eq!(out, "tick 1\ntick 2\ntick 3\n");
    assert!(started.elapsed() >= Duration::from_millis(500));
}

#[test]
fn a_foreground_run_is_logged_and_still_prints_directly() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    // The terminal (here: our pipes) gets each stream as before; the log has both, apart.
    let (code, out, err) = h.out(&[
        "run",
        "--name",
        "fg",
        "busybox",
        "sh",
        "-c",
        "echo hi; echo oops >&2; exit 3",
    ]);
    assert_eq!((code, out.as_str(), err.as_str()), (3, "hi\n", "oops\n"));
    let (code, out, err) = h.out(&["logs", "fg"]);
    assert_eq!((code, out.as_str(), err.as_str()), (0, "hi\n", "oops\n"));
    // A reader that leaves: the container gets its SIGPIPE, as when it wrote there itself.
    let mut child = h
        .cmd()
        // Not pid 1, which the kernel shields from SIGPIPE.
        .args([
            "run",
            "--name",
            "yes",
            "busybox",
            "sh",
            "-c",
            "yes; exit $?",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 2];
    std::io::Read::read_exact(child.stdout.as_mut().unwrap(), &mut first).unwrap();
    drop(child.stdout.take());
    assert_eq!(
        child.wait().unwrap().code(),
        Some(141),
        "yes died of SIGPIPE"
    );
    // --log-driver none: no log, the output as before.
    let (code, out, _) = h.out(&[
        "run",
        "--name",
        "nolog",
        "--log-driver",
        "none",
        "busybox",
        "echo",
        "x",
    ]);
    assert_eq!((code, out.as_str()), (0, "x\n"));
    let (code, _, err) = h.out(&["logs", "nolog"]);
    assert_ne!(code, 0, "{err}");
}
