//! How RUN steps run (issue 16): `--network` and `RUN --network=` (the bridge by default, `host` behind
//! `--allow network.host`), `--add-host`, `--shm-size`, `--ulimit` (none of them in the image),
//! `RUN --mount=type=ssh` with `--ssh`, `RUN --security=insecure` behind `--allow security.insecure`,
//! `--provenance`/`--sbom`, and the error for each misuse. Real containers; the only traffic is between the
//! steps' namespaces and servers this test starts on the host.
mod common;

use std::io::Write;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output};

use common::{layer_entries, stderr, Hoist};

/// A server on the host that sends `body` to every connection and closes it, on every address (the bridge's
/// too). The steps read it with busybox's `nc` (its static `wget` crashes in a bare busybox image).
fn serve(body: &'static str) -> u16 {
    let listener = TcpListener::bind("0.0.0.0:0").expect("bind");
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut conn in listener.incoming().flatten() {
            let _ = conn.write_all(body.as_bytes());
        }
    });
    port
}

fn cat(h: &Hoist, image: &str, file: &str) -> String {
    h.sh(image, &format!("cat {file}")).trim().to_string()
}

#[test]
fn network_modes_of_the_build_and_of_a_step() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let port = serve("hello from the host");
    // Default: eth0 on the bridge, the host reachable through it (here by --add-host's host-gateway), but not
    // the host's 127.0.0.1. --network=none: lo only, nothing reachable.
    let dockerfile = format!(
        "FROM busybox\n\
         RUN tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' ' | sort | tr '\\n' ' ' > /default-ifaces \
         && nc -w 5 gw {port} < /dev/null > /via-bridge \
         && (nc -w 2 127.0.0.1 {port} < /dev/null || echo unreachable) > /default-loopback\n\
         RUN --network=none tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' ' | tr '\\n' ' ' > /none-ifaces \
         && (nc -w 2 127.0.0.1 {port} < /dev/null || echo unreachable) > /none-loopback\n"
    );
    h.build_ok(
        "net:1",
        &dockerfile,
        &[],
        &["--add-host", "gw:host-gateway"],
    );
    assert_eq!(cat(&h, "net:1", "/default-ifaces"), "eth0 lo");
    assert_eq!(cat(&h, "net:1", "/via-bridge"), "hello from the host");
    assert_eq!(cat(&h, "net:1", "/default-loopback"), "unreachable");
    assert_eq!(cat(&h, "net:1", "/none-ifaces"), "lo");
    assert_eq!(cat(&h, "net:1", "/none-loopback"), "unreachable");

    // host: the host's network, so its 127.0.0.1; only with the entitlement, given by --allow or implied by
    // --network host (as buildx).
    let host_step =
        format!("FROM busybox\nRUN --network=host nc -w 5 127.0.0.1 {port} < /dev/null > /seen\n");
    let log = h.build_err("net:2", &host_step, &[], &[]);
    assert!(
        log.contains("Dockerfile:2")
            && log.contains("network.host is not allowed")
            && log.contains("--allow network.host"),
        "{log}"
    );
    h.build_ok("net:2", &host_step, &[], &["--allow", "network.host"]);
    assert_eq!(cat(&h, "net:2", "/seen"), "hello from the host");
    let build_host = format!("FROM busybox\nRUN nc -w 5 127.0.0.1 {port} < /dev/null > /seen\n");
    h.build_ok("net:3", &build_host, &[], &["--network", "host"]);
    assert_eq!(cat(&h, "net:3", "/seen"), "hello from the host");

    // --network none for the build; a step's own flag wins, `default` leaves it to the build.
    h.build_ok(
        "net:4",
        "FROM busybox\nRUN tail -n +3 /proc/net/dev | wc -l > /n-build\n\
         RUN --network=default tail -n +3 /proc/net/dev | wc -l > /n-default\n\
         RUN --network=host tail -n +3 /proc/net/dev | wc -l > /n-host\n",
        &[],
        &["--network", "none", "--allow", "network.host"],
    );
    assert_eq!(cat(&h, "net:4", "/n-build"), "1");
    assert_eq!(cat(&h, "net:4", "/n-default"), "1");
    assert!(cat(&h, "net:4", "/n-host").parse::<usize>().unwrap() > 1);

    let log = h.build_err(
        "net:5",
        "FROM busybox\nRUN --network=bridge0 true\n",
        &[],
        &[],
    );
    assert!(
        log.contains("Dockerfile:2")
            && log.contains("unsupported network mode \"bridge0\": use default, none or host"),
        "{log}"
    );
    let log = h.build_err("net:5", "FROM busybox\n", &[], &["--network", "bridge"]);
    assert!(
        log.contains("--network bridge: unknown network mode; use default, none or host"),
        "{log}"
    );
    let log = h.build_err(
        "net:5",
        "FROM busybox\n",
        &[],
        &["--allow", "network.bridge"],
    );
    assert!(
        log.contains(
            "--allow network.bridge: unknown entitlement; use network.host or security.insecure"
        ),
        "{log}"
    );
}

