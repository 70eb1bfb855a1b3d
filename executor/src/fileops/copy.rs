//! COPY and ADD of local files, with BuildKit's semantics (fsutil's `copy.Copy` as dockerfile2llb drives it).

use std::fs::{self, Metadata};
use std::path::{Path, PathBuf};

use super::archive::{extract_into, is_archive};
use super::deferred::DeferredCopy;
use super::dirsink::DirSink;
use super::error::{CopyError, Result};
use super::paths::{
    absolute_dest, clean_components, clean_relative, dest_names_directory, display_in_root,
    relative_string,
};
use super::rules::SourceKind;
use super::securejoin::{is_missing, mkdir_all_resolved, resolve_in_root, resolve_parent_in_root};
use super::walk::{join_rel, sorted_entries, Walker};
use super::wildcard::{has_wildcards, ComponentPattern};
use crate::layer::EntryAs;

/// One COPY or ADD of local sources (the build context, or another stage's or image's rootfs).
pub struct CopyRequest<'a> {
    /// The build context dir, or another stage's/image's rootfs (COPY --from). Nothing outside it is read.
    pub src_root: &'a Path,
    /// Already variable-expanded, as written: relative to `src_root` ("/", "./" prefixes and "../" cannot leave
    /// it); may contain wildcards `*`, `?`, `[..]`.
    pub sources: Vec<String>,
    /// The merged rootfs of the step. Nothing outside it is written.
    pub dest_root: &'a Path,
    /// Already expanded; if relative, relative to `workdir`. A trailing `/` makes it a directory.
    pub dest: String,
    /// The stage's WORKDIR (absolute, "/" by default).
    pub workdir: String,
    /// `--chown`: the owner of everything copied and of the directories created. Without it the directories
    /// created are root's, and what is copied is as [`SourceKind`] says.
    pub chown: Option<(u32, u32)>,
    /// `--chmod`: its permission bits replace the copied entries' (not the destination directory the copy
    /// creates); their setuid, setgid and sticky bits stay.
    pub chmod: Option<u32>,
    /// What `src_root` is: decides the owners, xattrs and directory times of the copies.
    pub source_kind: SourceKind,
    /// True for a `src_root`-relative path ("dir/file") that `.dockerignore` or `--exclude` drops.
    pub excluded: &'a (dyn Fn(&str) -> bool + Sync),
    /// `--parents`: keep each source's path (below a `/./` pivot, or `src_root`) under `dest`.
    pub parents: bool,
    /// ADD: local tar archives (plain, gzip, bzip2, xz; by content) are extracted into `dest`.
    pub extract_archives: bool,
}

impl CopyRequest<'_> {
    /// How every copied entry is written: the rules both the copy and its layer graft follow.
    pub fn entry_as(&self) -> EntryAs {
        self.source_kind.entry_as(self.chown, self.chmod)
    }

    /// The owner of the directories the copy creates (not copies of source directories).
    fn created_dir_owner(&self) -> (u32, u32) {
        self.chown.unwrap_or((0, 0))
    }
}

/// What a copy did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CopyStats {
    pub files: u64,
    pub dirs: u64,
    pub symlinks: u64,
    /// Files created as hardlinks to another file of the same copy (as they were in the source).
    pub hardlinks: u64,
    /// Device nodes and fifos.
    pub other: u64,
    /// Bytes of regular file content written.
    pub bytes: u64,
    /// Archives extracted (ADD).
    pub archives: u64,
}

impl CopyStats {
    /// Adds what another part of the copy did.
    pub(super) fn add(&mut self, part: &CopyStats) {
        self.files += part.files;
        self.dirs += part.dirs;
        self.symlinks += part.symlinks;
        self.hardlinks += part.hardlinks;
        self.other += part.other;
        self.bytes += part.bytes;
        self.archives += part.archives;
    }
}

/// Copies `req.sources` to `req.dest` inside `req.dest_root`; see the module documentation for the rules.
pub fn copy(req: &CopyRequest) -> Result<CopyStats> {
    copy_with(req, false).map(|(stats, _)| stats)
}

