//! The walking skeleton end to end: import → build the hello example → config, files, run, save, cache.
mod common;

use common::{layer_entries, sha256_hex, stderr, stdout, Hoist};
use std::path::Path;

fn example_dir() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../testdata/examples/hello")
        .to_string_lossy()
        .into_owned()
}

#[test]
fn hello_example_builds_runs_and_saves() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let out = h.run(&["build", "-t", "demo:1", &example_dir()]);
    assert!(out.status.success(), "build failed:\n{}", stderr(&out));
    assert!(
        stderr(&out).contains("RUN chmod 0755 greet.sh"),
        "progress names the steps:\n{}",
        stderr(&out)
    );

    // The image config, as BuildKit would write it.
    let (config, layers) = h.saved("demo:1");
    let c = &config["config"];
    assert_eq!(
        c["Env"],
        serde_json::json!([
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "APP_HOME=/opt/app",
            "GREETING_DEFAULT=hello"
        ])
    );
    assert_eq!(c["Entrypoint"], serde_json::json!(["/opt/app/greet.sh"]));
    assert_eq!(c["Cmd"], serde_json::json!(["world"]));
    assert_eq!(c["WorkingDir"], "/opt/app");
    assert_eq!(c["User"], "app");
    assert_eq!(c["Labels"]["org.opencontainers.image.title"], "hoist hello");
    assert_eq!(c["Labels"]["maintainer"], "hoist developers");
    let ports: Vec<&String> = c["ExposedPorts"].as_object().unwrap().keys().collect();
    assert_eq!(ports, vec!["53/udp", "8080/tcp"]);
    assert_eq!(config["os"], "linux");

    // docker-archive layout: every layer's sha256 is its diff_id.
    let diff_ids: Vec<String> = config["rootfs"]["diff_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_str().unwrap().to_string())
        .collect();
    assert_eq!(diff_ids.len(), layers.len());
    for (layer, diff_id) in layers.iter().zip(&diff_ids) {
        assert_eq!(format!("sha256:{}", sha256_hex(layer)), *diff_id);
    }
    // base + WORKDIR + COPY + RUN
    assert_eq!(layers.len(), 4, "one layer per filesystem step");
    let workdir = layer_entries(&layers[1]);
    assert!(
        workdir.contains_key("opt/app"),
        "WORKDIR created the dir: {:?}",
        workdir.keys()
    );
    let copy = layer_entries(&layers[2]);
    let greet = &copy["opt/app/greet.sh"];
    assert_eq!((greet.2, greet.3), (0, 0), "COPY owns files by root");
    assert_eq!(greet.1 & 0o777, 0o644);
    let run = layer_entries(&layers[3]);
    assert_eq!(run["opt/app/build-info.txt"].4, b"built with hello\n");
    assert_eq!(
        run["opt/app/greet.sh"].1 & 0o777,
        0o755,
        "RUN chmod changed the mode"
    );

    // Running it: ENTRYPOINT + CMD, as user app, in the WORKDIR.
    let out = h.run(&["run", "--rm", "demo:1"]);
    assert!(out.status.success(), "run failed: {}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "hello, world!\nrunning as 1000 in /opt/app\nbuilt with hello\n"
    );
    let out = h.run(&["run", "--rm", "demo:1", "a", "b"]);
    assert_eq!(
        stdout(&out).lines().take(2).collect::<Vec<_>>(),
        vec!["hello, a!", "hello, b!"]
    );
    let out = h.run(&[
        "run",
        "--rm",
        "--entrypoint",
        "sh",
        "demo:1",
        "-c",
        "exit 7",
    ]);
    assert_eq!(
        out.status.code(),
        Some(7),
        "the container's exit code is hoist's: {}",
        stderr(&out)
    );
    let out = h.run(&["run", "--rm", "-e", "GREETING_DEFAULT=hi", "demo:1", "you"]);
    assert!(stdout(&out).starts_with("hi, you!"), "{}", stdout(&out));

    // `hoist images` lists it.
    let out = h.run(&["images"]);
    let listing = stdout(&out);
    assert!(listing.starts_with("REPOSITORY"), "{listing}");
    assert!(
        listing
            .lines()
            .any(|l| l.starts_with("demo ") && l.contains(" 1 ")),
        "{listing}"
    );

    assert!(
        h.leftover_mounts().is_empty(),
        "mounts left: {:?}",
        h.leftover_mounts()
    );
    assert!(
        h.leftover_tmp().is_empty(),
        "tmp left: {:?}",
        h.leftover_tmp()
    );
}

