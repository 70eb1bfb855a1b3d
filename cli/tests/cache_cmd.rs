//! `hoist cache ls | du | prune | export | import` against real builds.
mod common;

use std::time::{Duration, Instant};

use common::{stderr, stdout, Hoist};

const APP: &str = "FROM busybox\nRUN echo app > /app.txt\nCOPY f.txt /f.txt\nWORKDIR /w\n";
const OTHER: &str = "FROM busybox\nRUN head -c 300000 /dev/zero > /big.bin\nCOPY g.txt /g.txt\n";

fn build(h: &Hoist, tag: &str, dockerfile: &str, files: &[(&str, &str)]) -> String {
    let (out, _ctx) = h.build_text(tag, dockerfile, files, &[]);
    assert!(
        out.status.success(),
        "build {tag} failed:\n{}",
        stderr(&out)
    );
    stderr(&out)
}

fn ls_json(h: &Hoist, extra: &[&str]) -> Vec<serde_json::Value> {
    let mut args = vec!["cache", "ls", "--format", "json"];
    args.extend_from_slice(extra);
    let out = h.run(&args);
    assert!(out.status.success(), "cache ls failed: {}", stderr(&out));
    let value: serde_json::Value =
        serde_json::from_str(&stdout(&out)).expect("ls --format json prints one JSON value");
    value
        .as_array()
        .cloned()
        .expect("ls --format json prints an array")
}

