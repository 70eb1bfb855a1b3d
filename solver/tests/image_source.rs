//! Images the store lacks come from the build's `ImageSource`: once per build however many stages name them,
//! again with `--pull`, never when the store has them; a failed pull names the instruction.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use hoist_solver::{BuildOptions, ImageSource, ImageSourceHandle, Silent};
use hoist_store::{ImageRecord, Store};

/// "Pulls" by writing a layerless image with a marker label into the store and tagging it.
struct FakeRegistry {
    pulls: AtomicUsize,
    platforms: Mutex<Vec<Option<String>>>,
}

impl ImageSource for FakeRegistry {
    fn pull(
        &self,
        store: &Store,
        reference: &str,
        platform: Option<&str>,
        log: &(dyn Fn(&str) + Sync),
    ) -> Result<ImageRecord, String> {
        self.pulls.fetch_add(1, Ordering::SeqCst);
        self.platforms
            .lock()
            .unwrap()
            .push(platform.map(str::to_string));
        if reference.starts_with("missing") {
            return Err(format!("manifest for {reference} not found"));
        }
        log("fetching");
        // Slow enough that two stages asking at once overlap.
        std::thread::sleep(std::time::Duration::from_millis(200));
        let config = format!(
            r#"{{"architecture":"amd64","os":"linux","config":{{"Env":["PULLED={reference}"]}},"rootfs":{{"type":"layers","diff_ids":[]}}}}"#
        );
        let image = store
            .write_image_config(config.as_bytes())
            .map_err(|e| e.to_string())?;
        store.tag(reference, &image).map_err(|e| e.to_string())?;
        Ok(image)
    }
}

fn setup(dockerfile: &str) -> (tempfile::TempDir, Store, Arc<FakeRegistry>, BuildOptions) {
    let dir = tempfile::tempdir().unwrap();
    let ctx = dir.path().join("ctx");
    std::fs::create_dir(&ctx).unwrap();
    std::fs::write(ctx.join("Dockerfile"), dockerfile).unwrap();
    let store = Store::open(&dir.path().join("root")).unwrap();
    let fake = Arc::new(FakeRegistry {
        pulls: AtomicUsize::new(0),
        platforms: Mutex::new(Vec::new()),
    });
    let options = BuildOptions {
        context_dir: ctx,
        image_source: Some(ImageSourceHandle(fake.clone())),
        ..Default::default()
    };
    (dir, store, fake, options)
}

fn env_of(store: &Store, image: &ImageRecord) -> String {
    let config: serde_json::Value =
        serde_json::from_slice(&store.read_blob(&image.id).unwrap()).unwrap();
    config["config"]["Env"].to_string()
}

#[test]
fn an_image_named_by_two_stages_is_pulled_once_and_not_again_once_stored() {
    let (_dir, store, fake, options) =
        setup("FROM base:1 AS a\nENV A=1\nFROM base:1\nENV B=2\nCOPY --from=a / /\n");
    let out = hoist_solver::build(&store, &options, &Silent).unwrap();
    assert_eq!(fake.pulls.load(Ordering::SeqCst), 1);
    assert!(env_of(&store, &out.image).contains("PULLED=base:1"));
    hoist_solver::build(&store, &options, &Silent).unwrap();
    assert_eq!(
        fake.pulls.load(Ordering::SeqCst),
        1,
        "an image in the store is not pulled again"
    );
}

#[test]
fn pull_fetches_again_even_when_the_store_has_the_image() {
    let (_dir, store, fake, mut options) = setup("FROM base:2\n");
    hoist_solver::build(&store, &options, &Silent).unwrap();
    options.pull = true;
    hoist_solver::build(&store, &options, &Silent).unwrap();
    assert_eq!(fake.pulls.load(Ordering::SeqCst), 2);
}

#[test]
fn from_platform_wins_over_the_build_platform() {
    let (_dir, store, fake, mut options) = setup(
        "ARG P=linux/amd64\nFROM --platform=$P base:3 AS x\nFROM other:1\nCOPY --from=x / /\n",
    );
    options.platform = Some("linux/arm64".into());
    hoist_solver::build(&store, &options, &Silent).unwrap();
    let mut seen = fake.platforms.lock().unwrap().clone();
    seen.sort();
    assert_eq!(
        seen,
        vec![
            Some("linux/amd64".to_string()),
            Some("linux/arm64".to_string())
        ]
    );
}

#[test]
fn a_failed_pull_names_the_instruction_and_the_reason() {
    let (_dir, store, _fake, options) = setup("FROM busybox\nFROM missing:1\n");
    let err = hoist_solver::build(&store, &options, &Silent).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("Dockerfile:2"), "{text}");
    assert!(text.contains("FROM missing:1"), "{text}");
    assert!(text.contains("manifest for missing:1 not found"), "{text}");
}

#[test]
fn without_a_source_a_missing_image_says_how_to_get_it() {
    let (_dir, store, _fake, mut options) = setup("FROM nothere:1\n");
    options.image_source = None;
    let text = hoist_solver::build(&store, &options, &Silent)
        .unwrap_err()
        .to_string();
    assert!(text.contains("hoist pull nothere:1"), "{text}");
}