#[test]
fn second_build_is_fully_cached_and_gives_the_same_image() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let first = h.run(&["build", "-q", "-t", "demo:1", &example_dir()]);
    assert!(first.status.success(), "{}", stderr(&first));
    let again = h.run(&["build", "-t", "demo:2", &example_dir()]);
    assert!(again.status.success(), "{}", stderr(&again));
    let log = stderr(&again);
    assert_eq!(
        log.matches(" CACHED").count(),
        3,
        "WORKDIR, COPY and RUN come from the cache:\n{log}"
    );
    assert!(log.contains("0 executed"), "{log}");
    let id = h.run(&["build", "-q", "-t", "demo:3", &example_dir()]);
    assert_eq!(
        stdout(&first),
        stdout(&id),
        "a fully cached rebuild gives the same image ID"
    );
    // --no-cache runs everything again.
    let fresh = h.run(&["build", "--no-cache", "-t", "demo:4", &example_dir()]);
    assert!(stderr(&fresh).contains("3 executed"), "{}", stderr(&fresh));
}

#[test]
fn failing_run_fails_the_build_with_its_exit_code() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let (out, _ctx) = h.build_text(
        "bad:1",
        "FROM busybox\nRUN echo before\nRUN exit 3\nRUN echo never\n",
        &[],
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    let log = stderr(&out);
    assert!(log.contains("exit code: 3"), "{log}");
    assert!(log.contains("Dockerfile:3"), "names the step's line: {log}");
    assert!(
        !log.contains("never"),
        "steps after the failure do not run: {log}"
    );
    assert!(
        h.run(&["run", "--rm", "bad:1", "true"]).status.code() == Some(125),
        "no image was tagged"
    );
    assert!(
        h.leftover_mounts().is_empty(),
        "mounts left: {:?}",
        h.leftover_mounts()
    );
    assert!(
        h.leftover_tmp().is_empty(),
        "tmp left: {:?}",
        h.leftover_tmp()
    );
}

#[test]
fn bad_dockerfiles_get_line_and_column() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let (out, _ctx) = h.build_text("x:1", "FROM busybox\nFRM busybox\n", &[], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("Dockerfile:2:"), "{}", stderr(&out));
    assert!(
        stderr(&out).to_lowercase().contains("unknown instruction"),
        "{}",
        stderr(&out)
    );
    assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
    let (out, _ctx) = h.build_text("x:1", "FROM busybox\nCOPY --frm=a x /\n", &[], &[]);
    assert!(stderr(&out).contains("Dockerfile:2:"), "{}", stderr(&out));
    assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
}

#[test]
fn docker_loads_and_runs_the_saved_image() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let docker_up = std::process::Command::new("docker")
        .arg("info")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !docker_up {
        eprintln!("SKIPPED: docker is not installed or no daemon answers; `docker load` not tried");
        return;
    }
    let out = h.run(&["build", "-t", "hoist-demo:1", &example_dir()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let dir = tempfile::tempdir().unwrap();
    let tar = dir.path().join("demo.tar");
    assert!(h
        .run(&["save", "-o", tar.to_str().unwrap(), "hoist-demo:1"])
        .status
        .success());
    let load = std::process::Command::new("docker")
        .args(["load", "-i", tar.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(load.status.success(), "{}", stderr(&load));
    let run = std::process::Command::new("docker")
        .args(["run", "--rm", "hoist-demo:1"])
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", stderr(&run));
    assert!(
        stdout(&run).starts_with("hello, world!"),
        "{}",
        stdout(&run)
    );
    let _ = std::process::Command::new("docker")
        .args(["rmi", "hoist-demo:1"])
        .output();
}
