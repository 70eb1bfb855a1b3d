//! `hoist build --iidfile`, `--metadata-file` and `--label`: what a build says about its image, as buildx.
use std::path::PathBuf;

use anyhow::{bail, Context as _};
use clap::Args;
use hoist_solver::BuildOutput;
use hoist_store::Store;

#[derive(Debug, Args)]
pub struct ResultArgs {
    /// Write the image ID (`sha256:…`, no newline) to this file.
    #[arg(long)]
    iidfile: Option<PathBuf>,
    /// Write the build result's metadata (digests, names, steps) to this file as JSON.
    #[arg(long = "metadata-file")]
    metadata_file: Option<PathBuf>,
    /// Set an image label (`KEY=VALUE`; may repeat); it overrides a Dockerfile LABEL of the same key.
    #[arg(long = "label")]
    labels: Vec<String>,
}

impl ResultArgs {
    /// The `--label` pairs, in order (a later one wins).
    pub fn labels(&self) -> anyhow::Result<Vec<(String, String)>> {
        let mut out = Vec::new();
        for label in &self.labels {
            match label.split_once('=') {
                Some((k, v)) if !k.is_empty() => out.push((k.to_string(), v.to_string())),
                // docker build takes `--label K` as K with an empty value.
                None if !label.is_empty() => out.push((label.clone(), String::new())),
                _ => bail!("--label {label:?}: expected KEY=VALUE"),
            }
        }
        Ok(out)
    }

    /// Removes an `--iidfile` left by an earlier build before this one starts (as buildx and docker do), so a
    /// failed build leaves no stale ID behind.
    pub fn remove_stale(&self) -> anyhow::Result<()> {
        if let Some(path) = &self.iidfile {
            match std::fs::remove_file(path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(e).with_context(|| format!("--iidfile {}", path.display()));
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Writes the files asked for, once the image exists.
    /// `pushed`: the manifest `--push` sent (its digest is the image's digest in the metadata, as buildx's).
    pub fn write(
        &self,
        store: &Store,
        out: &BuildOutput,
        names: &[String],
        pushed: Option<&hoist_registry::Pushed>,
    ) -> anyhow::Result<()> {
        if let Some(path) = &self.iidfile {
            write_file(path, out.image.id.to_string().as_bytes())
                .with_context(|| format!("--iidfile {}", path.display()))?;
        }
        if let Some(path) = &self.metadata_file {
            let manifest = match pushed {
                Some(p) => (
                    p.manifest_digest.clone(),
                    p.size,
                    DOCKER_MANIFEST_MEDIA_TYPE,
                ),
                None => (
                    out.image.manifest_digest.clone(),
                    store.blob_size(&out.image.manifest_digest)?,
                    OCI_MANIFEST_MEDIA_TYPE,
                ),
            };
            let json = serde_json::to_vec_pretty(&metadata(out, names, manifest))?;
            write_file(path, &json)
                .with_context(|| format!("--metadata-file {}", path.display()))?;
        }
        Ok(())
    }
}

/// `SOURCE_DATE_EPOCH`: `--build-arg SOURCE_DATE_EPOCH=N`, else the environment variable (as buildx passes it).
pub fn source_date_epoch(build_args: &[(String, String)]) -> anyhow::Result<Option<i64>> {
    let (value, from) = match build_args
        .iter()
        .rev()
        .find(|(k, _)| k == "SOURCE_DATE_EPOCH")
    {
        Some((_, v)) => (v.clone(), "--build-arg SOURCE_DATE_EPOCH"),
        None => match std::env::var("SOURCE_DATE_EPOCH") {
            Ok(v) => (v, "the environment variable SOURCE_DATE_EPOCH"),
            Err(_) => return Ok(None),
        },
    };
    if value.is_empty() {
        return Ok(None);
    }
    match value.parse::<i64>() {
        Ok(epoch) if epoch >= 0 => Ok(Some(epoch)),
        _ => bail!(
            "{from}={value:?}: expected a Unix time in seconds (e.g. $(git log -1 --format=%ct))"
        ),
    }
}

const OCI_MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
/// What `hoist push` sends, as `docker push` does.
const DOCKER_MANIFEST_MEDIA_TYPE: &str = "application/vnd.docker.distribution.manifest.v2+json";

/// buildx's keys, and hoist's own under `hoist.`.
/// `manifest`: the image manifest's digest, size and media type.
fn metadata(
    out: &BuildOutput,
    names: &[String],
    manifest: (hoist_store::Digest, u64, &str),
) -> serde_json::Value {
    let (digest, size, media_type) = manifest;
    let mut doc = serde_json::json!({
        "containerimage.config.digest": out.image.id.to_string(),
        "containerimage.digest": digest.to_string(),
        "containerimage.descriptor": {
            "mediaType": media_type,
            "digest": digest.to_string(),
            "size": size,
        },
        "hoist.steps.cached": out.cached_steps,
        "hoist.steps.executed": out.executed_steps,
    });
    if !names.is_empty() {
        let full: Vec<String> = names.iter().map(|n| full_name(n)).collect();
        doc["image.name"] = full.join(",").into();
    }
    doc
}

/// `app` → `docker.io/library/app:latest`, `me/app:1` → `docker.io/me/app:1`, `host:5000/a` kept (with `:latest`).
pub fn full_name(name: &str) -> String {
    hoist_registry::ImageReference::parse(name)
        .map(|r| r.full())
        .unwrap_or_else(|_| name.to_string())
}

fn write_file(path: &std::path::Path, bytes: &[u8]) -> anyhow::Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(path, bytes)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_as_buildx_prints_them() {
        assert_eq!(full_name("app"), "docker.io/library/app:latest");
        assert_eq!(full_name("me/app:1"), "docker.io/me/app:1");
        assert_eq!(full_name("localhost:5000/a"), "localhost:5000/a:latest");
        assert_eq!(full_name("reg.example/a/b:t"), "reg.example/a/b:t");
    }
}
