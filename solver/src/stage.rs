//! One build: which stages the target needs, each stage from its `FROM` through its instructions.
//!
//! Stages are built on demand and memoised: the target stage is built, and a stage it names (in `FROM` or
//! `COPY --from`) is built the first time it is needed. So a stage nobody needs is never run, as with BuildKit.
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::Instant;

use hoist_parser::ast::{Dockerfile, Instruction, InstructionKind, Stage};
use hoist_parser::shell;
use hoist_store::Store;

use crate::args::{BuildArgs, Scope};
use crate::cachekey::KeyBuilder;
use crate::context::BuildContext;
use crate::error::{BuildError, Result};
use crate::image::ImageState;
use crate::progress::{Event, Progress};
use crate::{lower, BuildOptions, BuildOutput};

/// The state of a stage while its instructions are applied.
#[derive(Debug, Clone)]
pub(crate) struct StageState {
    /// Config, layers and history of the image being built.
    pub image: ImageState,
    /// What `$VAR` sees: declared ARGs and the ENV.
    pub scope: Scope,
    /// The cache key of the filesystem as it stands (the last layer-producing step, or the base).
    pub fs_key: String,
    /// The CMD came from the base image (ENTRYPOINT drops it), not from this stage.
    pub cmd_from_base: bool,
    /// The stage's position, for `[name 2/6]` labels.
    pub label: String,
    pub step_count: usize,
    pub step_index: usize,
    /// When the filesystem last changed: history entries and `created` derive from it so that a fully cached
    /// rebuild gives the same image ID.
    pub created: String,
}

pub(crate) struct Build<'a> {
    pub store: &'a Store,
    pub options: &'a BuildOptions,
    pub progress: &'a dyn Progress,
    pub file_name: String,
    pub dockerfile: Dockerfile,
    pub context: BuildContext,
    pub build_args: BuildArgs,
    /// Global ARGs (before the first FROM), resolved: visible in FROM lines.
    pub meta_scope: Scope,
    stages_done: RefCell<HashMap<usize, Rc<StageState>>>,
    stages_running: RefCell<Vec<usize>>,
    vertex: Cell<usize>,
    pub cached_steps: Cell<usize>,
    pub executed_steps: Cell<usize>,
}

