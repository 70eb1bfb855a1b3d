//! Printing that a gone reader cannot crash.
//!
//! Rust ignores SIGPIPE, so writing to a closed pipe (`hoist images | head -1`) or a closed descriptor
//! (`hoist ps >&-`) is an error, and `println!`/`eprintln!` turn that error into a panic (exit 101, "failed
//! printing to stdout: Broken pipe"). Everything hoist prints goes through [`outln!`]/[`errln!`] instead: the
//! first failed write marks the stream as gone and later writes to it are skipped, so the command carries on and
//! ends as it would have (a build still finishes and tags its image; a listing exits 0). A command whose work *is*
//! its output (`save -o -`, `logs`) stops at the first failed write: its error is a broken pipe, which `main`
//! ends with [`EXIT_READER_GONE`] and no message.
use std::fmt;
use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};

static STDOUT_GONE: AtomicBool = AtomicBool::new(false);
static STDERR_GONE: AtomicBool = AtomicBool::new(false);

/// The exit code of a command stopped because its reader went away: what a shell reports for a process that
/// SIGPIPE killed (128 + 13), as `cat`, `tar` or `docker save` give in the same place.
pub const EXIT_READER_GONE: i32 = 141;

/// A size as docker prints it: decimal units, `1.5MB`, `2.10GB`, `512B`.
pub fn human_size(bytes: u64) -> String {
    let b = bytes as f64;
    if b >= 1e9 {
        format!("{:.2}GB", b / 1e9)
    } else if b >= 1e6 {
        format!("{:.1}MB", b / 1e6)
    } else if b >= 1e3 {
        format!("{:.1}kB", b / 1e3)
    } else {
        format!("{bytes}B")
    }
}

/// Writes to stdout unless its reader is gone; a failed write marks it gone.
pub fn write_stdout(args: fmt::Arguments<'_>) {
    write_guarded(&STDOUT_GONE, &mut io::stdout().lock(), args);
}

/// Writes to stderr unless its reader is gone; a failed write marks it gone.
pub fn write_stderr(args: fmt::Arguments<'_>) {
    write_guarded(&STDERR_GONE, &mut io::stderr().lock(), args);
}

/// The first stdout write error that was not a reader going away (`ENOSPC` on a full disk, `EIO`): the output
/// a script redirected to a file is incomplete, so the command must not end with 0 — see [`stdout_failure`].
static STDOUT_FAILURE: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);

fn write_guarded(gone: &AtomicBool, out: &mut dyn Write, args: fmt::Arguments<'_>) {
    if gone.load(Ordering::Relaxed) {
        return;
    }
    if let Err(error) = out.write_fmt(args).and_then(|()| out.flush()) {
        gone.store(true, Ordering::Relaxed);
        let reader_gone =
            error.kind() == io::ErrorKind::BrokenPipe || error.raw_os_error() == Some(libc::EBADF);
        if std::ptr::eq(gone, &STDOUT_GONE) && !reader_gone {
            if let Ok(mut failure) = STDOUT_FAILURE.lock() {
                failure.get_or_insert_with(|| error.to_string());
            }
        }
    }
}

/// Why writing stdout failed, when it failed for another reason than its reader going away: `main` then says
/// so and exits 1 (a listing redirected to a full disk must not look complete to the script that asked for it).
pub fn stdout_failure() -> Option<String> {
    STDOUT_FAILURE.lock().ok().and_then(|f| f.clone())
}

/// True once a write to stderr failed (the progress renderers stop drawing).
pub fn stderr_gone() -> bool {
    STDERR_GONE.load(Ordering::Relaxed)
}

/// Marks stderr gone (a renderer that writes to stderr itself saw a write fail).
pub fn mark_stderr_gone() {
    STDERR_GONE.store(true, Ordering::Relaxed);
}

/// `println!` that never panics: see the module doc.
macro_rules! outln {
    () => {
        $crate::output::write_stdout(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::output::write_stdout(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// `eprintln!` that never panics: see the module doc.
macro_rules! errln {
    ($($arg:tt)*) => {
        $crate::output::write_stderr(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// True when `error` comes from writing to a reader that went away (EPIPE) or to a closed descriptor (EBADF).
pub fn is_reader_gone(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause.downcast_ref::<io::Error>().is_some_and(|e| {
            e.kind() == io::ErrorKind::BrokenPipe || e.raw_os_error() == Some(libc::EBADF)
        })
    })
}

/// An error and its causes as one line, `what failed: why: why` — like anyhow's `{:#}`, but a cause whose text
/// its parent already shows is not repeated. Many library errors both keep an `io::Error` as their source and
/// print it in their own message (`opening x: No such file (os error 2)`), so `{:#}` said the OS error twice.
pub fn error_chain(error: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in error.chain() {
        let part = cause.to_string();
        if text.is_empty() {
            text = part;
        } else if !part.is_empty() && !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Closed;
    impl Write for Closed {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::ErrorKind::BrokenPipe.into())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_failed_write_marks_the_stream_gone_instead_of_panicking() {
        let gone = AtomicBool::new(false);
        write_guarded(&gone, &mut Closed, format_args!("x"));
        assert!(gone.load(Ordering::Relaxed));
    }

    #[test]
    fn broken_pipes_are_found_anywhere_in_an_error_chain() {
        let e = anyhow::Error::from(io::Error::from(io::ErrorKind::BrokenPipe)).context("saving");
        assert!(is_reader_gone(&e));
        assert!(!is_reader_gone(&anyhow::anyhow!("no such image")));
    }

    #[derive(Debug, thiserror::Error)]
    #[error("opening {path}: {source}")]
    struct ShowsItsSource {
        path: String,
        source: io::Error,
    }

    #[test]
    fn a_cause_already_in_its_parents_message_is_said_once() {
        let source = io::Error::from_raw_os_error(libc::ENOENT);
        let os = source.to_string();
        let e = anyhow::Error::from(ShowsItsSource {
            path: "/x.tar".into(),
            source,
        })
        .context("importing /x.tar");
        let text = error_chain(&e);
        assert_eq!(text, format!("importing /x.tar: opening /x.tar: {os}"));
        assert_eq!(text.matches(&os).count(), 1, "{text}");
        let plain = anyhow::anyhow!("inner").context("outer");
        assert_eq!(error_chain(&plain), "outer: inner");
    }
}
