//! `hoist build` killed (SIGKILL) or interrupted (SIGINT, SIGTERM) at random points of a multi-stage build that
//! COPYs thousands of files and runs containers:
//! - SIGINT / SIGTERM: exit 130 / 143, and nothing of the build is left (processes, mounts, cgroups, staging);
//! - SIGKILL: what is left is gone once the next hoist build has started;
//! - either way the rebuild reuses every step the interrupted build showed as DONE, and the image is right.
//!
//! By default 6 kills (~20 s on 2 busy cores); CI sets `HOIST_SLOW_TESTS=1` for 24 (~60-90 s).
//! `HOIST_CRASH_ROUNDS=N` sets the number of kills, `HOIST_CRASH_SEED=S` replays a run (the seed is printed).
mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::{stderr, stdout, Hoist};

const DOCKERFILE: &str = r#"FROM busybox AS files
ARG SEED
RUN echo "$SEED" > /seed
COPY tree /tree
RUN sleep 0.3 && find /tree -type f | wc -l > /count

FROM busybox AS other
ARG SEED
RUN sleep 0.4 && echo "other $SEED" > /other

FROM busybox
ARG SEED
COPY --from=files /count /count
COPY --from=other /other /other
RUN cat /count /other > /out && echo "$SEED" >> /out
"#;

const FILES: usize = 2000;

/// A small xorshift generator: no dependency, and a seed to print.
struct Random(u64);

impl Random {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

fn context() -> tempfile::TempDir {
    let ctx = tempfile::tempdir().unwrap();
    std::fs::write(ctx.path().join("Dockerfile"), DOCKERFILE).unwrap();
    for i in 0..FILES {
        let dir = ctx.path().join(format!("tree/d{}", i % 50));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("f{i}")), format!("file {i}\n")).unwrap();
    }
    ctx
}

fn start_build(h: &Hoist, ctx: &Path, seed: &str, log: &Path) -> Child {
    let log = std::fs::File::create(log).unwrap();
    h.cmd()
        .args(["build", "--progress", "plain", "-t", "crash:latest"])
        .args(["--build-arg", &format!("SEED={seed}")])
        .arg(ctx)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("starting hoist build")
}

/// Step names (`[files 3/4] COPY tree /tree`) by plain progress vertex, and the vertices with `word`
/// (`DONE`, `CACHED`) — FROM lines left out: they are never cached, only resolved.
fn steps_with(log: &str, word: &str) -> BTreeSet<String> {
    let mut names = BTreeMap::new();
    let mut marked = Vec::new();
    for line in log.lines() {
        let Some(rest) = line.strip_prefix('#') else {
            continue;
        };
        let Some((id, what)) = rest.split_once(' ') else {
            continue;
        };
        if what.starts_with('[') {
            names.insert(id.to_string(), what.to_string());
        } else if what.starts_with(word) {
            marked.push(id.to_string());
        }
    }
    marked
        .iter()
        .filter_map(|id| names.get(id))
        .filter(|name| !name.contains("] FROM "))
        .cloned()
        .collect()
}

