//! `hoist tag SOURCE TARGET`: one more name for an image, with docker's messages and exit codes.
use clap::Args;
use hoist_store::{normalize_reference, Store, StoreError};

#[derive(Debug, Args)]
#[command(override_usage = "hoist tag SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]")]
pub struct TagArgs {
    /// SOURCE_IMAGE (a name, an image ID or a unique prefix of one), then TARGET_IMAGE (`name` means
    /// `name:latest`).
    // Counted by `tag`, not by clap: a wrong count exits 1 with docker's words, not clap's 2.
    #[arg(value_name = "IMAGE")]
    images: Vec<String>,
}

pub fn tag(store: &Store, args: TagArgs) -> anyhow::Result<i32> {
    let [source, target] = args.images.as_slice() else {
        errln!(
            "\"hoist tag\" requires exactly 2 arguments.\nSee 'hoist tag --help'.\n\n\
             Usage:  hoist tag SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]\n\n\
             Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE"
        );
        return Ok(1);
    };
    match tag_image(store, source, target) {
        Ok(()) => Ok(0),
        Err(message) => {
            errln!("{message}");
            Ok(1)
        }
    }
}

/// The error is the whole line docker prints (docker's wording, so scripts that match on it keep working).
fn tag_image(store: &Store, source: &str, target: &str) -> Result<(), String> {
    let target = parse_target(target)?;
    let image = match store.resolve(source) {
        Ok(Some(image)) => image,
        Ok(None) => return Err(no_such_image(source)),
        Err(StoreError::InvalidReference { .. }) => {
            return Err(reference_error(source));
        }
        Err(e) => return Err(format!("Error response from daemon: {e}")),
    };
    store
        .tag(&target, &image)
        .map_err(|e| format!("Error response from daemon: {e}"))
}

/// The normalised target (`name:tag`); a digest is refused, as docker refuses it.
fn parse_target(target: &str) -> Result<String, String> {
    let normalized = normalize_reference(target).map_err(|_| reference_error(target))?;
    if normalized.contains('@') {
        return Err("refusing to create a tag with a digest reference".into());
    }
    Ok(normalized)
}

/// docker's message for a reference it cannot parse (the daemon's reason only for upper case, as docker says it).
pub fn reference_error(reference: &str) -> String {
    let reason = if reference.bytes().any(|b| b.is_ascii_uppercase())
        && normalize_reference(&reference.to_ascii_lowercase()).is_ok()
    {
        ": repository name must be lowercase"
    } else {
        ""
    };
    format!(
        "Error parsing reference: {reference:?} is not a valid repository/tag: invalid reference format{reason}"
    )
}

/// `No such image: busybox:latest` (docker names the source as it looked it up: with `:latest`, except IDs).
fn no_such_image(source: &str) -> String {
    let shown = if source.starts_with("sha256:") {
        source.to_string()
    } else {
        normalize_reference(source).unwrap_or_else(|_| source.to_string())
    };
    format!("Error response from daemon: No such image: {shown}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_as_docker_reads_them() {
        assert_eq!(parse_target("app").unwrap(), "app:latest");
        assert_eq!(parse_target("docker.io/library/app:1").unwrap(), "app:1");
        assert_eq!(
            parse_target("BAD").unwrap_err(),
            "Error parsing reference: \"BAD\" is not a valid repository/tag: invalid reference format: \
             repository name must be lowercase"
        );
        assert_eq!(
            parse_target("a:b:c").unwrap_err(),
            "Error parsing reference: \"a:b:c\" is not a valid repository/tag: invalid reference format"
        );
        let digest = format!("app@sha256:{}", "0".repeat(64));
        assert_eq!(
            parse_target(&digest).unwrap_err(),
            "refusing to create a tag with a digest reference"
        );
    }

    #[test]
    fn missing_sources_as_docker_names_them() {
        assert_eq!(
            no_such_image("nosuch"),
            "Error response from daemon: No such image: nosuch:latest"
        );
        assert_eq!(
            no_such_image("sha256:0123"),
            "Error response from daemon: No such image: sha256:0123"
        );
    }
}
