//! User-defined networks: `hoist network create|ls|inspect|rm|prune`, and containers on one reaching
//! each other by name, alias and short id (their /etc/hosts kept current by hoist), `--ip`, and the
//! `--dns*` / `--add-host` files. Traffic stays between namespaces these tests made.
mod common;
use common::*;

fn have_tools() -> bool {
    let ok = ["ip", "iptables"].iter().all(|t| {
        std::process::Command::new(t)
            .arg("-V")
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
            || std::process::Command::new(t)
                .arg("--version")
                .output()
                .map(|o| o.status.success())
                .unwrap_or(false)
    });
    if !ok {
        eprintln!("SKIPPED: network tests need iproute2 and iptables");
    }
    ok
}

/// The networks this test made go with it, even when it fails (their bridges are the host's).
struct Cleanup<'a>(&'a Hoist, Vec<&'a str>);

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        let _ = self.0.run(&["rm", "-f", "web-a", "web-b"]);
        for n in &self.1 {
            let _ = self.0.run(&["network", "rm", n]);
        }
    }
}

#[test]
fn network_commands() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    if !have_tools() {
        return;
    }
    let _cleanup = Cleanup(&h, vec!["n1", "n2"]);
    let (code, id, err) = h.out(&["network", "create", "--label", "app=x", "n1"]);
    assert_eq!(code, 0, "{err}");
    let id = id.trim().to_string();
    assert_eq!(id.len(), 64, "{id}");
    let (code, _, err) = h.out(&["network", "create", "n1"]);
    assert_eq!(code, 1);
    assert!(err.contains("already exists"), "{err}");
    let (code, _, err) = h.out(&["network", "create", "host"]);
    assert_eq!(code, 1, "{err}");

    let (_, ls, _) = h.out(&["network", "ls"]);
    let lines: Vec<&str> = ls.lines().collect();
    assert!(
        lines[0].starts_with("NETWORK ID")
            && lines[0].contains("NAME")
            && lines[0].contains("DRIVER")
            && lines[0].contains("SCOPE"),
        "{ls}"
    );
    for (name, driver) in [
        ("bridge", "bridge"),
        ("host", "host"),
        ("none", "null"),
        ("n1", "bridge"),
    ] {
        assert!(
            lines
                .iter()
                .any(|l| l.split_whitespace().collect::<Vec<_>>()[1..] == [name, driver, "local"]),
            "{name}: {ls}"
        );
    }
    assert!(ls.contains(&id[..12]), "{ls}");
    let (_, custom, _) = h.out(&[
        "network",
        "ls",
        "-q",
        "--no-trunc",
        "--filter",
        "type=custom",
    ]);
    assert_eq!(custom.trim(), id);

    let (code, json, err) = h.out(&["network", "inspect", "n1"]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v[0]["Name"], "n1");
    assert_eq!(v[0]["Id"], id.as_str());
    assert_eq!(v[0]["Driver"], "bridge");
    assert_eq!(v[0]["Labels"]["app"], "x");
    let subnet = v[0]["IPAM"]["Config"][0]["Subnet"]
        .as_str()
        .unwrap()
        .to_string();
    let gateway = v[0]["IPAM"]["Config"][0]["Gateway"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        subnet.starts_with("172.") || subnet.starts_with("10.") || subnet.starts_with("192.168."),
        "{subnet}"
    );
    // The bridge exists with the gateway address.
    let bridge = v[0]["Options"]["com.docker.network.bridge.name"]
        .as_str()
        .unwrap()
        .to_string();
    let addr = std::process::Command::new("ip")
        .args(["-4", "addr", "show", &bridge])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&addr.stdout).contains(&gateway),
        "{bridge}"
    );

    // A second network gets another subnet; an explicit one is taken as given, overlaps refused.
    let (code, _, err) = h.out(&["network", "create", "n2"]);
    assert_eq!(code, 0, "{err}");
    let (_, subnet2, _) = h.out(&[
        "network",
        "inspect",
        "-f",
        "{{range .IPAM.Config}}{{.Subnet}}{{end}}",
        "n2",
    ]);
    assert_ne!(subnet2.trim(), subnet);
    let (code, _, err) = h.out(&["network", "create", "--subnet", &subnet, "n3"]);
    assert_eq!(code, 1, "an overlapping subnet is refused");
    assert!(err.contains("overlaps"), "{err}");

    let (code, _, err) = h.out(&["network", "rm", "bridge"]);
    assert_eq!(code, 1, "{err}");
    let (code, out, err) = h.out(&["network", "rm", "n1"]);
    assert_eq!((code, out.as_str()), (0, "n1\n"), "{err}");
    assert!(
        !std::path::Path::new(&format!("/sys/class/net/{bridge}")).exists(),
        "bridge removed"
    );
    let (code, out, err) = h.out(&["network", "prune", "-f"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("Deleted Networks:\nn2"), "{out}");
    let (code, _, err) = h.out(&["network", "inspect", "n2"]);
    assert_eq!(code, 1);
    assert!(err.contains("not found"), "{err}");
}

