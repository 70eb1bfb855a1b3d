//! `RUN --mount=…`: cache, bind, tmpfs, secret and ssh mounts (the agent's side: `ssh`), as BuildKit reads them.
//!
//! A mount's definition (not a cache mount's or a secret's content) goes into the RUN's cache key; a bind mount
//! from the context adds the checksum of what it exposes, one from a stage that stage's key.
use std::fs::File;
use std::os::unix::fs::{chown, PermissionsExt};
use std::path::PathBuf;
use std::sync::Arc;

use hoist_executor::container::ExtraMount;
use hoist_executor::fileops;
use nix::fcntl::{Flock, FlockArg};

use crate::error::{BuildError, Result};
use crate::image::ImageState;
use crate::stage::{Build, StageState};
use crate::step::ScratchView;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Bind,
    Cache,
    Tmpfs,
    Secret,
    Ssh,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Sharing {
    Shared,
    Private,
    Locked,
}

/// One `--mount` value, parsed and expanded.
#[derive(Debug, Clone)]
pub(super) struct MountSpec {
    pub kind: Kind,
    pub target: String,
    pub source: Option<String>,
    pub from: Option<String>,
    pub id: Option<String>,
    pub sharing: Sharing,
    pub readonly: bool,
    pub mode: Option<u32>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub required: bool,
    pub env: Option<String>,
}

impl MountSpec {
    /// The definition as it enters the cache key.
    pub fn canonical(&self) -> String {
        format!(
            "{:?}|{}|{:?}|{:?}|{:?}|{:?}|{}|{:?}|{:?}|{:?}|{}|{:?}",
            self.kind,
            self.target,
            self.source,
            self.from,
            self.id,
            self.sharing,
            self.readonly,
            self.mode,
            self.uid,
            self.gid,
            self.required,
            self.env
        )
    }
}

/// Splits a `--mount` value into `key=value` fields (CSV: a field may be double-quoted to hold a comma).
fn fields(spec: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in spec.chars() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    out.push(cur);
    out.into_iter()
        .map(|f| f.trim().to_string())
        .filter(|f| !f.is_empty())
        .collect()
}

