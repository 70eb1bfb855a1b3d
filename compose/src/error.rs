//! Errors and warnings, each with the file and line it is about.
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Where a node starts in a compose file: 1-based line and column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pos {
    pub file: Arc<Path>,
    pub line: usize,
    pub col: usize,
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file.display(), self.line, self.col)
    }
}

/// Something hoist tells the user and then carries on (compose's `WARN[0000]` lines).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    pub message: String,
    pub pos: Option<Pos>,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.pos {
            Some(pos) => write!(f, "{}: {}", pos.file.display(), self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// Why a compose project could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The YAML itself is malformed.
    #[error("{pos}: {message}")]
    Syntax { pos: Pos, message: String },
    /// A key holds a value of the wrong kind, or a value compose rejects.
    #[error("{pos}: {path}: {message}")]
    Invalid {
        pos: Pos,
        path: String,
        message: String,
    },
    /// `${VAR:?message}` (or `${VAR?message}`) with VAR unset, or a malformed `${…}`.
    #[error("{pos}: {path}: {message}")]
    Interpolation {
        pos: Pos,
        path: String,
        message: String,
    },
    /// The project as a whole is inconsistent (an unknown service in depends_on, a cycle …).
    #[error("{}{message}", pos.as_ref().map(|p| format!("{}:{}: ", p.file.display(), p.line)).unwrap_or_default())]
    Project { pos: Option<Pos>, message: String },
    #[error("no configuration file provided: not found (looked for compose.yaml, compose.yml, docker-compose.yml, docker-compose.yaml in {} and its parents)", .0.display())]
    NoFile(PathBuf),
    #[error("reading {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl Error {
    pub(crate) fn invalid(pos: &Pos, path: &str, message: impl Into<String>) -> Error {
        Error::Invalid {
            pos: pos.clone(),
            path: path.to_string(),
            message: message.into(),
        }
    }
}

pub type Result<T> = std::result::Result<T, Error>;