#[test]
fn members_reach_each_other_by_name_alias_and_short_id() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    if !have_tools() {
        return;
    }
    let _cleanup = Cleanup(&h, vec!["web"]);
    assert_eq!(h.out(&["network", "create", "web"]).0, 0);
    let id_a = h.detach(&[
        "--name",
        "web-a",
        "--network",
        "web",
        "--network-alias",
        "alpha",
        "busybox",
        "sh",
        "-c",
        "while true; do echo hello-from-a | nc -l -p 8080; done",
    ]);
    for target in ["web-a", "alpha", &id_a[..12]] {
        // The server may still be starting, or between two connections: retry briefly.
        let script = format!(
            "for i in $(seq 20); do nc -w 3 {target} 8080 && exit 0; sleep 0.2; done; exit 1"
        );
        let (code, out, err) = h.out(&[
            "run",
            "--rm",
            "--network",
            "web",
            "busybox",
            "sh",
            "-c",
            &script,
        ]);
        assert_eq!(
            (code, out.as_str()),
            (0, "hello-from-a\n"),
            "{target}: {err}"
        );
    }
    // A running member sees a newcomer, and no longer sees it once it is gone.
    let id_b = h.detach(&[
        "--name",
        "web-b",
        "--network",
        "web",
        "busybox",
        "sleep",
        "60",
    ]);
    let (_, hosts, _) = h.out(&["exec", "web-a", "cat", "/etc/hosts"]);
    assert!(
        hosts.contains("web-b") && hosts.contains(&id_b[..12]),
        "{hosts}"
    );
    // rm refuses while containers run on it.
    let (code, _, err) = h.out(&["network", "rm", "web"]);
    assert_eq!(code, 1);
    assert!(err.contains("active endpoints"), "{err}");
    let (_, json, _) = h.out(&["network", "inspect", "web"]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v[0]["Containers"][&id_b]["Name"], "web-b", "{json}");
    let (_, ip_b, _) = h.out(&[
        "inspect",
        "-f",
        "{{.NetworkSettings.Networks.web.IPAddress}}",
        "web-b",
    ]);
    assert_eq!(
        v[0]["Containers"][&id_b]["IPv4Address"]
            .as_str()
            .unwrap()
            .split('/')
            .next()
            .unwrap(),
        ip_b.trim()
    );
    assert_eq!(h.out(&["rm", "-f", "web-b"]).0, 0);
    let (_, hosts, _) = h.out(&["exec", "web-a", "cat", "/etc/hosts"]);
    assert!(!hosts.contains("web-b"), "{hosts}");
    // The default bridge has no name resolution, as docker's.
    let (code, _, _) = h.out(&[
        "run",
        "--rm",
        "--network",
        "bridge",
        "busybox",
        "nc",
        "-w",
        "1",
        "web-a",
        "8080",
    ]);
    assert_ne!(code, 0);
    assert_eq!(h.out(&["rm", "-f", "web-a"]).0, 0);
    let (code, _, err) = h.out(&["network", "rm", "web"]);
    assert_eq!(code, 0, "{err}");
}

