//! `hoist compose build/pull/push/logs/exec/stop/start/restart/kill/rm/…` on a project's containers, found again by
//! their compose labels from each new process. Until `compose up` exists, the containers are made the way `up`
//! makes them: `hoist run -d` with the compose labels and the name `PROJECT-SERVICE-1` (network none).
mod common;

use std::path::Path;
use std::process::Output;

use common::registry::TestRegistry;
use common::{stderr, stdout, Hoist};

/// A project directory with `compose.yaml` = `file` and the `files` (relative path, content) beside it.
fn project_dir(file: &str, files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("hoist-compose-")
        .tempdir_in("/var/tmp")
        .expect("project dir");
    std::fs::write(dir.path().join("compose.yaml"), file).unwrap();
    for (path, content) in files {
        let path = dir.path().join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }
    dir
}

/// `hoist compose -p PROJECT ARGS` in `dir`.
fn compose(h: &Hoist, dir: &Path, project: &str, args: &[&str]) -> Output {
    h.cmd()
        .current_dir(dir)
        .env_remove("COMPOSE_FILE")
        .env_remove("COMPOSE_PROJECT_NAME")
        .args(["compose", "-p", project])
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("running hoist compose")
}

fn ok(out: Output, what: &str) -> Output {
    assert!(
        out.status.success(),
        "{what} failed ({}): {}{}",
        out.status,
        stdout(&out),
        stderr(&out)
    );
    out
}

/// A container of `service` as `compose up` makes it: labelled, named `PROJECT-SERVICE-1`, running `script`.
fn service_container(h: &Hoist, project: &str, service: &str, script: &str) {
    let name = format!("{project}-{service}-1");
    let out = h.run(&[
        "run",
        "-d",
        "--network",
        "none",
        "--label",
        &format!("com.docker.compose.project={project}"),
        "--label",
        &format!("com.docker.compose.service={service}"),
        "--label",
        "com.docker.compose.container-number=1",
        "--name",
        &name,
        "busybox",
        "sh",
        "-c",
        script,
    ]);
    ok(out, &format!("hoist run {name}"));
}

/// `hoist ps -a`'s status of container `name` (`Up …`, `Exited (N) …`).
fn status(h: &Hoist, name: &str) -> String {
    let out = ok(
        h.run(&["ps", "-a", "--format", "{{.Names}}\t{{.Status}}"]),
        "ps",
    );
    stdout(&out)
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name}\t")).map(str::to_string))
        .unwrap_or_else(|| panic!("{name} is not in hoist ps -a: {}", stdout(&out)))
}

