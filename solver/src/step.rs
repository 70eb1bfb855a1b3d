//! A filesystem step: look its key up in the cache; on a miss mount the stage's layers with a fresh upper dir,
//! let the step change the merged tree, and turn the upper dir into a layer (blob + snapshot + cache record).
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Condvar, Mutex};
use std::time::Instant;

use hoist_executor::layer_reuse::{LayerIndex, ReuseSource as LayerReuse};
use hoist_executor::{layer, overlay};
use hoist_store::{CacheRecord, Digest, Store};

use crate::cachekey::StepKey;
use crate::delta_base::lower_dirs;
use crate::error::{BuildError, Result};
use crate::explain::{self, Payload, StepReport};
use crate::image::{HistoryEntry, LayerDesc};
use crate::progress::Event;
use crate::stage::{Build, StageState};

/// What a step is, for progress output and history.
pub(crate) struct StepInfo<'s> {
    /// The cache key of the step's result, with the inputs it was made of.
    pub key: StepKey,
    /// `RUN echo hi` as written (continuations joined).
    pub display: &'s str,
    /// The history `created_by` (`RUN /bin/sh -c echo hi # buildkit`).
    pub created_by: String,
}

/// Runs (or reuses) one filesystem step on `state`, then records its layer and history in `state`.
/// COPY, ADD and WORKDIR work in hoist's own process: at most `--jobs` (default: one per core) at once.
pub(crate) fn fs_step(
    build: &Build,
    state: &mut StageState,
    info: StepInfo,
    run: impl FnOnce(&Path, &Progress) -> Result<()>,
) -> Result<()> {
    step(build, state, info, true, |root, progress| {
        run(root, progress).map(|()| None)
    })
}

/// Writes into the upper dir of an unmounted overlay.
pub(crate) type FillUpper<'x> = dyn FnOnce(&Path) -> Result<()> + 'x;

/// Work a step leaves for after its overlay is unmounted (see `hoist_executor::fileops::copy_deferring`).
pub(crate) enum AfterUnmount<'x> {
    /// Fills the upper dir, which then becomes the layer and its snapshot as usual.
    Fill(Box<FillUpper<'x>>),
    /// Supplies directories of the layer tar straight from their source (see
    /// `hoist_executor::layer::write_layer_tar_grafted`). The upper dir then lacks them, so it is thrown
    /// away: the snapshot is unpacked from the blob when a later step or `hoist run` needs it. A
    /// `COPY . /app` of a big context writes its files once, into the tar, instead of three times (files,
    /// tar, and the sync of the files).
    Graft(Box<layer::Graft<'x>>),
}

/// [`fs_step`] whose body may leave work for the upper dir once the overlay is unmounted.
pub(crate) fn fs_step_deferring<'x>(
    build: &Build,
    state: &mut StageState,
    info: StepInfo,
    run: impl FnOnce(&Path, &Progress) -> Result<Option<AfterUnmount<'x>>>,
) -> Result<()> {
    step(build, state, info, true, run)
}

/// [`fs_step`] for a step whose work is a container (RUN). Its processes mostly wait (on the network, on disk,
/// on `sleep`), so, like BuildKit, containers of independent stages all run at once unless `--jobs` is given.
pub(crate) fn container_step(
    build: &Build,
    state: &mut StageState,
    info: StepInfo,
    run: impl FnOnce(&Path, &Progress) -> Result<()>,
) -> Result<()> {
    step(
        build,
        state,
        info,
        build.options.jobs != 0,
        |root, progress| run(root, progress).map(|()| None),
    )
}