/// [`copy`] into an overlay's merged dir that leaves the contents of the directories it creates for later:
/// nothing below a new directory can be in a lower layer, so [`DeferredCopy::finish`] writes them straight
/// into the upper dir once the overlay is unmounted — a plain directory write instead of an overlayfs create
/// per file (several times faster for a big `COPY . /app`). Only a single source is deferred: with several,
/// a later source may write into what an earlier one created, and the order of the writes is the semantics.
pub fn copy_deferring(req: &CopyRequest) -> Result<(CopyStats, DeferredCopy)> {
    copy_with(req, true)
}

fn copy_with(req: &CopyRequest, deferring: bool) -> Result<(CopyStats, DeferredCopy)> {
    let dest_abs = absolute_dest(&req.dest, &req.workdir);
    let sources = resolve_sources(req)?;
    let deferring = deferring && sources.len() == 1 && !req.parents && !req.extract_archives;
    let sink = DirSink {
        defer: deferring.then(Vec::new),
        ..DirSink::new(req, req.entry_as())
    };
    let mut copier = Walker::new(sink, req.excluded);
    if sources.is_empty() {
        // Only wildcards that matched nothing: BuildKit copies nothing and creates no destination.
        return Ok((copier.sink.stats, DeferredCopy::default()));
    }
    // Several sources go into a directory (BuildKit would write each one to the same path in turn, a known bug).
    let dest_is_dir = dest_names_directory(&req.dest) || sources.len() > 1 || req.parents;
    for source in &sources {
        copy_source(&mut copier, source, &dest_abs, dest_is_dir)?;
    }
    let sink = &mut copier.sink;
    let deferred = DeferredCopy {
        dirs: sink.defer.take().unwrap_or_default(),
        merged_root: req.dest_root.to_path_buf(),
        hardlinks: std::mem::take(&mut *sink.hardlinks.lock().unwrap_or_else(|p| p.into_inner())),
    };
    Ok((copier.sink.stats, deferred))
}

/// A source of a copy after wildcard expansion, `.dockerignore` and symlink resolution: what [`copy`] will read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatchedSource {
    /// The path as written (cleaned, wildcards replaced by what they matched), relative to `src_root`.
    pub written: String,
    /// The file or directory it names, symlinks followed inside `src_root`, relative to `src_root`
    /// ("" for `src_root` itself). A directory is read recursively, minus excluded entries.
    pub path: String,
    pub is_dir: bool,
}

/// The sources `copy(req)` would read, in order (for cache keys: checksum exactly these). Errors like [`copy`]
/// does for a missing source; wildcards that match nothing add nothing.
pub fn matched_sources(req: &CopyRequest) -> Result<Vec<MatchedSource>> {
    Ok(resolve_sources(req)?
        .into_iter()
        .map(|s| MatchedSource {
            is_dir: s.meta.is_dir(),
            written: s.logical,
            path: s.physical_rel,
        })
        .collect())
}

/// A source after wildcard expansion and symlink resolution.
struct Source {
    /// The path as written, cleaned, relative to `src_root` (wildcards replaced by what they matched): its last
    /// component names the copy, and with `--parents` it is the path kept under the destination.
    logical: String,
    /// `logical` with `--parents`' pivot removed.
    kept: String,
    /// The file it names, symlinks followed inside `src_root`.
    physical: PathBuf,
    /// `physical` relative to `src_root`, for the exclusion predicate.
    physical_rel: String,
    meta: Metadata,
}

