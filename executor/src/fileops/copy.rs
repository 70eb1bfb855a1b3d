//! COPY and ADD of local files, with BuildKit's semantics (fsutil's `copy.Copy` as dockerfile2llb drives it).

use std::collections::HashMap;
use std::ffi::OsString;
use std::fs::{self, FileType, Metadata};
use std::io;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use super::archive::{extract_into, is_archive};
use super::error::{CopyError, Result};
use super::meta;
use super::paths::{
    absolute_dest, clean_components, clean_relative, dest_names_directory, display_in_root,
    relative_string,
};
use super::rules::{is_skipped_by_copy, SourceKind};
use super::securejoin::{is_missing, mkdir_all_resolved, resolve_in_root, resolve_parent_in_root};
use super::wildcard::{has_wildcards, ComponentPattern};
use crate::layer::{self, EntryAs, LayerTar};

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

/// The directories a [`copy_deferring`] created and left to fill.
#[derive(Debug, Default)]
pub struct DeferredCopy {
    dirs: Vec<DeferredDir>,
    /// The merged root the first part wrote to (hardlink targets are translated from it).
    merged_root: PathBuf,
    hardlinks: HardLinks,
}

/// (device, inode) of a multiply-linked source file → where its first copy went.
type HardLinks = HashMap<(u64, u64), PathBuf>;

#[derive(Debug)]
struct DeferredDir {
    src: PathBuf,
    /// `src` relative to the source root, for the exclusion predicate.
    rel: String,
    /// The new directory, relative to the rootfs (no symlinks: resolved in the merged view).
    dst: PathBuf,
    /// The source directory's metadata, applied once its contents are in; `None` for a destination directory
    /// the copy created (left 0755, owned by --chown).
    meta: Option<Metadata>,
}

impl DeferredCopy {
    pub fn is_empty(&self) -> bool {
        self.dirs.is_empty()
    }

    /// Fills the deferred directories inside `upper_root` (the upper dir of the unmounted overlay that
    /// [`copy_deferring`] wrote to), on all cores: every entry of a new directory is a subtree of its own.
    /// `req` is the same request, `dest_root` aside.
    pub fn finish(self, req: &CopyRequest, upper_root: &Path) -> Result<CopyStats> {
        let hardlinks: HardLinks = self
            .hardlinks
            .into_iter()
            .filter_map(|(key, first)| {
                let inner = first.strip_prefix(&self.merged_root).ok()?;
                Some((key, upper_root.join(inner)))
            })
            .collect();
        let hardlinks = Arc::new(Mutex::new(hardlinks));
        let how = req.entry_as();
        let copier = || Copier {
            req,
            how,
            hardlinks: Arc::clone(&hardlinks),
            pending_dirs: Vec::new(),
            stats: CopyStats::default(),
            defer: None,
            root_override: Some(upper_root.to_path_buf()),
        };
        // One unit per entry of each new directory, in order.
        let mut units: Vec<(usize, OsString, FileType)> = Vec::new();
        for (index, dir) in self.dirs.iter().enumerate() {
            let entries = sorted_entries(&dir.src)
                .map_err(|e| CopyError::io("read directory", &dir.src, e))?;
            units.extend(
                entries
                    .into_iter()
                    .map(|(name, file_type)| (index, name, file_type)),
            );
        }
        let next = AtomicUsize::new(0);
        let failed = AtomicBool::new(false);
        let dirs = &self.dirs;
        let work = || -> Result<CopyStats> {
            let mut copier = copier();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some((index, name, file_type)) = units.get(i) else {
                    break;
                };
                if failed.load(Ordering::Relaxed) {
                    break;
                }
                let dir = &dirs[*index];
                let mut src = dir.src.join(name);
                let mut dst = upper_root.join(&dir.dst).join(name);
                let mut rel = join_rel(&dir.rel, &name.to_string_lossy());
                if let Err(e) = copier.copy_child(&mut src, &mut dst, &mut rel, *file_type, true) {
                    failed.store(true, Ordering::Relaxed);
                    return Err(e);
                }
            }
            Ok(copier.stats)
        };
        let threads = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
            .clamp(1, 8);
        let results: Vec<Result<CopyStats>> = std::thread::scope(|scope| {
            let handles: Vec<_> = (1..threads).map(|_| scope.spawn(work)).collect();
            let mut results = vec![work()];
            for handle in handles {
                results.push(handle.join().unwrap_or_else(|_| {
                    Err(CopyError::io(
                        "copy",
                        upper_root,
                        io::Error::other("a copying thread panicked"),
                    ))
                }));
            }
            results
        });
        let mut stats = CopyStats::default();
        for part in results {
            let part = part?;
            stats.files += part.files;
            stats.dirs += part.dirs;
            stats.symlinks += part.symlinks;
            stats.hardlinks += part.hardlinks;
            stats.other += part.other;
            stats.bytes += part.bytes;
            stats.archives += part.archives;
        }
        // The new directories' own metadata (and times) once everything is in them.
        let copier = copier();
        for dir in dirs {
            if let Some(meta) = &dir.meta {
                copier.apply_metadata(&dir.src, &upper_root.join(&dir.dst), meta)?;
            }
        }
        Ok(stats)
    }
}

