//! `--progress=json`: one JSON object per event on stderr, for tools that follow a build.
use std::io::Write;
use std::time::Instant;

use hoist_solver::{Event, Progress, Stream};
use serde_json::json;

pub struct JsonProgress {
    started: Instant,
}

impl Default for JsonProgress {
    fn default() -> Self {
        Self::new()
    }
}

impl JsonProgress {
    pub fn new() -> Self {
        JsonProgress {
            started: Instant::now(),
        }
    }
}

impl Progress for JsonProgress {
    fn event(&self, event: Event<'_>) {
        let t = self.started.elapsed().as_secs_f64();
        let value = match event {
            Event::Started { id, name } => {
                json!({"time": t, "vertex": id, "event": "started", "name": name})
            }
            Event::Output { id, stream, data } => json!({
                "time": t, "vertex": id, "event": "output",
                "stream": if stream == Stream::Stdout { "stdout" } else { "stderr" },
                "data": String::from_utf8_lossy(data),
            }),
            Event::Advanced { id, done, unit } => {
                json!({"time": t, "vertex": id, "event": "progress", "done": done, "unit": unit})
            }
            Event::Cached { id } => json!({"time": t, "vertex": id, "event": "cached"}),
            Event::Explain { id, reason } => {
                json!({"time": t, "vertex": id, "event": "miss", "reason": reason})
            }
            Event::Done { id, elapsed } => {
                json!({"time": t, "vertex": id, "event": "done", "duration": elapsed.as_secs_f64()})
            }
            Event::Failed {
                id,
                elapsed,
                message,
            } => json!({
                "time": t, "vertex": id, "event": "error", "duration": elapsed.as_secs_f64(), "message": message,
            }),
            Event::Warning { message } => {
                json!({"time": t, "event": "warning", "message": message})
            }
        };
        let stderr = std::io::stderr();
        let mut out = stderr.lock();
        let _ = writeln!(out, "{value}");
    }
}