#[test]
fn add_host_shm_size_and_ulimit_reach_the_step_but_not_the_image() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let dockerfile = "FROM busybox\n\
        RUN cat /etc/hosts > /hosts.seen && df -k /dev/shm | tail -n 1 | awk '{print $2}' > /shm.seen \
        && ulimit -n > /nofile.soft && ulimit -Hn > /nofile.hard\n";
    let flags = [
        "--add-host",
        "db:10.1.2.3",
        "--add-host",
        "v6=fd00::1",
        "--shm-size",
        "96m",
        "--ulimit",
        "nofile=1024:2048",
    ];
    h.build_ok("opts:1", dockerfile, &[], &flags);
    let hosts = cat(&h, "opts:1", "/hosts.seen");
    assert!(
        hosts.contains("10.1.2.3\tdb") && hosts.contains("fd00::1\tv6"),
        "{hosts}"
    );
    assert_eq!(cat(&h, "opts:1", "/shm.seen"), (96 * 1024).to_string());
    assert_eq!(cat(&h, "opts:1", "/nofile.soft"), "1024");
    assert_eq!(cat(&h, "opts:1", "/nofile.hard"), "2048");
    // The step's layer holds what it wrote, nothing of /etc/hosts, /dev/shm and friends (their mount points'
    // directories at most, as for any RUN).
    let (_, layers) = h.saved("opts:1");
    let entries = layer_entries(layers.last().unwrap());
    let names: Vec<&String> = entries.keys().collect();
    assert!(
        names
            .iter()
            .all(|n| !n.starts_with("etc/") && !n.starts_with("dev/")),
        "{names:?}"
    );
    // They are part of the step's cache key (as BuildKit keeps them in the exec op): the same flags hit the
    // cache, another host misses it.
    let log = h.build_ok("opts:2", dockerfile, &[], &flags);
    assert!(
        log.contains("1 steps cached, 0 executed") || log.contains("cached, 0 executed"),
        "{log}"
    );
    let log = h.build_ok("opts:3", dockerfile, &[], &["--add-host", "db:10.1.2.4"]);
    assert!(log.contains(", 1 executed"), "{log}");

    for (flags, message) in [
        (
            &["--add-host", "db"][..],
            "--add-host db: expected NAME:IP, with IP an IPv4 or IPv6 address or host-gateway",
        ),
        (
            &["--add-host", "db:10.1.2"][..],
            "--add-host db:10.1.2: expected NAME:IP",
        ),
        (
            &["--ulimit", "nofile=2048:1024"][..],
            "--ulimit nofile=2048:1024: the soft limit is above the hard limit",
        ),
        (
            &["--ulimit", "files=10"][..],
            "--ulimit files=10: unknown limit \"files\"",
        ),
        (&["--shm-size", "lots"][..], "--shm-size lots: invalid size"),
        (
            &["--provenance", "maximal"][..],
            "--provenance maximal: expected true, false or KEY=VALUE",
        ),
    ] {
        let log = h.build_err("opts:4", "FROM busybox\n", &[], flags);
        assert!(log.contains(message), "{flags:?}: {log}");
    }
    // Accepted as buildx takes them; hoist attaches neither. --platform: this host's only (no emulation).
    let host = match std::env::consts::ARCH {
        "x86_64" => "linux/amd64",
        "aarch64" => "linux/arm64",
        other => panic!("no platform name for {other} in this test"),
    };
    h.build_ok(
        "opts:5",
        "FROM busybox\n",
        &[],
        &[
            "--provenance",
            "mode=max",
            "--sbom",
            "false",
            "--platform",
            host,
        ],
    );
    let log = h.build_err(
        "opts:6",
        "FROM busybox\n",
        &[],
        &["--platform", "linux/s390x"],
    );
    assert!(
        log.contains("--platform linux/s390x: hoist builds for this host's platform")
            && log.contains("no emulation"),
        "{log}"
    );
}

