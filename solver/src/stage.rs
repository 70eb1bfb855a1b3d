//! One build: which stages the target needs, each stage from its `FROM` through its instructions.
//!
//! The stages the target needs (through `FROM stage`, `COPY --from`, `RUN --mount from=`) are found up front and
//! built at the same time, one thread each; a stage waits for the stages it uses. A stage nobody needs is never
//! run, as with BuildKit. A reference only known once a stage runs (an ARG-built `--from`) builds that stage on
//! demand. At most `--jobs` steps execute at once (see [`crate::step`]).
use std::cell::Cell;
use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

use hoist_parser::ast::{Dockerfile, Instruction, InstructionKind, Stage};
use hoist_parser::shell;
use hoist_store::Store;

use crate::args::{BuildArgs, Scope};
use crate::cachekey::KeyBuilder;
use crate::context::BuildContext;
use crate::error::{BuildError, Result};
use crate::explain::{self, StepReport};
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
    /// Steps of this stage skip the cache (`--no-cache`, or the stage is in `--no-cache-filter`).
    pub no_cache: bool,
    pub step_count: usize,
    pub step_index: usize,
    /// This stage's index, then those of the stages it is built `FROM` (its parent's, its grandparent's …).
    pub lineage: Vec<usize>,
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
    /// The Dockerfile as read, and what the parser warned about: for the build checks.
    pub dockerfile_text: String,
    pub parse_warnings: Vec<hoist_parser::parser::Warning>,
    pub context: BuildContext,
    pub build_args: BuildArgs,
    /// Global ARGs (before the first FROM), resolved: visible in FROM lines.
    pub meta_scope: Scope,
    stages: Mutex<HashMap<usize, Slot>>,
    /// Which stage waits for which (to report a cycle instead of deadlocking).
    waits: Mutex<HashMap<usize, usize>>,
    stage_changed: Condvar,
    vertex: AtomicUsize,
    pub cached_steps: AtomicUsize,
    pub executed_steps: AtomicUsize,
    /// Set when a stage failed: steps not yet started give up.
    pub cancelled: AtomicBool,
    /// Bounds the steps that execute at once (`--jobs`).
    pub jobs: crate::step::Semaphore,
    /// Keys of steps executing now: an identical step elsewhere waits for the result instead of running twice.
    pub in_flight: crate::step::InFlight,
    /// New layers whose snapshot may be a delta over an earlier layer's (see `delta_base.rs`).
    pub delta_bases: crate::delta_base::DeltaBases,
    /// The Dockerfile's absolute path: part of each step's identity for `--explain`.
    pub dockerfile_path: String,
    report: Mutex<Vec<StepReport>>,
    /// The latest cache record of each step identity, loaded at the first miss.
    previous: std::sync::OnceLock<explain::EarlierSteps>,
    /// Images pulled during this build (each once).
    pub(crate) pulls: crate::base_image::Pulls,
    /// The directory contexts (`--build-context NAME=DIR`) used as sources, made once.
    pub(crate) named_states: crate::named_context::NamedStates,
    /// Layers of steps taken from a remote cache, fetched when used.
    pub(crate) pending_layers: crate::remote_cache::PendingLayers,
    /// The ids of the cache mounts (`RUN --mount=type=cache`) the build's steps used.
    cache_mounts_used: Mutex<std::collections::BTreeSet<String>>,
}

/// Where a stage's build stands.
enum Slot {
    Running,
    Done(Arc<StageState>),
    /// The error's message, and where in the Dockerfile it happened.
    Failed(String, Option<(String, hoist_parser::ast::Pos)>),
}

thread_local! {
    /// The stage this thread is building, for cycle detection.
    static CURRENT_STAGE: Cell<Option<usize>> = const { Cell::new(None) };
}

