//! A build on a fresh store takes every step from a `RemoteCache` holding another store's records, fetching
//! only the layers of the steps it reaches; a remote that cannot deliver a layer makes the step run.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use hoist_solver::{BuildOptions, RemoteCache, RemoteCacheHandle, Silent};
use hoist_store::{CacheRecord, Digest, Store};

struct OtherStore {
    records: HashMap<String, CacheRecord>,
    source: Store,
    fetched: Mutex<Vec<Digest>>,
    broken: bool,
}

impl RemoteCache for OtherStore {
    fn record(&self, key: &str) -> Option<CacheRecord> {
        self.records.get(key).cloned()
    }

    fn fetch_layer(&self, store: &Store, diff_id: &Digest) -> Result<(), String> {
        if self.broken {
            return Err("connection refused".into());
        }
        self.fetched.lock().unwrap().push(diff_id.clone());
        let bytes = self.source.read_blob(diff_id).map_err(|e| e.to_string())?;
        store.put_blob(&bytes).map_err(|e| e.to_string())?;
        Ok(())
    }
}

const DOCKERFILE: &str =
    "FROM scratch AS side\nCOPY b /b\nFROM scratch\nCOPY a /a\nWORKDIR /w\nCOPY --from=side /b /w/c\n";

fn context(dir: &std::path::Path) -> std::path::PathBuf {
    let ctx = dir.join("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(ctx.join("Dockerfile"), DOCKERFILE).unwrap();
    std::fs::write(ctx.join("a"), "alpha").unwrap();
    std::fs::write(ctx.join("b"), "beta").unwrap();
    ctx
}

fn first_build(dir: &std::path::Path) -> (Store, hoist_solver::BuildOutput, BuildOptions) {
    let options = BuildOptions {
        context_dir: context(dir),
        target: None,
        ..Default::default()
    };
    let store = Store::open(&dir.join("root-a")).unwrap();
    let out = hoist_solver::build(&store, &options, &Silent).unwrap();
    (store, out, options)
}

/// A remote holding every record of `out`'s build in store `a`; `broken`: it cannot deliver a layer.
fn remote_of(a: Store, out: &hoist_solver::BuildOutput, broken: bool) -> Arc<OtherStore> {
    let keys: Vec<String> = out.report.iter().map(|s| s.key.clone()).collect();
    let records = a.cache_records_for_export(&keys).unwrap();
    Arc::new(OtherStore {
        records: records.into_iter().map(|r| (r.key.clone(), r)).collect(),
        source: a,
        fetched: Mutex::new(Vec::new()),
        broken,
    })
}

/// `options` for a build that consults `remote`.
fn with_remote(options: &BuildOptions, remote: Arc<OtherStore>) -> BuildOptions {
    BuildOptions {
        remote_caches: vec![RemoteCacheHandle(remote)],
        ..options.clone()
    }
}

#[test]
fn a_fresh_store_takes_every_step_from_the_remote_and_fetches_only_what_it_uses() {
    let dir = tempfile::tempdir().unwrap();
    let (a, out, options) = first_build(dir.path());
    let steps = out.executed_steps;
    assert!(steps >= 3, "{steps}");
    let remote = remote_of(a, &out, false);
    let b = Store::open(&dir.path().join("root-b")).unwrap();
    let options_b = with_remote(&options, remote.clone());
    let again = hoist_solver::build(&b, &options_b, &Silent).unwrap();
    assert_eq!((again.cached_steps, again.executed_steps), (steps, 0));
    assert_eq!(
        again.image.id, out.image.id,
        "the same image, from the cache"
    );
    // Only the image's layers: the `side` stage's layer is not needed (the COPY --from of it is cached).
    let fetched = remote.fetched.lock().unwrap().clone();
    assert_eq!(fetched, out.image.diff_ids().unwrap());
    // Now local: no second fetch.
    let third = hoist_solver::build(&b, &options_b, &Silent).unwrap();
    assert_eq!(third.cached_steps, steps);
    assert_eq!(remote.fetched.lock().unwrap().len(), fetched.len());
}

#[test]
fn a_layer_the_remote_cannot_deliver_fails_the_build_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let (a, out, options) = first_build(dir.path());
    let b = Store::open(&dir.path().join("root-b")).unwrap();
    let text = hoist_solver::build(
        &b,
        &with_remote(&options, remote_of(a, &out, true)),
        &Silent,
    )
    .unwrap_err()
    .to_string();
    assert!(text.contains("could not deliver layer"), "{text}");
    assert!(text.contains("connection refused"), "{text}");
    // Nothing half-recorded: a build without the remote runs every step.
    let again = hoist_solver::build(&b, &options, &Silent).unwrap();
    assert_eq!(again.executed_steps, out.executed_steps);
}
