//! Pull and push progress as `docker pull`/`docker push` print it: plain status lines when stdout is not a
//! terminal (`abc123: Pulling fs layer`, `abc123: Pull complete`), and on a terminal one line per layer with its
//! bytes and a bar, redrawn in place.

use std::io::IsTerminal as _;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hoist_registry::{TransferEvent, TransferProgress};
use hoist_store::Digest;

/// Pull or push: the words differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Pull,
    Push,
}

/// Docker's status lines for both directions.
pub struct DockerProgress {
    direction: Direction,
    quiet: bool,
    /// Progress goes to stderr (`hoist run` pulling a missing image: its stdout is the container's).
    on_stderr: bool,
    tty: bool,
    /// (short id, status) per layer in order of first appearance; the tty view redraws them.
    lines: Mutex<(Vec<(String, String)>, usize)>,
    /// When the tty view was last drawn: byte counts redraw it at most every [`REDRAW_EVERY`].
    last_drawn: Mutex<Option<Instant>>,
}

/// The tty view's byte counts are redrawn at most this often (state changes always redraw).
const REDRAW_EVERY: Duration = Duration::from_millis(100);

impl DockerProgress {
    pub fn new(direction: Direction, quiet: bool) -> DockerProgress {
        DockerProgress {
            direction,
            quiet,
            on_stderr: false,
            tty: std::io::stdout().is_terminal(),
            lines: Mutex::new((Vec::new(), 0)),
            last_drawn: Mutex::new(None),
        }
    }

    /// Progress on stderr, as `docker run` shows the pull of an image it lacks.
    pub fn on_stderr(direction: Direction) -> DockerProgress {
        DockerProgress {
            on_stderr: true,
            tty: std::io::stderr().is_terminal(),
            ..DockerProgress::new(direction, false)
        }
    }

    fn write(&self, text: std::fmt::Arguments<'_>) {
        if self.on_stderr {
            crate::output::write_stderr(text);
        } else {
            crate::output::write_stdout(text);
        }
    }

    fn status(&self, event: &TransferEvent<'_>) -> (String, Option<String>) {
        let pull = self.direction == Direction::Pull;
        let (id, text): (&Digest, String) = match *event {
            TransferEvent::Waiting { id } => (
                id,
                if pull {
                    "Pulling fs layer"
                } else {
                    "Preparing"
                }
                .into(),
            ),
            TransferEvent::Started { id, .. } => {
                (id, if pull { "Downloading" } else { "Pushing" }.into())
            }
            TransferEvent::Bytes { id, done, total } => (id, bytes_line(pull, done, total)),
            TransferEvent::Verifying { id } => (id, "Verifying Checksum".into()),
            TransferEvent::Done { id } => {
                (id, if pull { "Pull complete" } else { "Pushed" }.into())
            }
            TransferEvent::Exists { id } => (
                id,
                if pull {
                    "Already exists"
                } else {
                    "Layer already exists"
                }
                .into(),
            ),
            TransferEvent::Mounted { id, from } => (id, format!("Mounted from {from}")),
        };
        let plain = match event {
            // Byte counts are for the terminal only; a log gets one line per state.
            TransferEvent::Bytes { .. } | TransferEvent::Started { .. } => None,
            _ => Some(text.clone()),
        };
        (format!("{}: {text}", id.short()), plain)
    }

    /// Print a line that is not about one layer (the tty view keeps it above the layer lines).
    pub fn line(&self, text: &str) {
        if self.quiet {
            return;
        }
        self.write(format_args!("{text}\n"));
    }

    fn redraw(&self, lines: &mut (Vec<(String, String)>, usize)) {
        let (rows, drawn) = lines;
        let mut out = String::new();
        if *drawn > 0 {
            out.push_str(&format!("\x1b[{}A", *drawn));
        }
        for (id, status) in rows.iter() {
            out.push_str(&format!("\x1b[2K{id}: {status}\n"));
        }
        *drawn = rows.len();
        self.write(format_args!("{out}"));
    }
}

impl TransferProgress for DockerProgress {
    fn event(&self, event: TransferEvent<'_>) {
        if self.quiet {
            return;
        }
        let (line, plain) = self.status(&event);
        if !self.tty {
            if let Some(status) = plain {
                let id = line.split(':').next().unwrap_or("");
                // Docker says the download is complete once verified, then that the layer is in place.
                if matches!(event, TransferEvent::Done { .. }) && self.direction == Direction::Pull
                {
                    self.write(format_args!("{id}: Download complete\n"));
                }
                self.write(format_args!("{id}: {status}\n"));
            }
            return;
        }
        let mut lines = self.lines.lock().unwrap_or_else(|p| p.into_inner());
        let (id, status) = line.split_once(": ").unwrap_or((&line, ""));
        match lines.0.iter_mut().find(|(i, _)| i == id) {
            Some(row) => row.1 = status.to_string(),
            None => lines.0.push((id.to_string(), status.to_string())),
        }
        let mut last_drawn = self.last_drawn.lock().unwrap_or_else(|p| p.into_inner());
        let recent = last_drawn.is_some_and(|t| t.elapsed() < REDRAW_EVERY);
        if matches!(event, TransferEvent::Bytes { .. }) && recent {
            return;
        }
        *last_drawn = Some(Instant::now());
        self.redraw(&mut lines);
    }
}

/// `Downloading [=====>      ]  1.2MB/3.4MB`.
fn bytes_line(pull: bool, done: u64, total: u64) -> String {
    let verb = if pull { "Downloading" } else { "Pushing" };
    if total == 0 {
        return format!("{verb}  {}", crate::output::human_size(done));
    }
    const WIDTH: u64 = 50;
    let filled = (done.min(total) * WIDTH / total) as usize;
    let bar = if filled >= WIDTH as usize {
        "=".repeat(WIDTH as usize)
    } else {
        format!(
            "{}>{}",
            "=".repeat(filled),
            " ".repeat(WIDTH as usize - filled - 1)
        )
    };
    format!(
        "{verb} [{bar}]  {}/{}",
        crate::output::human_size(done),
        crate::output::human_size(total)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_fill_with_the_bytes() {
        assert_eq!(bytes_line(true, 0, 100).matches('=').count(), 0);
        assert_eq!(bytes_line(true, 50, 100).matches('=').count(), 25);
        assert!(bytes_line(false, 100, 100)
            .starts_with("Pushing [=================================================="));
        assert_eq!(bytes_line(true, 5, 0), "Downloading  5B");
    }
}
