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
    #[error("{file}:{}:{}: {step}: process \"{command}\" did not complete successfully: exit code: {code}", pos.line, pos.col)]
    RunFailed {
        file: String,
        pos: Pos,
        /// The instruction's first line (`RUN make`).
        step: String,
        command: String,
        code: i32,
    },
    /// A stage the target needs failed: `location` is where in the Dockerfile, when the failure has one.
    #[error("stage {stage} failed: {message}")]
    StageFailed {
        stage: String,
        message: String,
        location: Option<(String, Pos)>,
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
    /// The Dockerfile and the position the error is about (a failing RUN, COPY …), for a snippet with a caret.
    pub fn location(&self) -> Option<(&str, Pos)> {
        match self {
            BuildError::Instruction { file, pos, .. } | BuildError::RunFailed { file, pos, .. } => {
                Some((file, *pos))
            }
            BuildError::StageFailed {
                location: Some((file, pos)),
                ..
            } => Some((file, *pos)),
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
