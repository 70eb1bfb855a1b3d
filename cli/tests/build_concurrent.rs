//! Several `hoist build`s at once on one state dir, with `hoist cache prune -a` and `hoist rmi` beside them:
//! no build breaks another (each start sweeps what *dead* hoists left, never what a live one uses), every image
//! is correct, and SQLite never answers "database is locked".
//! CI runs 2 rounds with RUNs of 1 s; by hand, `HOIST_CONCURRENT_ROUNDS=10 HOIST_CONCURRENT_RUN_SECS=3`.
mod common;

use std::process::Output;
use std::sync::atomic::{AtomicBool, Ordering};

use common::{stderr, stdout, Hoist};

/// Build `i`'s Dockerfile: some identical, some sharing a first step, some unrelated; every one with a RUN of
/// about a second, so that other builds start (and sweep) while it runs.
fn dockerfile(i: usize, round: usize) -> String {
    let secs = env_number("HOIST_CONCURRENT_RUN_SECS", 1);
    match i % 3 {
        0 => format!("FROM busybox\nRUN sleep {secs} && echo shared > /shared\nRUN echo same > /mine\n"),
        1 => format!(
            "FROM busybox\nRUN sleep {secs} && echo shared > /shared\nRUN echo overlap-{i}-{round} > /mine\n"
        ),
        _ => format!("FROM busybox\nRUN sleep {secs} && echo unrelated-{i}-{round} > /mine\n"),
    }
}

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn expected(i: usize, round: usize) -> String {
    match i % 3 {
        0 => "same\n".to_string(),
        1 => format!("overlap-{i}-{round}\n"),
        _ => format!("unrelated-{i}-{round}\n"),
    }
}

fn build(h: &Hoist, i: usize, round: usize, no_cache: bool) -> (Output, tempfile::TempDir) {
    let ctx = tempfile::tempdir().unwrap();
    std::fs::write(ctx.path().join("Dockerfile"), dockerfile(i, round)).unwrap();
    let tag = format!("img{i}:r{round}");
    let mut cmd = h.cmd();
    cmd.args(["build", "--progress", "plain", "-t", &tag]);
    if no_cache {
        cmd.arg("--no-cache");
    }
    let out = cmd.arg(ctx.path()).output().expect("running hoist build");
    (out, ctx)
}

#[test]
fn eight_builds_at_once_with_prune_and_rmi_beside_them() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    // Images that `rmi` removes while the builds run: unrelated to every build.
    for n in 0..4 {
        let (out, _ctx) = h.build_text(
            &format!("victim:{n}"),
            &format!("FROM busybox\nRUN echo victim-{n} > /v\n"),
            &[],
            &[],
        );
        assert!(out.status.success(), "victim build: {}", stderr(&out));
    }
    let rounds = env_number("HOIST_CONCURRENT_ROUNDS", 2);
    for round in 0..rounds {
        let stop = AtomicBool::new(false);
        let results: Vec<(usize, Output)> = std::thread::scope(|scope| {
            let admin = scope.spawn(|| {
                let mut outputs = Vec::new();
                let mut n = 0;
                while !stop.load(Ordering::SeqCst) {
                    outputs.push(h.run(&["cache", "prune", "-a", "-f"]));
                    // Images no build of this round is tagged as, though some share their layers.
                    if round == 0 && n < 4 {
                        outputs.push(h.run(&["rmi", &format!("victim:{n}")]));
                        n += 1;
                    } else if round > 0 && n < 8 {
                        outputs.push(h.run(&["rmi", &format!("img{n}:r{}", round - 1)]));
                        n += 1;
                    }
                    std::thread::sleep(std::time::Duration::from_millis(150));
                }
                outputs
            });
            let builds: Vec<_> = (0..8)
                .map(|i| {
                    let h = &h;
                    scope.spawn(move || {
                        // Staggered starts: each later build sweeps while earlier ones are in their RUN.
                        std::thread::sleep(std::time::Duration::from_millis(120 * i as u64));
                        (i, build(h, i, round, i % 2 == 0).0)
                    })
                })
                .collect();
            let results = builds.into_iter().map(|b| b.join().unwrap()).collect();
            stop.store(true, Ordering::SeqCst);
            for out in admin.join().unwrap() {
                assert!(
                    out.status.success(),
                    "prune/rmi beside the builds failed: {}",
                    stderr(&out)
                );
                assert!(!stderr(&out).contains("database is locked"));
            }
            results
        });
        for (i, out) in &results {
            let err = stderr(out);
            assert!(
                out.status.success(),
                "round {round}, build {i} failed:\n{err}"
            );
            assert!(!err.contains("database is locked"), "build {i}: {err}");
        }
        for (i, _) in &results {
            let image = format!("img{i}:r{round}");
            let out = h.run(&["run", "--rm", &image, "cat", "/mine"]);
            assert!(out.status.success(), "{image}: {}", stderr(&out));
            assert_eq!(stdout(&out), expected(*i, round), "{image}: wrong /mine");
            if i % 3 != 2 {
                let out = h.run(&["run", "--rm", &image, "cat", "/shared"]);
                assert_eq!(stdout(&out), "shared\n", "{image}: wrong /shared");
            }
        }
    }
    assert!(h.leftover_mounts().is_empty(), "{:?}", h.leftover_mounts());
    assert!(h.leftover_tmp().is_empty(), "{:?}", h.leftover_tmp());
}