impl<'a> Build<'a> {
    pub fn new(store: &'a Store, options: &'a BuildOptions, progress: &'a dyn Progress) -> Result<Self> {
        let dockerfile_path = options.dockerfile.clone().unwrap_or_else(|| options.context_dir.join("Dockerfile"));
        let text = std::fs::read_to_string(&dockerfile_path).map_err(|e| {
            BuildError::io(format!("reading the Dockerfile {} (use -f to name another)", dockerfile_path.display()), e)
        })?;
        let file_name = dockerfile_path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "Dockerfile".into());
        let dockerfile =
            hoist_parser::parse_named(&file_name, &text).map_err(|e| BuildError::Parse(e.to_string()))?;
        if dockerfile.stages.is_empty() {
            return Err(BuildError::other(format!("{file_name}: the Dockerfile has no FROM instruction")));
        }
        let context = BuildContext::open(&options.context_dir, &dockerfile_path)?;
        let build_args = BuildArgs::new(&options.build_args);
        let mut meta_scope = Scope::default();
        for (k, v) in crate::args::platform_args() {
            meta_scope.declare_arg(&k, Some(v));
        }
        let mut build = Build {
            store,
            options,
            progress,
            file_name,
            dockerfile,
            context,
            build_args,
            meta_scope: Scope::default(),
            stages_done: RefCell::default(),
            stages_running: RefCell::default(),
            vertex: Cell::new(0),
            cached_steps: Cell::new(0),
            executed_steps: Cell::new(0),
        };
        for ins in build.dockerfile.meta_args.clone() {
            if let InstructionKind::Arg(decls) = &ins.kind {
                for decl in decls {
                    let value = match build.build_args.take(&decl.name) {
                        Some(v) => Some(v),
                        None => match &decl.default {
                            Some(d) => Some(build.expand(&ins, d, &meta_scope)?),
                            None => None,
                        },
                    };
                    meta_scope.declare_arg(&decl.name, value);
                }
            }
        }
        build.meta_scope = meta_scope;
        Ok(build)
    }

    pub fn run(self) -> Result<BuildOutput> {
        let target = self.target_index()?;
        let state = self.stage(target)?;
        for name in self.build_args.unused() {
            if !crate::args::PREDEFINED_ARGS.contains(&name.as_str()) {
                self.warn(&format!("[Warning] One or more build-args [{name}] were not consumed"));
            }
        }
        let created = state.created.clone();
        let config = state.image.to_config_json(&created)?;
        let image = self.store.write_image_config(&config)?;
        for tag in &self.options.tags {
            self.store.tag(tag, &image)?;
        }
        Ok(BuildOutput {
            image,
            cached_steps: self.cached_steps.get(),
            executed_steps: self.executed_steps.get(),
        })
    }

    fn target_index(&self) -> Result<usize> {
        let stages = &self.dockerfile.stages;
        match &self.options.target {
            None => Ok(stages.len() - 1),
            Some(t) => self.stage_by_name(t).ok_or_else(|| {
                let names: Vec<String> = stages.iter().filter_map(|s| s.name.clone()).collect();
                BuildError::other(format!(
                    "failed to reach build target {t} in Dockerfile: no stage is named {t:?} (stages: {})",
                    if names.is_empty() { "none named".to_string() } else { names.join(", ") }
                ))
            }),
        }
    }

    /// A stage by `AS` name (case-insensitive).
    pub fn stage_by_name(&self, name: &str) -> Option<usize> {
        let lower = name.to_ascii_lowercase();
        self.dockerfile.stages.iter().position(|s| s.name.as_deref() == Some(lower.as_str()))
    }

    /// `COPY --from=` / `--mount from=`: a stage name, or a stage index.
    pub fn stage_by_ref(&self, name: &str) -> Option<usize> {
        if let Ok(i) = name.parse::<usize>() {
            return (i < self.dockerfile.stages.len()).then_some(i);
        }
        self.stage_by_name(name)
    }

    /// Builds stage `index` (once) and returns its final state.
    pub fn stage(&self, index: usize) -> Result<Rc<StageState>> {
        if let Some(done) = self.stages_done.borrow().get(&index) {
            return Ok(done.clone());
        }
        if self.stages_running.borrow().contains(&index) {
            return Err(BuildError::other(format!("circular dependency: stage {index} depends on itself")));
        }
        self.stages_running.borrow_mut().push(index);
        let result = self.build_stage(index);
        self.stages_running.borrow_mut().retain(|i| *i != index);
        let state = Rc::new(result?);
        self.stages_done.borrow_mut().insert(index, state.clone());
        Ok(state)
    }

    fn build_stage(&self, index: usize) -> Result<StageState> {
        let stage = &self.dockerfile.stages[index];
        let mut state = self.from(index, stage)?;
        let triggers = std::mem::take(&mut state.image.onbuild);
        for trigger in &triggers {
            let ins = parse_trigger(trigger, stage)?;
            lower::apply(self, &mut state, &ins)?;
        }
        for ins in &stage.instructions {
            lower::apply(self, &mut state, ins)?;
        }
        Ok(state)
    }

    /// `FROM`: the base image, another stage, or scratch.
    fn from(&self, index: usize, stage: &Stage) -> Result<StageState> {
        let started = Instant::now();
        let base = shell::expand_word(&stage.base, &self.meta_scope, self.dockerfile.directives.escape)
            .map_err(|e| self.error_at(stage.pos, format!("FROM {}: {e}", stage.base)))?;
        if base.trim().is_empty() {
            return Err(self.error_at(
                stage.pos,
                format!("base name ({}) should not be blank: give the ARG a value or a --build-arg", stage.base),
            ));
        }
        let step_count = 1 + stage.instructions.iter().filter(|i| lower::makes_vertex(i)).count();
        let label = match &stage.name {
            Some(n) => format!("{n} "),
            None if self.dockerfile.stages.len() > 1 => format!("stage-{index} "),
            None => String::new(),
        };
        let id = self.next_vertex();
        let name = format!("[{label}1/{step_count}] FROM {base}");
        self.progress.event(Event::Started { id, name: &name });
        let (image, fs_key, cmd_from_base) = if base.eq_ignore_ascii_case("scratch") {
            (ImageState::scratch(), KeyBuilder::new("scratch").finish(), false)
        } else if let Some(parent) = self.stage_by_name(&base).filter(|p| *p < index) {
            let done = self.stage(parent)?;
            (done.image.clone(), done.fs_key.clone(), done.image.cmd.is_some())
        } else {
            let record = self.store.resolve(&base)?.ok_or_else(|| {
                self.error_at(
                    stage.pos,
                    format!(
                        "FROM {base}: no such image in the store; `hoist import ROOTFS.tar {base}` or build it first"
                    ),
                )
            })?;
            let raw = self.store.read_blob(&record.id)?;
            let sizes: Vec<u64> = record.manifest.layers().iter().map(|l| l.size()).collect();
            let mut image = ImageState::from_config_json(&raw, &sizes)?;
            if !image.env.iter().any(|e| e.starts_with("PATH=")) {
                image.env.insert(0, format!("PATH={}", crate::image::DEFAULT_PATH));
            }
            let key = KeyBuilder::new("image").field("id", &record.id.to_string()).finish();
            let cmd = image.cmd.is_some();
            (image, key, cmd)
        };
        let created = image.history.last().map(|h| h.created.clone()).unwrap_or_else(epoch);
        // Global and automatic platform ARGs are visible in a stage only when redeclared (lower::meta::arg).
        let scope = Scope::with_env(&image.env);
        self.progress.event(Event::Done { id, elapsed: started.elapsed() });
        Ok(StageState {
            image,
            scope,
            fs_key,
            cmd_from_base,
            label,
            step_count,
            step_index: 1,
            created,
        })
    }

    pub fn next_vertex(&self) -> usize {
        let v = self.vertex.get() + 1;
        self.vertex.set(v);
        v
    }

    pub fn warn(&self, message: &str) {
        self.progress.event(Event::Warning { message });
    }

    /// `Dockerfile:LINE:COL: message`.
    pub fn error_at(&self, pos: hoist_parser::ast::Pos, message: String) -> BuildError {
        BuildError::Instruction { file: self.file_name.clone(), pos, message }
    }

    /// Expands `word` in `scope` for instruction `ins`; warns (as BuildKit accepts them silently) about variables
    /// that have no value.
    pub fn expand(&self, ins: &Instruction, word: &str, scope: &Scope) -> Result<String> {
        let escape = self.dockerfile.directives.escape;
        for name in shell::unset_variables(word, scope, escape) {
            self.warn(&format!(
                "{}:{}: {}: variable ${name} is not set; it expands to an empty string",
                self.file_name,
                ins.pos.line,
                ins.kind.keyword()
            ));
        }
        shell::expand_word(word, scope, escape).map_err(|e| self.error_at(ins.pos, format!("{}: {e}", ins.kind.keyword())))
    }

    /// Expands and splits `text` into words (EXPOSE, VOLUME shell form).
    pub fn expand_words(&self, ins: &Instruction, text: &str, scope: &Scope) -> Result<Vec<String>> {
        shell::expand_words(text, scope, self.dockerfile.directives.escape)
            .map_err(|e| self.error_at(ins.pos, format!("{}: {e}", ins.kind.keyword())))
    }

    /// The context directory, for COPY sources.
    pub fn context_root(&self) -> PathBuf {
        self.context.root().to_path_buf()
    }
}

/// An ONBUILD trigger from a base image's config, parsed as the instruction it is.
fn parse_trigger(trigger: &str, stage: &Stage) -> Result<Instruction> {
    let doc = hoist_parser::parse_named("ONBUILD", &format!("FROM scratch\n{trigger}\n"))
        .map_err(|e| BuildError::other(format!("base image ONBUILD trigger {trigger:?} does not parse: {e}")))?;
    let mut ins = doc
        .stages
        .into_iter()
        .next()
        .and_then(|s| s.instructions.into_iter().next())
        .ok_or_else(|| BuildError::other(format!("base image ONBUILD trigger {trigger:?} is empty")))?;
    ins.pos = stage.pos;
    Ok(ins)
}

fn epoch() -> String {
    "1970-01-01T00:00:00Z".to_string()
}
