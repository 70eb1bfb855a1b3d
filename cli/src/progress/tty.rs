//! `--progress=tty`: BuildKit's terminal view. A header (`[+] Building 2.3s (4/5)`) and one line per step with its
//! status and time, redrawn in place ten times a second; a running step's latest output shows under it. The last
//! draw, when the build ends (the renderer is dropped), leaves every step on the screen with its time.
//!
//! The view is redrawn whole: the cursor goes back up over the lines drawn last time, and each line is rewritten
//! and cleared to its end. Nothing else may print to stderr while a build runs (warnings are kept in the view).
//! Lines are cut to the terminal's width, and while the build runs the view keeps to its height, so that going
//! back up always reaches the first line drawn.
use std::io::Write;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use hoist_solver::{Event, Progress};

use super::view::View;
use crate::output;

const REDRAW_INTERVAL: Duration = Duration::from_millis(100);

struct Screen {
    view: View,
    /// Lines on the terminal from the last draw (where the cursor must go back up to).
    drawn: usize,
}

pub struct TtyProgress {
    screen: Arc<Mutex<Screen>>,
    /// Dropping the sender stops the ticker.
    ticker: Option<(mpsc::Sender<()>, JoinHandle<()>)>,
}

impl Default for TtyProgress {
    fn default() -> Self {
        Self::new()
    }
}

impl TtyProgress {
    pub fn new() -> Self {
        let screen = Arc::new(Mutex::new(Screen {
            view: View::new(Instant::now()),
            drawn: 0,
        }));
        let (stop, stopped) = mpsc::channel::<()>();
        let shared = Arc::clone(&screen);
        let ticker = std::thread::Builder::new()
            .name("progress".into())
            .spawn(move || loop {
                match stopped.recv_timeout(REDRAW_INTERVAL) {
                    Err(RecvTimeoutError::Timeout) => {
                        if let Ok(mut screen) = shared.lock() {
                            draw(&mut screen, false);
                        }
                    }
                    _ => return,
                }
            })
            .ok()
            .map(|handle| (stop, handle));
        TtyProgress { screen, ticker }
    }

    fn update(&self, change: impl FnOnce(&mut View)) {
        if let Ok(mut screen) = self.screen.lock() {
            change(&mut screen.view);
        }
    }
}

impl Drop for TtyProgress {
    /// The build is over: the ticker stops and the final screen is drawn.
    fn drop(&mut self) {
        if let Some((stop, handle)) = self.ticker.take() {
            drop(stop);
            let _ = handle.join();
        }
        if let Ok(mut screen) = self.screen.lock() {
            draw(&mut screen, true);
        }
    }
}

impl Progress for TtyProgress {
    fn event(&self, event: Event<'_>) {
        match event {
            Event::Started { id, name } => self.update(|v| v.started(id, name, Instant::now())),
            Event::Output { id, data, .. } => self.update(|v| v.output(id, data)),
            Event::Advanced { id, done, unit } => self.update(|v| v.advanced(id, done, unit)),
            Event::Cached { id } => self.update(|v| v.cached(id)),
            Event::Explain { id, reason } => self.update(|v| v.explain(id, reason)),
            Event::Done { id, elapsed } => self.update(|v| v.done(id, elapsed)),
            Event::Failed { id, elapsed, .. } => self.update(|v| v.failed(id, elapsed)),
            Event::Warning { message } => self.update(|v| v.warning(message)),
        }
    }
}

/// Redraws the view over the previous draw. `finished`: the final screen, every line of it.
fn draw(screen: &mut Screen, finished: bool) {
    // A build that ended before its first step (a Dockerfile error) has nothing to show but its error.
    if output::stderr_gone() || (screen.drawn == 0 && screen.view.is_empty()) {
        return;
    }
    let (width, height) = terminal_size();
    let mut lines = screen
        .view
        .lines(Instant::now(), width.saturating_sub(1).max(20), finished);
    let room = height.saturating_sub(1).max(2);
    if !finished && lines.len() > room {
        // The header, then the newest lines that fit.
        let cut = lines.len() - (room - 1);
        lines.drain(1..cut);
    }
    let mut text = String::new();
    if screen.drawn > 0 {
        text.push_str(&format!("\x1b[{}A", screen.drawn));
    }
    text.push('\r');
    for line in &lines {
        text.push_str(line);
        text.push_str("\x1b[K\n");
    }
    text.push_str("\x1b[J");
    let stderr = std::io::stderr();
    let mut out = stderr.lock();
    if out
        .write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .is_err()
    {
        output::mark_stderr_gone();
    }
    screen.drawn = lines.len();
}

/// The terminal's columns and rows (stderr's), or 80×24 when it does not say.
fn terminal_size() -> (usize, usize) {
    let mut size = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes one winsize into `size`, which lives for the call.
    let ok = unsafe { libc::ioctl(libc::STDERR_FILENO, libc::TIOCGWINSZ, &mut size) } == 0;
    if ok && size.ws_col > 0 && size.ws_row > 0 {
        (usize::from(size.ws_col), usize::from(size.ws_row))
    } else {
        (80, 24)
    }
}