/// Parses one `--mount` value; `expand` expands variables in values (BuildKit expands them with the stage's args).
pub(super) fn parse(spec: &str, expand: &dyn Fn(&str) -> Result<String>) -> Result<MountSpec> {
    let bad = |m: String| BuildError::other(format!("--mount={spec}: {m}"));
    let mut m = MountSpec {
        kind: Kind::Bind,
        target: String::new(),
        source: None,
        from: None,
        id: None,
        sharing: Sharing::Shared,
        readonly: true,
        mode: None,
        uid: None,
        gid: None,
        required: false,
        env: None,
    };
    let mut readonly: Option<bool> = None;
    let parse_u32 = |k: &str, v: &str, radix: u32| {
        u32::from_str_radix(v, radix).map_err(|_| bad(format!("{k}={v} is not a valid number")))
    };
    let flag = |k: &str, v: Option<&str>| match v {
        None | Some("true") | Some("1") => Ok(true),
        Some("false") | Some("0") => Ok(false),
        Some(other) => Err(bad(format!("{k}={other}: expected true or false"))),
    };
    for field in fields(spec) {
        let (key, value) = match field.split_once('=') {
            Some((k, v)) => (k.trim().to_ascii_lowercase(), Some(expand(v.trim())?)),
            None => (field.to_ascii_lowercase(), None),
        };
        let need = |v: Option<String>| v.ok_or_else(|| bad(format!("{key} needs a value")));
        match key.as_str() {
            "type" => {
                m.kind = match need(value)?.as_str() {
                    "bind" => Kind::Bind,
                    "cache" => Kind::Cache,
                    "tmpfs" => Kind::Tmpfs,
                    "secret" => Kind::Secret,
                    "ssh" => Kind::Ssh,
                    other => {
                        return Err(bad(format!(
                            "unknown mount type {other:?} (use bind, cache, tmpfs, secret or ssh)"
                        )))
                    }
                }
            }
            "target" | "dst" | "destination" => m.target = need(value)?,
            "source" | "src" => m.source = Some(need(value)?),
            "from" => m.from = Some(need(value)?),
            "id" => m.id = Some(need(value)?),
            "sharing" => {
                m.sharing = match need(value)?.as_str() {
                    "shared" => Sharing::Shared,
                    "private" => Sharing::Private,
                    "locked" => Sharing::Locked,
                    other => {
                        return Err(bad(format!(
                            "sharing={other}: use shared, private or locked"
                        )))
                    }
                }
            }
            "readonly" | "ro" => readonly = Some(flag(&key, value.as_deref())?),
            "readwrite" | "rw" => readonly = Some(!flag(&key, value.as_deref())?),
            "mode" => m.mode = Some(parse_u32(&key, &need(value)?, 8)?),
            "uid" => m.uid = Some(parse_u32(&key, &need(value)?, 10)?),
            "gid" => m.gid = Some(parse_u32(&key, &need(value)?, 10)?),
            "required" => m.required = flag(&key, value.as_deref())?,
            "env" => m.env = Some(need(value)?),
            "size" => {}
            other => return Err(bad(format!("unknown option {other:?}"))),
        }
    }
    // Bind mounts are read-only unless asked; cache and tmpfs mounts are writable; secrets always read-only.
    m.readonly = match m.kind {
        Kind::Bind => readonly.unwrap_or(true),
        Kind::Cache => readonly.unwrap_or(false),
        Kind::Tmpfs => false,
        Kind::Secret | Kind::Ssh => true,
    };
    if m.kind == Kind::Ssh && m.id.is_none() {
        m.id = Some("default".into());
    }
    if m.kind == Kind::Secret {
        let id = m.id.clone().or_else(|| {
            m.target
                .rsplit('/')
                .next()
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        });
        m.id = Some(id.ok_or_else(|| bad("a secret mount needs id= or target=".into()))?);
        if m.target.is_empty() && m.env.is_none() {
            m.target = format!("/run/secrets/{}", m.id.clone().unwrap_or_default());
        }
    }
    // An ssh mount without target= goes to /run/buildkit/ssh_agent.N (N counts the step's ssh mounts).
    if m.target.is_empty() && !matches!(m.kind, Kind::Secret | Kind::Ssh) {
        return Err(bad("target= is required".into()));
    }
    if !m.target.is_empty() && !m.target.starts_with('/') {
        m.target = format!("/{}", m.target);
    }
    Ok(m)
}

/// Where the step's ssh mounts go, in order (see [`super::ssh::target`]).
pub(super) fn ssh_targets<T>(specs: &[(MountSpec, T)]) -> Vec<String> {
    specs
        .iter()
        .filter(|(spec, _)| spec.kind == Kind::Ssh)
        .enumerate()
        .map(|(n, (spec, _))| super::ssh::target(spec, n))
        .collect()
}

/// Where a bind mount's files come from.
pub(super) enum BindOrigin {
    Context,
    Stage(Arc<StageState>),
    Image(Vec<crate::image::LayerDesc>),
}

pub(super) fn bind_origin(build: &Build, from: Option<&str>) -> Result<BindOrigin> {
    let Some(from) = from else {
        return Ok(BindOrigin::Context);
    };
    if let Some(m) = build.invalid_stage_index(from) {
        return Err(BuildError::other(format!("--mount from={from}: {m}")));
    }
    if let Some(index) = build.stage_by_ref(from) {
        return Ok(BindOrigin::Stage(build.stage(index)?));
    }
    let image_ref = match build.named_source(from)? {
        Some(crate::named_context::NamedSource::Stage(state)) => {
            return Ok(BindOrigin::Stage(state))
        }
        Some(crate::named_context::NamedSource::Image(reference)) => reference,
        None => from.to_string(),
    };
    let record = match build.image(&image_ref, build.options.platform.as_deref())? {
        Ok(Some(record)) => record,
        Ok(None) => {
            return Err(BuildError::other(format!(
                "--mount from={from}: no stage or image is named {from}"
            )))
        }
        Err(message) => return Err(BuildError::other(format!("--mount from={from}: {message}"))),
    };
    let raw = build.store.read_blob(&record.id)?;
    let sizes: Vec<u64> = record.manifest.layers().iter().map(|l| l.size()).collect();
    Ok(BindOrigin::Image(
        ImageState::from_config_json(&raw, &sizes)?.layers,
    ))
}

