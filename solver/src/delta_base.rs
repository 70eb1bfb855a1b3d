//! Which earlier layer a new layer's snapshot may be made from as a delta (see
//! `hoist_store::Store::ensure_snapshot_stack`): a COPY or ADD that re-ran because some of its sources changed
//! made a layer much like the one its latest earlier record made, whose snapshot is on disk if a step mounted
//! it. The step that mounts the new layer then writes only what differs instead of every file.
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;

use hoist_store::{Digest, Store};

use crate::error::Result;
use crate::image::LayerDesc;

/// New layer → the earlier layer of the same step, for this build.
#[derive(Default)]
pub(crate) struct DeltaBases(Mutex<HashMap<Digest, Digest>>);

impl DeltaBases {
    pub fn insert(&self, layer: Digest, base: Digest) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(layer, base);
    }

    fn get(&self, layer: &Digest) -> Option<Digest> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(layer)
            .cloned()
    }
}

/// The lower dirs of a filesystem made of `layers` (base first), topmost first; a delta snapshot adds its
/// own directory above its base's. A layer that appears twice (two steps that changed nothing) is listed
/// twice: `hoist_executor::overlay` mounts it once, at its topmost place.
pub(crate) fn lower_dirs(
    store: &Store,
    bases: &DeltaBases,
    layers: &[LayerDesc],
) -> Result<Vec<PathBuf>> {
    // Bottom first while building: a delta snapshot is checked against what lies below it (it may be used
    // only over lower dirs that have nothing at its shadowed paths), whether it is made now or was before.
    let mut stack: Vec<PathBuf> = Vec::new();
    for layer in layers {
        let below: Vec<PathBuf> = stack.iter().rev().cloned().collect();
        let base = bases.get(&layer.diff_id);
        let dirs = store.ensure_snapshot_stack(&layer.diff_id, base.as_ref(), &below)?;
        stack.extend(dirs.into_iter().rev());
    }
    stack.reverse();
    Ok(stack)
}