#[test]
fn fixed_subnet_ip_dns_and_add_host() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    if !have_tools() {
        return;
    }
    let _cleanup = Cleanup(&h, vec!["fixed"]);
    let (code, _, err) = h.out(&[
        "network",
        "create",
        "--subnet",
        "10.231.0.0/16",
        "--gateway",
        "10.231.0.254",
        "fixed",
    ]);
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = h.out(&[
        "run", "--rm", "--network", "fixed", "--ip", "10.231.10.2", "--dns", "8.8.8.8", "--dns", "9.9.9.9",
        "--dns-search", "corp.test", "--dns-option", "ndots:2", "--add-host", "db:10.0.0.7",
        "--add-host", "gw:host-gateway", "busybox", "sh", "-c",
        "ip -4 addr show eth0 | grep -o 'inet [0-9./]*'; ip route | grep default; cat /etc/resolv.conf; grep -v '^#' /etc/hosts | grep -E 'db|gw'",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("inet 10.231.10.2/16"), "{out}");
    assert!(out.contains("default via 10.231.0.254"), "{out}");
    assert!(
        out.contains("nameserver 8.8.8.8\nnameserver 9.9.9.9\n"),
        "{out}"
    );
    assert!(
        out.contains("search corp.test") && out.contains("options ndots:2"),
        "{out}"
    );
    assert!(
        !out.contains("nameserver 1") || out.matches("nameserver").count() == 2,
        "{out}"
    );
    assert!(
        out.contains("10.0.0.7\tdb") && out.contains("10.231.0.254\tgw"),
        "{out}"
    );
    // An address outside the subnet, or one taken, is refused with 125.
    let (code, _, err) = h.out(&[
        "run",
        "--rm",
        "--network",
        "fixed",
        "--ip",
        "10.9.0.2",
        "busybox",
        "true",
    ]);
    assert_eq!(code, 125, "{err}");
    let _a = h.detach(&[
        "--name",
        "web-a",
        "--network",
        "fixed",
        "--ip",
        "10.231.0.9",
        "busybox",
        "sleep",
        "30",
    ]);
    let (code, _, err) = h.out(&[
        "run",
        "--rm",
        "--network",
        "fixed",
        "--ip",
        "10.231.0.9",
        "busybox",
        "true",
    ]);
    assert_eq!(code, 125, "{err}");
    assert!(err.contains("already in use"), "{err}");
    let (code, _, err) = h.out(&["run", "--rm", "--network", "nosuch", "busybox", "true"]);
    assert_eq!(code, 125);
    assert!(err.contains("not found"), "{err}");
    // --dns on the host network too (a file, never a query).
    let (_, out, _) = h.out(&[
        "run",
        "--rm",
        "--dns",
        "1.0.0.1",
        "busybox",
        "cat",
        "/etc/resolv.conf",
    ]);
    assert!(out.contains("nameserver 1.0.0.1"), "{out}");
}

#[test]
fn connect_and_disconnect_a_running_container() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    if !have_tools() {
        return;
    }
    let _cleanup = Cleanup(&h, vec!["back"]);
    assert_eq!(
        h.out(&["network", "create", "--subnet", "10.232.0.0/24", "back"])
            .0,
        0
    );
    h.detach(&[
        "--name",
        "web-a",
        "--network",
        "back",
        "busybox",
        "sleep",
        "60",
    ]);
    h.detach(&[
        "--name",
        "web-b",
        "--network",
        "bridge",
        "busybox",
        "sleep",
        "60",
    ]);
    let (code, _, err) = h.out(&[
        "network",
        "connect",
        "--ip",
        "10.232.0.77",
        "--alias",
        "beta",
        "back",
        "web-b",
    ]);
    assert_eq!(code, 0, "{err}");
    let (_, addrs, _) = h.out(&["exec", "web-b", "ip", "-4", "-o", "addr"]);
    assert!(
        addrs.contains("eth1") && addrs.contains("10.232.0.77/24"),
        "{addrs}"
    );
    let (code, out, err) = h.out(&["exec", "web-a", "ping", "-c1", "-W2", "beta"]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, _, err) = h.out(&["network", "connect", "back", "web-b"]);
    assert_eq!(code, 1, "connected twice: {err}");
    let (code, _, err) = h.out(&["network", "disconnect", "back", "web-b"]);
    assert_eq!(code, 0, "{err}");
    let (_, hosts, _) = h.out(&["exec", "web-a", "cat", "/etc/hosts"]);
    assert!(!hosts.contains("beta"), "{hosts}");
    let (_, addrs, _) = h.out(&["exec", "web-b", "ip", "-4", "-o", "addr"]);
    assert!(!addrs.contains("10.232.0.77"), "{addrs}");
}

/// `network connect` of a created container (not running yet): it has the network from its start, and again
/// after a restart, as docker's.
#[test]
fn connect_a_created_container_joins_at_each_start() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    if !have_tools() {
        return;
    }
    let _cleanup = Cleanup(&h, vec!["front2", "back2"]);
    for (name, subnet) in [("front2", "10.233.0.0/24"), ("back2", "10.234.0.0/24")] {
        let (code, _, err) = h.out(&["network", "create", "--subnet", subnet, name]);
        assert_eq!(code, 0, "{err}");
    }
    let (code, _, err) = h.out(&[
        "create",
        "--name",
        "later",
        "--network",
        "front2",
        "busybox",
        "sleep",
        "60",
    ]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = h.out(&["network", "connect", "--ip", "10.234.0.9", "back2", "later"]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = h.out(&["network", "connect", "back2", "later"]);
    assert_eq!(code, 1, "connected twice: {err}");
    for start in [&["start", "later"][..], &["restart", "-t", "1", "later"]] {
        let (code, _, err) = h.out(start);
        assert_eq!(code, 0, "{err}");
        let (_, addrs, _) = h.out(&["exec", "later", "ip", "-4", "-o", "addr"]);
        assert!(
            addrs.contains("eth1") && addrs.contains("10.234.0.9/24"),
            "after {start:?}: {addrs}"
        );
    }
    let (code, _, err) = h.out(&["rm", "-f", "later"]);
    assert_eq!(code, 0, "{err}");
}
