//! The error a user sees for a bad Dockerfile: where (file:line:col), what, and the line itself.

use std::fmt;

/// A Dockerfile that cannot be parsed. `Display` prints
/// `Dockerfile:12:5: unknown flag --frm for COPY (did you mean --from?)`, then the offending line and a
/// caret under the column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// The file name given to [`crate::parse_named`] (`Dockerfile` for [`crate::parse`]).
    pub file: String,
    /// 1-based line; 0 when the problem is not on one line (an empty file).
    pub line: usize,
    /// 1-based column (in characters) on that line.
    pub col: usize,
    pub message: String,
    /// The text of `line`, without its line break, for the snippet.
    pub source_line: Option<String>,
}

impl ParseError {
    /// An error at `line:col` of `text` (the whole Dockerfile), quoting that line.
    pub(crate) fn new(
        file: &str,
        text: &str,
        line: usize,
        col: usize,
        message: impl Into<String>,
    ) -> Self {
        let source_line = if line == 0 {
            None
        } else {
            text.split('\n').nth(line - 1).map(|l| {
                let l = l.strip_suffix('\r').unwrap_or(l);
                if line == 1 {
                    l.strip_prefix('\u{feff}').unwrap_or(l).to_string()
                } else {
                    l.to_string()
                }
            })
        };
        ParseError {
            file: file.to_string(),
            line,
            col: col.max(1),
            message: message.into(),
            source_line,
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            return write!(f, "{}: {}", self.file, self.message);
        }
        write!(
            f,
            "{}:{}:{}: {}",
            self.file, self.line, self.col, self.message
        )?;
        if let Some(text) = &self.source_line {
            write!(f, "\n{}", snippet(text, self.line, self.col))?;
        }
        Ok(())
    }
}

/// Line `line` of a Dockerfile (`text`) under its number, and a caret under column `col` (1-based):
/// ` 12 | COPY --frm=a / /` and `    |      ^`. Used for every error a Dockerfile position explains.
pub fn snippet(text: &str, line: usize, col: usize) -> String {
    let number = line.to_string();
    let gutter = " ".repeat(number.len());
    // Tabs keep their width in the caret line so the caret lands under the right character.
    let pad: String = text
        .chars()
        .take(col.saturating_sub(1))
        .map(|c| if c == '\t' { '\t' } else { ' ' })
        .collect();
    format!(" {number} | {text}\n {gutter} | {pad}^")
}

impl std::error::Error for ParseError {}

/// An error found while parsing, before it is tied to a file name and text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RawError {
    pub line: usize,
    pub col: usize,
    pub message: String,
}

impl RawError {
    pub fn new(line: usize, col: usize, message: impl Into<String>) -> Self {
        RawError {
            line,
            col,
            message: message.into(),
        }
    }

    pub fn into_parse_error(self, file: &str, text: &str) -> ParseError {
        ParseError::new(file, text, self.line, self.col, self.message)
    }
}
