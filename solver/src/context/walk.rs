//! The context walk: a directory tree read on all cores, in the order a sorted walk would give.
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::{Stat, Walked};
use crate::error::{BuildError, Result};

/// Reads the directory tree below `top` (whose context-relative path is `top_rel`) on all cores: every entry
/// that `skip` keeps, with its `lstat`, in walk order (pre-order, children sorted by name: the component-wise
/// order of the paths). A skipped directory is still read when `reinclude` says a `!` pattern may bring back
/// something below it. Each directory is sorted by the thread that read it; the tree is stitched together
/// at the end, so no sort over the whole tree runs on one core.
pub(super) fn parallel_walk(
    top: PathBuf,
    top_rel: String,
    walk_started_ns: i64,
    skip: &(dyn Fn(&str) -> bool + Sync),
    reinclude: &(dyn Fn(&str) -> bool + Sync),
) -> Result<Vec<Walked>> {
    struct Queue {
        dirs: Vec<(PathBuf, String)>,
        busy: usize,
        failed: Option<BuildError>,
    }
    let queue = Mutex::new(Queue {
        dirs: vec![(top, top_rel.clone())],
        busy: 0,
        failed: None,
    });
    let wake = std::sync::Condvar::new();
    let read_one = |dir: &Path,
                    dir_rel: &str,
                    found: &mut Vec<Listed>,
                    subdirs: &mut Vec<(PathBuf, String)>|
     -> Result<()> {
        let entries = std::fs::read_dir(dir)
            .map_err(|e| BuildError::io(format!("reading {}", dir.display()), e))?;
        for entry in entries {
            let entry =
                entry.map_err(|e| BuildError::io(format!("reading {}", dir.display()), e))?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            let mut rel = String::with_capacity(dir_rel.len() + 1 + name.len());
            if !dir_rel.is_empty() {
                rel.push_str(dir_rel);
                rel.push('/');
            }
            rel.push_str(&name);
            if skip(&rel) {
                let is_dir = entry.file_type().map(|t| t.is_dir()).unwrap_or(false);
                if is_dir && reinclude(&rel) {
                    subdirs.push((entry.path(), rel.clone()));
                    found.push(Listed::SkippedDir(rel));
                }
                continue;
            }
            // statx(dirfd, name): no path walk from the root.
            let meta = entry
                .metadata()
                .map_err(|e| BuildError::io(format!("stat {}", entry.path().display()), e))?;
            let stat = Stat::of(&meta, walk_started_ns);
            if stat.is_dir() {
                subdirs.push((entry.path(), rel.clone()));
            }
            found.push(Listed::Entry(Walked { rel, stat }));
        }
        // Names in one directory share its prefix: byte order of the paths is the order of the names.
        found.sort_unstable_by(|a, b| a.rel().cmp(b.rel()));
        Ok(())
    };
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
        .clamp(1, 8);
    let worker = || -> Vec<DirListing> {
        let mut listings = Vec::new();
        loop {
            let (dir, dir_rel) = {
                let mut q = queue.lock().unwrap_or_else(|p| p.into_inner());
                loop {
                    if q.failed.is_some() {
                        return listings;
                    }
                    if let Some(job) = q.dirs.pop() {
                        q.busy += 1;
                        break job;
                    }
                    if q.busy == 0 {
                        return listings;
                    }
                    q = wake.wait(q).unwrap_or_else(|p| p.into_inner());
                }
            };
            let mut subdirs = Vec::new();
            let mut found = Vec::new();
            let outcome = read_one(&dir, &dir_rel, &mut found, &mut subdirs);
            listings.push((dir_rel, found));
            let mut q = queue.lock().unwrap_or_else(|p| p.into_inner());
            q.busy -= 1;
            match outcome {
                Ok(()) => q.dirs.extend(subdirs),
                Err(e) => {
                    q.failed.get_or_insert(e);
                }
            }
            drop(q);
            wake.notify_all();
        }
    };
    let parts: Vec<Option<Vec<DirListing>>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (1..threads).map(|_| scope.spawn(worker)).collect();
        let mut parts = vec![Some(worker())];
        parts.extend(handles.into_iter().map(|h| h.join().ok()));
        parts
    });
    // A lost part would silently drop files from the checksum: a panicked walker fails the build.
    let parts: Vec<Vec<DirListing>> = parts
        .into_iter()
        .collect::<Option<_>>()
        .ok_or_else(|| BuildError::other("a thread walking the build context panicked"))?;
    if let Some(e) = queue.into_inner().unwrap_or_else(|p| p.into_inner()).failed {
        return Err(e);
    }
    let mut listings: HashMap<String, Vec<Listed>> = parts.into_iter().flatten().collect();
    let total = listings.values().map(Vec::len).sum();
    let mut out = Vec::with_capacity(total);
    // Pre-order, with an explicit stack (a deep tree must not overflow the thread's stack): each frame is the
    // rest of one directory's sorted listing.
    let mut stack: Vec<std::vec::IntoIter<Listed>> = Vec::new();
    if let Some(top) = listings.remove(&top_rel) {
        stack.push(top.into_iter());
    }
    while let Some(frame) = stack.last_mut() {
        let Some(item) = frame.next() else {
            stack.pop();
            continue;
        };
        let below = match item {
            Listed::Entry(walked) => {
                let below = walked
                    .stat
                    .is_dir()
                    .then(|| listings.remove(&walked.rel))
                    .flatten();
                out.push(walked);
                below
            }
            Listed::SkippedDir(rel) => listings.remove(&rel),
        };
        if let Some(listing) = below {
            stack.push(listing.into_iter());
        }
    }
    Ok(out)
}

/// A directory's context-relative path and its sorted listing.
type DirListing = (String, Vec<Listed>);

/// One name in a directory listing of [`parallel_walk`].
enum Listed {
    Entry(Walked),
    /// Excluded, but read for what a `!` pattern brings back below it.
    SkippedDir(String),
}

impl Listed {
    fn rel(&self) -> &str {
        match self {
            Listed::Entry(w) => &w.rel,
            Listed::SkippedDir(rel) => rel,
        }
    }
}
