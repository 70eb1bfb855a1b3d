//! The model behind `--progress=tty`: every step the build has shown, its status and time, and the last lines of
//! a running step's output; [`View::lines`] lays it out as BuildKit's terminal view does:
//!
//! ```text
//! [+] Building 2.3s (4/5)
//!  => [1/5] FROM busybox                                  0.0s
//!  => CACHED [2/5] RUN make deps                          0.0s
//!  => [3/5] COPY . /src                                   1.1s
//!  => [4/5] RUN make                                      1.2s
//!  => => # compiling main.c
//! ```
//!
//! Pure data and text: the terminal work (cursor moves, the ticker) is in [`super::tty`].
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// How many of a running step's latest output lines show under it (BuildKit shows 6).
const OUTPUT_TAIL: usize = 6;

#[derive(Debug, Clone, PartialEq)]
enum Status {
    Running(Instant),
    Done(Duration),
    Cached,
    Failed(Duration),
}

#[derive(Debug)]
struct Step {
    id: usize,
    name: String,
    status: Status,
    /// The latest complete output lines, and the line being written.
    tail: VecDeque<String>,
    partial: Vec<u8>,
    /// `1234 files` while a long COPY runs.
    advanced: Option<String>,
    /// `--explain`: why the step missed the cache.
    miss: Option<String>,
}

#[derive(Debug)]
pub struct View {
    started: Instant,
    steps: Vec<Step>,
    warnings: Vec<String>,
}

impl View {
    pub fn new(started: Instant) -> Self {
        View {
            started,
            steps: Vec::new(),
            warnings: Vec::new(),
        }
    }

    /// No step has started (the build failed before its first, or has not reached it).
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty() && self.warnings.is_empty()
    }

    fn step(&mut self, id: usize) -> Option<&mut Step> {
        self.steps.iter_mut().find(|s| s.id == id)
    }

    pub fn started(&mut self, id: usize, name: &str, now: Instant) {
        let step = Step {
            id,
            name: name.to_string(),
            status: Status::Running(now),
            tail: VecDeque::new(),
            partial: Vec::new(),
            advanced: None,
            miss: None,
        };
        // Steps show in vertex order, as they were numbered.
        let at = self.steps.partition_point(|s| s.id < id);
        self.steps.insert(at, step);
    }

    pub fn output(&mut self, id: usize, data: &[u8]) {
        let Some(step) = self.step(id) else { return };
        step.partial.extend_from_slice(data);
        while let Some(end) = step.partial.iter().position(|b| *b == b'\n' || *b == b'\r') {
            let line: Vec<u8> = step.partial.drain(..=end).collect();
            let text = printable(&String::from_utf8_lossy(&line[..line.len() - 1]));
            if text.trim().is_empty() {
                continue;
            }
            if step.tail.len() == OUTPUT_TAIL {
                step.tail.pop_front();
            }
            step.tail.push_back(text);
        }
    }

    pub fn advanced(&mut self, id: usize, done: u64, unit: &str) {
        if let Some(step) = self.step(id) {
            step.advanced = Some(format!("{done} {unit}"));
        }
    }

    pub fn explain(&mut self, id: usize, reason: &str) {
        if let Some(step) = self.step(id) {
            step.miss = Some(printable(reason));
        }
    }

    pub fn cached(&mut self, id: usize) {
        if let Some(step) = self.step(id) {
            step.status = Status::Cached;
        }
    }

    pub fn done(&mut self, id: usize, elapsed: Duration) {
        if let Some(step) = self.step(id) {
            step.status = Status::Done(elapsed);
        }
    }

    pub fn failed(&mut self, id: usize, elapsed: Duration) {
        if let Some(step) = self.step(id) {
            step.status = Status::Failed(elapsed);
        }
    }

    pub fn warning(&mut self, message: &str) {
        self.warnings.push(printable(message));
    }

    /// The screen at `now`, each line at most `width` columns. `finished`: the build is over, so the header says
    /// FINISHED, a running step's output is gone, a failed step's stays, and the warnings follow.
    pub fn lines(&self, now: Instant, width: usize, finished: bool) -> Vec<String> {
        let total = self.steps.len();
        let done = self
            .steps
            .iter()
            .filter(|s| !matches!(s.status, Status::Running(_)))
            .count();
        let elapsed = now.saturating_duration_since(self.started).as_secs_f64();
        let mut lines = vec![format!(
            "[+] Building {elapsed:.1}s ({done}/{total}){}",
            if finished { " FINISHED" } else { "" }
        )];
        for step in &self.steps {
            let (tag, time) = match &step.status {
                Status::Running(since) => ("", now.saturating_duration_since(*since)),
                Status::Done(t) => ("", *t),
                Status::Cached => ("CACHED ", Duration::ZERO),
                Status::Failed(t) => ("ERROR ", *t),
            };
            let advanced = match (&step.status, &step.advanced) {
                (Status::Running(_), Some(a)) => format!(" {a}"),
                _ => String::new(),
            };
            let left = format!(" => {tag}{}{advanced}", first_line(&step.name));
            lines.push(with_time(&left, time, width));
            if let Some(miss) = &step.miss {
                lines.push(cut(&format!(" => => MISS: {miss}"), width));
            }
            let show_output = match step.status {
                Status::Running(_) => !finished,
                Status::Failed(_) => true,
                _ => false,
            };
            if show_output {
                for line in &step.tail {
                    lines.push(cut(&format!(" => => # {line}"), width));
                }
            }
        }
        if finished {
            for w in &self.warnings {
                lines.push(cut(&format!("WARNING: {w}"), width));
            }
        }
        lines
    }
}

