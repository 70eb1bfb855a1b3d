//! `hoist rmi`'s check that no container still uses the image it would delete (Docker's image-delete conflicts).
use std::path::Path;

use anyhow::bail;
use hoist_executor::runtime::{self, Status};
use hoist_store::{normalize_reference, Store};

/// Refuses to remove `name` when that deletes an image a container uses: a running container's always, a stopped
/// one's unless `force`. Removing one of several tags deletes nothing, so it never conflicts (as with Docker);
/// removing by ID an image with several tags needs `force` (docker's "referenced in multiple repositories").
pub fn check(store: &Store, root: &Path, name: &str, force: bool) -> anyhow::Result<()> {
    let Some(image) = store.resolve(name)? else {
        return Ok(()); // remove_image says "no such image"
    };
    let tags: Vec<String> = store
        .list_images()?
        .into_iter()
        .filter(|(_, i)| i.id == image.id)
        .map(|(reference, _)| reference)
        .collect();
    let as_tag = normalize_reference(name)
        .ok()
        .filter(|n| !name.starts_with("sha256:") && tags.contains(n));
    if as_tag.is_some() && tags.len() > 1 {
        return Ok(());
    }
    let root = std::path::absolute(root).unwrap_or_else(|_| root.to_path_buf());
    let image_id = image.id.to_string();
    let users = runtime::list(&root, true)?
        .into_iter()
        .filter(|c| c.record.image_id == image_id);
    let short_image = &image.id.hex()[..12];
    // docker's order: a running container (never forced), then other names, then a stopped container.
    let users: Vec<_> = users.collect();
    if let Some(user) = users.iter().find(|u| u.state.status == Status::Running) {
        let container = &user.record.id[..12.min(user.record.id.len())];
        bail!(
            "conflict: unable to delete {short_image} (cannot be forced) - image is being used by \
             running container {container}"
        );
    }
    if as_tag.is_none() && tags.len() > 1 && !force {
        bail!(
            "conflict: unable to delete {short_image} (must be forced) - image is referenced in multiple \
             repositories"
        );
    }
    if force {
        return Ok(());
    }
    if let Some(user) = users.first() {
        let container = &user.record.id[..12.min(user.record.id.len())];
        match &as_tag {
            Some(_) => bail!(
                "conflict: unable to remove repository reference \"{name}\" (must force) - container \
                 {container} is using its referenced image {short_image}"
            ),
            None => bail!(
                "conflict: unable to delete {short_image} (must be forced) - image is being used by \
                 stopped container {container}"
            ),
        }
    }
    Ok(())
}
