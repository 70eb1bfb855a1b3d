//! COPY and ADD: files from the context, another stage, an image or a heredoc into the stage's rootfs.
use std::path::{Path, PathBuf};
use std::sync::Arc;

use hoist_executor::fileops::{self, CopyRequest};
use hoist_parser::ast::{Copy, Instruction};
use hoist_parser::dockerignore::Matcher;

use crate::cachekey::KeyBuilder;
use crate::error::{BuildError, Result};
use crate::image::{ImageState, LayerDesc};
use crate::progress::ItemCounter;
use crate::stage::{Build, StageState};
use crate::step::{fs_step_deferring, AfterUnmount, ScratchView, StepInfo};

use super::fetch;
use crate::context::git::{self, GitSource};

/// Where the sources of a COPY come from.
enum Origin {
    Context,
    Stage(Arc<StageState>),
    Image(Vec<LayerDesc>),
    Heredocs(hoist_store::TempDir),
    /// `ADD <git URL>`: the checkout (kept until the step is done) and the directory in it to copy.
    Git {
        _checkout: hoist_store::TempDir,
        root: PathBuf,
    },
}

pub(super) fn copy(
    build: &Build,
    state: &mut StageState,
    ins: &Instruction,
    c: &Copy,
    is_add: bool,
) -> Result<()> {
    let keyword = if is_add { "ADD" } else { "COPY" };
    let err = |m: String| build.error_at(ins.pos, format!("{keyword}: {m}"));
    let heredoc_names: Vec<String> = c.heredocs.iter().map(|h| h.name.clone()).collect();
    let mut sources = Vec::with_capacity(c.sources.len());
    let mut urls = Vec::new();
    let mut git_sources = Vec::new();
    for src in &c.sources {
        let src = match src.strip_prefix("<<").map(|n| {
            n.trim_start_matches('-')
                .trim_matches(|q| q == '"' || q == '\'')
        }) {
            Some(name) if heredoc_names.iter().any(|h| h == name) => name.to_string(),
            _ => build.expand(ins, src, &state.scope)?,
        };
        if is_add {
            if let Some(git) = GitSource::parse(&src) {
                git_sources.push(git);
                continue;
            }
        }
        if is_add && fetch::is_http_url(&src) {
            urls.push(src);
            continue;
        }
        if src.contains("://") || src.starts_with("git@") {
            return Err(err(format!(
                "source {src}: {}",
                if is_add {
                    "only http(s) URLs and git repositories (https://…/repo.git#ref, git@host:repo.git, git://…, file://…) can be added"
                } else {
                    "COPY cannot copy from a URL; use ADD"
                }
            )));
        }
        sources.push(src);
    }
    if !git_sources.is_empty() && (git_sources.len() > 1 || !sources.is_empty() || !urls.is_empty())
    {
        return Err(err(
            "a git repository must be the only source of its ADD; use one ADD per repository"
                .into(),
        ));
    }
    if c.flags.keep_git_dir && git_sources.is_empty() {
        return Err(err("--keep-git-dir applies to git sources only".into()));
    }
    // The checkout happens on every build, as a download does: the commit it resolves to keys the step.
    let git_checkout = match git_sources.first() {
        Some(git) => {
            let dir = build.store.new_tmp_dir("git-add")?;
            let checkout = git::checkout(git, dir.path(), c.flags.keep_git_dir)
                .map_err(|e| err(e.to_string()))?;
            // `ADD --checksum=COMMIT <git URL>` (Dockerfile 1.10): the ref must resolve to that commit.
            if let Some(text) = &c.flags.checksum {
                let wanted = build.expand(ins, text, &state.scope)?.to_ascii_lowercase();
                if wanted.len() < 7 || !checkout.commit.starts_with(&wanted) {
                    return Err(err(format!(
                        "--checksum={wanted}: {}#{} resolved to commit {}; give that commit (at least 7 hex digits) or fix the ref",
                        git.remote,
                        git.reference.as_deref().unwrap_or("HEAD"),
                        checkout.commit
                    )));
                }
            }
            sources.push(".".to_string());
            Some((git.clone(), checkout, dir))
        }
        None => None,
    };
    let checksum = match &c.flags.checksum {
        Some(_) if git_checkout.is_some() => None,
        Some(text) => {
            let text = build.expand(ins, text, &state.scope)?;
            if urls.is_empty() || !sources.is_empty() {
                return Err(err(format!(
                    "--checksum={text}: checksums are only supported for http(s) URL sources"
                )));
            }
            Some(fetch::parse_checksum(&text).map_err(|e| err(e.to_string()))?)
        }
        None => None,
    };
    // Downloads happen on every build: their content, not their URL, decides whether the step is cached. With
    // --checksum the content is known before: the step is keyed by it and downloads only on a miss (BuildKit
    // makes no request for a pinned URL whose step is cached).
    let downloads_dir = if urls.is_empty() {
        None
    } else {
        Some(build.store.new_tmp_dir("download")?)
    };
    let downloads = match (&downloads_dir, &checksum) {
        (Some(dir), None) => fetch::fetch_all(&urls, dir.path(), None).map_err(err)?,
        _ => Vec::new(),
    };
    let url_identity: Vec<String> = match &checksum {
        Some(pinned) => urls
            .iter()
            .map(|url| format!("{url}\0{}\0{pinned}", fetch::url_file_name(url)))
            .collect(),
        None => urls
            .iter()
            .zip(&downloads)
            .map(|(url, d)| format!("{url}\0{}\0{}", d.file_name, d.digest))
            .collect(),
    };
    let dest = build.expand(ins, &c.dest, &state.scope)?;
    let chown = match &c.flags.chown {
        Some(ch) => Some(build.expand(ins, ch, &state.scope)?),
        None => None,
    };
    let chmod = match &c.flags.chmod {
        Some(m) => {
            let m = build.expand(ins, m, &state.scope)?;
            Some(u32::from_str_radix(&m, 8).ok().filter(|v| *v <= 0o7777).ok_or_else(|| {
                err(format!("--chmod={m}: invalid mode: give octal permission bits like 755 or 0640"))
            })?)
        }
        None => None,
    };
    let mut excludes = Vec::with_capacity(c.flags.exclude.len());
    for pattern in &c.flags.exclude {
        excludes.push(build.expand(ins, pattern, &state.scope)?);
    }
    let exclude = Matcher::new(&excludes).map_err(|e| err(format!("--exclude: {e}")))?;

    // An unquoted heredoc delimiter expands variables in the body; quotes and escapes stay as written (BuildKit's
    // lexer in raw-quotes mode).
    let mut heredoc_contents = Vec::with_capacity(c.heredocs.len());
    for doc in &c.heredocs {
        heredoc_contents.push(if doc.expand {
            let escape = build.dockerfile.directives.escape;
            build.expand(ins, &protect_quotes(&doc.content, escape), &state.scope)?
        } else {
            doc.content.clone()
        });
    }
    let git_identity = git_checkout.as_ref().map(|(git, checkout, _)| {
        format!(
            "git\0{}\0{}\0{}\0keep-git-dir={}",
            git.remote,
            checkout.commit,
            git.subdir.as_deref().unwrap_or(""),
            c.flags.keep_git_dir
        )
    });
    let origin = if let Some((_, checkout, dir)) = git_checkout {
        Origin::Git {
            _checkout: dir,
            root: checkout.root,
        }
    } else if !c.heredocs.is_empty() {
        let dir = build.store.new_tmp_dir("heredoc")?;
        for (doc, content) in c.heredocs.iter().zip(&heredoc_contents) {
            let path = dir.path().join(&doc.name);
            std::fs::write(&path, content)
                .map_err(|e| BuildError::io(format!("writing heredoc {}", doc.name), e))?;
        }
        Origin::Heredocs(dir)
    } else if let Some(from) = &c.flags.from {
        let from = build.expand(ins, from, &state.scope)?;
        if let Some(m) = build.invalid_stage_index(&from) {
            return Err(err(format!("--from={from}: {m}")));
        }
        let named = match build.stage_by_ref(&from) {
            Some(_) => None,
            None => build.named_source(&from)?,
        };
        let image_ref = match &named {
            Some(crate::named_context::NamedSource::Image(reference)) => reference.clone(),
            _ => from.clone(),
        };
        match (build.stage_by_ref(&from), named) {
            (Some(index), _) => Origin::Stage(build.stage(index)?),
            (None, Some(crate::named_context::NamedSource::Stage(state))) => Origin::Stage(state),
            (None, _) => {
                let record = match build.image(&image_ref, build.options.platform.as_deref())? {
                    Ok(Some(record)) => record,
                    Ok(None) => return Err(err(format!(
                        "--from={from}: no stage is named {from:?} and no image {image_ref} is in the store"
                    ))),
                    Err(message) => return Err(err(format!("--from={from}: {message}"))),
                };
                let raw = build.store.read_blob(&record.id)?;
                let sizes: Vec<u64> = record.manifest.layers().iter().map(|l| l.size()).collect();
                Origin::Image(ImageState::from_config_json(&raw, &sizes)?.layers)
            }
        }
    } else {
        Origin::Context
    };

    let source_identity = match &origin {
        Origin::Context => {
            build
                .context
                .checksum(&sources, &|rel| exclude.excluded(rel), &excludes.join("\n"))?
        }
        Origin::Stage(s) => s.fs_key.clone(),
        // The commit, not the files: the same commit is the same content.
        Origin::Git { .. } => git_identity.clone().unwrap_or_default(),
        Origin::Image(layers) => layers
            .iter()
            .map(|l| l.diff_id.to_string())
            .collect::<Vec<_>>()
            .join(","),
        Origin::Heredocs(_) => c
            .heredocs
            .iter()
            .zip(&heredoc_contents)
            .map(|(h, content)| format!("{}\0{content}", h.name))
            .collect::<Vec<_>>()
            .join("\0"),
    };
    let workdir = if state.image.working_dir.is_empty() {
        "/".to_string()
    } else {
        state.image.working_dir.clone()
    };
    let key = KeyBuilder::new(if is_add { "add" } else { "copy" })
        .field("parent", &state.fs_key)
        .field("sources-content", &source_identity)
        .list("sources", &sources)
        .field("dest", &dest)
        .field("workdir", &workdir)
        .field("chown", chown.as_deref().unwrap_or(""))
        .field(
            "chmod",
            &chmod.map(|m| format!("{m:o}")).unwrap_or_default(),
        )
        .field("parents", if c.flags.parents { "1" } else { "0" })
        .list("exclude", &excludes)
        .list("urls", &url_identity)
        .field("unpack", &format!("{:?}", c.flags.unpack))
        .finish();
    let created_by = format!("{} # buildkit", ins.original);
    let info = StepInfo {
        key,
        display: &ins.original,
        created_by,
    };
    let context_root = build.context_root();
    fs_step_deferring(build, state, info, |rootfs, progress| {
        // The copy asks `excluded` about every entry it visits: counting there shows a long COPY's progress
        // without the copy itself knowing about progress.
        let copied = ItemCounter::new(build.progress, progress.id(), "files");
        let owner = match &chown {
            Some(spec) => {
                Some(fileops_user(rootfs, spec).map_err(|m| err(format!("--chown={spec}: {m}")))?)
            }
            None => None,
        };
        let view;
        let src_root: PathBuf = match &origin {
            Origin::Context => context_root.clone(),
            Origin::Heredocs(dir) => dir.path().to_path_buf(),
            Origin::Git { root, .. } => root.clone(),
            Origin::Stage(s) => {
                view = ScratchView::mount(build, &s.image.layers)?;
                view.path().to_path_buf()
            }
            Origin::Image(layers) => {
                view = ScratchView::mount(build, layers)?;
                view.path().to_path_buf()
            }
        };
        let from_context = matches!(origin, Origin::Context);
        // A stage's or an image's files keep their owners, xattrs and times; the context's and what hoist
        // wrote itself (heredocs) do not, as with BuildKit's context transfer.
        let source_kind = match origin {
            Origin::Stage(_) | Origin::Image(_) => fileops::SourceKind::Rootfs,
            Origin::Context | Origin::Heredocs(_) | Origin::Git { .. } => {
                fileops::SourceKind::Context
            }
        };
        let context = &build.context;
        let (exclude, sources_ref) = (&exclude, &sources);
        // --exclude patterns match a path relative to the source it was found under (BuildKit's fsutil copy),
        // and, for sources named directly or by a wildcard at the top, the path itself.
        let excluded = move |rel: &str| {
            copied.add_one();
            excluded_by_flag(exclude, sources_ref, rel) || (from_context && context.excluded(rel))
        };
        // A copy from the context alone fills the directories it creates after the overlay is unmounted, straight
        // in the upper dir (the context outlives the step; a stage's or image's view does not).
        let may_defer = from_context && downloads_dir.is_none();
        if !sources.is_empty() {
            let request = CopyRequest {
                src_root: &src_root,
                sources: sources.clone(),
                dest_root: rootfs,
                dest: dest.clone(),
                workdir: workdir.clone(),
                chown: owner,
                // BuildKit (Docker 20.10) applies only the permission bits of --chmod: 4755 gives 0755.
                chmod: chmod.map(|m| m & 0o777),
                source_kind,
                excluded: &excluded,
                parents: c.flags.parents,
                extract_archives: is_add && c.flags.unpack.unwrap_or(true),
            };
            let copy_error = move |e| {
                match e {
                fileops::CopyError::SourceNotFound { source } if from_context => {
                    err(format!("failed: file not found in build context or excluded by .dockerignore: {source}"))
                }
                other => err(format!("{other}")),
            }
            };
            if may_defer {
                let (_, deferred) = fileops::copy_deferring(&request).map_err(copy_error)?;
                if deferred.is_empty() {
                    return Ok(None);
                }
                let (chmod, parents) = (request.chmod, request.parents);
                if deferred.graftable() {
                    let mut graft = deferred.into_graft(request.entry_as(), excluded);
                    return Ok(Some(AfterUnmount::Graft(Box::new(
                        move |path: &Path,
                              name: &Path,
                              tar: &mut hoist_executor::layer::LayerTar| {
                            graft.graft(path, name, tar)
                        },
                    ))));
                }
                let finish: AfterUnmount = AfterUnmount::Fill(Box::new(move |upper: &Path| {
                    let request = CopyRequest {
                        src_root: &src_root,
                        sources: sources_ref.clone(),
                        dest_root: upper,
                        dest: dest.clone(),
                        workdir: workdir.clone(),
                        chown: owner,
                        chmod,
                        source_kind,
                        excluded: &excluded,
                        parents,
                        extract_archives: false,
                    };
                    deferred
                        .finish(&request, upper)
                        .map(|_| ())
                        .map_err(copy_error)
                }));
                return Ok(Some(finish));
            }
            fileops::copy(&request).map_err(copy_error)?;
        }
        if let Some(dir) = &downloads_dir {
            let pinned_downloads;
            let downloads = match &checksum {
                Some(pinned) => {
                    pinned_downloads =
                        fetch::fetch_all(&urls, dir.path(), Some(pinned)).map_err(err)?;
                    &pinned_downloads
                }
                None => &downloads,
            };
            // Downloaded files are copied as files (no archive extraction unless --unpack), like BuildKit; they
            // stay 0600 whatever --chmod says, as BuildKit (Docker 20.10) leaves them.
            let request = CopyRequest {
                src_root: dir.path(),
                sources: downloads.iter().map(|d| d.file_name.clone()).collect(),
                dest_root: rootfs,
                dest: dest.clone(),
                workdir: workdir.clone(),
                chown: owner,
                chmod: None,
                source_kind: fileops::SourceKind::Context,
                excluded: &|_: &str| false,
                parents: false,
                extract_archives: c.flags.unpack.unwrap_or(false),
            };
            fileops::copy(&request).map_err(|e| err(format!("{e}")))?;
        }
        Ok(None)
    })
}