impl DeferredCopy {
    /// Whether [`DeferredCopy::into_graft`] can write this copy: not when a file the first part copied has
    /// other links inside the deferred directories (the graft would have to interleave with the upper dir).
    pub fn graftable(&self) -> bool {
        self.hardlinks.is_empty()
    }

    /// The deferred directories as a [`layer::Graft`]: written into the layer tar straight from the source,
    /// entry for entry what [`DeferredCopy::finish`] followed by [`layer::write_layer_tar`] would write, without
    /// creating the files. `how` ([`CopyRequest::entry_as`]) and `excluded` are the request's.
    pub fn into_graft<E: Fn(&str) -> bool>(self, how: EntryAs, excluded: E) -> CopyGraft<E> {
        CopyGraft {
            dirs: self
                .dirs
                .into_iter()
                .map(|dir| (dir.dst.clone(), dir))
                .collect(),
            how,
            excluded,
        }
    }
}

/// See [`DeferredCopy::into_graft`].
pub struct CopyGraft<E> {
    /// By the new directory's path relative to the rootfs (its name in the layer).
    dirs: HashMap<PathBuf, DeferredDir>,
    how: EntryAs,
    excluded: E,
}

/// An excluded directory of the source: written only once something inside it is re-included.
struct PendingEntry {
    src: PathBuf,
    name: PathBuf,
    written: bool,
}

impl<E: Fn(&str) -> bool> CopyGraft<E> {
    /// For [`layer::write_layer_tar_grafted`]: writes the deferred directory at `name` (`path` in the upper
    /// dir) and its contents; false for any other directory.
    pub fn graft(&mut self, path: &Path, name: &Path, tar: &mut LayerTar) -> layer::Result<bool> {
        let Some(dir) = self.dirs.remove(name) else {
            return Ok(false);
        };
        match &dir.meta {
            Some(meta) => tar.add_as(&dir.src, name, meta, self.how)?,
            // The destination directory the copy created keeps what it was created with.
            None => tar.add_path(path, name)?,
        }
        let mut pending = Vec::new();
        self.children(
            tar,
            &mut dir.src.clone(),
            &mut name.to_path_buf(),
            &mut dir.rel.clone(),
            &mut pending,
        )?;
        Ok(true)
    }

    fn children(
        &self,
        tar: &mut LayerTar,
        src: &mut PathBuf,
        name: &mut PathBuf,
        rel: &mut String,
        pending: &mut Vec<PendingEntry>,
    ) -> layer::Result<()> {
        let entries = sorted_entries(src).map_err(|source| layer::LayerError::Read {
            path: src.clone(),
            source,
        })?;
        for (child, file_type) in entries {
            let rel_len = rel.len();
            if !rel.is_empty() {
                rel.push('/');
            }
            rel.push_str(&child.to_string_lossy());
            src.push(&child);
            name.push(&child);
            let result = self.child(tar, src, name, rel, file_type, pending);
            src.pop();
            name.pop();
            rel.truncate(rel_len);
            result?;
        }
        Ok(())
    }

