//! `hoist store check [--repair]`: a sound store is clean (exit 0); damage is named (exit 1); a repair removes
//! it (exit 0 once the store is clean) and a rebuild works; live builds and containers are left alone.
mod common;
use common::*;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const DOCKERFILE: &str = "FROM busybox\nRUN echo store-check-marker > /marker\n";

/// The blob whose bytes contain `needle` (a layer tar holds its files uncompressed).
fn blob_containing(h: &Hoist, needle: &[u8]) -> PathBuf {
    let dir = h.root.path().join("blobs/sha256");
    std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .find(|p| {
            let bytes = std::fs::read(p).unwrap_or_default();
            bytes.windows(needle.len()).any(|w| w == needle) && !bytes.starts_with(b"{")
            // not a JSON blob (config, manifest, build sources)
        })
        .expect("a layer blob with the marker")
}

fn check(h: &Hoist, extra: &[&str]) -> (i32, String) {
    let mut args = vec!["store", "check"];
    args.extend_from_slice(extra);
    let (code, out, err) = h.out(&args);
    assert!(!err.contains("panicked"), "{err}");
    (code, out)
}

/// Kills `pid` and waits until it is gone (reaped), so nothing sees it alive any more.
fn kill_and_wait(pid: i32) {
    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::SIGKILL);
    let deadline = Instant::now() + Duration::from_secs(10);
    while Path::new(&format!("/proc/{pid}")).exists() {
        assert!(Instant::now() < deadline, "process {pid} does not go away");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn damage_is_named_repaired_and_the_store_rebuilds() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    h.build_ok("t:1", DOCKERFILE, &[], &[]);
    let (code, out) = check(&h, &[]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("no problems") && out.contains("2 images"),
        "{out}"
    );

    // A flipped byte in the RUN step's layer, a half-unpacked snapshot, a killed build's staging dir, and a
    // cache record whose layer was never stored.
    let layer = blob_containing(&h, b"store-check-marker");
    let mut bytes = std::fs::read(&layer).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01;
    std::fs::write(&layer, &bytes).unwrap();
    let layer_digest = format!("sha256:{}", layer.file_name().unwrap().to_string_lossy());
    std::fs::create_dir_all(h.root.path().join("snapshots/9999/etc")).unwrap();
    let stale = h
        .root
        .path()
        .join("tmp/step-2147483646_0badf00d-00000000000000ff");
    std::fs::create_dir_all(stale.join("u")).unwrap();
    let db = rusqlite::Connection::open(h.root.path().join("cache.db")).unwrap();
    db.execute(
        "INSERT INTO cache (key, description, layer, payload, size, created, last_used, used_count)
         VALUES ('sha256:dangling0000', 'RUN ghost', ?1, '{}', 0, 0, 0, 0)",
        [format!("sha256:{}", "0".repeat(64))],
    )
    .unwrap();
    drop(db);

    let (code, out) = check(&h, &[]);
    assert_eq!(code, 1, "{out}");
    for want in [
        format!("blob {layer_digest} content does not match its name"),
        "image t:1 (".to_string(),
        "snapshots/9999 is half-unpacked".to_string(),
        "step-2147483646_0badf00d-00000000000000ff belongs to process 2147483646, which is gone"
            .to_string(),
        "(RUN ghost) needs layer".to_string(),
        "run `hoist store check --repair`".to_string(),
    ] {
        assert!(out.contains(&want), "no {want:?} in:\n{out}");
    }

    let (code, out) = check(&h, &["--repair"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("the store is clean now"), "{out}");
    assert!(!out.contains("NOT REPAIRED"), "{out}");
    assert!(!layer.exists() && !stale.exists());
    assert!(!h.root.path().join("snapshots/9999").exists());
    let (code, out) = check(&h, &[]);
    assert_eq!((code, out.contains("no problems")), (0, true), "{out}");

    // The image was removed with its layer; a rebuild makes both again.
    let (_, images, _) = h.out(&["images"]);
    assert!(!images.contains("\nt "), "{images}");
    h.build_ok("t:1", DOCKERFILE, &[], &[]);
    assert_eq!(h.sh("t:1", "cat /marker"), "store-check-marker\n");
    let (code, out) = check(&h, &[]);
    assert_eq!(code, 0, "{out}");
}

#[test]
fn a_build_beside_check_and_repair_is_not_disturbed() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let ctx = context_with(&[(
        "Dockerfile",
        b"FROM busybox\nRUN touch /started && sleep 3 && echo built > /out\n",
    )]);
    let build = h
        .cmd()
        .args(["build", "-q", "-t", "slow:1", ctx.path().to_str().unwrap()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the step runs: its overlay (with /started in its upper dir) is mounted under tmp/.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let running = h.leftover_tmp().iter().any(|e| {
            e.starts_with("step-") && h.root.path().join("tmp").join(e).join("u/started").exists()
        });
        if running {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the build's RUN step did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // Something for the repair to do once the build is over (made now: a build sweeps dead entries as it starts).
    let stale = h
        .root
        .path()
        .join("tmp/view-2147483646_0badf00d-00000000000000ff");
    std::fs::create_dir_all(&stale).unwrap();

    // A check runs beside the build: the build's staging dirs, mounts and cgroup are not problems.
    let (code, out) = check(&h, &[]);
    assert_eq!(code, 1, "{out}");
    let problems: Vec<&str> = out.lines().filter(|l| l.starts_with("  ")).collect();
    assert_eq!(problems.len(), 1, "{out}");
    assert!(problems[0].contains("view-2147483646"), "{out}");

    // A repair waits for the build, then removes only what is orphaned.
    let started = Instant::now();
    let (code, out, err) = h.out(&["store", "check", "--repair"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("problems: 1, repaired: 1"), "{out}");
    assert!(!stale.exists());
    let build = build.wait_with_output().unwrap();
    assert!(build.status.success(), "{}", stderr(&build));
    assert!(
        err.contains("waiting for the builds") || started.elapsed() > Duration::from_secs(1),
        "the repair did not wait for the build: {err}"
    );
    assert_eq!(h.sh("slow:1", "cat /out"), "built\n");
    let (code, out) = check(&h, &[]);
    assert_eq!((code, out.contains("no problems")), (0, true), "{out}");
}

#[test]
fn a_container_whose_monitor_died_is_cleaned_up_live_ones_stay() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let live = h.detach(&["--name", "live", "busybox", "sleep", "60"]);
    let dead = h.detach(&["--name", "dead", "busybox", "sleep", "60"]);
    let monitor = std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok())
        .find(|p| {
            let cmdline = std::fs::read(p.path().join("cmdline")).unwrap_or_default();
            let text = String::from_utf8_lossy(&cmdline);
            text.contains("__hoist-monitor") && text.contains(&dead)
        })
        .and_then(|p| p.file_name().to_string_lossy().parse::<i32>().ok())
        .expect("the container's monitor");
    kill_and_wait(monitor);

    let (code, out) = check(&h, &[]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!(
            "container {} (dead) is recorded as running but its monitor process {monitor} is gone",
            &dead[..12]
        )),
        "{out}"
    );
    assert!(out.contains("/merged belongs to container"), "{out}");
    assert!(!out.contains(&live[..12]), "{out}");

    let (code, out) = check(&h, &["--repair"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("cleaned up and marked exited"), "{out}");
    let (_, ps, _) = h.out(&["ps", "-a"]);
    assert!(ps.contains("dead") && ps.contains("Exited (137)"), "{ps}");
    assert!(ps.contains("live") && ps.contains("Up"), "{ps}");
    assert_eq!(leftovers_after(&dead, 5), Vec::<String>::new());
    let (code, out) = check(&h, &[]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(h.out(&["rm", "-f", "live", "dead"]).0, 0);
}

#[test]
fn a_killed_build_leaves_nothing_after_repair() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let ctx = context_with(&[(
        "Dockerfile",
        b"FROM busybox\nRUN touch /started && sleep 60\n",
    )]);
    let mut build = h
        .cmd()
        .args([
            "build",
            "-q",
            "-t",
            "killed:1",
            ctx.path().to_str().unwrap(),
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let pid = build.id() as i32;
    let deadline = Instant::now() + Duration::from_secs(30);
    while !h.leftover_tmp().iter().any(|e| {
        e.starts_with("step-") && h.root.path().join("tmp").join(e).join("u/started").exists()
    }) {
        assert!(
            Instant::now() < deadline,
            "the build's RUN step did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::SIGKILL);
    build.wait().unwrap();

    let (code, out) = check(&h, &[]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!("/tmp/step-{pid}_"))
            && out.contains("which is gone (1 mount inside)"),
        "{out}"
    );
    let (code, out) = check(&h, &["--repair"]);
    assert_eq!(code, 0, "{out}");
    // Nothing of the killed build is left: staging, mounts, its step's cgroup (and what ran in it).
    assert!(h.leftover_tmp().is_empty(), "{:?}", h.leftover_tmp());
    assert!(h.leftover_mounts().is_empty(), "{:?}", h.leftover_mounts());
    let step_cgroup = format!("hoist-{pid}-");
    for hierarchy in std::fs::read_dir("/sys/fs/cgroup").unwrap().flatten() {
        let left: Vec<String> = std::fs::read_dir(hierarchy.path().join("hoist"))
            .map(|rd| {
                rd.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| n.starts_with(&step_cgroup))
                    .collect()
            })
            .unwrap_or_default();
        assert!(
            left.is_empty(),
            "{left:?} in {}",
            hierarchy.path().display()
        );
    }
    let (code, out) = check(&h, &[]);
    assert_eq!((code, out.contains("no problems")), (0, true), "{out}");
    h.build_ok(
        "killed:1",
        "FROM busybox\nRUN echo again > /again\n",
        &[],
        &[],
    );
}

#[test]
fn an_exited_containers_leftover_cgroup_is_removed() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let (code, _, err) = h.out(&["run", "--name", "done", "busybox", "true"]);
    assert_eq!(code, 0, "{err}");
    let (_, id, _) = h.out(&["ps", "-aq", "--no-trunc"]);
    let id = id.trim().to_string();
    assert_eq!(id.len(), 64, "{id:?}");
    // What a reaper killed before it got to the cgroups leaves, some time after the container exited.
    let cgroup = Path::new("/sys/fs/cgroup/pids/hoist").join(format!("hoist-run-{}", &id[..16]));
    if !Path::new("/sys/fs/cgroup/pids").is_dir() {
        eprintln!("SKIPPED: no cgroup v1 pids hierarchy");
        return;
    }
    std::fs::create_dir_all(&cgroup).unwrap();
    let state = h
        .root
        .path()
        .join("containers")
        .join(&id)
        .join("state.json");
    let status = std::process::Command::new("touch")
        .args(["-d", "2 minutes ago", state.to_str().unwrap()])
        .status()
        .unwrap();
    assert!(status.success());

    let (code, out) = check(&h, &[]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!(
            "cgroup /hoist/hoist-run-{} belongs to container {}, which is not running",
            &id[..16],
            &id[..12]
        )),
        "{out}"
    );
    let (code, out) = check(&h, &["--repair"]);
    assert_eq!(code, 0, "{out}");
    assert!(!cgroup.exists());
    assert_eq!(h.out(&["rm", "done"]).0, 0);
}
