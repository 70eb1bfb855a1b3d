//! An image's layer stack as `hoist run` mounts it (its snapshot dirs, topmost first), and the pruning of the
//! runtime's shared mount points layers (one per stack, see `hoist_executor::runtime::mountpoints`) that no
//! image and no container has the stack of any more.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use hoist_executor::runtime::mountpoints;
use hoist_store::{ImageRecord, Store};

/// The snapshot dirs of `image`'s layers, topmost first. `unpack`: a layer not unpacked yet is (for a run);
/// else `None` when one is missing (no container can have that stack until a run unpacks it).
/// A layer repeated in the image (two steps that changed nothing) is listed twice: the overlay code mounts
/// it once.
pub fn of_image(
    store: &Store,
    image: &ImageRecord,
    unpack: bool,
) -> anyhow::Result<Option<Vec<PathBuf>>> {
    // Bottom first: a delta snapshot is used only over lower dirs it is exact over (else the layer's full
    // unpack is), so each layer is looked up with the dirs below it.
    let mut stack: Vec<PathBuf> = Vec::new();
    for diff_id in image.config.rootfs().diff_ids() {
        let digest = diff_id
            .parse()
            .map_err(|e| anyhow::anyhow!("image has a bad diff_id {diff_id}: {e}"))?;
        let below: Vec<PathBuf> = stack.iter().rev().cloned().collect();
        // A delta snapshot is two dirs: its own over the full snapshot it was made against.
        let snapshot = if unpack {
            Some(store.ensure_snapshot_stack(&digest, None, &below)?)
        } else {
            store.snapshot_stack(&digest, &below)?
        };
        match snapshot {
            Some(dirs) => stack.extend(dirs.into_iter().rev()),
            None => return Ok(None),
        }
    }
    stack.reverse();
    Ok(Some(stack))
}

/// The layer stacks of every image in the store whose layers are all unpacked.
pub fn of_all_images(store: &Store) -> anyhow::Result<Vec<Vec<PathBuf>>> {
    let mut seen = HashSet::new();
    let mut stacks = Vec::new();
    for (_, image) in store.list_images()? {
        if seen.insert(image.id.clone()) {
            stacks.extend(of_image(store, &image, false)?);
        }
    }
    Ok(stacks)
}

/// Remove the mount points layers of state root `root` (absolute) that no container and no image uses; the
/// store is opened only when some layer is used by no container. Best effort: a failure is a warning, as the
/// command that called it did what it was asked.
pub fn prune(root: &Path, store: Option<&Store>) {
    let mut opened = None;
    let mut image_stacks = || -> Result<Vec<Vec<PathBuf>>, String> {
        let store = match store {
            Some(store) => store,
            None => &*opened.insert(Store::open(root).map_err(|e| e.to_string())?),
        };
        of_all_images(store).map_err(|e| format!("{e:#}"))
    };
    match mountpoints::prune(root, &mut image_stacks) {
        Ok(pruned) => {
            for (orphan, outcome) in pruned {
                if let Err(e) = outcome {
                    errln!(
                        "warning: could not remove the unused mount points layer {}: {e}",
                        orphan.path.display()
                    );
                }
            }
        }
        Err(e) => errln!("warning: {e}"),
    }
}