    /// One entry, by the rules of `Copier::copy_child`.
    fn child(
        &self,
        tar: &mut LayerTar,
        src: &mut PathBuf,
        name: &mut PathBuf,
        rel: &mut String,
        file_type: FileType,
        pending: &mut Vec<PendingEntry>,
    ) -> layer::Result<()> {
        if (self.excluded)(rel) {
            if file_type.is_dir() {
                pending.push(PendingEntry {
                    src: src.clone(),
                    name: name.clone(),
                    written: false,
                });
                let result = self.children(tar, src, name, rel, pending);
                pending.pop();
                return result;
            }
            return Ok(());
        }
        let read_err = |source| layer::LayerError::Read {
            path: src.clone(),
            source,
        };
        let meta = fs::symlink_metadata(&*src).map_err(read_err)?;
        // As the copy does: the excluded directories around a re-included entry are made first, even for
        // a socket, which itself is skipped.
        for dir in pending.iter_mut().filter(|p| !p.written) {
            let dir_meta =
                fs::symlink_metadata(&dir.src).map_err(|source| layer::LayerError::Read {
                    path: dir.src.clone(),
                    source,
                })?;
            tar.add_as(&dir.src, &dir.name, &dir_meta, self.how)?;
            dir.written = true;
        }
        if is_skipped_by_copy(meta.file_type()) {
            return Ok(());
        }
        tar.add_as(src, name, &meta, self.how)?;
        if meta.is_dir() {
            self.children(tar, src, name, rel, pending)?;
        }
        Ok(())
    }
}

fn copy_with(req: &CopyRequest, deferring: bool) -> Result<(CopyStats, DeferredCopy)> {
    let dest_abs = absolute_dest(&req.dest, &req.workdir);
    let sources = resolve_sources(req)?;
    let deferring = deferring && sources.len() == 1 && !req.parents && !req.extract_archives;
    let mut copier = Copier {
        req,
        how: req.entry_as(),
        hardlinks: Arc::default(),
        pending_dirs: Vec::new(),
        stats: CopyStats::default(),
        defer: deferring.then(Vec::new),
        root_override: None,
    };
    if sources.is_empty() {
        // Only wildcards that matched nothing: BuildKit copies nothing and creates no destination.
        return Ok((copier.stats, DeferredCopy::default()));
    }
    // Several sources go into a directory (BuildKit would write each one to the same path in turn, a known bug).
    let dest_is_dir = dest_names_directory(&req.dest) || sources.len() > 1 || req.parents;
    for source in &sources {
        copier.copy_source(source, &dest_abs, dest_is_dir)?;
    }
    let deferred = DeferredCopy {
        dirs: copier.defer.take().unwrap_or_default(),
        merged_root: req.dest_root.to_path_buf(),
        hardlinks: std::mem::take(&mut *copier.hardlinks.lock().unwrap_or_else(|p| p.into_inner())),
    };
    Ok((copier.stats, deferred))
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

fn sorted_entries(dir: &Path) -> io::Result<Vec<(OsString, FileType)>> {
    let mut entries = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        entries.push((entry.file_name(), entry.file_type()?));
    }
    entries.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    Ok(entries)
}

fn join_rel(parent: &str, name: &str) -> String {
    if parent.is_empty() {
        name.to_string()
    } else {
        format!("{parent}/{name}")
    }
}

/// A directory below an excluded one, created only once something inside it is copied.
struct PendingDir {
    dst: PathBuf,
    known_absent: bool,
    created: bool,
}

struct Copier<'r, 'a> {
    req: &'r CopyRequest<'a>,
    /// The request's [`CopyRequest::entry_as`].
    how: EntryAs,
    /// (device, inode) of a multiply-linked source file → where its first copy went (shared by the copiers
    /// of a [`DeferredCopy::finish`] on several threads).
    hardlinks: Arc<Mutex<HardLinks>>,
    pending_dirs: Vec<PendingDir>,
    stats: CopyStats,
    /// `Some` while [`copy_deferring`]: new directories are recorded here instead of filled.
    defer: Option<Vec<DeferredDir>>,
    /// The root written to when it is not `req.dest_root` ([`DeferredCopy::finish`]).
    root_override: Option<PathBuf>,
}

