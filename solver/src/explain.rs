//! `--explain`: why a step missed the cache, in words.
//!
//! Every cache record keeps, besides its key, the named inputs the key was made of and a stable identity of the
//! step (Dockerfile, stage, position). When a step misses, the latest record of the same step is compared with
//! the new inputs, and the first input that differs becomes the reason: `COPY sources changed: src/main.rs
//! (content)`, `ARG/ENV VERSION changed 1.2 → 1.3`, `parent missed` …
use std::collections::{BTreeMap, HashMap};

use hoist_store::{CacheRecord, Digest};
use serde::{Deserialize, Serialize};

use crate::cachekey::{Input, StepKey};

/// What a cache record's payload holds (JSON).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct Payload {
    /// When the step ran: a cached rebuild keeps the same history (and image ID).
    pub created: String,
    /// The step's identity (see [`step_identity`]).
    #[serde(default)]
    pub step: String,
    #[serde(default)]
    pub inputs: Vec<Input>,
    /// A blob listing the context files the step read (path → type, mode, size, digest).
    #[serde(default)]
    pub sources: Option<String>,
}

/// One line of a build report.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StepReport {
    pub vertex: usize,
    pub name: String,
    /// The step's cache key (what `--cache-to` exports).
    pub key: String,
    /// The key of the filesystem after the step (the step and the layer it produced).
    #[serde(default)]
    pub result: String,
    /// The index of the stage the step belongs to.
    #[serde(default)]
    pub stage: usize,
    pub cached: bool,
    /// Why it missed (`None` when cached).
    pub reason: Option<String>,
}

/// A stable identity of a step across builds: the Dockerfile, the stage and the step's position in it.
pub(crate) fn step_identity(
    dockerfile: &str,
    stage_label: &str,
    step_index: usize,
    display: &str,
) -> String {
    let keyword = display
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_ascii_uppercase();
    format!("{dockerfile}|{stage_label}|{step_index}|{keyword}")
}

/// The step identity without the Dockerfile's directory: the same project in another checkout (another path)
/// has the same steps. `None` for an identity that is not `path|stage|index|KEYWORD`.
fn identity_in_any_checkout(identity: &str) -> Option<String> {
    let mut fields = identity.rsplitn(4, '|');
    let (keyword, index, stage, path) = (
        fields.next()?,
        fields.next()?,
        fields.next()?,
        fields.next()?,
    );
    let file = std::path::Path::new(path).file_name()?.to_string_lossy();
    // `*` cannot start an absolute path: these keys never meet a full identity.
    Some(format!("*{file}|{stage}|{index}|{keyword}"))
}

/// The latest earlier records of steps, by identity (see [`step_identity`]) and by identity in any checkout.
pub(crate) struct EarlierSteps(HashMap<String, (CacheRecord, Payload)>);

impl EarlierSteps {
    /// The latest earlier record of step `identity`: built from this Dockerfile if it was, else from the same
    /// Dockerfile (by name) and step in another directory, such as another checkout of the project.
    pub fn get(&self, identity: &str) -> Option<&(CacheRecord, Payload)> {
        self.0.get(identity).or_else(|| {
            identity_in_any_checkout(identity).and_then(|portable| self.0.get(&portable))
        })
    }
}

/// The latest record of each step identity, from the records the store holds.
pub(crate) fn latest_by_step(records: Vec<CacheRecord>) -> EarlierSteps {
    let mut out: HashMap<String, (CacheRecord, Payload)> = HashMap::new();
    for record in records {
        let Ok(payload) = serde_json::from_str::<Payload>(&record.payload) else {
            continue;
        };
        if payload.step.is_empty() {
            continue;
        }
        let keys = [
            Some(payload.step.clone()),
            identity_in_any_checkout(&payload.step),
        ];
        for key in keys.into_iter().flatten() {
            let newer = out
                .get(&key)
                .is_none_or(|(r, _)| record.created >= r.created);
            if newer {
                out.insert(key, (record.clone(), payload.clone()));
            }
        }
    }
    EarlierSteps(out)
}

/// A step's file list: `(path, "TYPE MODE SIZE DIGEST")` per entry it read.
pub type FileList = Vec<(String, String)>;

/// What the caller knows besides the two keys.
pub(crate) struct Context<'a> {
    /// Steps of this build so far, by key (to tell "parent missed" from "base image changed").
    pub this_build: &'a HashMap<String, bool>,
    /// Reads the file list of a `sources` blob.
    pub read_manifest: &'a dyn Fn(&str) -> Option<FileList>,
    /// The file list the new key was computed from, when the step reads the context.
    pub new_manifest: Option<&'a [(String, String)]>,
}

