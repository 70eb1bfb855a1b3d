//! HEALTHCHECK and `--health-*`: the monitor execs the check into the container; starting →
//! healthy/unhealthy as Docker decides, shown by `ps` ("(healthy)"), `ps --filter health=` and
//! `inspect` (State.Health with FailingStreak and the last 5 results); timeouts kill the check.
mod common;
use common::*;

use std::time::{Duration, Instant};

fn health(h: &Hoist, name: &str) -> serde_json::Value {
    let (_, out, _) = h.out(&["inspect", name]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap_or_default();
    v[0]["State"]["Health"].clone()
}

fn wait_health(h: &Hoist, name: &str, status: &str, secs: u64) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let v = health(h, name);
        if v["Status"] == status {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "{name} not {status} in {secs}s: {v}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn ps_status(h: &Hoist, name: &str) -> String {
    let (_, out, _) = h.out(&[
        "ps",
        "--filter",
        &format!("name={name}"),
        "--format",
        "{{.Status}}",
    ]);
    out.trim().to_string()
}

#[test]
fn starting_then_unhealthy_then_healthy() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    h.detach(&[
        "--name",
        "svc",
        "--health-cmd",
        "cat /tmp/ready",
        "--health-interval",
        "200ms",
        "--health-retries",
        "2",
        "busybox",
        "sleep",
        "100",
    ]);
    let v = health(&h, "svc");
    assert_eq!(v["Status"], "starting", "{v}");
    assert!(
        ps_status(&h, "svc").ends_with("(health: starting)"),
        "{}",
        ps_status(&h, "svc")
    );
    let v = wait_health(&h, "svc", "unhealthy", 20);
    assert!(v["FailingStreak"].as_u64().unwrap() >= 2, "{v}");
    let last = &v["Log"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["ExitCode"], 1, "{v}");
    assert!(
        last["Output"].as_str().unwrap().contains("/tmp/ready"),
        "{v}"
    );
    assert!(last["Start"].as_str().unwrap() <= last["End"].as_str().unwrap());
    assert!(
        ps_status(&h, "svc").ends_with("(unhealthy)"),
        "{}",
        ps_status(&h, "svc")
    );
    let (_, out, _) = h.out(&[
        "ps",
        "--filter",
        "health=unhealthy",
        "--format",
        "{{.Names}}",
    ]);
    assert_eq!(out.trim(), "svc");
    assert_eq!(
        h.out(&["exec", "svc", "sh", "-c", "echo ok > /tmp/ready"])
            .0,
        0
    );
    let v = wait_health(&h, "svc", "healthy", 20);
    assert_eq!(v["FailingStreak"], 0, "{v}");
    assert_eq!(
        v["Log"].as_array().unwrap().last().unwrap()["Output"],
        "ok\n"
    );
    assert!(
        ps_status(&h, "svc").ends_with("(healthy)"),
        "{}",
        ps_status(&h, "svc")
    );
    let (_, out, _) = h.out(&["ps", "--filter", "health=healthy", "--format", "{{.Names}}"]);
    assert_eq!(out.trim(), "svc");
    let (_, out, _) = h.out(&[
        "ps",
        "--filter",
        "health=unhealthy",
        "--format",
        "{{.Names}}",
    ]);
    assert_eq!(out.trim(), "");
    // Only the last 5 results are kept.
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(health(&h, "svc")["Log"].as_array().unwrap().len(), 5);
    assert_eq!(h.out(&["rm", "-f", "svc"]).0, 0);
}

#[test]
fn start_period_failures_do_not_count_and_timeouts_kill_the_check() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    h.detach(&[
        "--name",
        "slow",
        "--health-cmd",
        "sleep 30",
        "--health-interval",
        "200ms",
        "--health-timeout",
        "300ms",
        "--health-retries",
        "1",
        "--health-start-period",
        "60s",
        "busybox",
        "sleep",
        "100",
    ]);
    // Failures within the start period: still starting, no streak.
    let deadline = Instant::now() + Duration::from_secs(20);
    let v = loop {
        let v = health(&h, "slow");
        if v["Log"].as_array().is_some_and(|l| l.len() >= 2) {
            break v;
        }
        assert!(Instant::now() < deadline, "{v}");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(v["Status"], "starting", "{v}");
    assert_eq!(v["FailingStreak"], 0, "{v}");
    let first = &v["Log"][0];
    assert_eq!(first["ExitCode"], -1, "{v}");
    assert_eq!(
        first["Output"], "Health check exceeded timeout (300ms)",
        "{v}"
    );
    // The timed-out checks were killed: at most the one in flight is left.
    let (_, top, _) = h.out(&["exec", "slow", "ps", "-o", "args"]);
    let sleeps = top.lines().filter(|l| l.contains("sleep 30")).count();
    assert!(sleeps <= 1, "{top}");
    assert_eq!(h.out(&["rm", "-f", "slow"]).0, 0);
}

#[test]
fn image_healthcheck_cmd_form_and_no_healthcheck() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let ctx = context_with(&[(
        "Dockerfile",
        b"FROM busybox\nHEALTHCHECK --interval=200ms --retries=1 CMD [\"/bin/true\"]\n",
    )]);
    let (code, _, err) = h.out(&["build", "-q", "-t", "checked", ctx.path().to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    h.detach(&["--name", "img", "checked", "sleep", "100"]);
    wait_health(&h, "img", "healthy", 20);
    let (_, out, _) = h.out(&["inspect", "-f", "{{json .Config.Healthcheck.Test}}", "img"]);
    assert_eq!(out.trim(), r#"["CMD","/bin/true"]"#);
    // --no-healthcheck: none, for ps too.
    h.detach(&[
        "--name",
        "off",
        "--no-healthcheck",
        "checked",
        "sleep",
        "100",
    ]);
    std::thread::sleep(Duration::from_millis(600));
    assert!(health(&h, "off").is_null(), "{}", health(&h, "off"));
    assert!(
        !ps_status(&h, "off").contains('('),
        "{}",
        ps_status(&h, "off")
    );
    let (_, out, _) = h.out(&["ps", "--filter", "health=none", "--format", "{{.Names}}"]);
    assert_eq!(out.trim(), "off");
    // CMD form over the image's, exit code 1 = unhealthy.
    h.detach(&[
        "--name",
        "bad",
        "--health-cmd",
        "exit 1",
        "--health-interval",
        "200ms",
        "--health-retries",
        "1",
        "checked",
        "sleep",
        "100",
    ]);
    wait_health(&h, "bad", "unhealthy", 20);
    assert_eq!(h.out(&["rm", "-f", "img", "off", "bad"]).0, 0);
}