/// What keeps the mounts' sources alive while the container runs: views of other stages, temp dirs, locks.
#[derive(Default)]
pub(super) struct MountGuards {
    _agents: Vec<super::ssh::AgentProxy>,
    _views: Vec<ScratchView>,
    _dirs: Vec<hoist_store::TempDir>,
    _locks: Vec<Flock<File>>,
}

/// Turns the parsed mounts into the container's extra mounts (and environment for `env=` secrets).
pub(super) fn prepare(
    build: &Build,
    specs: &[(MountSpec, Option<BindOrigin>)],
    guards: &mut MountGuards,
    env: &mut Vec<String>,
) -> Result<Vec<ExtraMount>> {
    let mut mounts = Vec::new();
    let mut ssh_mounts = 0;
    for (spec, origin) in specs {
        let destination = PathBuf::from(&spec.target);
        match spec.kind {
            Kind::Ssh => {
                let target = super::ssh::target(spec, ssh_mounts);
                ssh_mounts += 1;
                if let Some(proxy) = super::ssh::forward(build, spec, &target, env)? {
                    mounts.push(ExtraMount::Bind {
                        source: proxy.socket().to_path_buf(),
                        destination: PathBuf::from(&target),
                        readonly: false,
                    });
                    guards._agents.push(proxy);
                }
            }
            Kind::Tmpfs => mounts.push(ExtraMount::Tmpfs { destination }),
            Kind::Cache => {
                let id = spec.id.clone().unwrap_or_else(|| spec.target.clone());
                let dir = cache_mount_dir(build, &id, spec)?;
                let lock_file = File::options()
                    .create(true)
                    .truncate(false)
                    .write(true)
                    .open(dir.with_extension("lock"))
                    .map_err(|e| BuildError::io(format!("locking cache mount {id}"), e))?;
                let source = match spec.sharing {
                    Sharing::Shared => dir,
                    Sharing::Locked => {
                        guards
                            ._locks
                            .push(lock(lock_file, FlockArg::LockExclusive, &id)?);
                        dir
                    }
                    // A private cache mount in use by another build gets a fresh, empty dir of its own.
                    Sharing::Private => {
                        match Flock::lock(lock_file, FlockArg::LockExclusiveNonblock) {
                            Ok(l) => {
                                guards._locks.push(l);
                                dir
                            }
                            Err(_) => {
                                let tmp = build.store.new_tmp_dir("cache-private")?;
                                let p = tmp.path().to_path_buf();
                                guards._dirs.push(tmp);
                                p
                            }
                        }
                    }
                };
                mounts.push(ExtraMount::Bind {
                    source,
                    destination,
                    readonly: spec.readonly,
                });
            }
            Kind::Bind => {
                let source_rel = spec.source.clone().unwrap_or_default();
                let root: PathBuf = match origin {
                    Some(BindOrigin::Stage(s)) => view(build, &s.image.layers, guards)?,
                    Some(BindOrigin::Image(layers)) => view(build, layers, guards)?,
                    Some(BindOrigin::Context) | None => context_copy(build, &source_rel, guards)?,
                };
                let source = match origin {
                    Some(BindOrigin::Context) | None => root,
                    _ => fileops::resolve_in_root(&root, &source_rel).map_err(|e| {
                        BuildError::other(format!("--mount source={source_rel}: {e}"))
                    })?,
                };
                if std::fs::symlink_metadata(&source).is_err() {
                    return Err(BuildError::other(format!(
                        "--mount type=bind,source={source_rel}: not found in the {}",
                        if matches!(origin, Some(BindOrigin::Context) | None) {
                            "build context"
                        } else {
                            "source stage"
                        }
                    )));
                }
                mounts.push(ExtraMount::Bind {
                    source,
                    destination,
                    readonly: spec.readonly,
                });
            }
            Kind::Secret => {
                let id = spec.id.clone().unwrap_or_default();
                let Some(path) = build
                    .options
                    .secrets
                    .iter()
                    .find(|(i, _)| *i == id)
                    .map(|(_, p)| p.clone())
                else {
                    if spec.required {
                        return Err(BuildError::other(format!(
                            "secret {id} is required but was not given: pass --secret id={id},src=FILE"
                        )));
                    }
                    continue;
                };
                // The secret is copied to a private temp file (mode 0400) so it is never in a layer or the cache.
                let dir = build.store.new_tmp_dir("secret")?;
                let file = dir.path().join("secret");
                std::fs::copy(&path, &file).map_err(|e| {
                    BuildError::io(format!("reading secret {id} from {}", path.display()), e)
                })?;
                let mode = spec.mode.unwrap_or(0o400);
                std::fs::set_permissions(&file, std::fs::Permissions::from_mode(mode))
                    .map_err(|e| BuildError::io("secret permissions", e))?;
                chown(
                    &file,
                    Some(spec.uid.unwrap_or(0)),
                    Some(spec.gid.unwrap_or(0)),
                )
                .map_err(|e| BuildError::io("secret owner", e))?;
                if let Some(var) = &spec.env {
                    let value = std::fs::read_to_string(&file)
                        .map_err(|e| BuildError::io(format!("secret {id}"), e))?;
                    env.push(format!("{var}={value}"));
                }
                if !spec.target.is_empty() {
                    mounts.push(ExtraMount::Bind {
                        source: file,
                        destination,
                        readonly: true,
                    });
                }
                guards._dirs.push(dir);
            }
        }
    }
    Ok(mounts)
}

