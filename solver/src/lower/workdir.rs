//! WORKDIR: sets the working directory (relative to the previous one) and creates it, owned by the USER.
use hoist_executor::{fileops, user};
use hoist_parser::ast::Instruction;

use crate::cachekey::KeyBuilder;
use crate::error::{BuildError, Result};
use crate::stage::{Build, StageState};
use crate::step::{fs_step, StepInfo};

use super::join_clean;

pub(super) fn workdir(
    build: &Build,
    state: &mut StageState,
    ins: &Instruction,
    path: &str,
) -> Result<()> {
    let expanded = build.expand(ins, path, &state.scope)?;
    if expanded.is_empty() {
        return Err(build.error_at(ins.pos, "WORKDIR needs a path".into()));
    }
    let dir = join_clean(&state.image.working_dir, &expanded);
    state.image.working_dir = dir.clone();
    let owner = state.image.user.clone();
    let key = KeyBuilder::new("workdir")
        .field("parent", &state.fs_key)
        .field("path", &dir)
        .field("user", &owner)
        .finish();
    let info = StepInfo {
        key,
        display: &ins.original,
        created_by: format!("WORKDIR {dir}"),
    };
    fs_step(build, state, info, |rootfs, _| {
        let owner = if owner.is_empty() {
            None
        } else {
            let u = user::resolve_user(rootfs, &owner)
                .map_err(|e| build.error_at(ins.pos, format!("WORKDIR: {e}")))?;
            Some((u.uid, u.gid))
        };
        fileops::mkdir_all_in_root(rootfs, &dir, owner)
            .map_err(|e| BuildError::other(format!("WORKDIR {dir}: {e}")))?;
        Ok(())
    })
}
