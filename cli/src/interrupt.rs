//! Ctrl-C (SIGINT) and SIGTERM during `hoist build`: the first stops the build cleanly — running containers
//! are killed, mounts undone, staging files removed, finished steps kept in the cache — and the build exits
//! 130 / 143; a second one exits at once (the next hoist start sweeps what that leaves).
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex};

use hoist_executor::container::CancelToken;
use hoist_solver::{Event, Progress};
use nix::sys::signal::{SigSet, Signal};

/// Watches for SIGINT and SIGTERM on a thread of its own.
pub struct Interrupts {
    received: Arc<AtomicI32>,
}

impl Interrupts {
    /// Blocks SIGINT and SIGTERM in this thread — and so in every thread it starts from now on, which is why
    /// this must run before the build starts any — and waits for them on a new thread, which cancels `cancel`.
    pub fn watch(cancel: CancelToken) -> anyhow::Result<Interrupts> {
        let mut signals = SigSet::empty();
        signals.add(Signal::SIGINT);
        signals.add(Signal::SIGTERM);
        signals
            .thread_block()
            .map_err(|e| anyhow::anyhow!("blocking SIGINT and SIGTERM for the build: {e}"))?;
        let received = Arc::new(AtomicI32::new(0));
        let seen = Arc::clone(&received);
        std::thread::Builder::new()
            .name("signals".into())
            .spawn(move || loop {
                let Ok(signal) = signals.wait() else {
                    continue;
                };
                if seen.swap(signal as i32, Ordering::SeqCst) != 0 {
                    errln!("hoist: {signal} again: exiting now, without cleaning up (the next build will)");
                    std::process::exit(128 + signal as i32);
                }
                errln!(
                    "hoist: {signal}: stopping the build (running steps are killed, finished ones stay cached; \
                     press Ctrl-C again to exit at once)"
                );
                cancel.cancel();
            })
            .map_err(|e| anyhow::anyhow!("starting the signal thread: {e}"))?;
        Ok(Interrupts { received })
    }

    /// The signal that stopped the build, if one came.
    pub fn received(&self) -> Option<Signal> {
        Signal::try_from(self.received.load(Ordering::SeqCst)).ok()
    }
}

/// Passes events on, remembering which steps have started and not finished: what an interrupt stopped.
pub struct Unfinished<'a> {
    inner: &'a dyn Progress,
    running: Mutex<BTreeMap<usize, String>>,
}

impl<'a> Unfinished<'a> {
    pub fn new(inner: &'a dyn Progress) -> Self {
        Unfinished {
            inner,
            running: Mutex::default(),
        }
    }

    /// The names of the steps that started and never finished (`#3 [2/4] RUN make`), in order.
    pub fn names(&self) -> Vec<String> {
        let running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        running
            .iter()
            .map(|(id, name)| format!("#{id} {name}"))
            .collect()
    }
}

impl Progress for Unfinished<'_> {
    fn event(&self, event: Event<'_>) {
        {
            let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
            match &event {
                Event::Started { id, name } => {
                    running.insert(*id, name.to_string());
                }
                Event::Done { id, .. } | Event::Cached { id } => {
                    running.remove(id);
                }
                _ => {}
            }
        }
        self.inner.event(event);
    }
}
