//! Progress events: the solver reports, the CLI renders (plain lines, a live terminal view, JSON).
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

#[derive(Debug)]
pub enum Event<'a> {
    /// A vertex (`#N`) starts: `name` is e.g. `[2/6] RUN make`.
    Started {
        id: usize,
        name: &'a str,
    },
    /// Output of a RUN process.
    Output {
        id: usize,
        stream: Stream,
        data: &'a [u8],
    },
    Cached {
        id: usize,
    },
    /// How far a long step has got: `done` `unit`s so far (a COPY's files and directories copied). Sent at most
    /// every [`ADVANCE_INTERVAL`] per step, so a renderer can show a count instead of only a spinner.
    Advanced {
        id: usize,
        done: u64,
        unit: &'a str,
    },
    /// `--explain`: why step `id` missed the cache.
    Explain {
        id: usize,
        reason: &'a str,
    },
    Done {
        id: usize,
        elapsed: Duration,
    },
    Failed {
        id: usize,
        elapsed: Duration,
        message: &'a str,
    },
    /// Something BuildKit accepts silently but a user should know (unused build-arg, undefined variable …).
    Warning {
        message: &'a str,
    },
}

/// How often a step reports [`Event::Advanced`].
pub const ADVANCE_INTERVAL: Duration = Duration::from_millis(100);

/// Counts a step's items (a COPY's entries) and reports the count every [`ADVANCE_INTERVAL`].
pub(crate) struct ItemCounter<'a> {
    sink: &'a dyn Progress,
    id: usize,
    unit: &'static str,
    done: std::sync::atomic::AtomicU64,
    next_report: std::sync::Mutex<std::time::Instant>,
}

impl<'a> ItemCounter<'a> {
    pub fn new(sink: &'a dyn Progress, id: usize, unit: &'static str) -> Self {
        ItemCounter {
            sink,
            id,
            unit,
            done: 0.into(),
            next_report: std::sync::Mutex::new(std::time::Instant::now() + ADVANCE_INTERVAL),
        }
    }

    /// One more item; reports the count when the interval has passed.
    pub fn add_one(&self) {
        use std::sync::atomic::Ordering;
        let done = self.done.fetch_add(1, Ordering::Relaxed) + 1;
        // Reading the clock for every file of a big COPY is measurable; every 64th is enough at 100 ms.
        if !done.is_multiple_of(64) {
            return;
        }
        let now = std::time::Instant::now();
        let Ok(mut next) = self.next_report.try_lock() else {
            return;
        };
        if now >= *next {
            *next = now + ADVANCE_INTERVAL;
            drop(next);
            self.sink.event(Event::Advanced {
                id: self.id,
                done,
                unit: self.unit,
            });
        }
    }
}

/// Receives build progress. Implementations must be cheap: they are called from the build's threads.
pub trait Progress: Sync {
    fn event(&self, event: Event<'_>);
}

/// Discards everything (for `-q` and for tests).
pub struct Silent;

impl Progress for Silent {
    fn event(&self, _event: Event<'_>) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[derive(Default)]
    struct Recorder(Mutex<Vec<(usize, u64, String)>>);

    impl Progress for Recorder {
        fn event(&self, event: Event<'_>) {
            if let Event::Advanced { id, done, unit } = event {
                self.0.lock().unwrap().push((id, done, unit.to_string()));
            }
        }
    }

    #[test]
    fn a_count_is_reported_at_most_once_an_interval() {
        let sink = Recorder::default();
        let counter = ItemCounter::new(&sink, 7, "files");
        for _ in 0..1000 {
            counter.add_one();
        }
        assert!(
            sink.0.lock().unwrap().is_empty(),
            "nothing before the first interval"
        );
        std::thread::sleep(ADVANCE_INTERVAL + Duration::from_millis(20));
        for _ in 0..1000 {
            counter.add_one();
        }
        let events = sink.0.lock().unwrap().clone();
        assert_eq!(events, vec![(7, 1024, "files".to_string())]);
    }
}
