//! The build context: a directory, its `.dockerignore`, and content checksums of what COPY reads.
use std::collections::HashMap;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use hoist_store::{ContextTree, StatCacheReader, StatEntry};

use crate::explain::FileList;

use hoist_parser::dockerignore::{self, Matcher};
use sha2::{Digest as _, Sha256};

use crate::error::{BuildError, Result};

pub mod git;
pub mod remote;
mod walk;
use walk::parallel_walk;

pub struct BuildContext {
    root: PathBuf,
    ignore: Matcher,
    /// False for an empty (or missing) `.dockerignore`: nothing to match, skip the matcher per path.
    has_ignore_patterns: bool,
    /// Content digests of context files from earlier builds, by absolute path, trusted while the file's
    /// size, mtime, ctime and inode are unchanged (like git's index). Loaded on a thread of its own while the
    /// build parses and walks (see [`BuildContext::open_loading`]), taken on first use.
    stat_cache: OnceLock<HashMap<String, StatEntry>>,
    /// Reads the stat cache and tree signatures of earlier builds (`None`: a context with no store behind it).
    reader: Option<StatCacheReader>,
    /// The `.dockerignore` patterns, part of a tree signature's key.
    ignore_patterns: Vec<String>,
    /// Walks whose checksum came from a tree signature, by checksum: their file list is made only if asked.
    pending_manifests: Mutex<HashMap<String, Arc<OwnedWalks>>>,
    /// Tree signatures computed in this build, to write back to the store.
    fresh_trees: Mutex<Vec<ContextTree>>,
    /// Digests computed in this build, to write back to the store's stat cache.
    fresh: Mutex<Vec<StatEntry>>,
    /// The file lists behind the checksums of this build (checksum → `(path, "TYPE MODE SIZE DIGEST")`), for
    /// `--explain`.
    manifests: Mutex<HashMap<String, Arc<FileList>>>,
}

/// One entry of a walked source tree, in walk order. Small on purpose: a 20,000-file context is sorted and
/// moved around as a vector of these on every build.
struct Walked {
    /// Relative to the context root (its absolute path is [`BuildContext::abs`]).
    rel: String,
    stat: Stat,
}

/// What the walk keeps of an entry's `lstat`.
#[derive(Debug, Clone, Copy)]
struct Stat {
    mode: u32,
    size: u64,
    mtime_ns: i64,
    ctime_ns: i64,
    ino: u64,
    dev: u64,
    /// Changed too recently for this stat to vouch for the content next time (see [`Stat::racily_clean`]).
    racy: bool,
}

impl Stat {
    /// `walk_started_ns`: when the walk began, before this stat was taken.
    fn of(m: &std::fs::Metadata, walk_started_ns: i64) -> Stat {
        let mut stat = Stat {
            mode: m.mode(),
            size: m.size(),
            mtime_ns: m.mtime() * 1_000_000_000 + m.mtime_nsec(),
            ctime_ns: m.ctime() * 1_000_000_000 + m.ctime_nsec(),
            ino: m.ino(),
            dev: m.dev(),
            racy: false,
        };
        stat.racy = stat.racily_clean(walk_started_ns);
        stat
    }

    /// Whether the entry changed so recently that a further change could keep its timestamps ("racily
    /// clean", as git calls it): its stat cannot vouch for its content next time. How recent depends on the
    /// file system's timestamp granularity: an entry whose timestamp has a fraction of a second lives on one
    /// with fine timestamps (the kernel's coarse clock: a tick, at most 10 ms), where 100 ms is far enough;
    /// whole seconds may mean a file system that counts in seconds (or two, FAT), so 2 s.
    /// `then_ns` is a time before the stat was taken (a later one could call a racy entry clean).
    fn racily_clean(&self, then_ns: i64) -> bool {
        let changed = self.mtime_ns.max(self.ctime_ns);
        let window = if changed % 1_000_000_000 != 0 {
            100_000_000
        } else {
            2_000_000_000
        };
        then_ns - changed <= window
    }

