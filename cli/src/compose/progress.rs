//! The final-state lines of `up`, `down` and `run` (` ✔ Container NAME  Started` on a terminal, the plain form
//! otherwise): the same lines as every compose command prints, through [`super::events`].

/// A finished step: `KIND NAME  STATUS`.
pub(crate) fn done(kind: &str, name: &str, status: &str) {
    super::events::event(kind, name, status, true);
}

/// A step that failed.
pub(crate) fn failed(kind: &str, name: &str, status: &str) {
    super::events::failed(kind, name, status);
}
