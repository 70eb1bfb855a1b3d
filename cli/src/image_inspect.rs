//! An image as `docker image inspect` shows it: `Id`, `RepoTags`, `RepoDigests`, `Created`, `Config` in the
//! container-config shape (every key Docker prints, `null` where unset), `Architecture`, `Os`, `Size`, `RootFS`.
use hoist_store::{ImageRecord, Store};
use serde_json::{json, Map, Value};

/// The keys of Docker's container config, with the value Docker prints when the image leaves one unset.
fn config_defaults() -> Vec<(&'static str, Value)> {
    vec![
        ("Hostname", json!("")),
        ("Domainname", json!("")),
        ("User", json!("")),
        ("AttachStdin", json!(false)),
        ("AttachStdout", json!(false)),
        ("AttachStderr", json!(false)),
        ("Tty", json!(false)),
        ("OpenStdin", json!(false)),
        ("StdinOnce", json!(false)),
        ("Env", Value::Null),
        ("Cmd", Value::Null),
        ("Image", json!("")),
        ("Volumes", Value::Null),
        ("WorkingDir", json!("")),
        ("Entrypoint", Value::Null),
        ("OnBuild", Value::Null),
        ("Labels", Value::Null),
    ]
}

/// Docker's JSON for `image`, from its stored config blob (so keys hoist's config types do not model, such as
/// `Healthcheck` or `Shell`, come through as written).
pub fn image_json(store: &Store, image: &ImageRecord) -> anyhow::Result<Value> {
    let raw: Value = serde_json::from_slice(&store.read_blob(&image.id)?)?;
    let field = |key: &str| raw.get(key).cloned().unwrap_or(Value::Null);
    let mut config = Map::new();
    for (key, default) in config_defaults() {
        config.insert(key.to_string(), default);
    }
    if let Some(Value::Object(written)) = raw.get("config") {
        for (key, value) in written {
            config.insert(key.clone(), value.clone());
        }
    }
    let tags = store.image_tags(&image.id)?;
    let repo_digests: Vec<String> = store
        .repo_digests(&image.id)?
        .into_iter()
        .map(|(name, digest)| format!("{name}@{digest}"))
        .collect();
    let layers = raw
        .get("rootfs")
        .and_then(|r| r.get("diff_ids"))
        .cloned()
        .unwrap_or(json!([]));
    let author = raw.get("author").cloned().unwrap_or(json!(""));
    let comment = raw
        .get("history")
        .and_then(Value::as_array)
        .and_then(|h| h.last())
        .and_then(|h| h.get("comment"))
        .cloned()
        .unwrap_or(json!(""));
    let mut out = json!({
        "Id": image.id.to_string(),
        "RepoTags": tags,
        "RepoDigests": repo_digests,
        "Parent": "",
        "Comment": comment,
        "Created": field("created"),
        "DockerVersion": "",
        "Author": author,
        "Config": Value::Object(config),
        "Architecture": field("architecture"),
        "Os": field("os"),
        "Size": image.size,
        "VirtualSize": image.size,
        "GraphDriver": {"Data": null, "Name": "overlay"},
        "RootFS": {"Type": "layers", "Layers": layers},
        "Metadata": {"LastTagTime": "0001-01-01T00:00:00Z"},
    });
    if let (Some(variant), Some(obj)) = (raw.get("variant"), out.as_object_mut()) {
        obj.insert("Variant".into(), variant.clone());
    }
    Ok(out)
}
