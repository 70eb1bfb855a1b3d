//! `hoist commit`: a container's changes (its overlay upper dir) as one more layer on its image, as
//! `docker commit` makes it: the container's config (its command, `-e`, `-w`, `-u`, labels) over the image's,
//! then `-c` Dockerfile instructions, a history row `{created, created_by, author, comment}`, and the new
//! image's ID printed. The mount points hoist makes in a container (`/etc/hosts`, `/proc` …, volume and bind
//! targets) are not the container's changes and stay out of the layer.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context};
use clap::{ArgAction, Args};
use hoist_executor::layer::write_layer_tar_without;
use hoist_executor::runtime::{self, container_changes::is_runtime_mount, ContainerRecord};
use hoist_parser::ast::{CommandLine, InstructionKind};
use hoist_parser::shell::{expand_word, expand_words};
use hoist_store::{normalize_reference, Digest, Store};
use serde_json::{json, Map, Value};

#[derive(Debug, Args)]
pub struct CommitArgs {
    /// Author (e.g., "John Hannibal Smith <hannibal@a-team.com>").
    #[arg(short = 'a', long)]
    author: Option<String>,
    /// Apply Dockerfile instruction to the created image.
    #[arg(short = 'c', long = "change")]
    changes: Vec<String>,
    /// Commit message.
    #[arg(short = 'm', long)]
    message: Option<String>,
    /// Pause the container while its changes are read (default true, as Docker).
    #[arg(short = 'p', long, action = ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_value_t = true, default_missing_value = "true")]
    pause: bool,
    container: String,
    /// `REPOSITORY[:TAG]` for the new image.
    reference: Option<String>,
}

/// The instructions `docker commit --change` accepts.
const CHANGE_INSTRUCTIONS: &[&str] = &[
    "CMD",
    "ENTRYPOINT",
    "ENV",
    "EXPOSE",
    "HEALTHCHECK",
    "LABEL",
    "ONBUILD",
    "STOPSIGNAL",
    "USER",
    "VOLUME",
    "WORKDIR",
];

pub fn commit(store: &Store, root: &Path, args: CommitArgs) -> anyhow::Result<i32> {
    let root = std::path::absolute(root).unwrap_or_else(|_| root.to_path_buf());
    let (dir, record) = runtime::find(&root, &args.container)?;
    let image_id: Digest = record.image_id.parse().map_err(|_| {
        anyhow!(
            "container {} names no valid image ID ({:?})",
            args.container,
            record.image_id
        )
    })?;
    let config_bytes = store.read_blob(&image_id).with_context(|| {
        format!(
            "reading the config of image {} of container {} (was it removed?)",
            record.image, args.container
        )
    })?;
    let mut image: Value = serde_json::from_slice(&config_bytes)
        .with_context(|| format!("the config of image {}", record.image_id))?;
    let reference = args
        .reference
        .as_deref()
        .map(|r| normalize_reference(r).map_err(|e| anyhow!("invalid reference format: {r}: {e}")))
        .transpose()?;

    let mounts = mount_destinations(&record);
    let leave_out = |rel: &Path| {
        let path = format!("/{}", rel.display());
        is_runtime_mount(&path) || mounts.contains(&path)
    };
    // As Docker: a running container is frozen while its changes are read (-p, the default), so the
    // layer is one moment of it; a paused one stays as it is.
    let frozen_here = args.pause
        && runtime::find(&root, &args.container)
            .and_then(|(d, _)| d.current_state())
            .is_ok_and(|st| st.status == runtime::Status::Running && !st.paused)
        && runtime::pause(&root, &args.container).is_ok();
    let mut writer = store.blob_writer()?;
    let written = write_layer_tar_without(&dir.upper(), &mut writer, &leave_out);
    if frozen_here {
        let _ = runtime::unpause(&root, &args.container);
    }
    written.with_context(|| format!("writing the layer of container {}", args.container))?;
    let (diff_id, _) = writer.commit()?;

    let created = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
    let object = image
        .as_object_mut()
        .ok_or_else(|| anyhow!("the config of image {} is not an object", record.image_id))?;
    object.insert("created".into(), json!(created));
    if let Some(author) = &args.author {
        object.insert("author".into(), json!(author));
    }
    let config = object
        .entry("config")
        .or_insert_with(|| json!({}))
        .as_object_mut()
        .ok_or_else(|| anyhow!("the image's config.config is not an object"))?;
    container_config(config, &record);
    for change in &args.changes {
        apply_change(config, change)?;
    }
    let rootfs = object
        .entry("rootfs")
        .or_insert_with(|| json!({"type": "layers", "diff_ids": []}));
    rootfs
        .get_mut("diff_ids")
        .and_then(Value::as_array_mut)
        .ok_or_else(|| anyhow!("the image's rootfs has no diff_ids list"))?
        .push(json!(diff_id.as_str()));
    let mut row = Map::new();
    row.insert("created".into(), json!(created));
    if let Some(author) = &args.author {
        row.insert("author".into(), json!(author));
    }
    row.insert("created_by".into(), json!(record.args.join(" ")));
    if let Some(message) = args.message.as_deref().filter(|m| !m.is_empty()) {
        row.insert("comment".into(), json!(message));
    }
    object
        .entry("history")
        .or_insert_with(|| json!([]))
        .as_array_mut()
        .ok_or_else(|| anyhow!("the image's history is not a list"))?
        .push(Value::Object(row));

    let bytes = serde_json::to_vec(&image)?;
    let new_image = store.write_image_config(&bytes)?;
    if let Some(reference) = reference {
        store.tag(&reference, &new_image)?;
    }
    outln!("{}", new_image.id);
    Ok(0)
}