impl<'a> Build<'a> {
    pub fn new(
        store: &'a Store,
        options: &'a BuildOptions,
        progress: &'a dyn Progress,
    ) -> Result<Self> {
        let dockerfile_path = options
            .dockerfile
            .clone()
            .unwrap_or_else(|| options.context_dir.join("Dockerfile"));
        let text = std::fs::read_to_string(&dockerfile_path).map_err(|e| {
            BuildError::io(
                format!(
                    "reading the Dockerfile {} (use -f to name another)",
                    dockerfile_path.display()
                ),
                e,
            )
        })?;
        let file_name = dockerfile_path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "Dockerfile".into());
        let (dockerfile, parse_warnings) = hoist_parser::parse_with_warnings(&file_name, &text)
            .map_err(|e| BuildError::Parse(e.to_string()))?;
        if dockerfile.stages.is_empty() {
            return Err(BuildError::other(format!(
                "{file_name}: the Dockerfile has no FROM instruction"
            )));
        }
        let context = if options.ephemeral_context {
            BuildContext::open(&options.context_dir, &dockerfile_path, Vec::new())?
        } else {
            BuildContext::open_loading(
                &options.context_dir,
                &dockerfile_path,
                store.stat_cache_reader(),
            )?
        };
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
            dockerfile_text: text,
            parse_warnings,
            context,
            build_args,
            meta_scope: Scope::default(),
            stages: Mutex::default(),
            waits: Mutex::default(),
            stage_changed: Condvar::new(),
            vertex: AtomicUsize::new(0),
            cached_steps: AtomicUsize::new(0),
            executed_steps: AtomicUsize::new(0),
            cancelled: AtomicBool::new(false),
            in_flight: crate::step::InFlight::default(),
            delta_bases: Default::default(),
            dockerfile_path: dockerfile_path
                .canonicalize()
                .unwrap_or_else(|_| dockerfile_path.clone())
                .to_string_lossy()
                .into_owned(),
            report: Mutex::default(),
            previous: std::sync::OnceLock::new(),
            pulls: crate::base_image::Pulls::default(),
            pending_layers: crate::remote_cache::PendingLayers::default(),
            named_states: Default::default(),
            cache_mounts_used: Mutex::default(),
            jobs: crate::step::Semaphore::new(if options.jobs == 0 {
                std::thread::available_parallelism()
                    .map(|n| n.get())
                    .unwrap_or(2)
            } else {
                options.jobs
            }),
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
                    meta_scope.declare_global_arg(&decl.name, value);
                }
            }
        }
        build.meta_scope = meta_scope;
        Ok(build)
    }

    /// Records a step's outcome for the build report.
    pub fn record_step(&self, step: StepReport) {
        if let Ok(mut r) = self.report.lock() {
            r.push(step);
        }
    }

    /// The layer of the latest earlier record of step `step_id` (see `delta_base.rs`).
    pub fn previous_layer(&self, step_id: &str) -> Option<hoist_store::Digest> {
        let previous = self.previous.get_or_init(|| {
            explain::latest_by_step(self.store.cache_records().unwrap_or_default())
        });
        previous.get(step_id)?.0.layer.clone()
    }

    /// Why the step `step_id` with key `key` missed the cache (compared with its latest earlier record).
    pub fn why_missed(&self, step_id: &str, key: &crate::cachekey::StepKey) -> String {
        let previous = self.previous.get_or_init(|| {
            explain::latest_by_step(self.store.cache_records().unwrap_or_default())
        });
        let this_build: HashMap<String, bool> = self
            .report
            .lock()
            .map(|r| r.iter().map(|s| (s.result.clone(), s.cached)).collect())
            .unwrap_or_default();
        let new_manifest = key
            .inputs
            .iter()
            .find(|i| i.name == "sources-content")
            .and_then(|i| i.values.first())
            .and_then(|c| self.context.manifest(c));
        let read_manifest = |digest: &str| {
            let d = explain::manifest_digest(digest)?;
            explain::parse_manifest(&self.store.read_blob(&d).ok()?)
        };
        let cx = explain::Context {
            this_build: &this_build,
            read_manifest: &read_manifest,
            new_manifest: new_manifest.as_deref().map(|v| v.as_slice()),
        };
        explain::why_missed(previous.get(step_id), key, &cx)
    }

    /// The steps so far, in the order they finished.
    fn report(&self) -> Vec<StepReport> {
        let mut r = self.report.lock().map(|r| r.clone()).unwrap_or_default();
        r.sort_by_key(|s| s.vertex);
        r
    }

    /// Keeps the build report (every step, and why each miss missed) for `hoist cache explain`: under the image
    /// ID when there is one, and as `last`.
    fn save_report(&self, image: Option<&str>) {
        let Ok(json) = serde_json::to_vec_pretty(&self.report()) else {
            return;
        };
        if let Some(id) = image {
            // A rebuild that only reused the cache made nothing: the image keeps the report of the build that
            // made it (with its misses and why), and a no-op rebuild writes one file less.
            let made_nothing = self.executed_steps.load(Ordering::SeqCst) == 0;
            let has_report = matches!(self.store.build_report(id), Ok(Some(_)));
            if !(made_nothing && has_report) {
                let _ = self.store.put_build_report(id, &json);
            }
        }
        let _ = self.store.put_build_report("last", &json);
    }

    pub fn run(self) -> Result<BuildOutput> {
        // `hoist cache prune` takes the lock exclusively: nothing this build uses disappears under it.
        let _lock = self.store.lock_shared()?;
        let result = self.run_stages();
        if result.is_err() {
            self.save_report(None);
        }
        // The snapshots the steps made are not synced (issue 17): a `syncfs` waits for every dirty page of the
        // filesystem, other processes' too, and after a fresh unpack for 20,000 files of its own, which is
        // most of a cold build. Their rows keep this boot's id, so after a crash of the machine they are
        // dropped and unpacked again from their blobs (which are synced): a re-unpack, never a wrong file.
        result
    }

    fn run_stages(&self) -> Result<BuildOutput> {
        let target = self.target_index()?;
        let needed = self.needed_stages(target)?;
        let state = std::thread::scope(|scope| {
            for &index in needed.iter().filter(|i| **i != target) {
                let build = self;
                std::thread::Builder::new()
                    .name(format!("stage-{index}"))
                    .spawn_scoped(scope, move || {
                        // The error is kept in the stage's slot and reported by whoever needs the stage.
                        let _ = build.stage(index);
                    })
                    .map_err(|e| BuildError::other(format!("starting a build thread: {e}")))?;
            }
            let result = self.stage(target);
            if result.is_err() {
                self.cancelled.store(true, Ordering::SeqCst);
            }
            result
        })
        .map_err(|e| self.root_cause(e))?;
        for name in self.build_args.unused() {
            // SOURCE_DATE_EPOCH is consumed by the build itself (the image's timestamps), as by BuildKit.
            if !crate::args::PREDEFINED_ARGS.contains(&name.as_str())
                && name != "SOURCE_DATE_EPOCH"
                && name != "BUILDKIT_CONTEXT_KEEP_GIT_DIR"
            {
                self.warn(&format!(
                    "[Warning] One or more build-args [{name}] were not consumed"
                ));
            }
        }
        let fresh = self.context.take_fresh_stat_entries();
        if !fresh.is_empty() && !self.options.ephemeral_context {
            self.store.stat_cache_put(&fresh)?;
        }
        let trees = self.context.take_fresh_trees();
        if !trees.is_empty() && !self.options.ephemeral_context {
            self.store.put_context_trees(&trees)?;
        }
        // The image's layers that came from a remote cache must be here before the image refers to them.
        self.fetch_pending_layers(&state.image.layers)?;
        let mut image = state.image.clone();
        image.labels.extend(self.options.labels.iter().cloned());
        let created = match self.options.source_date_epoch {
            Some(epoch) => crate::reproducible::clamp(&mut image, epoch),
            None => state.created.clone(),
        };
        let config = image.to_config_json(&created)?;
        let image = self.store.write_image_config(&config)?;
        for tag in &self.options.tags {
            self.store.tag(tag, &image)?;
        }
        self.save_report(Some(image.id.as_str()));
        Ok(BuildOutput {
            image,
            cached_steps: self.cached_steps.load(Ordering::SeqCst),
            executed_steps: self.executed_steps.load(Ordering::SeqCst),
            report: self.report(),
            final_lineage: state.lineage.clone(),
            cache_mounts: self
                .cache_mounts_used
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .iter()
                .cloned()
                .collect(),
        })
    }

    /// The target and every stage it uses, as far as the Dockerfile shows without running anything: `FROM` of an
    /// earlier stage, `COPY/ADD --from=`, `RUN --mount=…from=` (values expanded with the global ARGs).
    pub(crate) fn needed_stages(&self, target: usize) -> Result<BTreeSet<usize>> {
        let mut deps: HashMap<usize, Vec<usize>> = HashMap::new();
        // Where each stage uses another through --from (for the error of a cycle).
        let mut uses: HashMap<(usize, usize), hoist_parser::ast::Pos> = HashMap::new();
        for (i, stage) in self.dockerfile.stages.iter().enumerate() {
            let mut d = Vec::new();
            if self.stage_is_overridden(i) {
                deps.insert(i, d);
                continue;
            }
            let escape = self.dockerfile.directives.escape;
            let expand = |w: &str| shell::expand_word(w, &self.meta_scope, escape).ok();
            if let Some(base) = expand(&stage.base).filter(|b| self.named_context(b).is_none()) {
                d.extend(self.stage_by_name(&base).filter(|p| *p < i));
            }
            for ins in &stage.instructions {
                let refs: Vec<String> = match &ins.kind {
                    InstructionKind::Copy(c) | InstructionKind::Add(c) => {
                        c.flags.from.iter().cloned().collect()
                    }
                    InstructionKind::Run(r) => r
                        .mounts
                        .iter()
                        .flat_map(|m| m.split(','))
                        .filter_map(|f| f.trim().strip_prefix("from=").map(str::to_string))
                        .collect(),
                    _ => Vec::new(),
                };
                for r in refs {
                    if let Some(dep) = expand(&r).and_then(|r| self.stage_by_ref(&r)) {
                        if dep == i {
                            return Err(self.error_at(
                                ins.pos,
                                format!("{}: a stage cannot use itself ({r})", ins.kind.keyword()),
                            ));
                        }
                        d.push(dep);
                        uses.entry((i, dep)).or_insert(ins.pos);
                    }
                }
            }
            deps.insert(i, d);
        }
        if let Some((from, to)) = find_cycle(&deps, target) {
            let message = format!(
                "circular dependency detected on stage: {} (stage {} uses it, and it leads back to {})",
                self.stage_name(to),
                self.stage_name(from),
                self.stage_name(from)
            );
            return Err(match uses.get(&(from, to)) {
                Some(pos) => self.error_at(*pos, message),
                None => BuildError::other(message),
            });
        }
        let mut needed = BTreeSet::new();
        let mut todo = vec![target];
        while let Some(i) = todo.pop() {
            if needed.insert(i) {
                todo.extend(deps.get(&i).into_iter().flatten().copied());
            }
        }
        Ok(needed)
    }

    pub(crate) fn target_index(&self) -> Result<usize> {
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
        self.dockerfile
            .stages
            .iter()
            .position(|s| s.name.as_deref() == Some(lower.as_str()))
    }

    /// `COPY --from=` / `--mount from=`: a stage name, or a stage index.
    /// A number in `--from` always names a stage (BuildKit): one past the last stage is an error, not an image.
    pub fn invalid_stage_index(&self, name: &str) -> Option<String> {
        let i = name.parse::<usize>().ok()?;
        (i >= self.dockerfile.stages.len()).then(|| {
            format!(
                "invalid stage index {i}: the Dockerfile has {} stage(s), numbered from 0",
                self.dockerfile.stages.len()
            )
        })
    }

    pub fn stage_by_ref(&self, name: &str) -> Option<usize> {
        if let Ok(i) = name.parse::<usize>() {
            return (i < self.dockerfile.stages.len()).then_some(i);
        }
        self.stage_by_name(name)
    }

    /// Builds stage `index` (once; another thread may be building it: then this waits) and returns its state.
    pub fn stage(&self, index: usize) -> Result<Arc<StageState>> {
        let waiter = CURRENT_STAGE.with(|c| c.get());
        let mut stages = self.stages.lock().map_err(|_| poisoned())?;
        loop {
            match stages.get(&index) {
                Some(Slot::Done(state)) => return Ok(state.clone()),
                Some(Slot::Failed(message, location)) => {
                    return Err(BuildError::StageFailed {
                        stage: self.stage_name(index),
                        message: message.clone(),
                        location: location.clone(),
                    })
                }
                Some(Slot::Running) => {
                    if let Some(w) = waiter {
                        self.check_cycle(w, index)?;
                    }
                    stages = self.stage_changed.wait(stages).map_err(|_| poisoned())?;
                }
                None => break,
            }
        }
        stages.insert(index, Slot::Running);
        drop(stages);

        let previous = CURRENT_STAGE.with(|c| c.replace(Some(index)));
        let result = self.build_stage(index);
        CURRENT_STAGE.with(|c| c.set(previous));
        if let Some(w) = waiter {
            if let Ok(mut waits) = self.waits.lock() {
                waits.remove(&w);
            }
        }
        let mut stages = self.stages.lock().map_err(|_| poisoned())?;
        let out = match result {
            Ok(state) => {
                let state = Arc::new(state);
                stages.insert(index, Slot::Done(state.clone()));
                Ok(state)
            }
            Err(e) => {
                self.cancelled.store(true, Ordering::SeqCst);
                let location = e.location().map(|(file, pos)| (file.to_string(), pos));
                stages.insert(index, Slot::Failed(e.to_string(), location));
                Err(e)
            }
        };
        self.stage_changed.notify_all();
        out
    }

    /// When the target failed because another stage did, that stage's error is the one to show.
    fn root_cause(&self, e: BuildError) -> BuildError {
        if !matches!(e, BuildError::Cancelled)
            && !e.to_string().contains("cancelled: another stage")
        {
            return e;
        }
        let stages = match self.stages.lock() {
            Ok(s) => s,
            Err(_) => return e,
        };
        let mut failed: Vec<(&usize, &String, &Option<_>)> = stages
            .iter()
            .filter_map(|(i, s)| match s {
                Slot::Failed(m, l) if !m.contains("cancelled: another stage") => Some((i, m, l)),
                _ => None,
            })
            .collect();
        failed.sort_by_key(|(i, _, _)| **i);
        match failed.first() {
            Some((i, m, l)) => BuildError::StageFailed {
                stage: self.stage_name(**i),
                message: m.to_string(),
                location: (*l).clone(),
            },
            None => e,
        }
    }

    /// Records that stage `waiter` waits for `target`, failing if that closes a cycle.
    fn check_cycle(&self, waiter: usize, target: usize) -> Result<()> {
        let mut waits = self.waits.lock().map_err(|_| poisoned())?;
        waits.insert(waiter, target);
        let mut cur = target;
        let mut steps = 0;
        while let Some(&next) = waits.get(&cur) {
            if next == waiter || cur == waiter || steps > waits.len() {
                return Err(BuildError::other(format!(
                    "circular dependency between stages {} and {}",
                    self.stage_name(waiter),
                    self.stage_name(target)
                )));
            }
            cur = next;
            steps += 1;
        }
        Ok(())
    }

    fn stage_name(&self, index: usize) -> String {
        self.dockerfile.stages[index]
            .name
            .clone()
            .unwrap_or_else(|| index.to_string())
    }

    fn build_stage(&self, index: usize) -> Result<StageState> {
        let stage = &self.dockerfile.stages[index];
        let mut state = self.from(index, stage)?;
        if self.stage_is_overridden(index) {
            // `--build-context NAME=…` replaces the stage: nothing of the Dockerfile's runs for it.
            return Ok(state);
        }
        let triggers = std::mem::take(&mut state.image.onbuild);
        for trigger in &triggers {
            let ins = parse_trigger(trigger, stage)
                .map_err(|message| self.error_at(stage.pos, message))?;
            lower::apply(self, &mut state, &ins)?;
        }
        for ins in &stage.instructions {
            lower::apply(self, &mut state, ins)?;
        }
        Ok(state)
    }

    /// `FROM`: the base image, another stage, scratch, or a named context (`--build-context`). A stage that a
    /// named context of its name replaces is that context.
    fn from(&self, index: usize, stage: &Stage) -> Result<StageState> {
        let started = Instant::now();
        let overriding = stage
            .name
            .as_deref()
            .filter(|n| self.named_context(n).is_some());
        let base = match overriding {
            Some(name) => name.to_string(),
            None => shell::expand_word(
                &stage.base,
                &self.meta_scope,
                self.dockerfile.directives.escape,
            )
            .map_err(|e| self.error_at(stage.pos, format!("FROM {}: {e}", stage.base)))?,
        };
        if base.trim().is_empty() {
            return Err(self.error_at(
                stage.pos,
                format!(
                    "base name ({}) should not be blank: give the ARG a value or a --build-arg",
                    stage.base
                ),
            ));
        }
        let label = match &stage.name {
            Some(n) => format!("{n} "),
            None if self.dockerfile.stages.len() > 1 => format!("stage-{index} "),
            None => String::new(),
        };
        let mut lineage = vec![index];
        let named = self.named_context(&base).cloned();
        let (image, fs_key, cmd_from_base) = match &named {
            Some(crate::NamedContext::Image(reference)) => {
                self.base_image(stage, reference, &format!("FROM {base}: context {base}"))?
            }
            Some(crate::NamedContext::Dir { .. }) => self.scratch(),
            None if base.eq_ignore_ascii_case("scratch") => self.scratch(),
            None => match self.stage_by_name(&base).filter(|p| *p < index) {
                Some(parent) => {
                    let done = self.stage(parent)?;
                    lineage.extend(done.lineage.iter().copied());
                    (
                        done.image.clone(),
                        done.fs_key.clone(),
                        done.image.cmd.is_some(),
                    )
                }
                None => self.base_image(stage, &base, &format!("FROM {base}"))?,
            },
        };
        let created = image
            .history
            .last()
            .map(|h| h.created.clone())
            .unwrap_or_else(epoch);
        // Global and automatic platform ARGs are visible in a stage only when redeclared (lower::meta::arg).
        let scope = Scope::with_env(&image.env);
        // The base's ONBUILD triggers run right after FROM and count as steps of this stage (`[child 2/4]`):
        // the FROM step shows once they are known (a base stage has been built, a base image's config read).
        let trigger_steps = image
            .onbuild
            .iter()
            .filter(|_| overriding.is_none())
            .filter(|t| parse_trigger(t, stage).map_or(true, |ins| lower::makes_vertex(&ins)))
            .count();
        let own_steps = if overriding.is_some() {
            0
        } else {
            stage
                .instructions
                .iter()
                .filter(|i| lower::makes_vertex(i))
                .count()
        };
        let dir_step = usize::from(matches!(named, Some(crate::NamedContext::Dir { .. })));
        let step_count = 1 + trigger_steps + own_steps + dir_step;
        let id = self.next_vertex();
        let name = format!("[{label}1/{step_count}] FROM {base}");
        self.progress.event(Event::Started { id, name: &name });
        self.progress.event(Event::Done {
            id,
            elapsed: started.elapsed(),
        });
        let mut state = StageState {
            image,
            scope,
            fs_key,
            cmd_from_base,
            label,
            no_cache: self.options.no_cache
                || self.options.no_cache_filter.iter().any(|f| {
                    stage.name.as_deref() == Some(f.to_ascii_lowercase().as_str())
                        || *f == index.to_string()
                }),
            step_count,
            step_index: 1,
            lineage,
            created,
        };
        if let Some(crate::NamedContext::Dir { path, ephemeral }) = &named {
            self.fill_from_dir(&mut state, &base, path, *ephemeral)
                .map_err(|e| self.error_at(stage.pos, format!("FROM {base}: {e}")))?;
        }
        Ok(state)
    }

    /// An empty filesystem: `FROM scratch`, and under a directory context.
    pub(crate) fn scratch(&self) -> (ImageState, String, bool) {
        (
            ImageState::scratch(),
            KeyBuilder::new("scratch")
                .source_date_epoch(self.options.source_date_epoch)
                .finish()
                .key,
            false,
        )
    }

    /// A step uses cache mount `id` (see [`crate::BuildOutput::cache_mounts`]).
    pub fn note_cache_mount(&self, id: &str) {
        self.cache_mounts_used
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id.to_string());
    }

    pub fn next_vertex(&self) -> usize {
        self.vertex.fetch_add(1, Ordering::SeqCst) + 1
    }

    pub fn warn(&self, message: &str) {
        self.progress.event(Event::Warning { message });
    }

    /// `Dockerfile:LINE:COL: message`.
    pub fn error_at(&self, pos: hoist_parser::ast::Pos, message: String) -> BuildError {
        BuildError::Instruction {
            file: self.file_name.clone(),
            pos,
            message,
        }
    }

    /// Expands `word` in `scope` for instruction `ins`. A variable with no value expands to nothing, as in
    /// BuildKit; the UndefinedVar build check (see [`crate::checks`]) has already said so, before the first step.
    pub fn expand(&self, ins: &Instruction, word: &str, scope: &Scope) -> Result<String> {
        let escape = self.dockerfile.directives.escape;
        shell::expand_word(word, scope, escape)
            .map_err(|e| self.error_at(ins.pos, format!("{}: {e}", ins.kind.keyword())))
    }

    /// Expands and splits `text` into words (EXPOSE, VOLUME shell form).
    pub fn expand_words(
        &self,
        ins: &Instruction,
        text: &str,
        scope: &Scope,
    ) -> Result<Vec<String>> {
        shell::expand_words(text, scope, self.dockerfile.directives.escape)
            .map_err(|e| self.error_at(ins.pos, format!("{}: {e}", ins.kind.keyword())))
    }

    /// The context directory, for COPY sources.
    pub fn context_root(&self) -> PathBuf {
        self.context.root().to_path_buf()
    }
}

