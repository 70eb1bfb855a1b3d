//! Compose's progress lines on stderr, as Docker Compose v2 leaves them once each step is done:
//! ` ✔ Container NAME  Started` (plain lines, no terminal animation).

/// ` ✔ KIND NAME  STATUS`.
pub(crate) fn done(kind: &str, name: &str, status: &str) {
    errln!(" \u{2714} {kind} {name}  {status}");
}

/// ` ✘ KIND NAME  STATUS`: a step that failed.
pub(crate) fn failed(kind: &str, name: &str, status: &str) {
    errln!(" \u{2718} {kind} {name}  {status}");
}