impl Copier<'_, '_> {
    fn dest_root(&self) -> &Path {
        self.root_override.as_deref().unwrap_or(self.req.dest_root)
    }

    /// Records a directory just created (empty, with nothing below it in any layer) for
    /// [`DeferredCopy::finish`]; false when not deferring (the caller fills it now).
    fn defer_dir(&mut self, src: &Path, rel: &str, dst: &Path, meta: Option<&Metadata>) -> bool {
        // Inside an excluded directory, its creation waits on its entries: keep that path simple.
        if !self.pending_dirs.is_empty() {
            return false;
        }
        let Some(inner) = dst
            .strip_prefix(self.req.dest_root)
            .ok()
            .map(Path::to_path_buf)
        else {
            return false;
        };
        let Some(deferred) = self.defer.as_mut() else {
            return false;
        };
        deferred.push(DeferredDir {
            src: src.to_path_buf(),
            rel: rel.to_string(),
            dst: inner,
            meta: meta.cloned(),
        });
        true
    }

    fn copy_source(&mut self, source: &Source, dest_abs: &str, dest_is_dir: bool) -> Result<()> {
        // Sources are copied by the first part of a copy only: the merged root.
        let root = self.req.dest_root;
        if self.req.extract_archives && source.meta.is_file() && is_archive(&source.physical)? {
            let dir = resolve_in_root(root, dest_abs)?;
            mkdir_all_resolved(root, &dir, self.req.created_dir_owner())?;
            return extract_into(&source.physical, &source.logical, &dir, &mut self.stats);
        }
        let mut rel = source.physical_rel.clone();
        let mut src = source.physical.clone();

        if self.req.parents && !source.kept.is_empty() {
            let dest_dir = resolve_in_root(root, dest_abs)?;
            mkdir_all_resolved(root, &dest_dir, self.req.created_dir_owner())?;
            self.create_kept_parents(source, dest_abs)?;
            let mut target = resolve_parent_in_root(root, &format!("{dest_abs}/{}", source.kept))?;
            return self.copy_entry(&mut src, &mut target, &mut rel, &source.meta, false);
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
                None => mkdir_all_resolved(root, &dst, self.req.created_dir_owner())?,
            };
            if created && self.defer_dir(&src, &rel, &dst, None) {
                return Ok(());
            }
            let mut dst = dst;
            return self.copy_children(&mut src, &mut dst, &mut rel, created);
        }
        let mut target = if dest_is_dir || dst_meta.is_some_and(|m| m.is_dir()) {
            mkdir_all_resolved(root, &dst, self.req.created_dir_owner())?;
            let name = source.logical.rsplit('/').next().unwrap_or(&source.logical);
            dst.join(name)
        } else {
            if let Some(parent) = dst.parent() {
                if parent.starts_with(root) {
                    mkdir_all_resolved(root, parent, self.req.created_dir_owner())?;
                }
            }
            dst
        };
        self.copy_entry(&mut src, &mut target, &mut rel, &source.meta, false)
    }

    /// `--parents`: creates the directories between dest and the source, copying the source directories'
    /// modes and times (owned as the copies are); existing ones are left alone.
    fn create_kept_parents(&mut self, source: &Source, dest_abs: &str) -> Result<()> {
        let kept: Vec<&str> = source.kept.split('/').collect();
        let pivot_len = source.logical.len() - source.kept.len();
        for depth in 1..kept.len() {
            let kept_prefix = kept[..depth].join("/");
            let dst = resolve_in_root(self.dest_root(), &format!("{dest_abs}/{kept_prefix}"))?;
            match fs::symlink_metadata(&dst) {
                Ok(m) if m.is_dir() => continue,
                Ok(_) => {
                    return Err(CopyError::NotADirectory {
                        path: display_in_root(self.dest_root(), &dst),
                    });
                }
                Err(e) if is_missing(&e) => {}
                Err(e) => return Err(CopyError::io("inspect", &dst, e)),
            }
            let logical_prefix = format!("{}{kept_prefix}", &source.logical[..pivot_len]);
            let src = resolve_in_root(self.req.src_root, &logical_prefix)?;
            let src_meta = fs::metadata(&src).map_err(|e| CopyError::io("inspect", &src, e))?;
            fs::create_dir(&dst).map_err(|e| CopyError::io("create directory", &dst, e))?;
            self.stats.dirs += 1;
            self.apply_metadata(&src, &dst, &src_meta)?;
        }
        Ok(())
    }

    /// Copies the entries of directory `src` into directory `dst`. `rel` is `src` relative to `src_root`;
    /// `dst_fresh` says `dst` was just created, so nothing in it needs replacing.
    fn copy_children(
        &mut self,
        src: &mut PathBuf,
        dst: &mut PathBuf,
        rel: &mut String,
        dst_fresh: bool,
    ) -> Result<()> {
        let entries = sorted_entries(src).map_err(|e| CopyError::io("read directory", &*src, e))?;
        for (name, file_type) in entries {
            let rel_len = rel.len();
            if !rel.is_empty() {
                rel.push('/');
            }
            rel.push_str(&name.to_string_lossy());
            src.push(&name);
            dst.push(&name);
            let result = self.copy_child(src, dst, rel, file_type, dst_fresh);
            src.pop();
            dst.pop();
            rel.truncate(rel_len);
            result?;
        }
        Ok(())
    }

    fn copy_child(
        &mut self,
        src: &mut PathBuf,
        dst: &mut PathBuf,
        rel: &mut String,
        file_type: FileType,
        dst_fresh: bool,
    ) -> Result<()> {
        if (self.req.excluded)(rel) {
            if file_type.is_dir() {
                return self.copy_excluded_dir(src, dst, rel, dst_fresh);
            }
            return Ok(());
        }
        let meta = fs::symlink_metadata(&*src).map_err(|e| CopyError::io("inspect", &*src, e))?;
        self.copy_entry(src, dst, rel, &meta, dst_fresh)
    }

    /// An excluded directory is walked for re-included entries (`!dir/keep`); it is created only if one exists.
    fn copy_excluded_dir(
        &mut self,
        src: &mut PathBuf,
        dst: &mut PathBuf,
        rel: &mut String,
        known_absent: bool,
    ) -> Result<()> {
        self.pending_dirs.push(PendingDir {
            dst: dst.clone(),
            known_absent,
            created: false,
        });
        let result = self.copy_children(src, dst, rel, known_absent);
        let pending = self.pending_dirs.pop();
        result?;
        if pending.is_some_and(|p| p.created) {
            let meta =
                fs::symlink_metadata(&*src).map_err(|e| CopyError::io("inspect", &*src, e))?;
            self.apply_metadata(src, dst, &meta)?;
        }
        Ok(())
    }

    fn materialize_pending_dirs(&mut self) -> Result<()> {
        // Materializing creates every pending dir, so the last one tells whether any is left.
        if self.pending_dirs.last().is_none_or(|p| p.created) {
            return Ok(());
        }
        let root = self.dest_root().to_path_buf();
        for pending in self.pending_dirs.iter_mut().filter(|p| !p.created) {
            if ensure_dir(&root, &pending.dst, pending.known_absent)? {
                self.stats.dirs += 1;
            }
            pending.created = true;
        }
        Ok(())
    }

    /// Copies one entry (recursively for a directory) from `src` to `dst`, replacing a non-directory at `dst`.
    fn copy_entry(
        &mut self,
        src: &mut PathBuf,
        dst: &mut PathBuf,
        rel: &mut String,
        meta: &Metadata,
        known_absent: bool,
    ) -> Result<()> {
        self.materialize_pending_dirs()?;
        let file_type = meta.file_type();
        if file_type.is_dir() {
            let created = ensure_dir(self.dest_root(), dst, known_absent)?;
            if created {
                self.stats.dirs += 1;
                if self.defer_dir(src, rel, dst, Some(meta)) {
                    return Ok(());
                }
            }
            self.copy_children(src, dst, rel, created)?;
            return self.apply_metadata(src, dst, meta);
        }
        if is_skipped_by_copy(file_type) {
            return Ok(());
        }
        if !known_absent {
            remove_file_target(self.dest_root(), dst)?;
        }
        if file_type.is_file() {
            if meta.nlink() > 1 {
                // The map stays locked while the first copy is made, so that a copier on another thread links
                // to a finished file rather than copying the same inode twice.
                let key = (meta.dev(), meta.ino());
                let hardlinks = Arc::clone(&self.hardlinks);
                let mut links = hardlinks.lock().unwrap_or_else(|p| p.into_inner());
                if let Some(first) = links.get(&key) {
                    fs::hard_link(first, &*dst)
                        .map_err(|e| CopyError::io("create hardlink", &*dst, e))?;
                    self.stats.hardlinks += 1;
                    return Ok(());
                }
                let bytes =
                    fs::copy(&*src, &*dst).map_err(|e| CopyError::io("copy to", &*dst, e))?;
                links.insert(key, dst.clone());
                drop(links);
                self.stats.files += 1;
                self.stats.bytes += bytes;
            } else {
                let bytes =
                    fs::copy(&*src, &*dst).map_err(|e| CopyError::io("copy to", &*dst, e))?;
                self.stats.files += 1;
                self.stats.bytes += bytes;
            }
        } else if file_type.is_symlink() {
            let target =
                fs::read_link(&*src).map_err(|e| CopyError::io("read symlink", &*src, e))?;
            std::os::unix::fs::symlink(&target, &*dst)
                .map_err(|e| CopyError::io("create symlink", &*dst, e))?;
            self.stats.symlinks += 1;
        } else {
            // A device node: BuildKit's copy (Docker 20.10's fsutil) calls mknod with Go's mode bits, which
            // carry no file type, so it makes an empty regular file with the node's owner and mode.
            fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&*dst)
                .map_err(|e| CopyError::io("create", &*dst, e))?;
            self.stats.files += 1;
        }
        self.apply_metadata(src, dst, meta)
    }

    /// Owner, mode, xattrs and times of the source, as [`CopyRequest::entry_as`] says.
    fn apply_metadata(&self, src: &Path, dst: &Path, meta: &Metadata) -> Result<()> {
        meta::lchown(dst, self.how.owner_of(meta))?;
        let file_type = meta.file_type();
        if !file_type.is_symlink() {
            let mode = self.how.mode_of(meta.mode());
            // fs::copy already gave a regular file the source's mode; chown clears setuid/setgid though.
            if !file_type.is_file() || self.how.mode.is_some() || mode & 0o6000 != 0 {
                meta::chmod(dst, mode)?;
            }
            if self.how.xattrs {
                meta::copy_xattrs(src, dst);
            }
        }
        let mtime = match self.how.dir_mtime {
            Some(time) if file_type.is_dir() => (time, 0),
            _ => (meta.mtime(), meta.mtime_nsec()),
        };
        meta::set_times(dst, (meta.atime(), meta.atime_nsec()), mtime)
    }
}

