//! `hoist compose up/down/ps/run` with real containers: the issue's example with its fixed address and DNS
//! servers, a web service and a client waiting for it to be healthy, idempotent `up`, recreation of only the
//! edited service, `down -v`, concurrent `up`s, and errors for a bad file. Traffic stays between the
//! namespaces the tests make.
mod common;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::Hoist;

/// The example of issue 18 with `image:` (busybox) instead of `build:`, and a command that keeps running.
const ISSUE_EXAMPLE_IMAGE: &str = r#"version: "3"
services:
  console:
    image: busybox:latest
    command: ["sleep", "3600"]
    restart: always
    dns: [8.8.8.8, 9.9.9.9]
    networks:
      web:
        ipv4_address: 10.10.10.2
    environment:
      - DC1=DC1
networks:
  web:
    driver: bridge
    ipam:
      config:
        - subnet: 10.10.10.0/16
"#;

/// A compose project in a directory of its own, run against `h`'s state directory as project `name`.
struct Project<'a> {
    h: &'a Hoist,
    dir: tempfile::TempDir,
    name: &'static str,
}

impl<'a> Project<'a> {
    fn new(h: &'a Hoist, name: &'static str, compose_yaml: &str) -> Project<'a> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("compose.yaml"), compose_yaml).unwrap();
        Project { h, dir, name }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = self.h.cmd();
        cmd.current_dir(self.path())
            .env_remove("COMPOSE_FILE")
            .env_remove("COMPOSE_PROJECT_NAME")
            .args(["compose", "-p", self.name])
            .args(args)
            .stdin(Stdio::null());
        cmd
    }

    /// `hoist compose -p NAME ARGS`: (exit code, stdout, stderr).
    fn compose(&self, args: &[&str]) -> (i32, String, String) {
        let out = self.command(args).output().expect("running hoist compose");
        (
            out.status.code().unwrap_or(-1),
            common::stdout(&out),
            common::stderr(&out),
        )
    }

    /// Must succeed; its stderr (compose's progress lines).
    fn ok(&self, args: &[&str]) -> String {
        let (code, out, err) = self.compose(args);
        assert_eq!(code, 0, "compose {args:?} failed:\n{out}\n{err}");
        err
    }

    /// The full ID of container `name`.
    fn id(&self, name: &str) -> String {
        let (code, out, err) = self.h.out(&["inspect", "-f", "{{.Id}}", name]);
        assert_eq!(code, 0, "inspect {name}: {err}");
        out.trim().to_string()
    }

    /// What `hoist ps -a` shows of this state directory, the networks and volumes besides the predefined.
    fn leftovers(&self) -> Vec<String> {
        let mut left = Vec::new();
        let (_, ids, _) = self.h.out(&["ps", "-a", "-q"]);
        left.extend(ids.lines().map(|l| format!("container {l}")));
        let (_, nets, _) = self
            .h
            .out(&["network", "ls", "--filter", "type=custom", "-q"]);
        left.extend(nets.lines().map(|l| format!("network {l}")));
        let (_, vols, _) = self.h.out(&["volume", "ls", "-q"]);
        left.extend(vols.lines().map(|l| format!("volume {l}")));
        left.extend(
            self.h
                .leftover_mounts()
                .into_iter()
                .map(|m| format!("mount {m}")),
        );
        left
    }
}

/// The bridge (`hn-…`) of network `name`.
fn bridge_of(h: &Hoist, name: &str) -> String {
    let (code, out, err) = h.out(&[
        "network",
        "inspect",
        "-f",
        "{{index .Options \"com.docker.network.bridge.name\"}}",
        name,
    ]);
    assert_eq!(code, 0, "network inspect {name}: {err}");
    out.trim().to_string()
}

fn host_has_link(name: &str) -> bool {
    Path::new("/sys/class/net").join(name).exists()
}