/// An ONBUILD trigger from a base image's config, parsed as the instruction it is; the error says which
/// trigger of the base image failed and why (BuildKit fails the child build the same way).
fn parse_trigger(trigger: &str, stage: &Stage) -> std::result::Result<Instruction, String> {
    let doc = hoist_parser::parse_named("ONBUILD", &format!("FROM scratch\n{trigger}\n")).map_err(
        |e| {
            format!(
                "FROM: the base image's ONBUILD trigger {trigger:?} is not a valid instruction: {}",
                e.message
            )
        },
    )?;
    let mut ins = doc
        .stages
        .into_iter()
        .next()
        .and_then(|s| s.instructions.into_iter().next())
        .ok_or_else(|| format!("FROM: the base image's ONBUILD trigger {trigger:?} is empty"))?;
    ins.pos = stage.pos;
    Ok(ins)
}

fn poisoned() -> BuildError {
    BuildError::other("a build thread panicked")
}

fn epoch() -> String {
    "1970-01-01T00:00:00Z".to_string()
}

/// A dependency edge `(from, to)` that closes a cycle among the stages reachable from `start`, if there is one.
/// Stages run on demand and wait for the ones they use, so a cycle would wait forever: it is refused up front
/// (BuildKit: "circular dependency detected on stage").
fn find_cycle(deps: &HashMap<usize, Vec<usize>>, start: usize) -> Option<(usize, usize)> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Open,
        Done,
    }
    let mut marks: HashMap<usize, Mark> = HashMap::new();
    // Iterative DFS: (stage, index of the next dependency to visit).
    let mut stack = vec![(start, 0usize)];
    marks.insert(start, Mark::Open);
    while let Some(&mut (node, ref mut next)) = stack.last_mut() {
        let children = deps.get(&node).map(Vec::as_slice).unwrap_or(&[]);
        if let Some(&child) = children.get(*next) {
            *next += 1;
            match marks.get(&child) {
                Some(Mark::Open) => return Some((node, child)),
                Some(Mark::Done) => {}
                None => {
                    marks.insert(child, Mark::Open);
                    stack.push((child, 0));
                }
            }
        } else {
            marks.insert(node, Mark::Done);
            stack.pop();
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::find_cycle;
    use std::collections::HashMap;

    #[test]
    fn cycles_among_needed_stages_are_found() {
        let deps: HashMap<usize, Vec<usize>> = [(0, vec![1]), (1, vec![0]), (2, vec![1])].into();
        assert!(find_cycle(&deps, 2).is_some());
        let deps: HashMap<usize, Vec<usize>> = [(0, vec![]), (1, vec![0]), (2, vec![1, 0])].into();
        assert_eq!(find_cycle(&deps, 2), None, "a diamond is no cycle");
        let deps: HashMap<usize, Vec<usize>> = [(0, vec![1]), (1, vec![0]), (2, vec![])].into();
        assert_eq!(
            find_cycle(&deps, 2),
            None,
            "a cycle the target does not need is not built"
        );
    }
}