#[test]
fn security_insecure_needs_the_entitlement() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let dockerfile = "FROM busybox\n\
        RUN grep -E '^(CapEff|Seccomp):' /proc/self/status | tr -s '\\t ' ' ' > /sandbox\n\
        RUN --security=insecure grep -E '^(CapEff|Seccomp):' /proc/self/status | tr -s '\\t ' ' ' > /insecure\n";
    let log = h.build_err("sec:1", dockerfile, &[], &[]);
    assert!(
        log.contains("Dockerfile:3")
            && log.contains("security.insecure is not allowed")
            && log.contains("--allow security.insecure"),
        "{log}"
    );
    h.build_ok("sec:1", dockerfile, &[], &["--allow", "security.insecure"]);
    let caps = |file: &str| {
        let text = cat(&h, "sec:1", file);
        let eff = text
            .lines()
            .find_map(|l| l.strip_prefix("CapEff: "))
            .map(|hex| u64::from_str_radix(hex.trim(), 16).unwrap())
            .unwrap();
        (eff.count_ones(), text.contains("Seccomp: 0"))
    };
    let (sandbox_caps, sandbox_unfiltered) = caps("/sandbox");
    let (insecure_caps, insecure_unfiltered) = caps("/insecure");
    assert!(
        sandbox_caps < 20 && !sandbox_unfiltered,
        "sandbox: {sandbox_caps} caps"
    );
    assert!(
        insecure_caps >= 38 && insecure_unfiltered,
        "insecure: {insecure_caps} caps"
    );
    let log = h.build_err(
        "sec:2",
        "FROM busybox\nRUN --security=loose true\n",
        &[],
        &[],
    );
    assert!(
        log.contains(
            "Dockerfile:2:5: unsupported security mode \"loose\": use sandbox or insecure"
        ),
        "{log}"
    );
}

/// `ssh-add` and the libraries it needs, copied into `dir` so that a busybox step runs it through the host's
/// loader: `/h/ld.so --library-path /h/lib /h/ssh-add`.
fn host_ssh_add(dir: &Path) -> bool {
    let Ok(ldd) = Command::new("ldd").arg("/usr/bin/ssh-add").output() else {
        return false;
    };
    std::fs::create_dir_all(dir.join("lib")).unwrap();
    for line in String::from_utf8_lossy(&ldd.stdout).lines() {
        let path = match line.split_once("=>") {
            Some((_, rest)) => rest.split_whitespace().next(),
            None => line.split_whitespace().next(),
        };
        let Some(path) = path.filter(|p| p.starts_with('/')) else {
            continue;
        };
        let name = Path::new(path).file_name().unwrap();
        let target = if path.contains("ld-linux") {
            dir.join("ld.so")
        } else {
            dir.join("lib").join(name)
        };
        std::fs::copy(path, target).unwrap();
    }
    std::fs::copy("/usr/bin/ssh-add", dir.join("ssh-add")).is_ok()
}

/// `hoist build` with `env` added to its environment; the context holds the host's ssh-add.
fn build_with_env(
    h: &Hoist,
    ctx: &Path,
    tag: &str,
    extra: &[&str],
    env: &[(&str, &Path)],
) -> Output {
    let mut cmd = h.cmd();
    cmd.env_remove("SSH_AUTH_SOCK");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.args(["build", "-t", tag])
        .args(extra)
        .arg(ctx)
        .output()
        .expect("running hoist")
}

