//! Progress events: the solver reports, the CLI renders (plain lines today; a TTY view later).
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

/// Receives build progress. Implementations must be cheap: they are called from the build's threads.
pub trait Progress: Sync {
    fn event(&self, event: Event<'_>);
}

/// Discards everything (for `-q` and for tests).
pub struct Silent;

impl Progress for Silent {
    fn event(&self, _event: Event<'_>) {}
}