/// Why `new` missed, given the latest earlier record of the same step (`None`: never built before).
pub(crate) fn why_missed(
    previous: Option<&(CacheRecord, Payload)>,
    new: &StepKey,
    cx: &Context,
) -> String {
    let Some((_, old)) = previous else {
        return "no earlier build of this step in the cache".into();
    };
    if old.inputs.is_empty() {
        return "the earlier record of this step predates --explain".into();
    }
    let old_inputs: BTreeMap<&str, &Input> =
        old.inputs.iter().map(|i| (i.name.as_str(), i)).collect();
    // Every input that differs is named: a RUN after a rebuilt step whose ARG also changed says both.
    let mut reasons = Vec::new();
    for input in &new.inputs {
        let Some(before) = old_inputs.get(input.name.as_str()) else {
            reasons.push(format!("{} is new in this step's definition", input.name));
            continue;
        };
        if before.values == input.values {
            continue;
        }
        reasons.push(match input.name.as_str() {
            "parent" => {
                let parent = input.values.first().map(String::as_str).unwrap_or_default();
                match cx.this_build.get(parent) {
                    Some(false) => "parent missed: the step before it was rebuilt".into(),
                    Some(true) => {
                        "parent changed: the step before it came from a different cache record"
                            .into()
                    }
                    None => "base image changed".into(),
                }
            }
            "sources-content" => {
                let old_files = old.sources.as_deref().and_then(|d| (cx.read_manifest)(d));
                match (old_files, cx.new_manifest) {
                    (Some(old_files), Some(new_files)) => {
                        format!("sources changed: {}", diff_files(&old_files, new_files))
                    }
                    _ => "sources changed (content)".into(),
                }
            }
            "env" => format!(
                "environment changed: {}",
                diff_env(&before.values, &input.values)
            ),
            name => format!(
                "{name} changed: {} → {}",
                short(&before.values.join(" ")),
                short(&input.values.join(" "))
            ),
        });
    }
    if !reasons.is_empty() {
        return reasons.join("; ");
    }
    "the earlier result was pruned from the cache or its layer is missing".into()
}

/// `src/main.rs (content), +new.txt, -old.txt` (at most a few names, then a count).
fn diff_files(old: &[(String, String)], new: &[(String, String)]) -> String {
    let old: BTreeMap<&str, &str> = old.iter().map(|(p, d)| (p.as_str(), d.as_str())).collect();
    let new: BTreeMap<&str, &str> = new.iter().map(|(p, d)| (p.as_str(), d.as_str())).collect();
    let mut changes = Vec::new();
    for (path, desc) in &new {
        match old.get(path) {
            None => changes.push(format!("+{path}")),
            Some(before) if before != desc => {
                let what = describe_change(before, desc);
                changes.push(format!("{path} ({what})"));
            }
            _ => {}
        }
    }
    for path in old.keys().filter(|p| !new.contains_key(*p)) {
        changes.push(format!("-{path}"));
    }
    if changes.is_empty() {
        return "the same files, in another order or under other names".into();
    }
    let total = changes.len();
    let mut shown: Vec<String> = changes.into_iter().take(5).collect();
    if total > 5 {
        shown.push(format!("and {} more", total - 5));
    }
    shown.join(", ")
}

/// Manifest lines are `TYPE MODE SIZE DIGEST`: say which part changed.
fn describe_change(before: &str, after: &str) -> &'static str {
    let b: Vec<&str> = before.split(' ').collect();
    let a: Vec<&str> = after.split(' ').collect();
    match (b.first(), a.first()) {
        (Some(x), Some(y)) if x != y => "type",
        _ if b.get(1) != a.get(1) && b.get(3) == a.get(3) => "mode",
        _ if b.get(1) != a.get(1) => "mode and content",
        _ => "content",
    }
}

/// `VERSION 1.2 → 1.3, +DEBUG=1, -OLD`.
fn diff_env(old: &[String], new: &[String]) -> String {
    let split = |v: &[String]| -> BTreeMap<String, String> {
        v.iter()
            .map(|kv| match kv.split_once('=') {
                Some((k, v)) => (k.to_string(), v.to_string()),
                None => (kv.clone(), String::new()),
            })
            .collect()
    };
    let (old, new) = (split(old), split(new));
    let mut out = Vec::new();
    for (k, v) in &new {
        match old.get(k) {
            None => out.push(format!("+{k}={}", short(v))),
            Some(before) if before != v => out.push(format!(
                "ARG/ENV {k} changed {} → {}",
                short(before),
                short(v)
            )),
            _ => {}
        }
    }
    for k in old.keys().filter(|k| !new.contains_key(*k)) {
        out.push(format!("-{k}"));
    }
    if out.is_empty() {
        "the same variables in another order".into()
    } else {
        out.join(", ")
    }
}

fn short(s: &str) -> String {
    if s.chars().count() > 60 {
        format!("{}…", s.chars().take(60).collect::<String>())
    } else {
        s.to_string()
    }
}

/// Serialises a file list for a `sources` blob.
pub(crate) fn manifest_json(files: &[(String, String)]) -> Vec<u8> {
    serde_json::to_vec(files).unwrap_or_default()
}

pub(crate) fn parse_manifest(bytes: &[u8]) -> Option<Vec<(String, String)>> {
    serde_json::from_slice(bytes).ok()
}

/// The digest string of a `sources` blob, validated.
pub(crate) fn manifest_digest(s: &str) -> Option<Digest> {
    s.parse().ok()
}

