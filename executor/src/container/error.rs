//! What can go wrong running a container, and the small adapters that turn io, libcontainer and
//! oci-spec errors into it.

use std::io;
use std::path::{Path, PathBuf};

use super::reexec::INIT_PROGRAM_ENV;

#[derive(Debug, thiserror::Error)]
pub enum ContainerError {
    #[error("invalid container spec: {0}")]
    InvalidSpec(String),
    #[error("could not {what} {path:?}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error("container runtime failed to {what}: {detail}")]
    Runtime { what: &'static str, detail: String },
    #[error("executable {command:?} not found in the container (PATH={path}); check the command's spelling or install it in an earlier step")]
    CommandNotFound { command: String, path: String },
    /// An error the container helper process reported.
    #[error("{0}")]
    Failed(String),
    #[error("{command:?}: permission denied: the file is not executable in the container")]
    NotExecutable { command: String },
    #[error("the container was cancelled")]
    Cancelled,
    #[error(
        "the container helper process was killed by signal {signal} before the container finished"
    )]
    HelperKilled { signal: i32 },
    #[error(transparent)]
    Seccomp(#[from] SeccompError),
    #[error("could not start the container helper {program:?}: {source}")]
    SpawnHelper { program: PathBuf, source: io::Error },
    #[error("the container helper exited ({status}) before reporting how the container went; its own message, if any, is in the step's output above")]
    HelperFailed { status: String },
    #[error("the container helper {program:?} exited without running the container ({status}); the program must link hoist-executor and call hoist_executor::maybe_run_container_init() first thing in main(), or set {INIT_PROGRAM_ENV} to a program that does")]
    HelperDidNotRun { program: PathBuf, status: String },
}

/// Why a seccomp filter could not be compiled, cached or loaded (the `seccomp` module).
#[derive(Debug, thiserror::Error)]
pub enum SeccompError {
    #[error("building the seccomp profile: {0}")]
    Spec(#[from] oci_spec::OciSpecError),
    #[error("compiling the seccomp profile with libseccomp: {0}")]
    Compile(String),
}

pub type Result<T, E = ContainerError> = std::result::Result<T, E>;

pub(super) fn io_err<'a>(
    what: &'static str,
    path: &'a Path,
) -> impl FnOnce(io::Error) -> ContainerError + 'a {
    move |source| ContainerError::Io {
        what,
        path: path.to_path_buf(),
        source,
    }
}

pub(super) fn runtime_err(
    what: &'static str,
) -> impl FnOnce(libcontainer::error::LibcontainerError) -> ContainerError {
    move |e| ContainerError::Runtime {
        what,
        detail: crate::error_text::with_causes(&e),
    }
}

pub(super) fn spec_err(e: oci_spec::OciSpecError) -> ContainerError {
    ContainerError::InvalidSpec(e.to_string())
}
