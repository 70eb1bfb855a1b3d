//! `--network bridge`: a namespace of its own on the hoist0 bridge, reaching the host; `-p` publishing a
//! port on 127.0.0.1 to a server in the container. Traffic stays between the host and these namespaces.
mod common;
use common::*;

use std::io::{Read, Write};

fn have_tools() -> bool {
    let ok = ["ip", "iptables", "nsenter"].iter().all(|t| {
        std::process::Command::new(t)
            .arg("--version")
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
            || std::process::Command::new(t)
                .arg("-V")
                .output()
                .map(|o| o.status.success())
                .unwrap_or(false)
    });
    if !ok {
        eprintln!("SKIPPED: bridge tests need iproute2, iptables and util-linux (nsenter)");
    }
    ok
}

#[test]
fn bridge_has_its_own_address_and_reaches_the_host() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    if !have_tools() {
        return;
    }
    let (code, out, err) = h.out(&["run", "--rm", "--network", "bridge", "busybox", "sh", "-c", "ls /sys/class/net | tr '\\n' ' '; ip -4 addr show eth0 | grep -o 'inet [0-9.]*'; ping -c1 -W2 10.89.0.1 >/dev/null && echo host-reachable"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("eth0 lo "), "{out}");
    assert!(out.contains("inet 10.89."), "{out}");
    assert!(out.contains("host-reachable"), "{out}");
    // A server on the host's bridge address is reachable from the container.
    let listener = std::net::TcpListener::bind("10.89.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        s.write_all(b"hello from the host\n").unwrap();
    });
    let (code, out, err) = h.out(&[
        "run",
        "--rm",
        "--network",
        "bridge",
        "busybox",
        "nc",
        "10.89.0.1",
        &port.to_string(),
    ]);
    assert_eq!((code, out.as_str()), (0, "hello from the host\n"), "{err}");
    server.join().unwrap();
}

#[test]
fn published_port_reaches_httpd_in_the_container() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    if !have_tools() {
        return;
    }
    // A free port: bind :0, read it, let it go.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let publish = format!("{port}:8080");
    let id = h.detach(&[
        "--network",
        "bridge",
        "-p",
        &publish,
        "busybox",
        "sh",
        "-c",
        "mkdir /www && echo served > /www/index.html && exec httpd -f -p 8080 -h /www",
    ]);
    let mut body = String::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !body.contains("served") {
        assert!(
            std::time::Instant::now() < deadline,
            "no answer on 127.0.0.1:{port}: {body}"
        );
        body.clear();
        if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            let _ = s.write_all(b"GET / HTTP/1.0\r\n\r\n");
            let _ = s.read_to_string(&mut body);
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(
        body.starts_with("HTTP/1.") && body.contains("200"),
        "{body}"
    );
    let (_, inspect, _) = h.out(&["inspect", &id]);
    assert!(inspect.contains("\"IPAddress\": \"10.89."), "{inspect}");
    // The port is taken while the container runs.
    let (code, _, err) = h.out(&[
        "run",
        "--rm",
        "--network",
        "bridge",
        "-p",
        &publish,
        "busybox",
        "true",
    ]);
    assert_eq!(code, 125, "{err}");
    assert_eq!(h.out(&["rm", "-f", &id]).0, 0);
    assert_eq!(leftovers_after(&id, 5), Vec::<String>::new());
    let veth = format!("/sys/class/net/vh{}", &id[..12]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while std::path::Path::new(&veth).exists() {
        assert!(std::time::Instant::now() < deadline, "{veth} left behind");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "the proxy went with the container"
    );
    // -p without --network puts the container on the bridge, as docker's default network.
    let (code, out, err) = h.out(&[
        "run",
        "--rm",
        "-p",
        &publish,
        "busybox",
        "sh",
        "-c",
        "ls /sys/class/net | tr '\\n' ' '",
    ]);
    assert_eq!((code, out.as_str()), (0, "eth0 lo "), "{err}");
    // With the host network the ports are the host's already: -p is refused.
    let (code, _, err) = h.out(&[
        "run",
        "--rm",
        "--network",
        "host",
        "-p",
        &publish,
        "busybox",
        "true",
    ]);
    assert_eq!(code, 125, "{err}");
}
