//! Build progress renderers: `--progress=plain` (CI logs), `tty` (live steps with timers), `json` (one event per
//! line, for tools), and `auto` (tty on a terminal, else plain).
mod json;
mod plain;
mod tty;
mod view;

use std::io::IsTerminal;

use clap::ValueEnum;
use hoist_solver::Progress;

pub use json::JsonProgress;
pub use plain::PlainProgress;
pub use tty::TtyProgress;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    Auto,
    Tty,
    Plain,
    Json,
}

/// The renderer for `mode`.
pub fn renderer(mode: Mode) -> Box<dyn Progress> {
    match mode {
        Mode::Plain => Box::new(PlainProgress::new()),
        Mode::Json => Box::new(JsonProgress::new()),
        Mode::Tty => Box::new(TtyProgress::new()),
        Mode::Auto if std::io::stderr().is_terminal() => Box::new(TtyProgress::new()),
        Mode::Auto => Box::new(PlainProgress::new()),
    }
}