fn step<'x>(
    build: &Build,
    state: &mut StageState,
    info: StepInfo,
    bounded: bool,
    run: impl FnOnce(&Path, &Progress) -> Result<Option<AfterUnmount<'x>>>,
) -> Result<()> {
    state.step_index += 1;
    let id = build.next_vertex();
    let name = format!(
        "[{}{}/{}] {}",
        state.label, state.step_index, state.step_count, info.display
    );
    build.progress.event(Event::Started { id, name: &name });
    let started = Instant::now();

    let step_key = info.key.key.clone();
    let step_id = explain::step_identity(
        &build.dockerfile_path,
        &state.label,
        state.step_index,
        info.display,
    );
    // An identical step running in another stage right now: wait for it, then take its result from the cache.
    let _claim = build.in_flight.claim(&info.key.key);
    // The same across processes: another hoist on this store running the identical step (a parallel compose
    // build of a service sharing it) finishes it first, and this one takes it from the cache.
    let _step_lock = if state.no_cache {
        None
    } else {
        Some(build.store.step_lock(&info.key.key)?)
    };
    if !state.no_cache {
        let local = match build.store.cache_lookup(&info.key)? {
            Some(record) => reuse(build.store, &record)?,
            None => None,
        };
        let found = match local {
            Some(found) => Some(found),
            // Its layer may not be here yet: it is fetched when something uses it (see remote_cache.rs).
            None => build.remote_record(&info.key)?.map(|r| result_of(&r)),
        };
        if let Some((layer, created)) = found {
            build.progress.event(Event::Cached { id });
            build.cached_steps.fetch_add(1, Ordering::SeqCst);
            apply(state, info, layer, created);
            build.record_step(StepReport {
                vertex: id,
                name,
                key: step_key,
                result: state.fs_key.clone(),
                stage: state.lineage[0],
                cached: true,
                reason: None,
            });
            return Ok(());
        }
    }
    let reason = if state.no_cache {
        "--no-cache".to_string()
    } else {
        build.why_missed(&step_id, &info.key)
    };
    if build.options.explain {
        build.progress.event(Event::Explain {
            id,
            reason: &reason,
        });
    }
    let progress = Progress {
        sink: build.progress,
        id,
    };
    let outcome = {
        let _permit = bounded.then(|| build.jobs.acquire());
        if build.options.cancel.is_cancelled() {
            Err(BuildError::Interrupted)
        } else if build.cancelled.load(Ordering::SeqCst) {
            Err(BuildError::Cancelled)
        } else if let Err(e) = build.fetch_pending_layers(&state.image.layers) {
            Err(e)
        } else {
            execute(
                build,
                state,
                &progress,
                build.options.source_date_epoch,
                &step_id,
                run,
            )
        }
    };
    match outcome {
        Ok((layer, created)) => {
            let sources = match info.key.inputs.iter().find(|i| i.name == "sources-content") {
                Some(input) => match input.values.first().and_then(|c| build.context.manifest(c)) {
                    Some(files) => Some(
                        build
                            .store
                            .put_blob(&explain::manifest_json(&files))?
                            .to_string(),
                    ),
                    None => None,
                },
                None => None,
            };
            if let Some(layer) = &layer {
                // Made from the files and not mounted yet (a COPY's grafted layer): the next step may
                // mount it as a delta over the layer this step made last time.
                if build.store.snapshot_id(&layer.diff_id)?.is_none() {
                    if let Some(earlier) = build.previous_layer(&step_id) {
                        build.delta_bases.insert(layer.diff_id.clone(), earlier);
                    }
                }
            }
            let payload = serde_json::to_string(&Payload {
                created: created.clone(),
                step: step_id,
                inputs: info.key.inputs.clone(),
                sources,
            })
            .map_err(|e| BuildError::other(format!("cache record: {e}")))?;
            let now = chrono::Utc::now().timestamp();
            build.store.cache_insert(&CacheRecord {
                key: info.key.key.clone(),
                parent: Some(state.fs_key.clone()),
                description: name.clone(),
                layer: layer.as_ref().map(|l| l.diff_id.clone()),
                payload,
                size: layer.as_ref().map(|l| l.size).unwrap_or(0),
                created: now,
                last_used: now,
                used_count: 0,
            })?;
            // DONE only now that the record is committed: a build killed after it reuses the step.
            build.progress.event(Event::Done {
                id,
                elapsed: started.elapsed(),
            });
            build.executed_steps.fetch_add(1, Ordering::SeqCst);
            apply(state, info, layer, created);
            build.record_step(StepReport {
                vertex: id,
                name,
                key: step_key,
                result: state.fs_key.clone(),
                stage: state.lineage[0],
                cached: false,
                reason: Some(reason),
            });
            Ok(())
        }
        Err(e) => {
            let message = e.to_string();
            build.progress.event(Event::Failed {
                id,
                elapsed: started.elapsed(),
                message: &message,
            });
            Err(e)
        }
    }
}

/// A handle the step body uses to stream its output under its `#N`.
/// It is `Sync`, so threads that read a container's pipes can use it.
pub(crate) struct Progress<'a> {
    sink: &'a dyn crate::progress::Progress,
    id: usize,
}

impl Progress<'_> {
    /// The step's vertex number (`#N`).
    pub fn id(&self) -> usize {
        self.id
    }

    pub fn output(&self, stream: crate::progress::Stream, data: &[u8]) {
        self.sink.event(Event::Output {
            id: self.id,
            stream,
            data,
        });
    }
}

