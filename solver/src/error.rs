//! Build errors: each says what failed, where (Dockerfile:LINE:COL when there is a source position) and,
//! where it helps, what to do.
use hoist_parser::ast::Pos;

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("{0}")]
    Parse(String),
    /// A problem with one instruction: rendered as `Dockerfile:LINE:COL: message`.
    #[error("{file}:{}:{}: {message}", pos.line, pos.col)]
    Instruction {
        file: String,
        pos: Pos,
        message: String,
    },
    /// A RUN step whose process exited non-zero.
    #[error("{step}: process \"{command}\" did not complete successfully: exit code: {code}")]
    RunFailed {
        step: String,
        command: String,
        code: i32,
    },
    #[error("{0}")]
    Other(String),
    /// Another stage failed, so this step did not start.
    #[error("cancelled: another stage of the build failed")]
    Cancelled,
    /// The build was cancelled from outside ([`crate::BuildOptions::cancel`]: Ctrl-C, SIGTERM).
    #[error("interrupted")]
    Interrupted,
    #[error(transparent)]
    Store(#[from] hoist_store::StoreError),
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
}

impl BuildError {
    /// The exit code of a failed RUN, for the CLI's exit status.
    pub fn run_exit_code(&self) -> Option<i32> {
        match self {
            BuildError::RunFailed { code, .. } => Some(*code),
            _ => None,
        }
    }

    pub(crate) fn other(message: impl Into<String>) -> Self {
        BuildError::Other(message.into())
    }

    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        BuildError::Io {
            context: context.into(),
            source,
        }
    }
}

pub type Result<T> = std::result::Result<T, BuildError>;