fn resolve_sources(req: &CopyRequest) -> Result<Vec<Source>> {
    let mut out = Vec::new();
    for written in &req.sources {
        let pivot = match written.find("/./") {
            Some(at) if req.parents => clean_relative(&written[..at]),
            _ => String::new(),
        };
        let components = clean_components(written);
        let mut logicals = Vec::new();
        match components.iter().position(|c| has_wildcards(c)) {
            None => logicals.push(components.join("/")),
            Some(first_wild) => {
                let base = components[..first_wild].join("/");
                let patterns = components[first_wild..]
                    .iter()
                    .map(|p| ComponentPattern::compile(p, written))
                    .collect::<Result<Vec<_>>>()?;
                let base_physical = resolve_in_root(req.src_root, &base)?;
                let base_rel = relative_string(req.src_root, &base_physical);
                let mut suffix = String::new();
                let mut matches = Vec::new();
                walk_matches(
                    req,
                    &base_physical,
                    &base_rel,
                    &mut suffix,
                    &patterns,
                    &mut matches,
                )?;
                if matches.is_empty() {
                    continue;
                }
                for matched in matches {
                    logicals.push(if base.is_empty() {
                        matched
                    } else {
                        format!("{base}/{matched}")
                    });
                }
            }
        }
        for logical in logicals {
            let physical = resolve_in_root(req.src_root, &logical)?;
            let not_found = || CopyError::SourceNotFound {
                source: written.clone(),
            };
            let meta = match fs::symlink_metadata(&physical) {
                Ok(meta) => meta,
                Err(e) if is_missing(&e) => return Err(not_found()),
                Err(e) => return Err(CopyError::io("inspect", &physical, e)),
            };
            let physical_rel = relative_string(req.src_root, &physical);
            let is_dir = meta.is_dir();
            // An ignored file is not in the context, whether it is named directly or through a symlink.
            if !is_present(req, &logical, &physical, is_dir)?
                || !is_present(req, &physical_rel, &physical, is_dir)?
            {
                return Err(not_found());
            }
            let kept = match logical.strip_prefix(pivot.as_str()) {
                Some(rest) if !pivot.is_empty() => rest.trim_start_matches('/').to_string(),
                _ => logical.clone(),
            };
            out.push(Source {
                logical,
                kept,
                physical,
                physical_rel,
                meta,
            });
        }
    }
    Ok(out)
}

/// Lists (sorted) the paths below `dir` that match `patterns`, one component per level, appending them relative
/// to the wildcard base to `out`. Like Go's `filepath.Walk`, symlinked directories are not entered.
fn walk_matches(
    req: &CopyRequest,
    dir: &Path,
    dir_rel: &str,
    suffix: &mut String,
    patterns: &[ComponentPattern],
    out: &mut Vec<String>,
) -> Result<()> {
    let Some((pattern, rest)) = patterns.split_first() else {
        return Ok(());
    };
    let entries = match sorted_entries(dir) {
        Ok(entries) => entries,
        // A base that does not exist (or is a file) matches nothing.
        Err(e) if is_missing(&e) => return Ok(()),
        Err(e) => return Err(CopyError::io("read directory", dir, e)),
    };
    for (name, file_type) in entries {
        let name_str = name.to_string_lossy();
        if !pattern.matches(&name_str) {
            continue;
        }
        let child = dir.join(&name);
        let child_rel = join_rel(dir_rel, &name_str);
        if !is_present(req, &child_rel, &child, file_type.is_dir())? {
            continue;
        }
        let suffix_len = suffix.len();
        if !suffix.is_empty() {
            suffix.push('/');
        }
        suffix.push_str(&name_str);
        if rest.is_empty() {
            out.push(suffix.clone());
        } else if file_type.is_dir() {
            walk_matches(req, &child, &child_rel, suffix, rest, out)?;
        }
        suffix.truncate(suffix_len);
    }
    Ok(())
}

/// Whether `rel` survives the exclusion predicate. An excluded directory still exists when something below it
/// is re-included (`docs` + `!docs/README.md`), as in the context BuildKit receives.
fn is_present(req: &CopyRequest, rel: &str, physical: &Path, is_dir: bool) -> Result<bool> {
    if rel.is_empty() || !(req.excluded)(rel) {
        return Ok(true);
    }
    if !is_dir {
        return Ok(false);
    }
    has_included_descendant(req, physical, &mut rel.to_string())
}

fn has_included_descendant(req: &CopyRequest, dir: &Path, rel: &mut String) -> Result<bool> {
    let entries = sorted_entries(dir).map_err(|e| CopyError::io("read directory", dir, e))?;
    for (name, file_type) in entries {
        let len = rel.len();
        rel.push('/');
        rel.push_str(&name.to_string_lossy());
        let found = !(req.excluded)(rel)
            || (file_type.is_dir() && has_included_descendant(req, &dir.join(&name), rel)?);
        rel.truncate(len);
        if found {
            return Ok(true);
        }
    }
    Ok(false)
}

/// A copy into the destination root: the copy walk with a directory sink.
type Copier<'e, 'r, 'a> = Walker<'e, DirSink<'r, 'a>>;

