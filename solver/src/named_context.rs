//! `--build-context NAME=…` (buildx's named contexts): `FROM NAME`, `COPY --from=NAME` and `RUN --mount from=NAME`
//! take the named context instead of a stage or an image of that name — a stage of that name is not built.
//!
//! A directory becomes a stage of its own: scratch plus one layer with the directory's files (after its
//! `.dockerignore`), keyed by their content as the main context is. An image (`docker-image://REF`) is REF,
//! resolved as any `FROM` image is (the store, else a pull).
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use hoist_executor::fileops::{self, CopyRequest};

use crate::cachekey::KeyBuilder;
use crate::context::BuildContext;
use crate::error::{BuildError, Result};
use crate::stage::{Build, StageState};
use crate::step::{fs_step, StepInfo};

/// What a `--build-context` name stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NamedContext {
    /// A directory; `ephemeral` when it was made for this build (a git checkout, a download), so its files'
    /// stats are not remembered.
    Dir { path: PathBuf, ephemeral: bool },
    /// `docker-image://REF`.
    Image(String),
}

/// A named context as the source of `COPY --from` / `RUN --mount from`.
pub(crate) enum NamedSource {
    /// A directory, made a stage.
    Stage(Arc<StageState>),
    /// An image reference, to resolve as any image is.
    Image(String),
}

/// The states of the directory contexts used as a source, made once per build.
#[derive(Default)]
pub(crate) struct NamedStates {
    made: Mutex<HashMap<String, Arc<StageState>>>,
}

/// A reference as buildx compares it with a context's name: `docker.io/library/` and `:latest` dropped, lowercase.
fn familiar(reference: &str) -> String {
    let lower = reference.to_ascii_lowercase();
    let short = lower
        .strip_prefix("docker.io/library/")
        .or_else(|| lower.strip_prefix("docker.io/"))
        .unwrap_or(&lower);
    short.strip_suffix(":latest").unwrap_or(short).to_string()
}

impl Build<'_> {
    /// The named context `reference` (a FROM base, a `--from`) stands for, if any.
    pub(crate) fn named_context(&self, reference: &str) -> Option<&NamedContext> {
        let wanted = familiar(reference);
        self.options
            .named_contexts
            .iter()
            .find(|(name, _)| familiar(name) == wanted)
            .map(|(_, context)| context)
    }

    /// True when the stage `index` is replaced by a named context of its name.
    pub(crate) fn stage_is_overridden(&self, index: usize) -> bool {
        self.dockerfile.stages[index]
            .name
            .as_deref()
            .is_some_and(|n| self.named_context(n).is_some())
    }

    /// What `--from=NAME` takes from a named context that no stage of the Dockerfile has the name of.
    pub(crate) fn named_source(&self, name: &str) -> Result<Option<NamedSource>> {
        match self.named_context(name) {
            None => Ok(None),
            Some(NamedContext::Image(reference)) => Ok(Some(NamedSource::Image(reference.clone()))),
            Some(NamedContext::Dir { .. }) => {
                Ok(Some(NamedSource::Stage(self.named_dir_state(name)?)))
            }
        }
    }

    /// The directory context `name` as a stage of its own (for `COPY --from` and `RUN --mount from`).
    fn named_dir_state(&self, name: &str) -> Result<Arc<StageState>> {
        let mut made = self
            .named_states
            .made
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(done) = made.get(name) {
            return Ok(done.clone());
        }
        let (image, fs_key, _) = self.scratch();
        let mut state = StageState {
            image,
            scope: Default::default(),
            fs_key,
            cmd_from_base: false,
            label: format!("context {name} "),
            no_cache: self.options.no_cache,
            step_count: 1,
            step_index: 0,
            // Not a stage of the Dockerfile: a number past its stages (the step reports need one).
            lineage: vec![self.dockerfile.stages.len()],
            created: "1970-01-01T00:00:00Z".to_string(),
        };
        if let Some(NamedContext::Dir { path, ephemeral }) = self.named_context(name).cloned() {
            self.fill_from_dir(&mut state, name, &path, ephemeral)?;
        }
        let state = Arc::new(state);
        made.insert(name.to_string(), state.clone());
        Ok(state)
    }

    /// Adds the layer of the directory context `name` (at `path`) to `state` (a scratch stage).
    pub(crate) fn fill_from_dir(
        &self,
        state: &mut StageState,
        name: &str,
        path: &std::path::Path,
        ephemeral: bool,
    ) -> Result<()> {
        let not_found = |e| BuildError::io(format!("--build-context {name}={}", path.display()), e);
        std::fs::metadata(path).map_err(not_found)?;
        // `.dockerignore` at the top of the directory applies, as to the main context.
        let marker = path.join("Dockerfile");
        let context = if ephemeral {
            BuildContext::open(path, &marker, Vec::new())?
        } else {
            BuildContext::open_loading(path, &marker, self.store.stat_cache_reader())?
        };
        let everything = vec![".".to_string()];
        let checksum = context.checksum(&everything, &|_| false, "")?;
        if !ephemeral {
            let fresh = context.take_fresh_stat_entries();
            if !fresh.is_empty() {
                self.store.stat_cache_put(&fresh)?;
            }
            let trees = context.take_fresh_trees();
            if !trees.is_empty() {
                self.store.put_context_trees(&trees)?;
            }
        }
        let key = KeyBuilder::new("named-context")
            .field("parent", &state.fs_key)
            .field("content", &checksum)
            .finish();
        let display = format!("load --build-context {name}");
        let info = StepInfo {
            key,
            display: &display,
            created_by: format!("COPY . / # context {name}"),
        };
        let root = context.root().to_path_buf();
        fs_step(self, state, info, |rootfs, _| {
            let excluded = |rel: &str| context.excluded(rel);
            let request = CopyRequest {
                src_root: &root,
                sources: everything.clone(),
                dest_root: rootfs,
                dest: "/".to_string(),
                workdir: "/".to_string(),
                chown: None,
                chmod: None,
                source_kind: fileops::SourceKind::Context,
                excluded: &excluded,
                parents: false,
                extract_archives: false,
            };
            fileops::copy(&request)
                .map(|_| ())
                .map_err(|e| BuildError::other(format!("--build-context {name}: {e}")))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::familiar;

    #[test]
    fn names_compare_in_their_familiar_form() {
        assert_eq!(familiar("docker.io/library/Alpine:latest"), "alpine");
        assert_eq!(familiar("alpine"), "alpine");
        assert_eq!(familiar("docker.io/org/app:1"), "org/app:1");
        assert_eq!(familiar("registry:5000/app"), "registry:5000/app");
    }
}