/// A cached result is usable when its layer's blob is there (its snapshot is unpacked from it when needed).
fn reuse(store: &Store, record: &CacheRecord) -> Result<Option<(Option<LayerDesc>, String)>> {
    // The snapshot is unpacked when a step mounts the layer (or `hoist run` runs it), not here: an all-cached
    // rebuild needs none.
    match &record.layer {
        Some(diff_id) if !store.has_blob(diff_id) => Ok(None),
        _ => Ok(Some(result_of(record))),
    }
}

/// A record's layer and the time of its step.
fn result_of(record: &CacheRecord) -> (Option<LayerDesc>, String) {
    let created = serde_json::from_str::<Payload>(&record.payload)
        .map(|p| p.created)
        .unwrap_or_default();
    let layer = record.layer.as_ref().map(|diff_id| LayerDesc {
        diff_id: diff_id.clone(),
        size: record.size,
    });
    (layer, created)
}

fn apply(state: &mut StageState, info: StepInfo, layer: Option<LayerDesc>, created: String) {
    let empty_layer = layer.is_none();
    if let Some(layer) = layer {
        state.image.layers.push(layer);
    }
    state.image.history.push(HistoryEntry {
        created: created.clone(),
        created_by: info.created_by,
        comment: Some("buildkit.dockerfile.v0".into()),
        empty_layer,
    });
    // The filesystem's key names the step AND what it produced: a step that re-ran (no-cache, a pruned record)
    // and produced other content changes the keys of what follows, one that produced the same layer does not.
    state.fs_key = crate::cachekey::KeyBuilder::new("result")
        .field("step", &info.key.key)
        .field(
            "layer",
            &state
                .image
                .layers
                .last()
                .filter(|_| !empty_layer)
                .map(|l| l.diff_id.to_string())
                .unwrap_or_default(),
        )
        .finish()
        .key;
    state.created = created;
}

/// A read-write view of some layers, mounted for as long as the value lives; what is written is thrown away.
pub(crate) struct ScratchView {
    mount: Option<overlay::OverlayMount>,
    _dir: hoist_store::TempDir,
    merged: PathBuf,
}

impl ScratchView {
    pub fn mount(build: &Build, layers: &[LayerDesc]) -> Result<Self> {
        build.fetch_pending_layers(layers)?;
        let store = build.store;
        let dir = store.new_tmp_dir("view")?;
        let (upper, work, merged) = overlay_dirs(dir.path())?;
        // What is written here is thrown away: no sync, at unmount either.
        let mount = overlay::mount_overlay_volatile(
            &lower_dirs(store, &build.delta_bases, layers)?,
            &upper,
            &work,
            &merged,
        )
        .map_err(|e| BuildError::other(format!("mounting the layers: {e}")))?;
        Ok(ScratchView {
            mount: Some(mount),
            _dir: dir,
            merged,
        })
    }

    pub fn path(&self) -> &Path {
        &self.merged
    }
}

impl Drop for ScratchView {
    fn drop(&mut self) {
        if let Some(m) = self.mount.take() {
            let _ = m.unmount();
        }
    }
}

fn overlay_dirs(dir: &Path) -> Result<(PathBuf, PathBuf, PathBuf)> {
    let (upper, work, merged) = (dir.join("u"), dir.join("w"), dir.join("m"));
    for d in [&upper, &work, &merged] {
        std::fs::create_dir(d)
            .map_err(|e| BuildError::io(format!("creating {}", d.display()), e))?;
    }
    Ok((upper, work, merged))
}

