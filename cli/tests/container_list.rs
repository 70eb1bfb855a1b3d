//! `hoist ps` as scripts parse `docker ps`: columns, "Up …"/"Exited (N) … ago", PORTS, -l/-n, --filter,
//! --format; `run --label`.
mod common;
use common::Hoist;

fn ok(h: &Hoist, args: &[&str]) -> String {
    let (code, out, err) = h.out(args);
    assert_eq!(code, 0, "hoist {args:?}: {err}");
    out
}

#[test]
fn ps_columns_filters_and_formats() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let web = h.detach(&["--name", "web", "-l", "tier=web", "busybox", "sleep", "30"]);
    assert_eq!(
        h.out(&["run", "--name", "failed", "busybox", "sh", "-c", "exit 3"])
            .0,
        3
    );
    ok(
        &h,
        &[
            "run",
            "--name",
            "fine",
            "-l",
            "tier=batch",
            "busybox",
            "true",
        ],
    );

    let table = ok(&h, &["ps"]);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 2, "running only: {table}");
    assert!(
        lines[0].starts_with("CONTAINER ID   IMAGE     COMMAND ")
            && lines[0].contains("CREATED")
            && lines[0].contains("STATUS")
            && lines[0].contains("PORTS")
            && lines[0].ends_with("NAMES"),
        "{table}"
    );
    assert!(
        lines[1].contains("\"sleep 30\"") && lines[1].contains(" Up ") && lines[1].ends_with("web"),
        "{table}"
    );
    assert!(
        lines[1].contains(" ago "),
        "CREATED in Docker's words: {table}"
    );

    let all = ok(
        &h,
        &["ps", "-a", "--format", "{{.Names}}|{{.Status}}|{{.State}}"],
    );
    let all: Vec<&str> = all.lines().collect();
    assert_eq!(all.len(), 3, "{all:?}");
    assert!(
        all[0].starts_with("fine|Exited (0) ") && all[0].ends_with(" ago|exited"),
        "newest first: {all:?}"
    );
    assert!(all[1].starts_with("failed|Exited (3) "), "{all:?}");
    assert!(
        all[2].starts_with("web|Up ") && all[2].ends_with("|running"),
        "{all:?}"
    );

    assert_eq!(ok(&h, &["ps", "-l", "--format", "{{.Names}}"]), "fine\n");
    assert_eq!(
        ok(&h, &["ps", "-n", "2", "--format", "{{.Names}}"]),
        "fine\nfailed\n"
    );
    assert_eq!(
        ok(
            &h,
            &[
                "ps",
                "-a",
                "--filter",
                "status=exited",
                "--format",
                "{{.Names}}"
            ]
        ),
        "fine\nfailed\n"
    );
    assert_eq!(
        ok(
            &h,
            &["ps", "-a", "--filter", "exited=3", "--format", "{{.Names}}"]
        ),
        "failed\n"
    );
    assert_eq!(
        ok(
            &h,
            &["ps", "-a", "--filter", "name=fai", "--format", "{{.Names}}"]
        ),
        "failed\n"
    );
    assert_eq!(
        ok(
            &h,
            &[
                "ps",
                "-a",
                "--filter",
                "label=tier",
                "--format",
                "{{.Names}}"
            ]
        ),
        "fine\nweb\n"
    );
    assert_eq!(
        ok(
            &h,
            &["ps", "-a", "--filter", "label=tier=web", "-q", "--no-trunc"]
        )
        .trim(),
        web
    );
    assert_eq!(
        ok(&h, &["ps", "-a", "--filter", "ancestor=busybox", "-q"])
            .lines()
            .count(),
        3
    );
    // Two filters of one key: either; of two keys: both.
    assert_eq!(
        ok(
            &h,
            &[
                "ps",
                "-a",
                "--filter",
                "name=fine",
                "--filter",
                "name=web",
                "--filter",
                "status=running",
                "--format",
                "{{.Names}}"
            ]
        ),
        "web\n"
    );
    let json = ok(&h, &["ps", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(json.trim()).unwrap();
    assert_eq!(v["Names"], "web");
    assert_eq!(v["Labels"], "tier=web");
    assert_eq!(
        ok(
            &h,
            &[
                "inspect",
                "-f",
                "{{.Config.Labels.tier}} {{.State.Running}}",
                "web"
            ]
        ),
        "web true\n"
    );

    let (code, _, err) = h.out(&["ps", "--filter", "status=sleepy"]);
    assert_eq!(code, 1);
    assert!(err.contains("invalid filter 'status=sleepy'"), "{err}");
    let (code, _, err) = h.out(&["ps", "--filter", "colour=red"]);
    assert_eq!(code, 1);
    assert!(err.contains("invalid filter 'colour'"), "{err}");
    assert_eq!(h.out(&["rm", "-f", "web", "failed", "fine"]).0, 0);
}

#[test]
fn ps_shows_published_ports() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let (code, _, err) = h.out(&[
        "run",
        "-d",
        "--name",
        "srv",
        "--network",
        "bridge",
        "-p",
        &format!("{port}:80"),
        "busybox",
        "sleep",
        "30",
    ]);
    if code != 0 && err.contains("iptables") {
        return; // no bridge tooling on this machine: run_network.rs says so
    }
    assert_eq!(code, 0, "{err}");
    let ports = ok(&h, &["ps", "--format", "{{.Ports}}"]);
    // Every interface, as docker's default (its `0.0.0.0` and `::`).
    assert_eq!(
        ports,
        format!("0.0.0.0:{port}->80/tcp, :::{port}->80/tcp\n")
    );
    assert_eq!(h.out(&["rm", "-f", "srv"]).0, 0);
}