/// The example comes up with its fixed address on its subnet and its DNS servers in resolv.conf; `down`
/// leaves nothing. Then the same with `build: ./msec_console`, which `up` builds.
#[test]
fn issue_example_gets_its_address_and_dns_and_down_leaves_nothing() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let build_variant = ISSUE_EXAMPLE_IMAGE.replace(
        "    image: busybox:latest\n    command: [\"sleep\", \"3600\"]\n",
        "    build: ./msec_console\n",
    );
    assert_ne!(build_variant, ISSUE_EXAMPLE_IMAGE);
    for (yaml, built) in [(ISSUE_EXAMPLE_IMAGE, false), (build_variant.as_str(), true)] {
        let p = Project::new(&h, "msec", yaml);
        if built {
            // `up` builds the service's image `PROJECT-SERVICE` from its context, as compose does.
            let ctx = p.path().join("msec_console");
            std::fs::create_dir(&ctx).unwrap();
            std::fs::write(
                ctx.join("Dockerfile"),
                "FROM busybox:latest\nCMD [\"sleep\", \"3600\"]\n",
            )
            .unwrap();
        }
        let err = p.ok(&["up", "-d"]);
        if built {
            assert!(err.contains("Service console  Built"), "{err}");
            let (code, _, err) = h.out(&["image", "inspect", "msec-console"]);
            assert_eq!(code, 0, "{err}");
        }
        assert!(err.contains(" Network msec_web  Created"), "{err}");
        assert!(err.contains(" Container msec-console-1  Started"), "{err}");
        let bridge = bridge_of(&h, "msec_web");
        assert!(host_has_link(&bridge), "no bridge {bridge} on the host");

        let (code, addr, err) =
            h.out(&["exec", "msec-console-1", "ip", "-4", "addr", "show", "eth0"]);
        assert_eq!(code, 0, "{err}");
        assert!(addr.contains("inet 10.10.10.2/16"), "{addr}");
        let (_, resolv, _) = h.out(&["exec", "msec-console-1", "cat", "/etc/resolv.conf"]);
        let servers: Vec<&str> = resolv
            .lines()
            .filter_map(|l| l.strip_prefix("nameserver "))
            .collect();
        assert_eq!(servers, ["8.8.8.8", "9.9.9.9"], "{resolv}");
        let (_, env, _) = h.out(&["exec", "msec-console-1", "env"]);
        assert!(env.lines().any(|l| l == "DC1=DC1"), "{env}");
        let (_, labels, _) = h.out(&[
            "inspect",
            "-f",
            "{{index .Config.Labels \"com.docker.compose.project\"}} {{index .Config.Labels \"com.docker.compose.service\"}}",
            "msec-console-1",
        ]);
        assert_eq!(labels.trim(), "msec console");

        let err = p.ok(&["down"]);
        assert!(err.contains(" Container msec-console-1  Removed"), "{err}");
        assert!(err.contains(" Network msec_web  Removed"), "{err}");
        assert_eq!(p.leftovers(), Vec::<String>::new());
        assert!(!host_has_link(&bridge), "bridge {bridge} left on the host");
    }
}

const WEB_AND_CLIENT: &str = r#"services:
  web:
    image: busybox:latest
    command: ["sh", "-c", "mkdir -p /www && echo hello-from-web > /www/index.html && exec httpd -f -p 80 -h /www"]
    healthcheck:
      test: ["CMD-SHELL", "printf 'GET / HTTP/1.0\r\n\r\n' | nc 127.0.0.1 80 | grep -q hello-from-web"]
      interval: 200ms
      retries: 50
  client:
    image: busybox:latest
    command: ["sh", "-c", "printf 'GET / HTTP/1.0\r\n\r\n' | nc web 80"]
    depends_on:
      web:
        condition: service_healthy
"#;

/// The client starts once web is healthy and fetches from it by its service name; `ps` has compose's columns.
#[test]
fn client_waits_for_a_healthy_web_and_fetches_from_it_by_name() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let p = Project::new(&h, "pair", WEB_AND_CLIENT);
    let err = p.ok(&["up", "-d"]);
    let healthy = err.find(" Container pair-web-1  Healthy").expect(&err);
    let client_started = err.find(" Container pair-client-1  Started").expect(&err);
    assert!(healthy < client_started, "{err}");
    let exit = h.wait_exited("pair-client-1", 20);
    let (_, log, _) = h.out(&["logs", "pair-client-1"]);
    assert_eq!(exit, 0, "{log}");
    assert!(
        log.contains("HTTP/1.1 200 OK") && log.contains("hello-from-web"),
        "{log}"
    );

    let (_, table, _) = p.compose(&["ps", "-a"]);
    let header: Vec<&str> = table
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    assert_eq!(
        header,
        ["NAME", "IMAGE", "COMMAND", "SERVICE", "CREATED", "STATUS", "PORTS"],
        "{table}"
    );
    let web = table
        .lines()
        .find(|l| l.starts_with("pair-web-1"))
        .expect(&table);
    assert!(
        web.contains(" web ") && web.contains("(healthy)"),
        "{table}"
    );
    let (_, running, _) = p.compose(&["ps", "--services"]);
    assert_eq!(running.trim(), "web");

    // A one-off container of the client: compose's name and label, its output on ours.
    let (code, out, err) = p.compose(&["run", "--rm", "client"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("hello-from-web"), "{out}\n{err}");
    p.ok(&["run", "-d", "--no-deps", "client", "sleep", "30"]);
    let (_, names, _) = h.out(&[
        "ps",
        "--filter",
        "label=com.docker.compose.oneoff=True",
        "--format",
        "{{.Names}}",
    ]);
    let name = names.trim();
    let suffix = name.strip_prefix("pair-client-run-").expect(name);
    assert!(
        suffix.len() == 12 && suffix.chars().all(|c| c.is_ascii_hexdigit()),
        "{name}"
    );

    p.ok(&["down", "-t", "1"]);
    assert_eq!(p.leftovers(), Vec::<String>::new());
}