#[test]
fn ssh_mount_forwards_an_agent_and_leaves_no_trace() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    if Command::new("ssh-agent").arg("-h").output().is_err() {
        eprintln!("SKIPPED: ssh-agent is missing (apt-get install openssh-client)");
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let key = work.path().join("id_ed25519");
    let keygen = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "hoist-test", "-f"])
        .arg(&key)
        .output()
        .unwrap();
    assert!(keygen.status.success(), "{}", stderr(&keygen));
    let fingerprint = String::from_utf8_lossy(
        &Command::new("ssh-keygen")
            .arg("-lf")
            .arg(key.with_extension("pub"))
            .output()
            .unwrap()
            .stdout,
    )
    .split_whitespace()
    .nth(1)
    .unwrap()
    .to_string();
    // The test's own agent, holding the key.
    let agent_sock = work.path().join("agent.sock");
    let mut agent = Command::new("ssh-agent")
        .arg("-D")
        .arg("-a")
        .arg(&agent_sock)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    for _ in 0..500 {
        if agent_sock.exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let added = Command::new("ssh-add")
        .arg(&key)
        .env("SSH_AUTH_SOCK", &agent_sock)
        .output()
        .unwrap();
    assert!(added.status.success(), "{}", stderr(&added));

    let ctx = work.path().join("ctx");
    assert!(host_ssh_add(&ctx.join("h")));
    let ssh_add = "/h/ld.so --library-path /h/lib /h/ssh-add";
    std::fs::write(
        ctx.join("Dockerfile"),
        format!(
            "FROM busybox\n\
             RUN --mount=type=bind,source=h,target=/h --mount=type=ssh \
             echo $SSH_AUTH_SOCK > /sock && {ssh_add} -l > /keys\n\
             RUN --mount=type=bind,source=h,target=/h --mount=type=ssh,id=deploy,target=/tmp/agent,mode=0640,uid=1,gid=2 \
             stat -c '%a %u %g' /tmp/agent > /mode && {ssh_add} -l > /keys-deploy\n"
        ),
    )
    .unwrap();
    // `--ssh default` takes $SSH_AUTH_SOCK; `deploy=KEYFILE` gets an agent hoist starts.
    let out = build_with_env(
        &h,
        &ctx,
        "ssh:1",
        &[
            "--ssh",
            "default",
            "--ssh",
            &format!("deploy={}", key.display()),
        ],
        &[("SSH_AUTH_SOCK", &agent_sock)],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(cat(&h, "ssh:1", "/sock"), "/run/buildkit/ssh_agent.0");
    assert!(cat(&h, "ssh:1", "/keys").contains(&fingerprint));
    assert!(cat(&h, "ssh:1", "/keys-deploy").contains(&fingerprint));
    assert_eq!(cat(&h, "ssh:1", "/mode"), "640 1 2");
    // Nothing of the agent in the layers: no socket, no /run/buildkit, no /tmp/agent.
    let (_, layers) = h.saved("ssh:1");
    for layer in &layers[1..] {
        let entries = layer_entries(layer);
        assert!(
            entries
                .keys()
                .all(|n| !n.starts_with("run") && !n.starts_with("tmp/agent")),
            "{:?}",
            entries.keys().collect::<Vec<_>>()
        );
    }
    // Nor in the cache key: the same steps with another agent (the socket of `deploy` now) are cached.
    let out = build_with_env(
        &h,
        &ctx,
        "ssh:2",
        &[
            "--ssh",
            &format!("default={}", agent_sock.display()),
            "--ssh",
            &format!("deploy={}", agent_sock.display()),
        ],
        &[],
    );
    assert!(
        out.status.success() && stderr(&out).contains(", 0 executed"),
        "{}",
        stderr(&out)
    );

    // A required mount without its --ssh: the id and the flag to pass. An optional one is left out.
    let log = h.build_err(
        "ssh:3",
        "FROM busybox\nRUN --mount=type=ssh,id=gh,required=true true\n",
        &[],
        &[],
    );
    assert!(
        log.contains("Dockerfile:2")
            && log.contains("no SSH agent or key was given for id \"gh\"")
            && log.contains("--ssh gh=SOCKET|KEYFILE"),
        "{log}"
    );
    h.build_ok(
        "ssh:4",
        "FROM busybox\nRUN --mount=type=ssh,id=gh echo \"[$SSH_AUTH_SOCK]\" > /sock\n",
        &[],
        &[],
    );
    assert_eq!(cat(&h, "ssh:4", "/sock"), "[]");
    let out = build_with_env(&h, &ctx, "ssh:5", &["--ssh", "default"], &[]);
    assert!(
        stderr(&out).contains("--ssh default: SSH_AUTH_SOCK is not set"),
        "{}",
        stderr(&out)
    );
    let _ = agent.kill();
    let _ = agent.wait();
}

#[test]
fn without_bridge_tools_default_steps_use_the_hosts_network_and_say_so() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let ctx = common::context_with(&[("Dockerfile", b"FROM busybox\nRUN echo ran > /ran\n")]);
    // A PATH with neither `ip` nor `iptables` (as on a host without iproute2/iptables).
    let empty = tempfile::tempdir().unwrap();
    let out = build_with_env(
        &h,
        ctx.path(),
        "nobridge:1",
        &["--progress", "plain"],
        &[("PATH", empty.path())],
    );
    let log = stderr(&out);
    assert!(out.status.success(), "{log}");
    assert!(
        log.contains("RUN steps use the host's network")
            && log.contains("apt-get install iproute2 iptables"),
        "{log}"
    );
    assert_eq!(
        log.matches("RUN steps use the host's network").count(),
        1,
        "{log}"
    );
    assert_eq!(cat(&h, "nobridge:1", "/ran"), "ran");
    // With the tools, the default is the isolated bridge and nothing is said.
    let out = build_with_env(
        &h,
        ctx.path(),
        "bridge:1",
        &["--progress", "plain", "--no-cache"],
        &[],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stderr(&out).contains("host's network"), "{}", stderr(&out));
}
