//! Foreground `compose up`: the project's containers' output, prefixed, until every one has exited; Ctrl-C
//! stops them (compose's "Gracefully stopping..."), a second Ctrl-C kills them.
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use hoist_executor::runtime::{self, LogsOptions};
use nix::sys::signal::{SigSet, Signal};

use super::events;
use super::log_stream::{self, Prefix};
use super::lookup::project_containers;

/// Exit code after a Ctrl-C (SIGINT), as compose's.
const EXIT_INTERRUPTED: i32 = 130;

/// Streams the output of `project`'s containers of `services` (all when empty) as `NAME  | line`, prints
/// `NAME exited with code N` as each ends, and returns when all have exited: 0, or 130 after Ctrl-C.
pub(crate) fn attach_until_exit(
    root: &Path,
    project: &str,
    services: &[String],
) -> anyhow::Result<i32> {
    let root = std::path::absolute(root).unwrap_or_else(|_| root.to_path_buf());
    let names: Vec<String> = project_containers(&root, project)?
        .into_iter()
        .filter(|c| !c.oneoff())
        .filter(|c| services.is_empty() || services.contains(&c.service))
        .map(|c| c.record.name)
        .collect();
    if names.is_empty() {
        return Ok(0);
    }
    outln!("Attaching to {}", names.join(", "));
    let width = log_stream::name_width(names.iter().map(String::as_str));
    // Before the log threads start: they inherit the blocked mask, so the signals come to the watcher only.
    let interrupts = watch_interrupts(&root, &names)?;
    let followers: Vec<_> = names
        .iter()
        .map(|name| {
            let root = root.clone();
            let name = name.clone();
            let prefix = Prefix::new(&name, width, true);
            std::thread::spawn(move || follow_until_exit(&root, &name, &prefix))
        })
        .collect();
    for follower in followers {
        let _ = follower.join();
    }
    // The stops a Ctrl-C started print their last line before `up` goes on.
    let stoppers = std::mem::take(
        &mut *interrupts
            .stoppers
            .lock()
            .unwrap_or_else(|p| p.into_inner()),
    );
    for stopper in stoppers {
        let _ = stopper.join();
    }
    // Processes started from here on (and this thread) get Ctrl-C again as usual.
    let _ = interrupts.blocked.thread_unblock();
    Ok(if interrupts.interrupted.load(Ordering::SeqCst) {
        EXIT_INTERRUPTED
    } else {
        0
    })
}

/// One container's output until it exits, then compose's `NAME exited with code N`.
fn follow_until_exit(root: &Path, name: &str, prefix: &Prefix) {
    let options = LogsOptions {
        follow: true,
        ..Default::default()
    };
    if let Err(e) = log_stream::stream(root, name, prefix, &options) {
        errln!("hoist: the output of {name}: {e:#}");
    }
    // Removed meanwhile (another `compose down`): nothing left to report.
    if let Ok(code) = runtime::wait(root, name) {
        outln!("{name} exited with code {code}");
    }
}

/// What the signal thread did: whether a Ctrl-C came, and the stops it started.
struct Interrupts {
    /// The signals this thread blocked (the watcher thread waits for them).
    blocked: SigSet,
    interrupted: Arc<AtomicBool>,
    stoppers: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

/// Blocks SIGINT/SIGTERM and waits for them on a thread of its own: the first stops `names` (each at once, each
/// with its stop timeout), a second kills them and exits 130. True once the first came.
fn watch_interrupts(root: &Path, names: &[String]) -> anyhow::Result<Interrupts> {
    let mut signals = SigSet::empty();
    signals.add(Signal::SIGINT);
    signals.add(Signal::SIGTERM);
    signals
        .thread_block()
        .map_err(|e| anyhow::anyhow!("blocking SIGINT and SIGTERM while attached: {e}"))?;
    let blocked = signals;
    let interrupted = Arc::new(AtomicBool::new(false));
    let seen = Arc::clone(&interrupted);
    let stoppers: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
    let started = Arc::clone(&stoppers);
    let root: PathBuf = root.to_path_buf();
    let names = names.to_vec();
    let count = Arc::new(AtomicU32::new(0));
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || loop {
            if signals.wait().is_err() {
                continue;
            }
            if count.fetch_add(1, Ordering::SeqCst) > 0 {
                for name in &names {
                    let _ = runtime::kill(&root, name, Some("KILL"));
                }
                std::process::exit(EXIT_INTERRUPTED);
            }
            seen.store(true, Ordering::SeqCst);
            errln!("Gracefully stopping... (press Ctrl+C again to force)");
            // Not joined here: this thread must stay free for a second Ctrl-C.
            let mut started = started.lock().unwrap_or_else(|p| p.into_inner());
            for name in &names {
                let root = root.clone();
                let name = name.clone();
                started.push(std::thread::spawn(move || stop_one(&root, &name)));
            }
        })
        .map_err(|e| anyhow::anyhow!("starting the signal thread: {e}"))?;
    Ok(Interrupts {
        blocked,
        interrupted,
        stoppers,
    })
}

fn stop_one(root: &Path, name: &str) {
    events::event("Container", name, "Stopping", false);
    match runtime::stop(root, name, None) {
        Ok(_) => events::event("Container", name, "Stopped", true),
        Err(e) => events::failed("Container", name, &e.to_string()),
    }
}