/// Waits (up to 10 s) until container `name`'s log has `text`.
fn wait_for_log(h: &Hoist, name: &str, text: &str) {
    for _ in 0..200 {
        if stdout(&h.run(&["logs", name])).contains(text) {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("{name} never printed {text:?}");
}

/// A container that stops at once on SIGTERM (a pid 1 without a handler would ignore it until the timeout).
const STOPS_ON_TERM: &str = "trap 'exit 0' TERM; echo ready; while true; do sleep 0.1; done";

const TWO_SERVICES: &str = r#"
services:
  web:
    image: busybox
  database:
    image: busybox
"#;

const SHARED_DOCKERFILE: &str = "FROM busybox AS base
RUN sleep 1 && echo shared > /shared
FROM base AS other
RUN echo other > /who
FROM base AS final
ARG WHO=nobody
RUN echo \"$WHO\" > /who
CMD [\"cat\", \"/who\"]
";

#[test]
fn builds_run_at_once_share_their_common_step_and_are_named_as_compose_names_them() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let file = r#"
services:
  web:
    build:
      context: ./app
      args:
        WHO: web-arg
    image: shop/web:1
  api:
    build:
      context: ./app
      target: other
"#;
    let dir = project_dir(file, &[("app/Dockerfile", SHARED_DOCKERFILE)]);
    let out = ok(compose(&h, dir.path(), "shop", &["build"]), "compose build");
    let err = stderr(&out);
    // Each build's step lines carry its service, as compose shows a multi-service build.
    assert!(err.contains("[web base 2/2] RUN sleep 1"), "{err}");
    assert!(err.contains("[api base 2/2] RUN sleep 1"), "{err}");
    assert!(
        err.contains("Service web  Built") && err.contains("Service api  Built"),
        "{err}"
    );
    // The step both builds share ran once: the build that came second took it from the cache.
    let executed: usize = err
        .lines()
        .filter_map(|l| l.split_once(" steps cached, "))
        .filter_map(|(_, n)| n.split_whitespace().next()?.parse::<usize>().ok())
        .sum();
    assert_eq!(executed, 3, "the shared step ran twice:\n{err}");
    // `image:` + `build:` tags the build with `image:`; without `image:` it is PROJECT-SERVICE.
    let web = ok(h.run(&["run", "--rm", "shop/web:1"]), "run shop/web:1");
    assert_eq!(stdout(&web), "web-arg\n", "the build arg reached the build");
    let api = ok(
        h.run(&["run", "--rm", "shop-api", "cat", "/who"]),
        "run shop-api",
    );
    assert_eq!(stdout(&api), "other\n", "the build stopped at its target");

    // Unknown services are compose's error; a service without build: is not built.
    let out = compose(&h, dir.path(), "shop", &["build", "nope"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("no such service: nope"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn push_sends_the_images_of_services_that_name_one() {
    let Some(registry) = TestRegistry::start() else {
        return;
    };
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let file = format!(
        "services:\n  web:\n    build: ./app\n    image: {}/shop/web:2\n  local:\n    build: ./app\n",
        registry.host()
    );
    let dir = project_dir(
        &file,
        &[("app/Dockerfile", "FROM busybox\nRUN echo pushed > /p\n")],
    );
    ok(compose(&h, dir.path(), "shop", &["build"]), "compose build");
    let out = ok(compose(&h, dir.path(), "shop", &["push"]), "compose push");
    let err = stderr(&out);
    assert!(err.contains("Pushed"), "{err}");
    // Only the service with `image:` is pushed (`local` has nowhere to go).
    assert!(!err.contains("shop-local"), "{err}");
    let manifest = registry.manifest("shop/web", "2");
    assert!(
        manifest["layers"].as_array().is_some_and(|l| !l.is_empty()),
        "{manifest}"
    );

    // `compose pull` skips services with build:, and pulls the others from the registry.
    let file = format!(
        "services:\n  fetched:\n    image: {}/shop/web:2\n",
        registry.host()
    );
    let other = project_dir(&file, &[]);
    let fresh = Hoist::with_busybox().unwrap();
    ok(
        compose(&fresh, other.path(), "other", &["pull"]),
        "compose pull",
    );
    let run = ok(
        fresh.run(&[
            "run",
            "--rm",
            &format!("{}/shop/web:2", registry.host()),
            "cat",
            "/p",
        ]),
        "run the pulled image",
    );
    assert_eq!(stdout(&run), "pushed\n");
}

#[test]
fn logs_are_prefixed_with_padded_names_and_tail_counts_per_container() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let dir = project_dir(TWO_SERVICES, &[]);
    service_container(
        &h,
        "lg",
        "web",
        "echo web one; echo web two; echo web err >&2; sleep 60",
    );
    service_container(&h, "lg", "database", "echo db one; echo db two; sleep 60");
    wait_for_log(&h, "lg-web-1", "web two");
    wait_for_log(&h, "lg-database-1", "db two");

    let out = ok(compose(&h, dir.path(), "lg", &["logs"]), "compose logs");
    let text = stdout(&out);
    // Names padded to the longest (`lg-database-1`), then `  | `.
    assert!(
        text.contains("lg-web-1       | web one\nlg-web-1       | web two\n"),
        "{text}"
    );
    assert!(text.contains("lg-database-1  | db one\n"), "{text}");
    assert!(
        stderr(&out).contains("lg-web-1       | web err"),
        "{}",
        stderr(&out)
    );

    let out = ok(
        compose(
            &h,
            dir.path(),
            "lg",
            &["logs", "--tail", "1", "--no-log-prefix", "database"],
        ),
        "compose logs --tail 1",
    );
    assert_eq!(stdout(&out), "db two\n");

    // -f follows until the containers stop.
    let follower = compose_follow(&h, dir.path(), "lg", "web");
    ok(compose(&h, dir.path(), "lg", &["kill"]), "compose kill");
    let out = follower.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("lg-web-1  | web two"),
        "{}",
        stdout(&out)
    );
}

fn compose_follow(h: &Hoist, dir: &Path, project: &str, service: &str) -> std::process::Child {
    h.cmd()
        .current_dir(dir)
        .args(["compose", "-p", project, "logs", "-f", service])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

#[test]
fn exec_passes_the_exit_code_through_and_refuses_what_does_not_run() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let dir = project_dir(TWO_SERVICES, &[]);
    service_container(&h, "ex", "web", "sleep 60");
    let out = compose(
        &h,
        dir.path(),
        "ex",
        &["exec", "-T", "web", "sh", "-c", "echo in $HOSTNAME; exit 7"],
    );
    assert_eq!(out.status.code(), Some(7), "{}", stderr(&out));
    assert!(stdout(&out).starts_with("in "), "{}", stdout(&out));
    let out = compose(
        &h,
        dir.path(),
        "ex",
        &[
            "exec",
            "-T",
            "-e",
            "X=set",
            "-w",
            "/tmp",
            "web",
            "sh",
            "-c",
            "echo $X $PWD",
        ],
    );
    assert_eq!(stdout(&ok(out, "exec -e -w")), "set /tmp\n");

    let out = compose(&h, dir.path(), "ex", &["exec", "-T", "database", "true"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("service \"database\" is not running"),
        "{}",
        stderr(&out)
    );
    let out = compose(&h, dir.path(), "ex", &["exec", "-T", "nope", "true"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("no such service: nope"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn stop_start_restart_rm_change_what_ps_shows() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let dir = project_dir(TWO_SERVICES, &[]);
    service_container(&h, "lc", "web", STOPS_ON_TERM);
    service_container(&h, "lc", "database", STOPS_ON_TERM);

    let out = ok(
        compose(&h, dir.path(), "lc", &["stop", "web"]),
        "compose stop web",
    );
    let err = stderr(&out);
    assert!(err.contains("Container lc-web-1  Stopped"), "{err}");
    assert!(
        status(&h, "lc-web-1").starts_with("Exited"),
        "{}",
        status(&h, "lc-web-1")
    );
    assert!(status(&h, "lc-database-1").starts_with("Up"));

    let out = ok(compose(&h, dir.path(), "lc", &["start"]), "compose start");
    assert!(
        stderr(&out).contains("Container lc-web-1  Started"),
        "{}",
        stderr(&out)
    );
    // What already ran is left alone.
    assert!(!stderr(&out).contains("lc-database-1"), "{}", stderr(&out));
    assert!(status(&h, "lc-web-1").starts_with("Up"));

    let before = pid(&h, "lc-database-1");
    ok(
        compose(&h, dir.path(), "lc", &["restart", "database"]),
        "compose restart",
    );
    assert!(status(&h, "lc-database-1").starts_with("Up"));
    assert_ne!(
        pid(&h, "lc-database-1"),
        before,
        "restart made a new process"
    );

    ok(
        compose(&h, dir.path(), "lc", &["pause", "web"]),
        "compose pause",
    );
    assert!(
        status(&h, "lc-web-1").contains("(Paused)"),
        "{}",
        status(&h, "lc-web-1")
    );
    ok(
        compose(&h, dir.path(), "lc", &["unpause", "web"]),
        "compose unpause",
    );
    assert!(!status(&h, "lc-web-1").contains("Paused"));

    // rm removes stopped containers only, and asks first (no answer on stdin: nothing removed).
    ok(
        compose(&h, dir.path(), "lc", &["stop", "-t", "1"]),
        "compose stop",
    );
    let out = ok(compose(&h, dir.path(), "lc", &["rm"]), "compose rm");
    assert!(stderr(&out).contains("Going to remove"), "{}", stderr(&out));
    status(&h, "lc-web-1");
    let out = ok(
        compose(&h, dir.path(), "lc", &["rm", "-f"]),
        "compose rm -f",
    );
    assert!(
        stderr(&out).contains("Container lc-web-1  Removed"),
        "{}",
        stderr(&out)
    );
    let ps = stdout(&h.run(&["ps", "-a"]));
    assert!(!ps.contains("lc-"), "{ps}");
}

fn pid(h: &Hoist, name: &str) -> String {
    stdout(&ok(
        h.run(&["inspect", "-f", "{{.State.Pid}}", name]),
        "inspect",
    ))
}

#[test]
fn attach_prints_every_line_prefixed_and_each_exit_code() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let dir = project_dir(TWO_SERVICES, &[]);
    service_container(
        &h,
        "at",
        "web",
        "echo web hello; sleep 1; echo web bye; exit 3",
    );
    service_container(&h, "at", "database", "echo db hello; sleep 1");
    let out = ok(compose(&h, dir.path(), "at", &["attach"]), "compose attach");
    let text = stdout(&out);
    assert!(
        text.starts_with("Attaching to at-database-1, at-web-1\n"),
        "{text}"
    );
    assert!(text.contains("at-web-1       | web hello\n"), "{text}");
    assert!(text.contains("at-web-1       | web bye\n"), "{text}");
    assert!(text.contains("at-database-1  | db hello\n"), "{text}");
    assert!(text.contains("at-web-1 exited with code 3\n"), "{text}");
    assert!(
        text.contains("at-database-1 exited with code 0\n"),
        "{text}"
    );
}

#[test]
fn ctrl_c_while_attached_stops_the_containers_gracefully() {
    use std::io::{BufRead, BufReader};
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let dir = project_dir(TWO_SERVICES, &[]);
    service_container(&h, "ci", "web", STOPS_ON_TERM);
    wait_for_log(&h, "ci-web-1", "ready");
    let mut child = h
        .cmd()
        .current_dir(dir.path())
        .args(["compose", "-p", "ci", "attach"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut seen = String::new();
    // The first line comes once the signals are being watched; then the container's log.
    while !seen.contains("ci-web-1  | ready") {
        let mut line = String::new();
        assert_ne!(
            out.read_line(&mut line).unwrap(),
            0,
            "attach ended early: {seen}"
        );
        seen.push_str(&line);
    }
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).unwrap();
    let started = std::time::Instant::now();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut out, &mut rest).unwrap();
    let result = child.wait_with_output().unwrap();
    assert_eq!(result.status.code(), Some(130), "{}", stderr(&result));
    let err = stderr(&result);
    assert!(
        err.contains("Gracefully stopping... (press Ctrl+C again to force)"),
        "{err}"
    );
    assert!(err.contains("Container ci-web-1  Stopped"), "{err}");
    assert!(rest.contains("ci-web-1 exited with code 0"), "{rest}");
    assert!(
        started.elapsed().as_secs() < 8,
        "the stop signal was not sent: it waited for the timeout"
    );
    assert!(status(&h, "ci-web-1").starts_with("Exited"));
}
