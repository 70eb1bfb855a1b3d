//! Images a Dockerfile names (`FROM`, `COPY --from`, `RUN --mount from=`): taken from the store, or fetched
//! through the caller's [`ImageSource`] (a registry pull) when the store lacks them — or always, with `--pull`.
//!
//! The solver knows no registry: the CLI hands it an [`ImageSource`]. Each image is fetched at most once per
//! build, however many stages name it and however many of them ask at the same moment.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use hoist_store::{ImageRecord, Store};

use crate::cachekey::KeyBuilder;
use crate::image::ImageState;
use crate::progress::{Event, Stream};
use crate::stage::Build;
use crate::Result;
use hoist_parser::ast::Stage;
use hoist_parser::shell;

/// Fetches images into the store for a build.
pub trait ImageSource: Send + Sync {
    /// Put the image `reference` names into `store` and return it. `platform` (`os/arch[/variant]`) is set
    /// when `FROM --platform` or `--platform` asks for one. `log` takes progress lines for the build's output.
    /// The error is shown to the user as it is, after the instruction that needed the image.
    fn pull(
        &self,
        store: &Store,
        reference: &str,
        platform: Option<&str>,
        log: &(dyn Fn(&str) + Sync),
    ) -> std::result::Result<ImageRecord, String>;

    /// The name the progress output shows for `reference` (`docker.io/library/busybox:latest`).
    fn display_name(&self, reference: &str) -> String {
        reference.to_string()
    }
}

/// An [`ImageSource`] in [`crate::BuildOptions`] (which must be `Debug` and `Clone`).
#[derive(Clone)]
pub struct ImageSourceHandle(pub Arc<dyn ImageSource>);

impl std::fmt::Debug for ImageSourceHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ImageSourceHandle")
    }
}

type PullResult = std::result::Result<ImageRecord, String>;

/// A reference and the platform asked for.
type PullKey = (String, Option<String>);

/// The pulls of one build, by reference and platform: the first asker pulls, the others wait for its result.
#[derive(Default)]
pub(crate) struct Pulls {
    started: Mutex<HashMap<PullKey, Arc<OnceLock<PullResult>>>>,
}

impl Build<'_> {
    /// The image `reference` names: from the store, else (or always with `--pull`) pulled once per build.
    /// `Ok(None)`: the store lacks it and there is no source to pull from; the caller's error says what to do.
    /// `Err(message)`: the pull failed; the caller puts the instruction in front of the message.
    pub(crate) fn image(
        &self,
        reference: &str,
        platform: Option<&str>,
    ) -> Result<std::result::Result<Option<ImageRecord>, String>> {
        let source = self.options.image_source.as_ref();
        if !self.options.pull || source.is_none() {
            if let Some(record) = self.store.resolve(reference)? {
                return Ok(Ok(Some(record)));
            }
        }
        let Some(source) = source else {
            return Ok(Ok(None));
        };
        let cell = {
            let mut started = self.pulls.started.lock().unwrap_or_else(|e| e.into_inner());
            started
                .entry((reference.to_string(), platform.map(str::to_string)))
                .or_default()
                .clone()
        };
        let pulled = cell.get_or_init(|| self.pull_with_progress(source, reference, platform));
        Ok(pulled.clone().map(Some))
    }

    /// The image `reference` as a stage's base (from the store, or pulled); `what` starts the errors.
    pub(crate) fn base_image(
        &self,
        stage: &Stage,
        reference: &str,
        what: &str,
    ) -> Result<(ImageState, String, bool)> {
        let platform = match &stage.platform {
            Some(p) => Some(
                shell::expand_word(p, &self.meta_scope, self.dockerfile.directives.escape)
                    .map_err(|e| self.error_at(stage.pos, format!("FROM --platform={p}: {e}")))?,
            ),
            None => self.options.platform.clone(),
        };
        let record = match self.image(reference, platform.as_deref())? {
            Ok(Some(record)) => record,
            Ok(None) => {
                return Err(self.error_at(
                    stage.pos,
                    format!(
                        "{what}: no such image in the store; `hoist pull {reference}`, `hoist import ROOTFS.tar {reference}` or build it first"
                    ),
                ))
            }
            Err(message) => {
                return Err(self.error_at(
                    stage.pos,
                    format!("{what}: failed to resolve source metadata: {message}"),
                ))
            }
        };
        let raw = self.store.read_blob(&record.id)?;
        let sizes: Vec<u64> = record.manifest.layers().iter().map(|l| l.size()).collect();
        let mut image = ImageState::from_config_json(&raw, &sizes)?;
        if !image.env.iter().any(|e| e.starts_with("PATH=")) {
            image
                .env
                .insert(0, format!("PATH={}", crate::image::DEFAULT_PATH));
        }
        // Keyed by the base's layers, not its image ID: what a step builds on is the filesystem (its config
        // — Env, User, WorkingDir — enters the keys of the steps that use it), so re-importing the same rootfs
        // on another machine keeps the cache valid.
        let layers: Vec<String> = image.layers.iter().map(|l| l.diff_id.to_string()).collect();
        let key = KeyBuilder::new("image")
            .list("layers", &layers)
            .source_date_epoch(self.options.source_date_epoch)
            .finish()
            .key;
        let cmd = image.cmd.is_some();
        Ok((image, key, cmd))
    }

    /// One pull, shown as its own step (`[internal] load metadata for docker.io/library/busybox:latest`, as
    /// BuildKit names it) with the source's lines as its output.
    fn pull_with_progress(
        &self,
        source: &ImageSourceHandle,
        reference: &str,
        platform: Option<&str>,
    ) -> PullResult {
        let started = Instant::now();
        let id = self.next_vertex();
        let name = format!(
            "[internal] load metadata for {}",
            source.0.display_name(reference)
        );
        self.progress.event(Event::Started { id, name: &name });
        let log = |line: &str| {
            let mut data = line.as_bytes().to_vec();
            data.push(b'\n');
            self.progress.event(Event::Output {
                id,
                stream: Stream::Stdout,
                data: &data,
            });
        };
        let pulled = source.0.pull(self.store, reference, platform, &log);
        match &pulled {
            Ok(_) => self.progress.event(Event::Done {
                id,
                elapsed: started.elapsed(),
            }),
            Err(message) => self.progress.event(Event::Failed {
                id,
                elapsed: started.elapsed(),
                message,
            }),
        }
        pulled
    }
}