/// Mounts the stage's layers with a fresh upper dir, runs the step, and commits the upper dir as a layer
/// (`None` when the step changed nothing).
fn execute<'x>(
    build: &Build,
    state: &StageState,
    progress: &Progress,
    source_date_epoch: Option<i64>,
    step_id: &str,
    run: impl FnOnce(&Path, &Progress) -> Result<Option<AfterUnmount<'x>>>,
) -> Result<(Option<LayerDesc>, String)> {
    let store = build.store;
    let dir = store.new_tmp_dir("step")?;
    let (upper, work, merged) = overlay_dirs(dir.path())?;
    // Volatile: the unmount would sync the whole host filesystem. The upper dir becomes a snapshot, which is
    // never synced: its row keeps the boot id, and after a crash of the machine it is unpacked again.
    let mount = overlay::mount_overlay_volatile(
        &lower_dirs(store, &build.delta_bases, &state.image.layers)?,
        &upper,
        &work,
        &merged,
    )
    .map_err(|e| BuildError::other(format!("mounting the layers: {e}")))?;
    let ran = run(&merged, progress);
    let unmounted = mount
        .unmount()
        .map_err(|e| BuildError::other(format!("unmounting the step's rootfs: {e}")));
    let after_unmount = ran?;
    unmounted?;
    let mut graft = None;
    match after_unmount {
        Some(AfterUnmount::Fill(fill)) => fill(&upper)?,
        Some(AfterUnmount::Graft(g)) => graft = Some(g),
        None => {}
    }
    let created = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
    let empty = std::fs::read_dir(&upper)
        .map_err(|e| BuildError::io(format!("reading {}", upper.display()), e))?
        .next()
        .is_none();
    if empty {
        return Ok((None, created));
    }
    let grafting = graft.is_some();
    // A grafted layer (a COPY's files written straight from their source) is mounted later, as a delta over
    // the layer this step made last time: the writer finds that delta while it writes (`layer_writer`).
    let delta_base = if grafting {
        build.previous_layer(step_id)
    } else {
        None
    };
    // The same files, unchanged, are taken from the layer this step made last time (`layer_reuse`).
    let reuse = delta_base
        .as_ref()
        .and_then(|base| reuse_source(store, base));
    let mut writer = store.layer_writer(delta_base.as_ref())?;
    let mut no_graft = |_: &Path, _: &Path, _: &mut layer::LayerTar| Ok(false);
    let graft: &mut layer::Graft = match graft.as_mut() {
        Some(g) => g.as_mut(),
        None => &mut no_graft,
    };
    let (_, index) =
        layer::write_layer_tar_reusing(&upper, &mut writer, graft, source_date_epoch, reuse)
            .map_err(|e| BuildError::other(format!("writing the layer: {e}")))?;
    let (digest, size): (Digest, u64) = writer.commit()?;
    if !grafting {
        store.adopt_snapshot(&digest, &upper)?;
    }
    if !index.is_empty() {
        // Only a cache of the blob: a layer without one is written from its files next time.
        let _ = store.put_layer_index(&digest, &index.encode());
    }
    Ok((
        Some(LayerDesc {
            diff_id: digest,
            size,
        }),
        created,
    ))
}

/// The previous layer `base` of a COPY step and its index, when both are in the store.
fn reuse_source(store: &Store, base: &Digest) -> Option<LayerReuse> {
    let index = LayerIndex::decode(&store.layer_index(base)?)?;
    let blob = store.open_blob(base).ok()?;
    LayerReuse::new(index, blob).ok()
}

/// A counting semaphore: at most N steps execute at once (`--jobs`); waiting for other stages holds no permit.
pub(crate) struct Semaphore {
    free: Mutex<usize>,
    released: Condvar,
}

pub(crate) struct Permit<'s>(&'s Semaphore);

impl Semaphore {
    pub fn new(permits: usize) -> Self {
        Semaphore {
            free: Mutex::new(permits.max(1)),
            released: Condvar::new(),
        }
    }

    pub fn acquire(&self) -> Permit<'_> {
        let mut free = self.free.lock().unwrap_or_else(|p| p.into_inner());
        while *free == 0 {
            free = self.released.wait(free).unwrap_or_else(|p| p.into_inner());
        }
        *free -= 1;
        Permit(self)
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        let mut free = self.0.free.lock().unwrap_or_else(|p| p.into_inner());
        *free += 1;
        self.0.released.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::Semaphore;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn semaphore_bounds_concurrency() {
        let sem = Semaphore::new(2);
        let running = AtomicUsize::new(0);
        let peak = AtomicUsize::new(0);
        std::thread::scope(|s| {
            for _ in 0..8 {
                s.spawn(|| {
                    let _p = sem.acquire();
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(now, Ordering::SeqCst);
                    std::thread::sleep(std::time::Duration::from_millis(20));
                    running.fetch_sub(1, Ordering::SeqCst);
                });
            }
        });
        assert_eq!(peak.load(Ordering::SeqCst), 2);
    }
}

/// Keys of the steps executing now. Claiming a key that another thread holds waits until it is released.
#[derive(Default)]
pub(crate) struct InFlight {
    keys: Mutex<std::collections::HashSet<String>>,
    released: Condvar,
}

pub(crate) struct Claim<'f> {
    owner: &'f InFlight,
    key: String,
}

impl InFlight {
    pub fn claim(&self, key: &str) -> Claim<'_> {
        let mut keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        while keys.contains(key) {
            keys = self.released.wait(keys).unwrap_or_else(|p| p.into_inner());
        }
        keys.insert(key.to_string());
        Claim {
            owner: self,
            key: key.to_string(),
        }
    }
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        let mut keys = self.owner.keys.lock().unwrap_or_else(|p| p.into_inner());
        keys.remove(&self.key);
        self.owner.released.notify_all();
    }
}