/// Where the container has volumes, binds and tmpfs mounted (their contents are not its changes).
fn mount_destinations(record: &ContainerRecord) -> Vec<String> {
    record
        .mounts
        .iter()
        .map(|m| match m {
            runtime::MountRecord::Bind { destination, .. }
            | runtime::MountRecord::Volume { destination, .. }
            | runtime::MountRecord::Tmpfs { destination, .. } => {
                format!("/{}", destination.trim_matches('/'))
            }
        })
        .collect()
}

/// The container's own settings over the image's, as Docker commits the container's config.
fn container_config(config: &mut Map<String, Value>, record: &ContainerRecord) {
    let options = &record.options;
    if let Some(entrypoint) = &options.entrypoint {
        let value = if entrypoint.is_empty() {
            Value::Null
        } else {
            json!([entrypoint])
        };
        config.insert("Entrypoint".into(), value);
        if options.command.is_empty() {
            config.remove("Cmd");
        }
    }
    if !options.command.is_empty() {
        config.insert("Cmd".into(), json!(options.command));
    }
    // `-e NAME=value` and `-e NAME` (its value taken from the host when the container was made).
    let names: Vec<&str> = options
        .env
        .iter()
        .map(|e| e.split_once('=').map_or(e.as_str(), |(k, _)| k))
        .collect();
    for entry in &record.env {
        let name = entry.split_once('=').map_or(entry.as_str(), |(k, _)| k);
        if names.contains(&name) {
            set_env(config, name, entry);
        }
    }
    if let Some(workdir) = &options.workdir {
        config.insert("WorkingDir".into(), json!(workdir));
    }
    if let Some(user) = &options.user {
        config.insert("User".into(), json!(user));
    }
    if !record.labels.is_empty() {
        let labels = object_field(config, "Labels");
        for (k, v) in &record.labels {
            labels.insert(k.clone(), json!(v));
        }
    }
}

fn object_field<'c>(config: &'c mut Map<String, Value>, key: &str) -> &'c mut Map<String, Value> {
    let slot = config.entry(key).or_insert_with(|| json!({}));
    if !slot.is_object() {
        *slot = json!({});
    }
    match slot {
        Value::Object(map) => map,
        _ => unreachable!("just made an object"),
    }
}

fn env_list(config: &Map<String, Value>) -> Vec<(String, String)> {
    config
        .get("Env")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(|e| match e.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (e.to_string(), String::new()),
        })
        .collect()
}

fn set_env(config: &mut Map<String, Value>, name: &str, entry: &str) {
    let mut list: Vec<Value> = config
        .get("Env")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let prefix = format!("{name}=");
    match list.iter_mut().find(|v| {
        v.as_str()
            .is_some_and(|s| s.starts_with(&prefix) || s == name)
    }) {
        Some(slot) => *slot = json!(entry),
        None => list.push(json!(entry)),
    }
    config.insert("Env".into(), Value::Array(list));
}

