//! Compose v2's progress lines for what it does to containers and images: on a terminal
//! ` ✔ Container p-web-1  Stopped`, else the plain form ` Container p-web-1  Stopped` (both on stderr, as compose
//! writes them). hoist prints the final state of each step, without compose's redrawn display.
use std::io::IsTerminal;

/// One progress line about `kind` (`Container`, `Service`, `Image`) `name`: `status` is the word compose shows
/// (`Stopping`, `Stopped`, `Built` …). Only final states get the ✔ mark on a terminal; steps in progress are
/// printed in plain mode only (a terminal would show them redrawn, and then replaced by the final one).
pub(crate) fn event(kind: &str, name: &str, status: &str, done: bool) {
    if std::io::stderr().is_terminal() {
        if done {
            errln!(" \u{2714} {kind} {name}  {status}");
        }
    } else {
        errln!(" {kind} {name}  {status}");
    }
}

/// A failed step: ` ✘ Container p-web-1  Error` (compose's mark), then the reason on the next line.
pub(crate) fn failed(kind: &str, name: &str, reason: &str) {
    if std::io::stderr().is_terminal() {
        errln!(" \u{2718} {kind} {name}  Error {reason}");
    } else {
        errln!(" {kind} {name}  Error {reason}");
    }
}