fn fileops_user(rootfs: &std::path::Path, spec: &str) -> std::result::Result<(u32, u32), String> {
    hoist_executor::user::resolve_chown(rootfs, &chown_spec(spec)).map_err(|e| e.to_string())
}

/// BuildKit reads an empty user of `--chown=:group` as root and an empty group of `--chown=user:` as the user's
/// own group.
fn chown_spec(spec: &str) -> String {
    let spec = spec.strip_suffix(':').unwrap_or(spec);
    match spec.strip_prefix(':') {
        Some(group) => format!("0:{group}"),
        None => spec.to_string(),
    }
}

/// Whether `--exclude` drops `rel` (a path relative to the source root): matched as it is, and relative to each
/// source directory it lies under (a wildcard source counts as the directory it matched).
fn excluded_by_flag(exclude: &Matcher, sources: &[String], rel: &str) -> bool {
    if exclude.excluded(rel) {
        return true;
    }
    sources.iter().any(|source| {
        let source = source
            .trim_start_matches("./")
            .trim_start_matches('/')
            .trim_end_matches('/');
        if source.is_empty() || source == "." {
            return false;
        }
        // The source's components cover as many components of `rel`; what is below them is relative to it.
        let depth = source.split('/').count();
        let mut parts = rel.splitn(depth + 1, '/');
        let head: Vec<&str> = parts.by_ref().take(depth).collect();
        let Some(inner) = parts.next() else {
            return false;
        };
        if head.len() != depth || inner.is_empty() {
            return false;
        }
        let head = head.join("/");
        let source_matches = if source.contains(['*', '?', '[']) {
            globset::GlobBuilder::new(source)
                .literal_separator(true)
                .build()
                .map(|g| g.compile_matcher().is_match(&head))
                .unwrap_or(false)
        } else {
            head == source
        };
        source_matches && exclude.excluded(inner)
    })
}

