//! `--progress=tty`: one live line per running step with its timer (indicatif); finished steps stay as
//! `✔ [2/5] RUN … 1.2s` / `CACHED`; the last lines of a step's output show under it while it runs.
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use hoist_solver::{Event, Progress};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

pub struct TtyProgress {
    multi: MultiProgress,
    bars: Mutex<HashMap<usize, (ProgressBar, String)>>,
}

impl Default for TtyProgress {
    fn default() -> Self {
        Self::new()
    }
}

impl TtyProgress {
    pub fn new() -> Self {
        TtyProgress {
            multi: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
            bars: Mutex::default(),
        }
    }

    fn finish(&self, id: usize, tag: &str, elapsed: Option<Duration>) {
        let Ok(mut bars) = self.bars.lock() else {
            return;
        };
        if let Some((bar, name)) = bars.remove(&id) {
            let time = elapsed
                .map(|e| format!(" {:.1}s", e.as_secs_f64()))
                .unwrap_or_default();
            bar.set_style(
                ProgressStyle::with_template("{msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.finish_with_message(format!("{tag} #{id} {name}{time}"));
        }
    }
}

impl Progress for TtyProgress {
    fn event(&self, event: Event<'_>) {
        match event {
            Event::Started { id, name } => {
                let bar = self.multi.add(ProgressBar::new_spinner());
                let style = ProgressStyle::with_template(
                    "{spinner} #{prefix} {msg} {elapsed_precise:.dim}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_spinner());
                bar.set_style(style);
                bar.set_prefix(id.to_string());
                bar.set_message(name.to_string());
                bar.enable_steady_tick(Duration::from_millis(100));
                if let Ok(mut bars) = self.bars.lock() {
                    bars.insert(id, (bar, name.to_string()));
                }
            }
            Event::Output { id, data, .. } => {
                let text = String::from_utf8_lossy(data);
                for line in text.lines().filter(|l| !l.is_empty()) {
                    let _ = self.multi.println(format!("  #{id} │ {line}"));
                }
            }
            Event::Cached { id } => self.finish(id, "CACHED", None),
            Event::Explain { id, reason } => {
                let _ = self.multi.println(format!("  #{id} MISS: {reason}"));
            }
            Event::Done { id, elapsed } => self.finish(id, "✔", Some(elapsed)),
            Event::Failed {
                id,
                elapsed,
                message,
            } => {
                self.finish(id, "✘", Some(elapsed));
                let _ = self.multi.println(format!("  #{id} ERROR: {message}"));
            }
            Event::Warning { message } => {
                let _ = self.multi.println(format!("WARNING: {message}"));
            }
        }
    }
}
