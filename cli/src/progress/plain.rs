//! Plain progress, like BuildKit's `--progress=plain`: `#N name`, output lines with their time, `#N DONE 0.3s`.
use std::collections::HashMap;
use std::io::Write;
use std::sync::Mutex;
use std::time::Instant;

use hoist_solver::{Event, Progress};

pub struct PlainProgress {
    started: Instant,
    /// Unfinished output lines per vertex (output arrives in arbitrary chunks).
    partial: Mutex<HashMap<usize, Vec<u8>>>,
}

impl Default for PlainProgress {
    fn default() -> Self {
        Self::new()
    }
}

impl PlainProgress {
    pub fn new() -> Self {
        PlainProgress {
            started: Instant::now(),
            partial: Mutex::default(),
        }
    }

    fn flush_partial(&self, id: usize, out: &mut impl Write) {
        if let Ok(mut partial) = self.partial.lock() {
            if let Some(rest) = partial.remove(&id).filter(|r| !r.is_empty()) {
                let _ = writeln!(
                    out,
                    "#{id} {:.3} {}",
                    self.started.elapsed().as_secs_f64(),
                    String::from_utf8_lossy(&rest)
                );
            }
        }
    }
}

impl Progress for PlainProgress {
    fn event(&self, event: Event<'_>) {
        let stderr = std::io::stderr();
        let mut out = stderr.lock();
        match event {
            Event::Started { id, name } => {
                let _ = writeln!(out, "#{id} {name}");
            }
            Event::Output {
                id,
                stream: _,
                data,
            } => {
                let Ok(mut partial) = self.partial.lock() else {
                    return;
                };
                let buf = partial.entry(id).or_default();
                buf.extend_from_slice(data);
                while let Some(pos) = buf.iter().position(|b| *b == b'\n') {
                    let line: Vec<u8> = buf.drain(..=pos).collect();
                    let text = String::from_utf8_lossy(&line[..line.len() - 1]);
                    let _ = writeln!(
                        out,
                        "#{id} {:.3} {text}",
                        self.started.elapsed().as_secs_f64()
                    );
                }
            }
            Event::Explain { id, reason } => {
                let _ = writeln!(out, "#{id} MISS: {reason}");
            }
            // A count every 100 ms would flood a CI log; the step's DONE line says when it ended.
            Event::Advanced { .. } => {}
            Event::Cached { id } => {
                let _ = writeln!(out, "#{id} CACHED");
            }
            Event::Done { id, elapsed } => {
                self.flush_partial(id, &mut out);
                let _ = writeln!(out, "#{id} DONE {:.1}s", elapsed.as_secs_f64());
            }
            Event::Failed {
                id,
                elapsed,
                message,
            } => {
                self.flush_partial(id, &mut out);
                let _ = writeln!(out, "#{id} ERROR {:.1}s: {message}", elapsed.as_secs_f64());
            }
            Event::Warning { message } => {
                let _ = writeln!(out, "WARNING: {message}");
            }
        }
    }
}