/// One `-c` instruction applied to the config, words expanded against the config's environment.
fn apply_change(config: &mut Map<String, Value>, change: &str) -> anyhow::Result<()> {
    let keyword = change
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_ascii_uppercase();
    if !CHANGE_INSTRUCTIONS.contains(&keyword.as_str()) {
        bail!("{keyword} is not a valid change command");
    }
    let dockerfile = hoist_parser::parse_named("--change", &format!("FROM scratch\n{change}\n"))
        .map_err(|e| anyhow!("{e}"))?;
    let instruction = dockerfile
        .stages
        .first()
        .and_then(|s| s.instructions.first())
        .ok_or_else(|| anyhow!("--change {change:?} holds no instruction"))?;
    let env = env_list(config);
    let expand = |word: &str| expand_word(word, &env, '\\').map_err(|e| anyhow!("{e}"));
    let shell_argv = |config: &Map<String, Value>, command: &CommandLine| match command {
        CommandLine::Exec(argv) => json!(argv),
        CommandLine::Shell(text) => {
            let mut argv: Vec<Value> = config
                .get("Shell")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_else(|| vec![json!("/bin/sh"), json!("-c")]);
            argv.push(json!(text));
            Value::Array(argv)
        }
    };
    match &instruction.kind {
        InstructionKind::Cmd(command) => {
            let argv = shell_argv(config, command);
            config.insert("Cmd".into(), argv);
        }
        InstructionKind::Entrypoint(command) => {
            let argv = shell_argv(config, command);
            config.insert("Entrypoint".into(), argv);
        }
        InstructionKind::Env(pairs) => {
            let mut expanded = Vec::new();
            for kv in pairs {
                expanded.push((expand(&kv.key)?, expand(&kv.value)?));
            }
            for (key, value) in expanded {
                set_env(config, &key, &format!("{key}={value}"));
            }
        }
        InstructionKind::Label(pairs) => {
            let mut expanded = Vec::new();
            for kv in pairs {
                expanded.push((expand(&kv.key)?, expand(&kv.value)?));
            }
            let labels = object_field(config, "Labels");
            for (key, value) in expanded {
                labels.insert(key, json!(value));
            }
        }
        InstructionKind::Expose(words) => {
            let mut ports = Vec::new();
            for word in words {
                for port in expand_words(word, &env, '\\').map_err(|e| anyhow!("{e}"))? {
                    ports.push(if port.contains('/') {
                        port
                    } else {
                        format!("{port}/tcp")
                    });
                }
            }
            let exposed = object_field(config, "ExposedPorts");
            for port in ports {
                exposed.insert(port, json!({}));
            }
        }
        InstructionKind::Volume(paths) => {
            let mut expanded = Vec::new();
            for path in paths {
                expanded.push(expand(path)?);
            }
            let volumes = object_field(config, "Volumes");
            for path in expanded {
                volumes.insert(path, json!({}));
            }
        }
        InstructionKind::User(user) => {
            let user = expand(user)?;
            config.insert("User".into(), json!(user));
        }
        InstructionKind::Workdir(dir) => {
            let dir = expand(dir)?;
            let current = config
                .get("WorkingDir")
                .and_then(Value::as_str)
                .unwrap_or("/");
            let joined = if dir.starts_with('/') {
                PathBuf::from(&dir)
            } else {
                Path::new(current).join(&dir)
            };
            config.insert("WorkingDir".into(), json!(joined.to_string_lossy()));
        }
        InstructionKind::Stopsignal(signal) => {
            let signal = expand(signal)?;
            config.insert("StopSignal".into(), json!(signal));
        }
        InstructionKind::Onbuild(onbuild) => {
            let list = config.entry("OnBuild").or_insert_with(|| json!([]));
            if !list.is_array() {
                *list = json!([]);
            }
            if let Value::Array(items) = list {
                items.push(json!(onbuild.expression));
            }
        }
        InstructionKind::Healthcheck(check) => {
            let check = hoist_solver::healthcheck_config(check).map_err(|e| anyhow!("{e}"))?;
            config.insert("Healthcheck".into(), check);
        }
        other => bail!("{} is not a valid change command", other.keyword()),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_apply_as_docker_commit_does() {
        let mut config = Map::new();
        config.insert("Env".into(), json!(["PATH=/bin", "A=1"]));
        for change in [
            "CMD [\"/bin/sh\", \"-c\", \"echo hi\"]",
            "ENTRYPOINT /bin/true",
            "ENV A=2 B=$A",
            "EXPOSE 80 53/udp",
            "LABEL x=y",
            "USER nobody",
            "VOLUME /data",
            "WORKDIR /srv",
            "WORKDIR app",
            "STOPSIGNAL SIGUSR1",
            "ONBUILD RUN echo child",
        ] {
            apply_change(&mut config, change).unwrap();
        }
        assert_eq!(config["Cmd"], json!(["/bin/sh", "-c", "echo hi"]));
        assert_eq!(config["Entrypoint"], json!(["/bin/sh", "-c", "/bin/true"]));
        assert_eq!(config["Env"], json!(["PATH=/bin", "A=2", "B=1"]));
        assert_eq!(config["ExposedPorts"], json!({"80/tcp": {}, "53/udp": {}}));
        assert_eq!(config["Labels"], json!({"x": "y"}));
        assert_eq!(config["User"], json!("nobody"));
        assert_eq!(config["Volumes"], json!({"/data": {}}));
        assert_eq!(config["WorkingDir"], json!("/srv/app"));
        assert_eq!(config["StopSignal"], json!("SIGUSR1"));
        assert_eq!(config["OnBuild"], json!(["RUN echo child"]));
        let refused = apply_change(&mut config, "RUN echo no").unwrap_err();
        assert_eq!(refused.to_string(), "RUN is not a valid change command");
    }
}