    fn kind(&self) -> u32 {
        self.mode & libc::S_IFMT
    }

    fn is_dir(&self) -> bool {
        self.kind() == libc::S_IFDIR
    }

    fn is_file(&self) -> bool {
        self.kind() == libc::S_IFREG
    }

    fn is_symlink(&self) -> bool {
        self.kind() == libc::S_IFLNK
    }
}

/// Each path a source matched, with what the walk saw below it (empty: the path is missing).
type MatchWalks = Vec<(String, Vec<Walked>)>;

/// The walks of a checksum's sources: each source with its [`MatchWalks`].
type SourceWalks<'s> = [(&'s String, MatchWalks)];

/// [`SourceWalks`] that own their source names (kept for a file list asked for later).
type OwnedWalks = Vec<(String, MatchWalks)>;

fn walks_owned(walks: Vec<(&String, MatchWalks)>) -> OwnedWalks {
    walks
        .into_iter()
        .map(|(src, per_match)| (src.clone(), per_match))
        .collect()
}

/// A hash of what the walk saw of every entry (path, type and mode, size, mtime, ctime, inode, device), and
/// whether it can be trusted next time: not when an entry changed just before the walk, where a change
/// within the same timestamp tick would go unseen ("racily clean", as git calls it; see [`Stat::racy`]).
fn stat_signature(walks: &SourceWalks) -> (String, bool) {
    let mut trustworthy = true;
    let mut h = Sha256::new();
    for (src, per_match) in walks {
        h.update(b"S");
        h.update(src.as_bytes());
        h.update(b"\0");
        for (rel, walked) in per_match {
            h.update(b"M");
            h.update(rel.as_bytes());
            h.update(if walked.is_empty() {
                b"\0missing\0"
            } else {
                b"\0present\0"
            });
            for w in walked {
                let m = &w.stat;
                if m.racy {
                    trustworthy = false;
                }
                h.update(w.rel.as_bytes());
                h.update(b"\0");
                for field in [
                    u64::from(m.mode),
                    m.size,
                    m.mtime_ns as u64,
                    m.ctime_ns as u64,
                    m.ino,
                    m.dev,
                ] {
                    h.update(field.to_le_bytes());
                }
            }
        }
    }
    (hex::encode(h.finalize()), trustworthy)
}

impl BuildContext {
    /// Opens the context dir; `.dockerignore` is read from `<Dockerfile>.dockerignore` next to the Dockerfile when
    /// that exists (it wins), else from the context root. `stat_cache` holds what earlier builds learned.
    pub fn open(root: &Path, dockerfile: &Path, stat_cache: Vec<StatEntry>) -> Result<Self> {
        let context = Self::open_without_stat_cache(root, dockerfile)?;
        let _ = context.stat_cache.set(by_path(stat_cache));
        Ok(context)
    }

    /// [`BuildContext::open`] over the store's stat cache and tree signatures, read from `reader` when a
    /// checksum first needs them.
    pub fn open_loading(root: &Path, dockerfile: &Path, reader: StatCacheReader) -> Result<Self> {
        let mut context = Self::open_without_stat_cache(root, dockerfile)?;
        context.reader = Some(reader);
        Ok(context)
    }