/// The directory name (under `cachemounts/` in the state dir) of cache mount `id`.
pub fn cache_mount_dir_name(id: &str) -> String {
    let name = crate::cachekey::KeyBuilder::new("cache-mount")
        .field("id", id)
        .finish();
    name.trim_start_matches("sha256:")
        .get(..32)
        .unwrap_or("default")
        .to_string()
}

fn lock(file: File, arg: FlockArg, id: &str) -> Result<Flock<File>> {
    Flock::lock(file, arg)
        .map_err(|(_, e)| BuildError::other(format!("locking cache mount {id}: {e}")))
}

/// The persistent dir of cache mount `id` in the state dir (created with the mount's owner and mode).
fn cache_mount_dir(build: &Build, id: &str, spec: &MountSpec) -> Result<PathBuf> {
    build.note_cache_mount(id);
    let parent = build.store.root().join("cachemounts");
    let dir = parent.join(cache_mount_dir_name(id));
    if !dir.exists() {
        std::fs::create_dir_all(&parent)
            .map_err(|e| BuildError::io(format!("creating {}", parent.display()), e))?;
        let tmp = build.store.new_tmp_dir("cachemount")?;
        let staged = tmp.path().join("d");
        std::fs::create_dir(&staged).map_err(|e| BuildError::io("creating a cache mount", e))?;
        std::fs::set_permissions(
            &staged,
            std::fs::Permissions::from_mode(spec.mode.unwrap_or(0o755)),
        )
        .map_err(|e| BuildError::io("cache mount permissions", e))?;
        chown(
            &staged,
            Some(spec.uid.unwrap_or(0)),
            Some(spec.gid.unwrap_or(0)),
        )
        .map_err(|e| BuildError::io("cache mount owner", e))?;
        // Two builds may create it at once: the first rename wins, the other keeps the winner's.
        let _ = std::fs::rename(&staged, &dir);
    }
    Ok(dir)
}