fn descriptions(items: &[serde_json::Value]) -> Vec<String> {
    items
        .iter()
        .map(|i| i["description"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn ls_shows_steps_with_sharing_and_filters() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    build(&h, "app:1", APP, &[("f.txt", "f")]);

    let items = ls_json(&h, &[]);
    let steps: Vec<&serde_json::Value> = items.iter().filter(|i| i["type"] == "regular").collect();
    assert_eq!(steps.len(), 3, "RUN, COPY, WORKDIR: {items:#?}");
    let run = steps
        .iter()
        .find(|i| i["step"] == "RUN")
        .expect("a RUN record");
    assert!(
        run["description"]
            .as_str()
            .unwrap()
            .contains("RUN echo app > /app.txt"),
        "{run}"
    );
    assert_eq!(run["shared"], true, "the tagged image uses its layer");
    assert_eq!(run["short_id"].as_str().unwrap().len(), 12);
    assert!(run["size"].as_u64().unwrap() > 0);

    let copies = ls_json(&h, &["--filter", "type=copy"]);
    assert_eq!(descriptions(&copies).len(), 1, "{copies:#?}");
    assert!(descriptions(&copies)[0].contains("COPY f.txt"));
    let by_text = ls_json(&h, &["--filter", "echo app"]);
    assert_eq!(by_text.len(), 1);
    assert!(
        ls_json(&h, &["--filter", "until=24h"]).is_empty(),
        "nothing is a day old"
    );

    let out = h.run(&["cache", "ls"]);
    let table = stdout(&out);
    assert!(table.starts_with("ID"), "{table}");
    assert!(
        table
            .lines()
            .any(|l| l.contains("RUN echo app") && l.contains("true")),
        "{table}"
    );

    let out = h.run(&["cache", "ls", "--filter", "colour=blue"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("--filter"), "{}", stderr(&out));
}

#[test]
fn du_splits_by_type_and_step() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    build(&h, "app:1", APP, &[("f.txt", "f")]);
    build(&h, "other:1", OTHER, &[("g.txt", "g")]);
    let out = h.run(&["rmi", "other:1"]);
    assert!(out.status.success(), "{}", stderr(&out));

    let out = h.run(&["cache", "du", "--format", "json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let du: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let total = du["total"].as_u64().unwrap();
    let reclaimable = du["reclaimable"].as_u64().unwrap();
    assert!(
        reclaimable >= 300_000,
        "other:1's 300 kB layer is only cache now: {du:#}"
    );
    assert!(
        reclaimable < total,
        "app:1's layers are not reclaimable: {du:#}"
    );
    let types: Vec<&str> = du["by_type"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        vec![
            "layers",
            "cache mounts",
            "context checksums",
            "unreferenced"
        ]
    );
    let steps: Vec<&str> = du["by_step"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(steps, vec!["COPY", "RUN", "WORKDIR"]);

    let out = h.run(&["cache", "du"]);
    let text = stdout(&out);
    assert!(
        text.contains("Total:") && text.contains("Reclaimable:") && text.contains("cache mounts"),
        "{text}"
    );
}

#[test]
fn prune_frees_only_what_no_tagged_image_uses() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    build(&h, "app:1", APP, &[("f.txt", "f")]);
    build(&h, "other:1", OTHER, &[("g.txt", "g")]);
    assert!(h.run(&["rmi", "other:1"]).status.success());

    let out = h.run(&["cache", "prune"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("RUN head -c 300000"),
        "lists what it deleted: {text}"
    );
    let reclaimed = text
        .lines()
        .find_map(|l| l.strip_prefix("Total reclaimed space: "))
        .expect(&text);
    assert!(
        reclaimed.ends_with("kB") || reclaimed.ends_with("MB"),
        "{text}"
    );

    // app:1's records stay and its rebuild is fully cached; it still runs.
    let left = descriptions(&ls_json(&h, &["--filter", "type=regular"]));
    assert_eq!(left.len(), 3, "{left:?}");
    assert!(left.iter().all(|d| !d.contains("head -c")), "{left:?}");
    let log = build(&h, "app:1", APP, &[("f.txt", "f")]);
    assert!(log.contains("3 steps cached, 0 executed"), "{log}");
    let out = h.run(&["run", "--rm", "app:1", "cat", "/app.txt"]);
    assert_eq!(stdout(&out), "app\n", "{}", stderr(&out));

    // --all drops every record; the image keeps its layers and still runs.
    let out = h.run(&["cache", "prune", "--all"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(ls_json(&h, &["--filter", "type=regular"]).is_empty());
    let out = h.run(&["run", "--rm", "app:1", "cat", "/f.txt"]);
    assert_eq!(stdout(&out), "f", "{}", stderr(&out));
    let out = h.run(&["cache", "prune", "--all"]);
    assert!(
        stdout(&out).contains("Total reclaimed space: 0B"),
        "{}",
        stdout(&out)
    );
    assert!(
        h.leftover_tmp().is_empty(),
        "tmp left: {:?}",
        h.leftover_tmp()
    );
}

#[test]
fn prune_keep_storage_and_until() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    build(&h, "other:1", OTHER, &[("g.txt", "g")]);
    assert!(h.run(&["rmi", "other:1"]).status.success());

    let out = h.run(&["cache", "prune", "--filter", "until=1h"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        ls_json(&h, &["--filter", "type=regular"]).len(),
        2,
        "nothing is an hour old"
    );

    let out = h.run(&["cache", "prune", "--keep-storage", "100GB"]);
    assert!(
        stdout(&out).contains("Total reclaimed space: 0B"),
        "{}",
        stdout(&out)
    );
    assert_eq!(ls_json(&h, &["--filter", "type=regular"]).len(), 2);

    let out = h.run(&["cache", "prune", "--keep-storage", "0"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(ls_json(&h, &["--filter", "type=regular"]).is_empty());

    let out = h.run(&["cache", "prune", "--keep-storage", "lots"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("--keep-storage"), "{}", stderr(&out));
}

#[test]
fn prune_waits_for_running_builds() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    // What a build holds while it runs.
    let lock_file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(h.root.path().join("lock"))
        .unwrap();
    let held = nix::fcntl::Flock::lock(lock_file, nix::fcntl::FlockArg::LockShared)
        .map_err(|(_, e)| e)
        .unwrap();
    let mut prune = h
        .cmd()
        .args(["cache", "prune", "--all"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        prune.try_wait().unwrap().is_none(),
        "prune must wait while a build holds the store"
    );
    drop(held);
    let started = Instant::now();
    let out = prune.wait_with_output().unwrap();
    assert!(out.status.success());
    assert!(started.elapsed() < Duration::from_secs(20));
}

/// `FROM scratch`: `hoist import` stamps the import time into the base image, so two state dirs importing
/// busybox a second apart have different base image IDs (and so different cache keys).
const SCRATCH_APP: &str = "FROM scratch\nCOPY f.txt /f.txt\nCOPY sub /sub\n";

#[test]
fn export_and_import_carry_the_cache_to_a_fresh_state_dir() {
    let Some(a) = Hoist::with_busybox() else {
        return;
    };
    let Some(b) = Hoist::with_busybox() else {
        return;
    };
    let files = [("f.txt", "f"), ("sub/g.txt", "g")];
    build(&a, "app:1", SCRATCH_APP, &files);
    let dir = tempfile::tempdir().unwrap();
    let cache_dir = dir.path().join("cache");
    let out = a.run(&["cache", "export", cache_dir.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(cache_dir.join("index.json").is_file() && cache_dir.join("oci-layout").is_file());

    let out = b.run(&["cache", "import", cache_dir.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("imported 2 cache records"),
        "{}",
        stderr(&out)
    );
    let log = build(&b, "app:1", SCRATCH_APP, &files);
    assert!(
        log.contains("2 steps cached, 0 executed"),
        "the imported cache is used:\n{log}"
    );
    let (config_a, layers_a) = a.saved("app:1");
    let (config_b, layers_b) = b.saved("app:1");
    assert_eq!(layers_a, layers_b);
    assert_eq!(config_a["rootfs"], config_b["rootfs"]);

    let out = b.run(&["cache", "import", dir.path().to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("index.json"),
        "says what is missing: {}",
        stderr(&out)
    );
}

#[test]
fn cache_mounts_and_context_checksums_are_items_too() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let dockerfile = "FROM busybox\nRUN --mount=type=cache,id=apt,target=/var/cache/x echo data > /var/cache/x/f\nCOPY f.txt /f.txt\n";
    // Files changed in the last seconds are not trusted to the stat cache ("racily clean"): make them old.
    let ctx = tempfile::tempdir().unwrap();
    std::fs::write(ctx.path().join("Dockerfile"), dockerfile).unwrap();
    std::fs::write(ctx.path().join("f.txt"), "f").unwrap();
    let touched = std::process::Command::new("touch")
        .args(["-d", "2020-01-01T00:00:00Z"])
        .arg(ctx.path().join("f.txt"))
        .arg(ctx.path().join("Dockerfile"))
        .status()
        .unwrap();
    assert!(touched.success());
    // touch set the ctime to now: let it age past the racy window too.
    std::thread::sleep(std::time::Duration::from_millis(300));
    let out = h.run(&["build", "-t", "mounts:1", ctx.path().to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));

    let mounts = ls_json(&h, &["--filter", "type=exec.cachemount"]);
    assert_eq!(mounts.len(), 1, "{mounts:#?}");
    assert_eq!(mounts[0]["size"], 5, "{mounts:#?}");
    let context = ls_json(&h, &["--filter", "type=context"]);
    assert_eq!(
        context.len(),
        1,
        "the stat cache of the context: {context:#?}"
    );
    assert_eq!(context[0]["type"], "source.local");

    let out = h.run(&["cache", "prune", "--filter", "type=cachemount"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(ls_json(&h, &["--filter", "type=exec.cachemount"]).is_empty());
    assert_eq!(ls_json(&h, &["--filter", "type=context"]).len(), 1);
    assert_eq!(ls_json(&h, &["--filter", "type=regular"]).len(), 2);
    assert!(std::fs::read_dir(h.root.path().join("cachemounts"))
        .map(|d| d.filter_map(|e| e.ok()).all(|e| !e.path().is_dir()))
        .unwrap_or(true));

    let out = h.run(&["cache", "prune", "--filter", "type=source.local"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(ls_json(&h, &["--filter", "type=context"]).is_empty());
}

#[test]
fn du_reclaimable_is_what_prune_frees() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    // Layers only the cache keeps (with a compressed copy from save), and what rmi left to garbage collection.
    h.build_ok(
        "du:1",
        "FROM busybox\nRUN head -c 300000 /dev/urandom > /big\nRUN echo x > /small\n",
        &[],
        &[],
    );
    let dir = tempfile::tempdir().unwrap();
    let tar = dir.path().join("x.tar");
    let out = h.run(&[
        "save",
        "--compress",
        "gzip",
        "-o",
        tar.to_str().unwrap(),
        "du:1",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(h.run(&["rmi", "du:1"]).status.success());
    let (code, du, err) = h.out(&["cache", "du"]);
    assert_eq!(code, 0, "{err}");
    let reclaimable = du
        .lines()
        .find_map(|l| l.strip_prefix("Reclaimable:"))
        .map(str::trim)
        .unwrap_or_else(|| panic!("{du}"))
        .to_string();
    let (code, prune, err) = h.out(&["cache", "prune"]);
    assert_eq!(code, 0, "{err}");
    let freed = prune
        .lines()
        .find_map(|l| l.strip_prefix("Total reclaimed space:"))
        .map(str::trim)
        .unwrap_or_else(|| panic!("{prune}"));
    assert_eq!(reclaimable, freed, "du said:\n{du}\nprune said:\n{prune}");
}