    fn open_without_stat_cache(root: &Path, dockerfile: &Path) -> Result<Self> {
        let root = root
            .canonicalize()
            .map_err(|e| BuildError::io(format!("build context {}", root.display()), e))?;
        if !root.is_dir() {
            return Err(BuildError::other(format!(
                "build context {} is not a directory",
                root.display()
            )));
        }
        let mut candidates = Vec::new();
        if let Some(name) = dockerfile.file_name() {
            let mut specific = name.to_os_string();
            specific.push(".dockerignore");
            candidates.push(dockerfile.with_file_name(specific));
        }
        candidates.push(root.join(".dockerignore"));
        let mut patterns = Vec::new();
        for c in candidates {
            match std::fs::read_to_string(&c) {
                Ok(text) => {
                    patterns = dockerignore::read_patterns(&text);
                    break;
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(BuildError::io(format!("reading {}", c.display()), e)),
            }
        }
        let has_ignore_patterns = patterns.iter().any(|p| !p.trim().is_empty());
        let ignore = Matcher::new(&patterns)
            .map_err(|e| BuildError::other(format!(".dockerignore: {e}")))?;
        Ok(BuildContext {
            root,
            ignore,
            has_ignore_patterns,
            stat_cache: OnceLock::new(),
            reader: None,
            ignore_patterns: patterns,
            pending_manifests: Mutex::default(),
            fresh_trees: Mutex::default(),
            fresh: Mutex::default(),
            manifests: Mutex::default(),
        })
    }

    /// The stat cache of this context, loaded on first use (a failed load only means hashing every file).
    fn known(&self) -> &HashMap<String, StatEntry> {
        self.stat_cache.get_or_init(|| {
            let prefix = format!("{}/", self.root.to_string_lossy());
            self.reader
                .as_ref()
                .and_then(|r| r.under(&prefix).ok())
                .map(by_path)
                .unwrap_or_default()
        })
    }

    /// The absolute path of a context-relative path (`""` is the root).
    fn abs(&self, rel: &str) -> PathBuf {
        if rel.is_empty() {
            self.root.clone()
        } else {
            self.root.join(rel)
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The stat cache entries learned in this build (to store for the next one).
    pub fn take_fresh_stat_entries(&self) -> Vec<StatEntry> {
        self.fresh
            .lock()
            .map(|mut f| std::mem::take(&mut *f))
            .unwrap_or_default()
    }

    /// True when `.dockerignore` keeps `rel` (a path relative to the context root) out of the context.
    pub fn excluded(&self, rel: &str) -> bool {
        if !self.has_ignore_patterns {
            return false;
        }
        let rel = rel.trim_start_matches("./").trim_start_matches('/');
        !rel.is_empty() && self.ignore.excluded(rel)
    }

    /// CopyIgnoredFile: whether `.dockerignore` leaves out the COPY/ADD source `src` (or a directory above it), as
    /// BuildKit judges it: never when a `!` pattern could bring something back, and the context root itself only
    /// when a pattern leaves out everything.
    pub fn copy_source_ignored(&self, src: &str) -> bool {
        if !self.has_ignore_patterns || self.ignore.has_exclusions() {
            return false;
        }
        let rel = clean_rel(src);
        let rel = rel.trim_start_matches('/');
        if rel.is_empty() || rel == "." {
            return self.ignore.ignores_everything();
        }
        self.ignore.excluded(rel)
    }

    /// A checksum of everything COPY/ADD would read for `sources`: names, types, modes, sizes, symlink targets
    /// and file contents (not mtimes or owners — COPY resets owners). `exclusion_id` names what `extra_excluded`
    /// drops (the `--exclude` patterns).
    ///
    /// A no-op rebuild costs one `stat` per file and nothing per file after it: the walk's stat signature
    /// (every path with its type, mode, size, mtime, ctime and inode) is hashed, and when an earlier build saw
    /// the same signature for the same sources its checksum is reused. Otherwise unchanged files come from the
    /// stat cache and new or changed ones are hashed on all cores.
    pub fn checksum(
        &self,
        sources: &[String],
        extra_excluded: &(dyn Fn(&str) -> bool + Sync),
        exclusion_id: &str,
    ) -> Result<String> {
        let mut walks: Vec<(&String, MatchWalks)> = Vec::with_capacity(sources.len());
        for src in sources {
            let mut per_match = Vec::new();
            for rel in self.matches(src)? {
                let walked = self.walk(&rel, extra_excluded)?;
                per_match.push((rel, walked));
            }
            walks.push((src, per_match));
        }
        let tree_key = self.tree_key(sources, exclusion_id);
        let (signature, trustworthy) = stat_signature(&walks);
        if let Some(known) = self
            .reader
            .as_ref()
            .and_then(|r| r.context_tree(&tree_key).ok().flatten())
        {
            if known.signature == signature {
                if let Ok(mut pending) = self.pending_manifests.lock() {
                    pending.insert(known.checksum.clone(), Arc::new(walks_owned(walks)));
                }
                return Ok(known.checksum);
            }
        }
        let (sum, manifest) = self.checksum_walked(&walks)?;
        if trustworthy {
            if let Ok(mut trees) = self.fresh_trees.lock() {
                trees.push(ContextTree {
                    key: tree_key,
                    signature,
                    checksum: sum.clone(),
                });
            }
        }
        if let Ok(mut m) = self.manifests.lock() {
            m.insert(sum.clone(), Arc::new(manifest));
        }
        Ok(sum)
    }

    /// The key of a tree signature: the context, the sources, what is excluded, and the checksum format.
    fn tree_key(&self, sources: &[String], exclusion_id: &str) -> String {
        let mut h = Sha256::new();
        h.update(b"hoist-context-tree-v1\0");
        h.update(self.root.as_os_str().as_encoded_bytes());
        h.update(b"\0");
        h.update(self.ignore_patterns.join("\n").as_bytes());
        h.update(b"\0");
        h.update(exclusion_id.as_bytes());
        for src in sources {
            h.update(b"\0");
            h.update(src.as_bytes());
        }
        hex::encode(h.finalize())
    }

    /// The checksum (and the file list behind it) of walked sources, by content.
    fn checksum_walked<S: AsRef<str>>(
        &self,
        walks: &[(S, MatchWalks)],
    ) -> Result<(String, FileList)> {
        let mut h = Sha256::new();
        let mut manifest = Vec::new();
        for (src, per_match) in walks {
            h.update(b"source\0");
            h.update(src.as_ref().as_bytes());
            h.update(b"\0");
            for (rel, walked) in per_match {
                if walked.is_empty() {
                    h.update(b"missing\0");
                    h.update(rel.as_bytes());
                    manifest.push((rel.clone(), "missing".to_string()));
                    continue;
                }
                let digests = self.file_digests(walked)?;
                for (entry, digest) in walked.iter().zip(digests) {
                    let stat = &entry.stat;
                    h.update(entry.rel.as_bytes());
                    h.update(format!("\0{:o}\0{}\0", stat.mode, stat.size).as_bytes());
                    let kind = if stat.is_dir() {
                        "dir"
                    } else if stat.is_symlink() {
                        "symlink"
                    } else {
                        "file"
                    };
                    let mut what = String::new();
                    if stat.is_symlink() {
                        let abs = self.abs(&entry.rel);
                        let target = std::fs::read_link(&abs).map_err(|e| {
                            BuildError::io(format!("readlink {}", abs.display()), e)
                        })?;
                        h.update(b"link\0");
                        h.update(target.as_os_str().as_encoded_bytes());
                        what = target.to_string_lossy().into_owned();
                    } else if let Some(d) = digest {
                        h.update(d.as_bytes());
                        what = d;
                    }
                    h.update(b"\n");
                    let mode = stat.mode & 0o7777;
                    manifest.push((
                        entry.rel.clone(),
                        format!("{kind} {mode:o} {} {what}", stat.size),
                    ));
                }
            }
        }
        Ok((hex::encode(h.finalize()), manifest))
    }

    /// The file list behind a checksum this build computed (for a checksum reused from an earlier build's
    /// tree signature, made now from the stat cache: only a step that runs needs it).
    pub fn manifest(&self, checksum: &str) -> Option<Arc<FileList>> {
        if let Some(m) = self
            .manifests
            .lock()
            .ok()
            .and_then(|m| m.get(checksum).cloned())
        {
            return Some(m);
        }
        let walks = self.pending_manifests.lock().ok()?.remove(checksum)?;
        let (sum, manifest) = self.checksum_walked(&walks[..]).ok()?;
        let manifest = Arc::new(manifest);
        if let Ok(mut m) = self.manifests.lock() {
            m.insert(sum.clone(), Arc::clone(&manifest));
        }
        (sum == checksum).then_some(manifest)
    }

    /// Tree signatures learned in this build (to store for the next one).
    pub fn take_fresh_trees(&self) -> Vec<ContextTree> {
        self.fresh_trees
            .lock()
            .map(|mut t| std::mem::take(&mut *t))
            .unwrap_or_default()
    }

    /// The context paths (relative) that a COPY source names: the path itself, or every match of a wildcard.
    fn matches(&self, src: &str) -> Result<Vec<String>> {
        let clean = clean_rel(src);
        if !has_wildcard(&clean) {
            return Ok(vec![clean]);
        }
        let glob = globset::GlobBuilder::new(&clean)
            .literal_separator(true)
            .backslash_escape(true)
            .build()
            .map_err(|e| BuildError::other(format!("bad wildcard in COPY source {src:?}: {e}")))?
            .compile_matcher();
        let depth = clean.split('/').count();
        let mut out = Vec::new();
        for entry in walkdir::WalkDir::new(&self.root)
            .min_depth(1)
            .max_depth(depth)
            .sort_by_file_name()
        {
            let entry =
                entry.map_err(|e| BuildError::other(format!("walking the build context: {e}")))?;
            let rel = rel_of(&self.root, entry.path());
            if glob.is_match(&rel) && !self.excluded(&rel) {
                out.push(rel);
            }
        }
        Ok(out)
    }

    /// Every entry under `rel` that the copy would see (sorted; excluded paths left out). Empty when `rel` is
    /// missing. Directories are read on all cores and entries are stat'ed relative to their directory
    /// (`statx(dirfd, name)`): an unchanged context costs one cheap `stat` per file.
    fn walk(
        &self,
        rel: &str,
        extra_excluded: &(dyn Fn(&str) -> bool + Sync),
    ) -> Result<Vec<Walked>> {
        let top = if rel.is_empty() {
            self.root.clone()
        } else {
            self.root.join(rel)
        };
        let started_ns = unix_now_ns();
        if std::fs::symlink_metadata(&top).is_err() {
            return Ok(Vec::new());
        }
        // A symlink named as a source is followed (inside the context): hash what it points to.
        let top_meta = std::fs::metadata(&top)
            .or_else(|_| std::fs::symlink_metadata(&top))
            .map_err(|e| BuildError::io(format!("stat {}", top.display()), e))?;
        let is_dir = top_meta.is_dir();
        let mut out = vec![Walked {
            rel: rel.to_string(),
            stat: Stat::of(&top_meta, started_ns),
        }];
        if !is_dir {
            return Ok(out);
        }
        let skip = |child_rel: &str| self.excluded(child_rel) || extra_excluded(child_rel);
        let mut below = parallel_walk(top, rel.to_string(), started_ns, &skip, &|dir_rel| {
            self.ignore.may_reinclude_under(dir_rel)
        })?;
        out.append(&mut below);
        Ok(out)
    }

    /// The content digest of each regular file in `walked` (`None` for other types): from the stat cache when
    /// the file is unchanged, else hashed, spread over all cores.
    fn file_digests(&self, walked: &[Walked]) -> Result<Vec<Option<String>>> {
        let mut digests: Vec<Option<String>> = vec![None; walked.len()];
        let mut to_hash = Vec::new();
        let known = self.known();
        for (i, w) in walked.iter().enumerate() {
            if !w.stat.is_file() {
                continue;
            }
            let path = self.abs(&w.rel);
            match known.get(path.to_string_lossy().as_ref()) {
                Some(e) if same_file_state(e, &w.stat) => digests[i] = Some(e.digest.clone()),
                _ => to_hash.push(i),
            }
        }
        if to_hash.is_empty() {
            return Ok(digests);
        }
        let threads = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2)
            .min(to_hash.len());
        let chunk = to_hash.len().div_ceil(threads);
        let hashed: Vec<Result<Vec<(usize, String)>>> = std::thread::scope(|scope| {
            let handles: Vec<_> = to_hash
                .chunks(chunk)
                .map(|part| {
                    scope.spawn(move || {
                        part.iter()
                            .map(|&i| hash_file(&self.abs(&walked[i].rel)).map(|d| (i, d)))
                            .collect::<Result<Vec<_>>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err(BuildError::other("a hashing thread panicked")))
                })
                .collect()
        });
        let mut fresh = Vec::new();
        for part in hashed {
            for (i, digest) in part? {
                let w = &walked[i];
                // A file changed just before the walk may change again within the same timestamp tick ("racily
                // clean" in git's words): do not trust its entry next time.
                if !w.stat.racy {
                    fresh.push(StatEntry {
                        path: self.abs(&w.rel).to_string_lossy().into_owned(),
                        size: w.stat.size,
                        mtime_ns: w.stat.mtime_ns,
                        ctime_ns: w.stat.ctime_ns,
                        inode: w.stat.ino,
                        digest: digest.clone(),
                    });
                }
                digests[i] = Some(digest);
            }
        }
        if let Ok(mut f) = self.fresh.lock() {
            f.extend(fresh);
        }
        Ok(digests)
    }
}

/// Now, in nanoseconds since the epoch (the unit of file timestamps).
fn unix_now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

fn by_path(entries: Vec<StatEntry>) -> HashMap<String, StatEntry> {
    entries.into_iter().map(|e| (e.path.clone(), e)).collect()
}

fn same_file_state(e: &StatEntry, stat: &Stat) -> bool {
    e.size == stat.size
        && e.inode == stat.ino
        && e.mtime_ns == stat.mtime_ns
        && e.ctime_ns == stat.ctime_ns
}

fn hash_file(path: &Path) -> Result<String> {
    let mut f = std::fs::File::open(path)
        .map_err(|e| BuildError::io(format!("reading {}", path.display()), e))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 128 * 1024];
    loop {
        let n = f
            .read(&mut buf)
            .map_err(|e| BuildError::io(format!("reading {}", path.display()), e))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(format!("sha256:{}", hex::encode(h.finalize())))
}

pub fn has_wildcard(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// A source path made relative to the context and cleaned: `..` cannot climb above the root.
pub fn clean_rel(src: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for c in Path::new(src).components() {
        match c {
            Component::Normal(p) => parts.push(p.to_str().unwrap_or_default()),
            Component::ParentDir => {
                parts.pop();
            }
            _ => {}
        }
    }
    parts.join("/")
}

fn rel_of(root: &Path, p: &Path) -> String {
    p.strip_prefix(root)
        .map(|r| r.to_string_lossy().into_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parallel_walk_yields_walk_order_and_what_a_skipped_dir_brings_back() {
        let dir = tempfile::tempdir().unwrap();
        for d in ["a/b/c/d", "a/b-x", "a/a", "ab", "skip/keep"] {
            std::fs::create_dir_all(dir.path().join(d)).unwrap();
        }
        for f in [
            "a-c",
            "b",
            "a/b/c/file",
            "skip/gone",
            "skip/keep/f",
            "a/b-x/z",
        ] {
            std::fs::write(dir.path().join(f), f).unwrap();
        }
        let skip = |rel: &str| rel == "skip" || rel == "skip/gone";
        let reinclude = |rel: &str| rel == "skip";
        let walked = parallel_walk(
            dir.path().to_path_buf(),
            String::new(),
            unix_now_ns(),
            &skip,
            &reinclude,
        )
        .unwrap();
        let got: Vec<&str> = walked.iter().map(|w| w.rel.as_str()).collect();
        let mut want = got.clone();
        want.sort_by(|x, y| x.split('/').cmp(y.split('/')));
        assert_eq!(got, want, "pre-order, children by name");
        assert_eq!(
            got,
            [
                "a",
                "a/a",
                "a/b",
                "a/b/c",
                "a/b/c/d",
                "a/b/c/file",
                "a/b-x",
                "a/b-x/z",
                "a-c",
                "ab",
                "b",
                "skip/keep",
                "skip/keep/f"
            ]
        );
    }

    #[test]
    fn racily_clean_depends_on_the_timestamp_granularity() {
        let stat = |changed_ns: i64| Stat {
            mode: 0o100644,
            size: 1,
            mtime_ns: changed_ns,
            ctime_ns: changed_ns,
            ino: 1,
            dev: 1,
            racy: false,
        };
        let ms = 1_000_000;
        let fine = 1_700_000_000_123_456_789;
        assert!(stat(fine).racily_clean(fine + 50 * ms));
        assert!(!stat(fine).racily_clean(fine + 150 * ms));
        // Whole seconds: perhaps a file system that counts in seconds.
        let coarse = 1_700_000_000_000_000_000;
        assert!(stat(coarse).racily_clean(coarse + 1_500 * ms));
        assert!(!stat(coarse).racily_clean(coarse + 2_500 * ms));
        // ctime counts as much as mtime (chmod, a rename over the file).
        let mut touched = stat(fine);
        touched.ctime_ns = fine + 400 * ms;
        assert!(touched.racily_clean(fine + 450 * ms));
    }

    #[test]
    fn clean_rel_stays_inside() {
        assert_eq!(clean_rel("../../etc/passwd"), "etc/passwd");
        assert_eq!(clean_rel("./a/../b/"), "b");
        assert_eq!(clean_rel("/abs/x"), "abs/x");
        assert_eq!(clean_rel("."), "");
    }

    #[test]
    fn checksum_ignores_mtime_but_not_content() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.txt"), "one").unwrap();
        std::fs::write(dir.path().join("Dockerfile"), "FROM scratch").unwrap();
        let ctx =
            BuildContext::open(dir.path(), &dir.path().join("Dockerfile"), Vec::new()).unwrap();
        let none = |_: &str| false;
        let first = ctx.checksum(&["a.txt".into()], &none, "").unwrap();
        let f = std::fs::File::options()
            .write(true)
            .open(dir.path().join("a.txt"))
            .unwrap();
        f.set_modified(std::time::SystemTime::UNIX_EPOCH).unwrap();
        assert_eq!(first, ctx.checksum(&["a.txt".into()], &none, "").unwrap());
        std::fs::write(dir.path().join("a.txt"), "two").unwrap();
        assert_ne!(first, ctx.checksum(&["a.txt".into()], &none, "").unwrap());
    }

    #[test]
    fn dockerignored_files_do_not_change_the_checksum() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("src")).unwrap();
        std::fs::write(dir.path().join("src/main.rs"), "fn main(){}").unwrap();
        std::fs::write(dir.path().join(".dockerignore"), "src/*.log\n").unwrap();
        std::fs::write(dir.path().join("Dockerfile"), "FROM scratch").unwrap();
        let ctx =
            BuildContext::open(dir.path(), &dir.path().join("Dockerfile"), Vec::new()).unwrap();
        let none = |_: &str| false;
        let first = ctx.checksum(&["src".into()], &none, "").unwrap();
        std::fs::write(dir.path().join("src/debug.log"), "noise").unwrap();
        assert_eq!(first, ctx.checksum(&["src".into()], &none, "").unwrap());
        std::fs::write(dir.path().join("src/lib.rs"), "").unwrap();
        assert_ne!(first, ctx.checksum(&["src".into()], &none, "").unwrap());
    }
}
