//! `hoist wait`, `rename`, `port`, `diff` as Docker prints them.
mod common;
use common::Hoist;

#[test]
fn wait_rename_port_and_diff() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let id = h.detach(&[
        "--name",
        "w1",
        "busybox",
        "sh",
        "-c",
        "echo x > /etc/new; rm /bin/ls; mkdir -p /tmp/d && echo y > /tmp/d/f; sleep 1; exit 7",
    ]);
    let (code, out, err) = h.out(&["rename", "w1", "w2"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "");
    assert_eq!(h.out(&["ps", "-a", "--format", "{{.Names}}"]).1, "w2\n");
    let (code, _, err) = h.out(&["rename", "w1", "w3"]);
    assert_eq!(code, 1);
    assert!(err.contains("No such container: w1"), "{err}");
    let (code, _, err) = h.out(&["rename", "w2", "bad name"]);
    assert_eq!(code, 1);
    assert!(err.contains("invalid container name"), "{err}");

    // `wait` prints the exit code once the container exits.
    let (code, out, err) = h.out(&["wait", "w2"]);
    assert_eq!((code, out.as_str()), (0, "7\n"), "{err}");
    let (code, out, err) = h.out(&["wait", &id[..12], "nope"]);
    assert_eq!((code, out.as_str()), (1, "7\n"), "{err}");
    assert!(err.contains("No such container: nope"), "{err}");

    let (code, diff, err) = h.out(&["diff", "w2"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        diff,
        "C /bin\nD /bin/ls\nC /etc\nA /etc/new\nC /tmp\nA /tmp/d\nA /tmp/d/f\n"
    );
    // No published ports: `port` prints nothing; asking for one is an error.
    assert_eq!(h.out(&["port", "w2"]), (0, String::new(), String::new()));
    let (code, _, err) = h.out(&["port", "w2", "80"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("No public port '80/tcp' published for w2"),
        "{err}"
    );
    // The old name is free again.
    assert_eq!(h.out(&["run", "--name", "w1", "busybox", "true"]).0, 0);
    assert_eq!(h.out(&["rm", "-f", "w1", "w2"]).0, 0);
}

#[test]
fn port_lists_published_ports() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let free = || {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let (a, b) = (free(), free());
    let (code, _, err) = h.out(&[
        "run",
        "-d",
        "--name",
        "srv",
        "--network",
        "bridge",
        "-p",
        &format!("{a}:80"),
        "-p",
        &format!("{b}:443"),
        "busybox",
        "sleep",
        "30",
    ]);
    if code != 0 && err.contains("iptables") {
        return; // no bridge tooling here (run_network.rs says so)
    }
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        h.out(&["port", "srv"]).1,
        format!("80/tcp -> 0.0.0.0:{a}\n80/tcp -> [::]:{a}\n443/tcp -> 0.0.0.0:{b}\n443/tcp -> [::]:{b}\n")
    );
    assert_eq!(
        h.out(&["port", "srv", "443/tcp"]).1,
        format!("0.0.0.0:{b}\n[::]:{b}\n")
    );
    assert_eq!(h.out(&["rm", "-f", "srv"]).0, 0);
}

#[test]
fn logs_tail_shows_the_last_lines() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    h.detach(&[
        "--name",
        "talk",
        "busybox",
        "sh",
        "-c",
        "for i in 1 2 3 4; do echo line $i; done",
    ]);
    assert_eq!(h.out(&["wait", "talk"]).1, "0\n");
    assert_eq!(
        h.out(&["logs", "--tail", "2", "talk"]).1,
        "line 3\nline 4\n"
    );
    assert_eq!(h.out(&["logs", "-n", "1", "talk"]).1, "line 4\n");
    assert_eq!(
        h.out(&["logs", "--tail", "all", "talk"]).1.lines().count(),
        4
    );
    assert_eq!(h.out(&["logs", "--tail", "0", "talk"]).1, "");
    assert_eq!(h.out(&["rm", "talk"]).0, 0);
}