const TWO_SERVICES: &str = r#"services:
  a:
    image: busybox:latest
    command: ["sleep", "3600"]
    stop_grace_period: 1s
  b:
    image: busybox:latest
    command: ["sleep", "3600"]
    stop_grace_period: 1s
    environment:
      COLOUR: blue
"#;

/// `up -d` twice leaves the containers alone (compose's `Running` lines); an edited service is recreated,
/// and only it.
#[test]
fn up_twice_changes_nothing_and_an_edit_recreates_only_that_service() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let p = Project::new(&h, "idem", TWO_SERVICES);
    p.ok(&["up", "-d"]);
    let (a, b) = (p.id("idem-a-1"), p.id("idem-b-1"));

    let err = p.ok(&["up", "-d"]);
    assert!(err.contains(" Container idem-a-1  Running"), "{err}");
    assert!(err.contains(" Container idem-b-1  Running"), "{err}");
    assert!(
        !err.contains("Created") && !err.contains("Recreated"),
        "{err}"
    );
    assert_eq!((p.id("idem-a-1"), p.id("idem-b-1")), (a.clone(), b.clone()));

    std::fs::write(
        p.path().join("compose.yaml"),
        TWO_SERVICES.replace("COLOUR: blue", "COLOUR: green"),
    )
    .unwrap();
    let err = p.ok(&["up", "-d"]);
    assert!(err.contains(" Container idem-a-1  Running"), "{err}");
    assert!(err.contains(" Container idem-b-1  Recreated"), "{err}");
    assert_eq!(p.id("idem-a-1"), a);
    let new_b = p.id("idem-b-1");
    assert_ne!(new_b, b);
    let (_, env, _) = h.out(&["exec", "idem-b-1", "env"]);
    assert!(env.lines().any(|l| l == "COLOUR=green"), "{env}");
    let (_, all, _) = h.out(&["ps", "-a", "-q"]);
    assert_eq!(all.lines().count(), 2, "the old b is gone: {all}");

    // b taken out of the file: an orphan, warned about, removed with --remove-orphans.
    let only_a = TWO_SERVICES[..TWO_SERVICES.find("  b:").unwrap()].to_string();
    std::fs::write(p.path().join("compose.yaml"), only_a).unwrap();
    let err = p.ok(&["up", "-d"]);
    assert!(
        err.contains("Found orphan containers ([idem-b-1])"),
        "{err}"
    );
    let err = p.ok(&["up", "-d", "--remove-orphans"]);
    assert!(err.contains(" Container idem-b-1  Removed"), "{err}");
    let (_, all, _) = h.out(&["ps", "-a", "--format", "{{.Names}}"]);
    assert_eq!(all.trim(), "idem-a-1");

    p.ok(&["down"]);
    assert_eq!(p.leftovers(), Vec::<String>::new());
}