/// Escapes quotes and escape sequences so that expansion keeps them as written: only `$` is interpreted, and an
/// escaped character (`\$V`) stays escaped and unexpanded, as BuildKit's lexer does with raw quotes and escapes.
fn protect_quotes(text: &str, escape: char) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    let mut chars = text.chars();
    while let Some(ch) = chars.next() {
        if ch == escape {
            out.push(escape);
            out.push(escape);
            if let Some(next) = chars.next() {
                out.push(escape);
                out.push(next);
            }
        } else {
            if ch == '"' || ch == '\'' {
                out.push(escape);
            }
            out.push(ch);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exclude_matches_relative_to_each_source() {
        let m = Matcher::new(&["*.log".to_string()]).unwrap();
        let sources = vec!["dir".to_string(), "logs*".to_string()];
        assert!(excluded_by_flag(&m, &sources, "top.log"));
        assert!(excluded_by_flag(&m, &sources, "dir/drop.log"));
        assert!(!excluded_by_flag(&m, &sources, "dir/keep.txt"));
        assert!(excluded_by_flag(&m, &sources, "logs1/x.log"));
        assert!(!excluded_by_flag(&m, &sources, "other/x.log"));
    }

    #[test]
    fn empty_chown_parts_are_root_and_the_users_group() {
        assert_eq!(chown_spec(":app"), "0:app");
        assert_eq!(chown_spec("app:"), "app");
        assert_eq!(chown_spec("1:2"), "1:2");
        assert_eq!(chown_spec("app"), "app");
    }

    #[test]
    fn quotes_and_escapes_are_protected() {
        let env: Vec<(String, String)> = vec![("N".into(), "v".into())];
        let expand = |t: &str| {
            hoist_parser::shell::expand_word(&protect_quotes(t, '\\'), &env, '\\').unwrap()
        };
        assert_eq!(expand(r#"a "b" 'c' $N"#), r#"a "b" 'c' v"#);
        assert_eq!(expand(r"\$N \n a\\b"), r"\$N \n a\\b");
        assert_eq!(expand("x\\"), "x\\");
    }
}