fn view(
    build: &Build,
    layers: &[crate::image::LayerDesc],
    guards: &mut MountGuards,
) -> Result<PathBuf> {
    let v = ScratchView::mount(build, layers)?;
    let p = v.path().to_path_buf();
    guards._views.push(v);
    Ok(p)
}

/// A bind mount from the context exposes what the context holds after `.dockerignore`: a filtered copy.
fn context_copy(build: &Build, source: &str, guards: &mut MountGuards) -> Result<PathBuf> {
    let tmp = build.store.new_tmp_dir("bind")?;
    let src_root = build.context_root();
    let context = &build.context;
    let excluded = |rel: &str| context.excluded(rel);
    let source = if source.is_empty() {
        ".".to_string()
    } else {
        source.to_string()
    };
    let target = tmp.path().join("src");
    let is_dir = fileops::resolve_in_root(&src_root, &source)
        .map(|p| p.is_dir())
        .unwrap_or(false);
    let dest = if is_dir {
        "/src/".to_string()
    } else {
        "/src".to_string()
    };
    let request = fileops::CopyRequest {
        src_root: &src_root,
        sources: vec![source.clone()],
        dest_root: tmp.path(),
        dest,
        workdir: "/".into(),
        chown: None,
        chmod: None,
        source_kind: fileops::SourceKind::Context,
        excluded: &excluded,
        parents: false,
        extract_archives: false,
    };
    fileops::copy(&request)
        .map_err(|e| BuildError::other(format!("--mount source={source}: {e}")))?;
    guards._dirs.push(tmp);
    Ok(target)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<MountSpec> {
        parse(s, &|v| Ok(v.to_string()))
    }

    #[test]
    fn cache_defaults() {
        let m = p("type=cache,target=/root/.cache").unwrap();
        assert_eq!(m.kind, Kind::Cache);
        assert_eq!(m.target, "/root/.cache");
        assert!(!m.readonly);
        assert_eq!(m.sharing, Sharing::Shared);
    }

    #[test]
    fn bind_is_readonly_unless_rw() {
        assert!(p("target=/src").unwrap().readonly);
        assert!(!p("type=bind,target=/src,rw").unwrap().readonly);
        assert!(!p("type=bind,target=/src,readwrite=true").unwrap().readonly);
    }

    #[test]
    fn secret_target_defaults_to_run_secrets() {
        let m = p("type=secret,id=token").unwrap();
        assert_eq!(m.target, "/run/secrets/token");
        let e = p("type=secret,id=token,env=TOKEN").unwrap();
        assert_eq!(e.target, "");
    }

    #[test]
    fn errors_name_the_problem() {
        assert!(p("type=cache").unwrap_err().to_string().contains("target"));
        assert!(p("type=nfs,target=/x")
            .unwrap_err()
            .to_string()
            .contains("unknown mount type"));
        assert!(p("type=cache,target=/x,sharing=maybe")
            .unwrap_err()
            .to_string()
            .contains("sharing"));
        assert!(p("type=cache,target=/x,uid=abc")
            .unwrap_err()
            .to_string()
            .contains("uid"));
    }

    #[test]
    fn ssh_defaults() {
        let m = p("type=ssh").unwrap();
        assert_eq!(m.kind, Kind::Ssh);
        assert_eq!(m.id.as_deref(), Some("default"));
        assert_eq!(m.target, "");
        assert!(!m.required);
        let m = p("type=ssh,id=gh,target=/agent,required=true,mode=0666").unwrap();
        assert_eq!(
            (m.id.as_deref(), m.target.as_str(), m.required, m.mode),
            (Some("gh"), "/agent", true, Some(0o666))
        );
    }

    #[test]
    fn quoted_fields_keep_commas() {
        assert_eq!(
            fields(r#"type=bind,"source=a,b",target=/x"#),
            vec!["type=bind", "source=a,b", "target=/x"]
        );
    }
}
