//! Where `hoist build` gets the images its Dockerfile names and the store lacks: the registry client, as the
//! solver's [`ImageSource`]. Its transfer events become the pull step's output lines (a layer's bytes at most
//! every half second, so a CI log stays short).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hoist_registry::{ImageReference, Registry, RegistryOptions, TransferEvent, TransferProgress};
use hoist_solver::ImageSource;
use hoist_store::{Digest, ImageRecord, Store};

/// How often a layer's byte count is reported while it downloads.
const BYTES_INTERVAL: Duration = Duration::from_millis(500);

/// Pulls for a build, one registry client per platform asked for.
pub struct RegistryImages {
    options: RegistryOptions,
    clients: Mutex<HashMap<Option<String>, Arc<Registry>>>,
}

impl RegistryImages {
    pub fn new(options: RegistryOptions) -> RegistryImages {
        RegistryImages {
            options,
            clients: Mutex::new(HashMap::new()),
        }
    }

    /// The client for `platform` (`None`: the options' own).
    pub fn client(&self, platform: Option<&str>) -> Result<Arc<Registry>, String> {
        let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        let key = platform.map(str::to_string);
        if let Some(client) = clients.get(&key) {
            return Ok(client.clone());
        }
        let mut options = self.options.clone();
        if platform.is_some() {
            options.platform = key.clone();
        }
        let client = Arc::new(Registry::new(options).map_err(|e| e.to_string())?);
        clients.insert(key, client.clone());
        Ok(client)
    }
}

impl ImageSource for RegistryImages {
    fn pull(
        &self,
        store: &Store,
        reference: &str,
        platform: Option<&str>,
        log: &(dyn Fn(&str) + Sync),
    ) -> Result<ImageRecord, String> {
        let client = self.client(platform)?;
        let lines = LogLines {
            log,
            last_bytes: Mutex::new(HashMap::new()),
        };
        let pulled = client
            .pull(store, reference, &lines)
            .map_err(|e| e.to_string())?;
        log(&format!(
            "resolve {} done",
            self.display_name(&pulled.repo_digest)
        ));
        Ok(pulled.image)
    }

    fn display_name(&self, reference: &str) -> String {
        ImageReference::parse(reference)
            .map(|r| r.full())
            .unwrap_or_else(|_| reference.to_string())
    }
}

/// Transfer events as lines of the pull step's output.
struct LogLines<'a> {
    log: &'a (dyn Fn(&str) + Sync),
    last_bytes: Mutex<HashMap<Digest, Instant>>,
}

impl TransferProgress for LogLines<'_> {
    fn event(&self, event: TransferEvent<'_>) {
        let line = match event {
            TransferEvent::Started { id, total } => {
                format!("{id} {}", crate::output::human_size(total))
            }
            TransferEvent::Bytes { id, done, total } => {
                let mut last = self.last_bytes.lock().unwrap_or_else(|e| e.into_inner());
                let now = Instant::now();
                match last.get(id) {
                    Some(at) if now.duration_since(*at) < BYTES_INTERVAL => return,
                    _ => {
                        last.insert(id.clone(), now);
                    }
                }
                format!(
                    "{id} {} / {}",
                    crate::output::human_size(done),
                    crate::output::human_size(total)
                )
            }
            TransferEvent::Done { id } => format!("extracting {id} done"),
            TransferEvent::Exists { id } => format!("{id} already in the store"),
            TransferEvent::Waiting { .. }
            | TransferEvent::Verifying { .. }
            | TransferEvent::Mounted { .. } => return,
        };
        (self.log)(&line);
    }
}

/// `hoist build --push`: push one tag of the built image, with a summary line (the bytes go unreported: the
/// build's output already shows its steps).
pub fn push_tag(
    store: &Store,
    registry: &Registry,
    image: &ImageRecord,
    tag: &str,
    quiet: bool,
) -> anyhow::Result<hoist_registry::Pushed> {
    use anyhow::Context as _;
    let pushed = registry
        .push(store, image, tag, &hoist_registry::NoProgress)
        .with_context(|| format!("pushing {tag}"))?;
    if !quiet {
        errln!(
            "pushing {tag}: digest {} size {} ({} blobs sent, {} already there) done",
            pushed.manifest_digest,
            pushed.size,
            pushed.blobs_sent,
            pushed.blobs_skipped
        );
    }
    Ok(pushed)
}