/// Makes sure a directory exists at `dst` (not following a symlink there). Returns true when it was created.
fn ensure_dir(root: &Path, dst: &Path, known_absent: bool) -> Result<bool> {
    if !known_absent {
        match fs::symlink_metadata(dst) {
            Ok(m) if m.is_dir() => return Ok(false),
            Ok(_) => {
                return Err(CopyError::NotADirectory {
                    path: display_in_root(root, dst),
                })
            }
            Err(e) if is_missing(&e) => {}
            Err(e) => return Err(CopyError::io("inspect", dst, e)),
        }
    }
    fs::create_dir(dst).map_err(|e| CopyError::io("create directory", dst, e))?;
    Ok(true)
}

/// Clears the way for a non-directory at `dst`: an existing file or symlink is removed, a directory refused.
fn remove_file_target(root: &Path, dst: &Path) -> Result<()> {
    match fs::symlink_metadata(dst) {
        Ok(m) if m.is_dir() => Err(CopyError::CannotReplaceDirectory {
            path: display_in_root(root, dst),
        }),
        Ok(_) => fs::remove_file(dst).map_err(|e| CopyError::io("replace", dst, e)),
        Err(e) if is_missing(&e) => Ok(()),
        Err(e) => Err(CopyError::io("inspect", dst, e)),
    }
}
