//! The logs of several containers on one output, each line after its container's name as compose shows them:
//! `web-1  | text`, names padded to the longest (`compose logs`, and foreground `up` attached).
use std::io::Write;
use std::path::Path;

use hoist_executor::runtime::{self, LogsOptions};

/// How a line starts: `NAME  | ` with NAME padded to `width`, or nothing (`--no-log-prefix`).
#[derive(Debug, Clone)]
pub(crate) struct Prefix(String);

impl Prefix {
    pub fn new(name: &str, width: usize, enabled: bool) -> Prefix {
        if enabled {
            Prefix(format!("{name:<width$}  | "))
        } else {
            Prefix(String::new())
        }
    }
}

/// The width names are padded to: the longest of them.
pub(crate) fn name_width<'a>(names: impl IntoIterator<Item = &'a str>) -> usize {
    names
        .into_iter()
        .map(|n| n.chars().count())
        .max()
        .unwrap_or(0)
}

/// Which of hoist's streams a writer feeds.
#[derive(Debug, Clone, Copy)]
enum Target {
    Stdout,
    Stderr,
}

/// Writes whole lines, each after the prefix, to stdout or stderr in one write each, so the lines of containers
/// streamed by different threads never mix. A last line without a newline gets one when the writer drops.
struct PrefixedLines {
    prefix: Prefix,
    target: Target,
    pending: Vec<u8>,
}

impl PrefixedLines {
    fn emit(&self, line: &[u8]) {
        let text = String::from_utf8_lossy(line);
        match self.target {
            Target::Stdout => {
                crate::output::write_stdout(format_args!("{}{text}\n", self.prefix.0))
            }
            Target::Stderr => {
                crate::output::write_stderr(format_args!("{}{text}\n", self.prefix.0))
            }
        }
    }
}

impl Write for PrefixedLines {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.pending.extend_from_slice(data);
        while let Some(nl) = self.pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=nl).collect();
            self.emit(&line[..line.len() - 1]);
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for PrefixedLines {
    fn drop(&mut self) {
        if !self.pending.is_empty() {
            let line = std::mem::take(&mut self.pending);
            self.emit(&line);
        }
    }
}

/// Copies container `name`'s log (stdout records to stdout, stderr records to stderr) with `prefix` before
/// every line; with `options.follow`, until the container stops.
pub(crate) fn stream(
    root: &Path,
    name: &str,
    prefix: &Prefix,
    options: &LogsOptions,
) -> anyhow::Result<()> {
    let mut out = PrefixedLines {
        prefix: prefix.clone(),
        target: Target::Stdout,
        pending: Vec::new(),
    };
    let mut err = PrefixedLines {
        prefix: prefix.clone(),
        target: Target::Stderr,
        pending: Vec::new(),
    };
    runtime::logs_split(root, name, options, &mut out, Some(&mut err))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_are_padded_to_the_longest() {
        let width = super::name_width(["p-a-1", "p-long-1"]);
        assert_eq!(super::Prefix::new("p-a-1", width, true).0, "p-a-1     | ");
        assert_eq!(
            super::Prefix::new("p-long-1", width, true).0,
            "p-long-1  | "
        );
        assert_eq!(super::Prefix::new("p-a-1", width, false).0, "");
    }
}