/// `left`, then the time flush right (`1.2s`), within `width` columns.
fn with_time(left: &str, time: Duration, width: usize) -> String {
    let time = format!("{:.1}s", time.as_secs_f64());
    let room = width.saturating_sub(time.chars().count() + 1);
    let left = cut(left, room);
    let pad = room.saturating_sub(left.chars().count());
    format!("{left}{} {time}", " ".repeat(pad))
}

/// `text` cut to `width` characters (a wrapped line would throw the redraw's cursor arithmetic off).
fn cut(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_string();
    }
    let mut out: String = text.chars().take(width.saturating_sub(1)).collect();
    out.push('…');
    out
}

fn first_line(name: &str) -> &str {
    name.lines().next().unwrap_or("")
}

/// Control characters (escapes, tabs) of a step's output would move the cursor: they become spaces.
fn printable(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finished_steps_keep_their_line_and_time_and_running_output_goes() {
        let t0 = Instant::now();
        let mut v = View::new(t0);
        v.started(1, "[1/3] FROM busybox", t0);
        v.done(1, Duration::from_millis(10));
        v.started(2, "[2/3] RUN make", t0);
        v.output(2, b"compiling\nlinking\n");
        v.started(3, "[3/3] COPY . /src", t0);
        v.cached(3);
        let live = v.lines(t0 + Duration::from_secs(2), 60, false);
        assert_eq!(live[0], "[+] Building 2.0s (2/3)");
        assert!(live.iter().any(|l| l == " => => # linking"), "{live:#?}");
        v.done(2, Duration::from_millis(1500));
        let end = v.lines(t0 + Duration::from_secs(3), 60, true);
        assert_eq!(end[0], "[+] Building 3.0s (3/3) FINISHED");
        assert_eq!(end.len(), 4, "{end:#?}");
        assert!(end[1].starts_with(" => [1/3] FROM busybox") && end[1].ends_with(" 0.0s"));
        assert!(end[2].starts_with(" => [2/3] RUN make") && end[2].ends_with(" 1.5s"));
        assert!(end[3].starts_with(" => CACHED [3/3] COPY . /src"));
        assert!(end.iter().all(|l| l.chars().count() <= 60), "{end:#?}");
    }

    #[test]
    fn only_the_latest_output_lines_show_and_a_failed_steps_stay() {
        let t0 = Instant::now();
        let mut v = View::new(t0);
        v.started(1, "[1/1] RUN x", t0);
        for i in 0..20 {
            v.output(1, format!("line {i}\n").as_bytes());
        }
        v.failed(1, Duration::from_secs(1));
        let end = v.lines(t0, 80, true);
        assert!(end[1].starts_with(" => ERROR [1/1] RUN x"));
        assert_eq!(end.len(), 2 + OUTPUT_TAIL);
        assert_eq!(end.last().map(String::as_str), Some(" => => # line 19"));
    }
}
