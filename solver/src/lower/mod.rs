//! Lowering: one instruction applied to a stage's state. Config-only instructions change the image config
//! ([`meta`]); RUN, COPY/ADD and WORKDIR are filesystem steps ([`run`], [`copy`], [`workdir`]).
mod copy;
pub(crate) mod fetch;
mod meta;
pub use meta::healthcheck as healthcheck_config;
mod mounts;

pub use mounts::cache_mount_dir_name;
mod run;
mod ssh;
mod workdir;

use hoist_parser::ast::{CommandLine, Instruction, InstructionKind};

use crate::error::Result;
use crate::image::HistoryEntry;
use crate::stage::{Build, StageState};

/// True for instructions that show as a step (`[2/5] RUN …`) in progress output.
pub(crate) fn makes_vertex(ins: &Instruction) -> bool {
    matches!(
        ins.kind,
        InstructionKind::Run(_)
            | InstructionKind::Copy(_)
            | InstructionKind::Add(_)
            | InstructionKind::Workdir(_)
    )
}

pub(crate) fn apply(build: &Build, state: &mut StageState, ins: &Instruction) -> Result<()> {
    match &ins.kind {
        InstructionKind::Run(r) => run::run(build, state, ins, r),
        InstructionKind::Copy(c) => copy::copy(build, state, ins, c, false),
        InstructionKind::Add(c) => copy::copy(build, state, ins, c, true),
        InstructionKind::Workdir(w) => workdir::workdir(build, state, ins, w),
        _ => {
            meta::apply(build, state, ins)?;
            // Every config-only instruction, ARG included, is an empty-layer history entry (BuildKit).
            state.image.history.push(HistoryEntry {
                created: state.created.clone(),
                created_by: ins.original.clone(),
                comment: Some("buildkit.dockerfile.v0".into()),
                empty_layer: true,
            });
            Ok(())
        }
    }
}

/// The argv of a CMD/ENTRYPOINT/RUN: exec form as is, shell form wrapped in the stage's SHELL.
pub(crate) fn command_argv(state: &StageState, command: &CommandLine) -> Vec<String> {
    match command {
        CommandLine::Exec(args) => args.clone(),
        CommandLine::Shell(line) => {
            let mut argv = shell_of(state);
            argv.push(line.clone());
            argv
        }
    }
}

pub(crate) fn shell_of(state: &StageState) -> Vec<String> {
    state
        .image
        .shell
        .clone()
        .unwrap_or_else(|| vec!["/bin/sh".to_string(), "-c".to_string()])
}

/// A path made absolute against `base` and cleaned (`..` cannot climb above `/`), as WORKDIR and COPY resolve it.
pub(crate) fn join_clean(base: &str, path: &str) -> String {
    let joined = if path.starts_with('/') {
        path.to_string()
    } else {
        format!("{base}/{path}")
    };
    let mut parts: Vec<&str> = Vec::new();
    for part in joined.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    format!("/{}", parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::join_clean;

    #[test]
    fn join_clean_resolves_relative_paths() {
        assert_eq!(join_clean("/app", "sub"), "/app/sub");
        assert_eq!(join_clean("/app", "/abs"), "/abs");
        assert_eq!(join_clean("/", "../../x"), "/x");
        assert_eq!(join_clean("/a/b", "../c/./d/"), "/a/c/d");
        assert_eq!(join_clean("", "."), "/");
    }
}
