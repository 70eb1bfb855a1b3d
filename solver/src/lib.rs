//! hoist-solver: a parsed Dockerfile → stages → steps with cache keys → an image in the store.
//!
//! The flow (docs/ARCHITECTURE.md): [`build`] parses the Dockerfile, picks the target stage, and builds each stage the target
//! needs on demand ([`stage`]); each instruction is lowered by [`lower`] to either a config change (no layer) or a
//! filesystem step ([`step`]) whose result is looked up in, or stored into, the cache index by its key.
pub mod args;
mod base_image;
pub mod context;
pub mod error;
pub mod image;
pub mod progress;

mod cachekey;
pub mod checks;
mod delta_base;
pub mod explain;
mod lower;
mod named_context;
mod remote_cache;
mod reproducible;
pub mod run_options;
mod stage;
mod step;

use std::path::PathBuf;

use hoist_store::{ImageRecord, Store};

pub use base_image::{ImageSource, ImageSourceHandle};
pub use error::{BuildError, Result};
pub use lower::cache_mount_dir_name;
pub use lower::healthcheck_config;
pub use named_context::NamedContext;
pub use progress::{Event, Progress, Silent, Stream};
pub use remote_cache::{RemoteCache, RemoteCacheHandle};
pub use run_options::{NetworkMode, RunStepOptions};

/// What `hoist build` was asked to do.
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    /// The build context directory.
    pub context_dir: PathBuf,
    /// The Dockerfile (`-f`); `None` = `<context>/Dockerfile`.
    pub dockerfile: Option<PathBuf>,
    /// The context exists for this build only (stdin, a git checkout): its files' stats are not remembered.
    pub ephemeral_context: bool,
    /// `--build-context NAME=…`: used instead of a stage or an image of that name.
    pub named_contexts: Vec<(String, NamedContext)>,
    /// `-t` references to tag the result with.
    pub tags: Vec<String>,
    /// `--build-arg K=V` (a bare `K` takes the value from hoist's environment, as docker does; the CLI resolves it).
    pub build_args: Vec<(String, String)>,
    /// `--target`: the stage to build; `None` = the last one.
    pub target: Option<String>,
    /// `--no-cache`: run every step, but still record the results for later builds.
    pub no_cache: bool,
    /// `--no-cache-filter`: stages (by name or index) whose steps run without the cache.
    pub no_cache_filter: Vec<String>,
    /// `--secret id=ID,src=FILE`: files RUN `--mount=type=secret` can read; never stored in a layer or the cache.
    pub secrets: Vec<(String, PathBuf)>,
    /// `--jobs`: how many steps may execute at once; 0 = file steps one per CPU core, RUN steps unbounded.
    pub jobs: usize,
    /// `--explain`: report why each step that missed the cache missed.
    pub explain: bool,
    /// `--label K=V`: image labels set after the Dockerfile's LABELs (so they win), as `docker build` does.
    pub labels: Vec<(String, String)>,
    /// `SOURCE_DATE_EPOCH`: timestamps of the image (config, history, layer entries) clamped to it, so the same
    /// Dockerfile and context give the same image digest; part of every cache key when set.
    pub source_date_epoch: Option<i64>,
    /// Cancelled (Ctrl-C, SIGTERM): running containers are killed, no new step starts, and the build fails
    /// with [`BuildError::Interrupted`]. Finished steps stay in the cache.
    pub cancel: hoist_executor::container::CancelToken,
    /// Where images the store lacks come from (a registry); `None`: only images already in the store.
    pub image_source: Option<ImageSourceHandle>,
    /// `--pull`: fetch every named image through `image_source` again, even when the store has it.
    pub pull: bool,
    /// `--platform`: the platform to pull images for (`FROM --platform` wins); `None` = this host's.
    pub platform: Option<String>,
    /// `--cache-from type=registry`: caches consulted, in order, when the store misses a step.
    pub remote_caches: Vec<RemoteCacheHandle>,
    /// Receives the build checks' findings before the first step runs (see [`checks`]).
    pub on_checks: Option<checks::ChecksSink>,
    /// `--network`, `--allow`, `--add-host`, `--shm-size`, `--ulimit`, `--ssh`: how RUN steps run.
    pub run_steps: run_options::RunStepOptions,
}

/// What a finished build produced.
#[derive(Debug, Clone)]
pub struct BuildOutput {
    pub image: ImageRecord,
    /// Steps that came from the cache / steps that ran.
    pub cached_steps: usize,
    pub executed_steps: usize,
    /// Every step of the build, cached or not (and why not).
    pub report: Vec<explain::StepReport>,
    /// The target stage and the stages it is built `FROM`, in that order: their steps made the image's layers
    /// (what `--cache-to mode=min` exports).
    pub final_lineage: Vec<usize>,
    /// The ids of the cache mounts the steps that ran used (see [`cache_mount_dir_name`]).
    pub cache_mounts: Vec<String>,
}

/// Builds the image `options` describes into `store`, reporting to `progress`.
pub fn build(
    store: &Store,
    options: &BuildOptions,
    progress: &dyn Progress,
) -> Result<BuildOutput> {
    let build = stage::Build::new(store, options, progress)?;
    let report = build.checks(false)?;
    if let Some(sink) = &options.on_checks {
        (sink.0)(&report);
    }
    // `# check=error=true`: a failed check fails the build before any step runs, as in BuildKit.
    if let Some(violation) = report.violation() {
        return Err(BuildError::other(violation));
    }
    build.run()
}

/// The build checks alone (`hoist build --check`): the stages `options.target` needs, or every stage without a
/// target; base images are looked up (and pulled) but nothing is built.
pub fn check(
    store: &Store,
    options: &BuildOptions,
    progress: &dyn Progress,
) -> Result<checks::CheckReport> {
    let build = stage::Build::new(store, options, progress)?;
    build.checks(options.target.is_none())
}
