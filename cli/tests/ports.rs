//! `-p` and `-P` as docker's: all interfaces by default, `IP::CPORT` and `CPORT` alone (a free host
//! port), `-P` for the image's EXPOSEd ports, `-p` alone putting the container on the bridge, the
//! real bindings in `hoist port` and `ps`, reachable from the host and from another container.
//! Traffic stays between 127.0.0.1, the hoist0 bridge and namespaces these tests made.
mod common;
use common::*;

const SERVER: &str = "while true; do echo hello-$PORTNAME | nc -l -p 8080; done";

fn have_tools() -> bool {
    let ok = std::process::Command::new("ip")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!("SKIPPED: port tests need iproute2 and iptables");
    }
    ok
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// What the server at `addr` says, retried while it starts.
fn answer(addr: &str) -> String {
    use std::io::Read;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        if let Ok(mut s) = std::net::TcpStream::connect(addr) {
            let mut body = String::new();
            let _ = s.set_read_timeout(Some(std::time::Duration::from_secs(2)));
            let _ = s.read_to_string(&mut body);
            if !body.is_empty() {
                return body;
            }
        }
        assert!(std::time::Instant::now() < deadline, "no answer on {addr}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[test]
fn publish_on_all_interfaces_and_free_ports() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    if !have_tools() {
        return;
    }
    let port = free_port();
    // No --network: -p puts the container on the bridge.
    let id = h.detach(&[
        "-e",
        "PORTNAME=fixed",
        "-p",
        &format!("{port}:8080"),
        "busybox",
        "sh",
        "-c",
        SERVER,
    ]);
    assert_eq!(answer(&format!("127.0.0.1:{port}")), "hello-fixed\n");
    let (_, out, _) = h.out(&["port", &id]);
    assert_eq!(
        out,
        format!("8080/tcp -> 0.0.0.0:{port}\n8080/tcp -> [::]:{port}\n")
    );
    let (_, bound, _) = h.out(&[
        "inspect",
        "-f",
        "{{range (index .NetworkSettings.Ports \"8080/tcp\")}}{{.HostIp}}:{{.HostPort}} {{end}}",
        &id,
    ]);
    assert_eq!(bound.trim(), format!("0.0.0.0:{port} :::{port}"));
    let (_, ps, _) = h.out(&["ps", "--format", "{{.Ports}}"]);
    assert_eq!(
        ps.trim(),
        format!("0.0.0.0:{port}->8080/tcp, :::{port}->8080/tcp")
    );
    // From another container, through the host's bridge address.
    let script = format!(
        "for i in $(seq 20); do nc -w 2 10.89.0.1 {port} && exit 0; sleep 0.2; done; exit 1"
    );
    let (code, out, err) = h.out(&[
        "run",
        "--rm",
        "--network",
        "bridge",
        "busybox",
        "sh",
        "-c",
        &script,
    ]);
    assert_eq!((code, out.as_str()), (0, "hello-fixed\n"), "{err}");

    // IP::CPORT and CPORT alone: a free host port, shown by `port`.
    let id2 = h.detach(&[
        "-e",
        "PORTNAME=loop",
        "-p",
        "127.0.0.1::8080",
        "busybox",
        "sh",
        "-c",
        SERVER,
    ]);
    let (_, out, _) = h.out(&["port", &id2, "8080"]);
    let addr = out.trim().to_string();
    assert!(
        addr.starts_with("127.0.0.1:") && !addr.ends_with(":0"),
        "{out}"
    );
    assert_eq!(answer(&addr), "hello-loop\n");
    let id3 = h.detach(&[
        "-e",
        "PORTNAME=any",
        "-p",
        "8080",
        "busybox",
        "sh",
        "-c",
        SERVER,
    ]);
    let (_, out, _) = h.out(&["port", &id3, "8080/tcp"]);
    let first = out
        .lines()
        .next()
        .unwrap_or_default()
        .replace("0.0.0.0", "127.0.0.1");
    assert_eq!(answer(&first), "hello-any\n");
    let (code, _, err) = h.out(&["port", &id3, "9999"]);
    assert_eq!(code, 1, "{err}");
    for c in [&id, &id2, &id3] {
        assert_eq!(h.out(&["rm", "-f", c]).0, 0);
    }
    // Bad specs are refused before anything runs.
    for bad in ["80/sctp", "x:80", "1-3:1-2"] {
        let (code, _, err) = h.out(&["run", "--rm", "-p", bad, "busybox", "true"]);
        assert_eq!(code, 125, "{bad}: {err}");
    }
}

#[test]
fn publish_all_takes_the_exposed_ports() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    if !have_tools() {
        return;
    }
    let (out, _ctx) = h.build_text("exposing", "FROM busybox\nEXPOSE 8080\n", &[], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let id = h.detach(&["-P", "-e", "PORTNAME=all", "exposing", "sh", "-c", SERVER]);
    let (_, out, _) = h.out(&["port", &id]);
    let first = out.lines().next().unwrap_or_default();
    let host = first
        .strip_prefix("8080/tcp -> 0.0.0.0:")
        .unwrap_or_else(|| panic!("{out}"));
    assert_eq!(answer(&format!("127.0.0.1:{host}")), "hello-all\n");
    assert_eq!(h.out(&["rm", "-f", &id]).0, 0);
}

/// `--restart` with `-p`: the monitor keeps its published sockets across restarts and points them at each
/// new run (binding them again while the proxies held them failed the restart).
#[test]
fn published_ports_survive_restarts() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    if !have_tools() {
        return;
    }
    let port = free_port();
    // One answer per run: the server exits after each connection and is started again.
    let id = h.detach(&[
        "--restart",
        "always",
        "-p",
        &format!("{port}:8080"),
        "busybox",
        "sh",
        "-c",
        "echo run-$$ | nc -l -p 8080",
    ]);
    let first = answer(&format!("127.0.0.1:{port}"));
    let second = answer(&format!("127.0.0.1:{port}"));
    let third = answer(&format!("127.0.0.1:{port}"));
    for body in [&first, &second, &third] {
        assert!(body.starts_with("run-"), "{body:?}");
    }
    let (_, count, _) = h.out(&["inspect", "-f", "{{.RestartCount}}", &id]);
    assert!(
        count.trim().parse::<u32>().unwrap() >= 2,
        "three answers take two restarts: {count}"
    );
    let (_, status, _) = h.out(&["inspect", "-f", "{{.State.Status}}", &id]);
    assert!(
        matches!(status.trim(), "running" | "restarting"),
        "{status}"
    );
    h.out(&["rm", "-f", &id]);
}

