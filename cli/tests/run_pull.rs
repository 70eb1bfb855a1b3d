//! `hoist run` / `create` pull an image the store lacks, as `docker run` does (`Unable to find image … locally`,
//! the pull's progress on stderr, the container's output alone on stdout); `--pull always|missing|never`.
mod common;

use common::registry::TestRegistry;
use common::*;

#[test]
fn run_pulls_what_the_store_lacks() {
    let Some(registry) = TestRegistry::start() else {
        return;
    };
    let Some(source) = Hoist::with_busybox() else {
        return;
    };
    let image = format!("{}/team/tool:v1", registry.host());
    let tar = busybox_tar().unwrap();
    let (code, _, err) = source.out(&["import", tar.to_str().unwrap(), &image]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = source.out(&["push", &image]);
    assert_eq!(code, 0, "{err}");

    let h = Hoist::empty().unwrap();
    // --pull never: refused, nothing fetched.
    let (code, out, err) = h.out(&["run", "--rm", "--pull", "never", &image, "echo", "hi"]);
    assert_eq!(code, 125, "{out}{err}");
    assert!(err.contains("was not pulled (--pull never)"), "{err}");

    // Missing (the default): pulled, progress on stderr, the container's output alone on stdout.
    let (code, out, err) = h.out(&["run", "--rm", &image, "echo", "hi"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(out, "hi\n");
    assert!(
        err.contains(&format!("Unable to find image '{image}' locally")),
        "{err}"
    );
    assert!(err.contains("Status: Downloaded newer image for"), "{err}");

    // Present now: no pull.
    let (code, out, err) = h.out(&["run", "--rm", &image, "echo", "again"]);
    assert_eq!((code, out.as_str()), (0, "again\n"), "{err}");
    assert!(!err.contains("Unable to find image"), "{err}");

    // --pull always: asks the registry even so (up to date), and `create` pulls too.
    let (code, _, err) = h.out(&["run", "--rm", "--pull", "always", &image, "true"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("Status: Image is up to date for"), "{err}");
    let fresh = Hoist::empty().unwrap();
    let (code, id, err) = fresh.out(&["create", &image, "true"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("Unable to find image"), "{err}");
    assert_eq!(id.trim().len(), 64, "{id}");
}