#[cfg(test)]
mod checkout_tests {
    use super::*;

    #[test]
    fn a_step_is_found_by_dockerfile_name_and_place_from_another_checkout() {
        let record = |path: &str, created: i64| CacheRecord {
            key: format!("k-{path}"),
            payload:
                serde_json::json!({"created": "", "step": step_identity(path, "", 2, "RUN x")})
                    .to_string(),
            created,
            parent: None,
            description: String::new(),
            layer: None,
            size: 0,
            last_used: created,
            used_count: 1,
        };
        let earlier = latest_by_step(vec![record("/a/Dockerfile", 1), record("/b/Dockerfile", 2)]);
        let here = step_identity("/a/Dockerfile", "", 2, "RUN y");
        assert_eq!(
            earlier.get(&here).map(|(r, _)| r.key.as_str()),
            Some("k-/a/Dockerfile")
        );
        let elsewhere = step_identity("/c/Dockerfile", "", 2, "RUN y");
        assert_eq!(
            earlier.get(&elsewhere).map(|(r, _)| r.key.as_str()),
            Some("k-/b/Dockerfile")
        );
        let other_file = step_identity("/c/Dockerfile.dev", "", 2, "RUN y");
        assert!(earlier.get(&other_file).is_none());
        let other_step = step_identity("/c/Dockerfile", "", 3, "RUN y");
        assert!(earlier.get(&other_step).is_none());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cachekey::KeyBuilder;

    fn record(step: &str, key: &StepKey, sources: Option<&str>) -> (CacheRecord, Payload) {
        let payload = Payload {
            created: String::new(),
            step: step.into(),
            inputs: key.inputs.clone(),
            sources: sources.map(str::to_string),
        };
        let rec = CacheRecord {
            key: key.key.clone(),
            parent: None,
            description: String::new(),
            layer: None,
            payload: serde_json::to_string(&payload).unwrap(),
            size: 0,
            created: 0,
            last_used: 0,
            used_count: 0,
        };
        (rec, payload)
    }

    fn cx<'a>(
        this: &'a HashMap<String, bool>,
        new_manifest: Option<&'a [(String, String)]>,
    ) -> Context<'a> {
        static OLD: &[(&str, &str)] = &[
            ("src/main.rs", "file 644 10 sha256:a"),
            ("src/gone.rs", "file 644 1 sha256:g"),
        ];
        Context {
            this_build: this,
            read_manifest: &|_| {
                Some(
                    OLD.iter()
                        .map(|(a, b)| (a.to_string(), b.to_string()))
                        .collect(),
                )
            },
            new_manifest,
        }
    }

    #[test]
    fn reasons_in_words() {
        let this = HashMap::new();
        let old = KeyBuilder::new("run")
            .field("parent", "p1")
            .list("env", &["A=1", "VERSION=1.2"])
            .finish();
        let new = KeyBuilder::new("run")
            .field("parent", "p1")
            .list("env", &["A=1", "VERSION=1.3"])
            .finish();
        let prev = record("s", &old, None);
        assert_eq!(
            why_missed(Some(&prev), &new, &cx(&this, None)),
            "environment changed: ARG/ENV VERSION changed 1.2 → 1.3"
        );
        assert_eq!(
            why_missed(None, &new, &cx(&this, None)),
            "no earlier build of this step in the cache"
        );

        let moved = KeyBuilder::new("run")
            .field("parent", "p2")
            .list("env", &["A=1", "VERSION=1.2"])
            .finish();
        let mut this = HashMap::new();
        this.insert("p2".to_string(), false);
        assert_eq!(
            why_missed(Some(&prev), &moved, &cx(&this, None)),
            "parent missed: the step before it was rebuilt"
        );
        assert_eq!(
            why_missed(Some(&prev), &moved, &cx(&HashMap::new(), None)),
            "base image changed"
        );

        // Every changed input is named, not only the first.
        let both = KeyBuilder::new("run")
            .field("parent", "p2")
            .list("env", &["VERSION=1.3"])
            .finish();
        assert_eq!(
            why_missed(Some(&prev), &both, &cx(&this, None)),
            "parent missed: the step before it was rebuilt; environment changed: ARG/ENV VERSION changed 1.2 → 1.3, -A"
        );
    }

    #[test]
    fn sources_diff_names_files() {
        let this = HashMap::new();
        let old = KeyBuilder::new("copy")
            .field("parent", "p")
            .field("sources-content", "c1")
            .finish();
        let new = KeyBuilder::new("copy")
            .field("parent", "p")
            .field("sources-content", "c2")
            .finish();
        let prev = record("s", &old, Some("sha256:x"));
        let files = vec![
            (
                "src/main.rs".to_string(),
                "file 644 11 sha256:b".to_string(),
            ),
            ("src/new.rs".to_string(), "file 644 1 sha256:n".to_string()),
        ];
        assert_eq!(
            why_missed(Some(&prev), &new, &cx(&this, Some(&files))),
            "sources changed: src/main.rs (content), +src/new.rs, -src/gone.rs"
        );
    }
}