/// `--expose` adds to the image's EXPOSE: `-P` publishes both, inspect lists both, a host part is refused.
#[test]
fn expose_flags_join_the_image_ports_for_publish_all() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    if !have_tools() {
        return;
    }
    let (out, _ctx) = h.build_text("exposing2", "FROM busybox\nEXPOSE 8080\n", &[], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let id = h.detach(&[
        "-P",
        "--expose",
        "9090",
        "--expose",
        "53/udp",
        "exposing2",
        "sleep",
        "30",
    ]);
    let (_, ports, _) = h.out(&["port", &id]);
    for port in ["8080/tcp -> ", "9090/tcp -> ", "53/udp -> "] {
        assert!(ports.contains(port), "{port}: {ports}");
    }
    let (_, exposed, _) = h.out(&["inspect", "-f", "{{json .Config.ExposedPorts}}", &id]);
    for key in ["\"8080/tcp\"", "\"9090/tcp\"", "\"53/udp\""] {
        assert!(exposed.contains(key), "{key}: {exposed}");
    }
    assert_eq!(h.out(&["rm", "-f", &id]).0, 0);
    let (code, _, err) = h.out(&["run", "--rm", "--expose", "80:80", "busybox", "true"]);
    assert_eq!(code, 125, "{err}");
    assert!(err.contains("invalid port format for --expose"), "{err}");
}