/// Two `up -d` at once on one state directory make one container per service (the project lock).
#[test]
fn concurrent_ups_make_one_container_per_service() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let p = Project::new(&h, "race", TWO_SERVICES);
    let children: Vec<_> = (0..2)
        .map(|_| {
            p.command(&["up", "-d"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", common::stderr(&out));
    }
    let (_, names, _) = h.out(&["ps", "-a", "--format", "{{.Names}}"]);
    let mut names: Vec<&str> = names.lines().collect();
    names.sort();
    assert_eq!(names, ["race-a-1", "race-b-1"]);
    p.ok(&["down"]);
}

/// Named volumes outlive `down` and go with `down -v`.
#[test]
fn down_v_removes_named_volumes() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let yaml = r#"services:
  db:
    image: busybox:latest
    command: ["sh", "-c", "echo kept > /data/file && exec sleep 3600"]
    stop_grace_period: 1s
    volumes:
      - data:/data
volumes:
  data: {}
"#;
    let p = Project::new(&h, "vols", yaml);
    let err = p.ok(&["up", "-d"]);
    assert!(err.contains(" Volume vols_data  Created"), "{err}");
    p.ok(&["down"]);
    let (_, vols, _) = h.out(&["volume", "ls", "-q"]);
    assert_eq!(vols.trim(), "vols_data");
    // Up again: the same volume, with what the first container wrote.
    p.ok(&["up", "-d"]);
    let (_, file, _) = h.out(&["exec", "vols-db-1", "cat", "/data/file"]);
    assert_eq!(file.trim(), "kept");
    let err = p.ok(&["down", "-v"]);
    assert!(err.contains(" Volume vols_data  Removed"), "{err}");
    assert_eq!(p.leftovers(), Vec::<String>::new());
}

/// A malformed file: the error names the file, line and column; nothing is made.
#[test]
fn a_bad_file_is_refused_with_its_line_and_column() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let p = Project::new(&h, "bad", "services:\n  web:\n    image: [busybox\n");
    let (code, _, err) = p.compose(&["up", "-d"]);
    assert_ne!(code, 0);
    let file: PathBuf = p.path().join("compose.yaml");
    assert!(err.contains(&format!("{}:4:1:", file.display())), "{err}");
    let p = Project::new(
        &h,
        "bad",
        "services:\n  web:\n    image: busybox:latest\n    restart: sometimes\n",
    );
    let (code, _, err) = p.compose(&["up", "-d"]);
    assert_ne!(code, 0);
    assert!(
        err.contains("compose.yaml:4:14:") && err.contains("restart"),
        "{err}"
    );
    assert_eq!(p.leftovers(), Vec::<String>::new());
}

/// A service on two networks has both interfaces when its command begins (the second network is connected
/// before the container starts, and joined by its monitor) and is reached by name from each network.
#[test]
fn a_service_on_two_networks_has_both_from_its_start() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let yaml = r#"services:
  app:
    image: busybox:latest
    command: ["sh", "-c", "mkdir -p /www && ip -4 -o addr > /www/index.html && exec httpd -f -p 80 -h /www"]
    stop_grace_period: 1s
    networks:
      back: {}
      front:
        aliases: [api]
  fe:
    image: busybox:latest
    command: ["sleep", "3600"]
    stop_grace_period: 1s
    networks: [front]
  be:
    image: busybox:latest
    command: ["sleep", "3600"]
    stop_grace_period: 1s
    networks: [back]
networks:
  front: {}
  back: {}
"#;
    let p = Project::new(&h, "nets", yaml);
    p.ok(&["up", "-d"]);
    let get = |from: &str, host: &str| {
        let script = format!("printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc {host} 80");
        let (code, out, err) = h.out(&["exec", from, "sh", "-c", &script]);
        assert_eq!(code, 0, "{from} → {host}: {err}");
        out
    };
    let page = get("nets-be-1", "app");
    assert!(page.contains(" eth0 ") && page.contains(" eth1 "), "{page}");
    let from_front = get("nets-fe-1", "api");
    assert!(from_front.contains("HTTP/1.1 200 OK"), "{from_front}");
    p.ok(&["down"]);
    assert_eq!(p.leftovers(), Vec::<String>::new());
}

/// `up` without `-d` attaches: every container's lines prefixed with its name, `NAME exited with code N`, and
/// `up` returns when all have exited.
#[test]
fn foreground_up_shows_the_output_and_returns_when_all_exit() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let p = Project::new(
        &h,
        "fg",
        "services:\n  one:\n    image: busybox:latest\n    command: [\"echo\", \"from-one\"]\n  two:\n    image: busybox:latest\n    command: [\"sh\", \"-c\", \"sleep 0.3; echo from-two; exit 3\"]\n",
    );
    let (code, out, err) = p.compose(&["up"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("Attaching to "), "{out}");
    assert!(
        out.lines().any(|l| l.starts_with("fg-one-1  | from-one")),
        "{out}"
    );
    assert!(
        out.lines().any(|l| l.starts_with("fg-two-1  | from-two")),
        "{out}"
    );
    assert!(out.contains("fg-two-1 exited with code 3"), "{out}");
    p.ok(&["down"]);
}
