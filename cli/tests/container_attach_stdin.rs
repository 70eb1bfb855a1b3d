//! The stdin of a container made with `-i`, reached later: `attach` and `start -a -i` send theirs
//! to it through the monitor, as Docker's do (`run -di` keeps it open across attaches; `create -i`
//! closes it at the first client's end; `-t` types into the pty; the detach keys leave it running).
mod common;
use std::io::{BufRead, Write};
use std::time::Duration;

use common::Hoist;

fn inspect(h: &Hoist, name: &str, template: &str) -> String {
    let (code, out, err) = h.out(&["inspect", "-f", template, name]);
    assert_eq!(code, 0, "{err}");
    out.trim().to_string()
}

/// `attach NAME` fed `input` (then its end): the first line of its output, within 10 s.
fn attach_first_line(h: &Hoist, name: &str, input: &[u8]) -> (std::process::Child, String) {
    let mut child = h
        .cmd()
        .args(["attach", name])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = std::io::BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx.recv_timeout(Duration::from_secs(10)).unwrap_or_default();
    (child, line)
}

#[test]
fn attach_sends_stdin_to_a_detached_interactive_container() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    h.detach(&["-i", "--name", "c1", "busybox", "cat"]);
    let (child, line) = attach_first_line(&h, "c1", b"hello\n");
    assert_eq!(line, "hello\n", "cat echoed what attach sent");
    // `run -di`: the end of attach's input leaves the container's stdin open (Docker's
    // StdinOnce=false), so cat runs on and a second attach reaches it too.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(inspect(&h, "c1", "{{.State.Status}}"), "running");
    let (second, line) = attach_first_line(&h, "c1", b"again\n");
    assert_eq!(line, "again\n");
    let (code, _, err) = h.out(&["kill", "c1"]);
    assert_eq!(code, 0, "{err}");
    for mut c in [child, second] {
        assert_eq!(c.wait().unwrap().code(), Some(137), "attach ends with cat");
    }
    assert_eq!(h.out(&["logs", "c1"]).1, "hello\nagain\n");

    // The detach keys: attach ends (1, Docker's words), the container runs on; what came
    // before them reached it.
    h.detach(&["-i", "--name", "c2", "busybox", "cat"]);
    let (code, _, err) = h.out_with_stdin(
        &["attach", "--detach-keys", "ctrl-x,x", "c2"],
        b"one\n\x18x",
    );
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("read escape sequence"), "{err}");
    assert_eq!(inspect(&h, "c2", "{{.State.Status}}"), "running");
    assert_eq!(h.out(&["logs", "c2"]).1, "one\n");
    // Keys that are no keys: said so.
    let (code, _, err) = h.out(&["attach", "--detach-keys", "ctrl-1", "c2"]);
    assert_eq!(code, 1);
    assert!(err.contains("--detach-keys"), "{err}");
    h.out(&["rm", "-f", "c2"]);
}

#[test]
fn start_ai_sends_stdin_and_its_end_closes_the_containers() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let (code, _, err) = h.out(&["create", "-i", "--name", "c3", "busybox", "cat"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(inspect(&h, "c3", "{{.Config.StdinOnce}}"), "true");
    // `create -i`: the end of start's input is cat's, which exits 0.
    let (code, out, err) = h.out_with_stdin(&["start", "-ai", "c3"], b"hi\n");
    assert_eq!((code, out.as_str()), (0, "hi\n"), "{err}");
    h.out(&["rm", "-f", "c3"]);
}

#[test]
fn attach_types_into_a_detached_tty() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    h.detach(&["-it", "--name", "t1", "busybox", "sh"]);
    let (code, out, err) = h.out_with_stdin(&["attach", "t1"], b"echo $((6*7)); exit 3\n");
    assert_eq!(code, 3, "{err}");
    assert!(out.contains("42\r\n"), "{out:?}");
    h.out(&["rm", "-f", "t1"]);
}