fn copy_source(
    copier: &mut Copier,
    source: &Source,
    dest_abs: &str,
    dest_is_dir: bool,
) -> Result<()> {
    // Sources are copied by the first part of a copy only: the merged root.
    let req = copier.sink.req;
    let root = req.dest_root;
    if req.extract_archives && source.meta.is_file() && is_archive(&source.physical)? {
        let dir = resolve_in_root(root, dest_abs)?;
        mkdir_all_resolved(root, &dir, req.created_dir_owner())?;
        return extract_into(
            &source.physical,
            &source.logical,
            &dir,
            &mut copier.sink.stats,
        );
    }
    let mut rel = source.physical_rel.clone();
    let mut src = source.physical.clone();

    if req.parents && !source.kept.is_empty() {
        let dest_dir = resolve_in_root(root, dest_abs)?;
        mkdir_all_resolved(root, &dest_dir, req.created_dir_owner())?;
        create_kept_parents(&mut copier.sink, source, dest_abs)?;
        let mut target = resolve_parent_in_root(root, &format!("{dest_abs}/{}", source.kept))?;
        return copier.entry(&mut src, &mut target, &mut rel, &source.meta, false);
    }

    let dst = resolve_in_root(root, dest_abs)?;
    let dst_meta = match fs::symlink_metadata(&dst) {
        Ok(m) => Some(m),
        Err(e) if is_missing(&e) => None,
        Err(e) => return Err(CopyError::io("inspect", &dst, e)),
    };
    if source.meta.is_dir() {
        // The contents go into dest; dest itself is created 0755 (owned by --chown, else root) or left as it is.
        let created = match dst_meta {
            Some(m) if m.is_dir() => false,
            Some(_) => {
                return Err(CopyError::NotADirectory {
                    path: display_in_root(root, &dst),
                })
            }
            None => mkdir_all_resolved(root, &dst, req.created_dir_owner())?,
        };
        if created && copier.sink.defer_dir(&src, &rel, &dst, None) {
            return Ok(());
        }
        let mut dst = dst;
        return copier.children(&mut src, &mut dst, &mut rel, created);
    }
    let mut target = if dest_is_dir || dst_meta.is_some_and(|m| m.is_dir()) {
        mkdir_all_resolved(root, &dst, req.created_dir_owner())?;
        let name = source.logical.rsplit('/').next().unwrap_or(&source.logical);
        dst.join(name)
    } else {
        if let Some(parent) = dst.parent() {
            if parent.starts_with(root) {
                mkdir_all_resolved(root, parent, req.created_dir_owner())?;
            }
        }
        dst
    };
    copier.entry(&mut src, &mut target, &mut rel, &source.meta, false)
}

/// `--parents`: creates the directories between dest and the source, copying the source directories'
/// modes and times (owned as the copies are); existing ones are left alone.
fn create_kept_parents(sink: &mut DirSink, source: &Source, dest_abs: &str) -> Result<()> {
    let kept: Vec<&str> = source.kept.split('/').collect();
    let pivot_len = source.logical.len() - source.kept.len();
    for depth in 1..kept.len() {
        let kept_prefix = kept[..depth].join("/");
        let dst = resolve_in_root(sink.dest_root(), &format!("{dest_abs}/{kept_prefix}"))?;
        match fs::symlink_metadata(&dst) {
            Ok(m) if m.is_dir() => continue,
            Ok(_) => {
                return Err(CopyError::NotADirectory {
                    path: display_in_root(sink.dest_root(), &dst),
                });
            }
            Err(e) if is_missing(&e) => {}
            Err(e) => return Err(CopyError::io("inspect", &dst, e)),
        }
        let logical_prefix = format!("{}{kept_prefix}", &source.logical[..pivot_len]);
        let src = resolve_in_root(sink.req.src_root, &logical_prefix)?;
        let src_meta = fs::metadata(&src).map_err(|e| CopyError::io("inspect", &src, e))?;
        fs::create_dir(&dst).map_err(|e| CopyError::io("create directory", &dst, e))?;
        sink.stats.dirs += 1;
        sink.apply_metadata(&src, &dst, &src_meta)?;
    }
    Ok(())
}