/// What build `pid` (of this state dir) left behind: mounts, staging entries, cgroups, processes.
fn leftovers(h: &Hoist, pid: u32) -> Vec<String> {
    let mut found = h.leftover_mounts();
    found.extend(h.leftover_tmp().into_iter().map(|t| format!("tmp/{t}")));
    let prefix = format!("hoist-{pid}-");
    if let Ok(hierarchies) = std::fs::read_dir("/sys/fs/cgroup") {
        for hierarchy in hierarchies.flatten() {
            for dir in [hierarchy.path().join("hoist"), hierarchy.path()] {
                if let Ok(cgroups) = std::fs::read_dir(dir) {
                    for cgroup in cgroups.flatten() {
                        if cgroup.file_name().to_string_lossy().starts_with(&prefix) {
                            found.push(format!("cgroup {}", cgroup.path().display()));
                        }
                    }
                }
            }
        }
    }
    let root = h.root.path().to_string_lossy().into_owned();
    for proc_dir in std::fs::read_dir("/proc").unwrap().flatten() {
        let path = proc_dir.path();
        let cmdline = std::fs::read(path.join("cmdline")).unwrap_or_default();
        let cgroup = std::fs::read_to_string(path.join("cgroup")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if cgroup.contains(&format!("/hoist/{prefix}"))
            || (cmdline.contains("__hoist-container-init") && cmdline.contains(&root))
        {
            found.push(format!("process {}: {cmdline}", path.display()));
        }
    }
    found
}

/// `hoist store check`: right after a kill it may find the dead build's leftovers (exit 1) but must run and
/// say what they are; after the next hoist start has swept them, it must be clean (exit 0).
fn check_store(h: &Hoist, context: &str, must_be_clean: bool) {
    let (code, out, err) = h.out(&["store", "check"]);
    if must_be_clean {
        assert_eq!(
            code, 0,
            "{context}\nstore check after the next start:\n{out}{err}"
        );
    } else {
        assert!(
            code == 0 || code == 1,
            "{context}\nstore check failed to run:\n{out}{err}"
        );
    }
}

#[test]
fn kills_and_interrupts_at_random_points_leave_nothing_and_lose_no_finished_step() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let rounds: usize = std::env::var("HOIST_CRASH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(
            if std::env::var("HOIST_SLOW_TESTS").is_ok_and(|v| v != "0" && !v.is_empty()) {
                24
            } else {
                6
            },
        );
    let seed: u64 = std::env::var("HOIST_CRASH_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        });
    eprintln!("HOIST_CRASH_SEED={seed}");
    let mut random = Random(seed);
    let ctx = context();
    let logs = tempfile::tempdir().unwrap();

    // One uninterrupted build: how long a build takes, so kills land inside one.
    let log = logs.path().join("full.log");
    let started = Instant::now();
    let status = start_build(&h, ctx.path(), "warmup", &log).wait().unwrap();
    let full = started.elapsed();
    assert!(
        status.success(),
        "{}",
        std::fs::read_to_string(&log).unwrap()
    );

    let signals = [libc::SIGKILL, libc::SIGINT, libc::SIGTERM];
    let mut hits = BTreeMap::<i32, usize>::new();
    for round in 0..rounds {
        let signal = signals[round % signals.len()];
        let seed_arg = format!("round-{round}");
        let log = logs.path().join(format!("{round}.log"));
        let mut child = start_build(&h, ctx.path(), &seed_arg, &log);
        let pid = child.id();
        let delay = Duration::from_millis(random.below(full.as_millis() as u64 + 100));
        std::thread::sleep(delay);
        let finished_first = child.try_wait().unwrap().is_some();
        // SAFETY: a plain kill of our own child (not yet reaped, so its pid is still its own).
        unsafe { libc::kill(pid as i32, signal) };
        let status = child.wait().unwrap();
        let text = std::fs::read_to_string(&log).unwrap();
        // A handled signal in the build's last moments, once the image is named, finds nothing left to cancel:
        // hoist exits 0 with the work done, as if the build had finished first.
        let finished_first =
            finished_first || (status.success() && text.contains("naming to crash:latest done"));
        let context =
            format!("round {round}, signal {signal} after {delay:?} (seed {seed}):\n{text}");
        if !finished_first {
            *hits.entry(signal).or_default() += 1;
            // A signal in hoist's first milliseconds, before its handler is installed, kills it as it
            // would any program (nothing is made yet then): the shell sees the same 130 / 143.
            let handled = status.code().is_some();
            match signal {
                libc::SIGKILL => assert_eq!(status.signal(), Some(libc::SIGKILL), "{context}"),
                libc::SIGINT if handled => assert_eq!(status.code(), Some(130), "{context}"),
                libc::SIGTERM if handled => assert_eq!(status.code(), Some(143), "{context}"),
                _ => assert_eq!(status.signal(), Some(signal), "{context}"),
            }
            if signal != libc::SIGKILL && handled {
                // A handled signal cleans up itself, before the process exits.
                let left = leftovers(&h, pid);
                assert!(left.is_empty(), "{context}\nleft behind: {left:#?}");
            }
        }
        check_store(&h, &context, false);
        let done = steps_with(&text, "DONE");

        // The next start sweeps what a kill left; the rebuild takes every step shown DONE from the cache.
        let log = logs.path().join(format!("{round}-again.log"));
        let status = start_build(&h, ctx.path(), &seed_arg, &log).wait().unwrap();
        let again = std::fs::read_to_string(&log).unwrap();
        assert!(status.success(), "{context}\nrebuild:\n{again}");
        let cached = steps_with(&again, "CACHED");
        let lost: Vec<_> = done.difference(&cached).collect();
        assert!(
            lost.is_empty(),
            "{context}\nshown DONE but not reused: {lost:?}\nrebuild:\n{again}"
        );
        let left = leftovers(&h, pid);
        assert!(
            left.is_empty(),
            "{context}\nleft after the next build: {left:#?}"
        );
        check_store(&h, &context, true);
        let out = h.run(&["run", "--rm", "crash:latest", "cat", "/out"]);
        assert_eq!(
            stdout(&out),
            format!("{FILES}\nother {seed_arg}\n{seed_arg}\n"),
            "{context}\n{}",
            stderr(&out)
        );
    }
    eprintln!("signals that hit a running build: {hits:?} (of {rounds} rounds)");
}
