//! Delta snapshots: a layer unpacked as the difference from an earlier, similar layer whose snapshot is
//! already on disk, instead of every file again.
//!
//! A `COPY . /app` of a big context makes a new layer whenever one file changes; unpacking it is ~20,000
//! inode creations. The delta holds only what differs between the two layers' tars: the entries added or
//! changed (with the directories above them), and an overlay whiteout for each removed path. Mounted over the
//! base's snapshot it shows exactly the new layer's tree over any lower layers, except at its *shadowed
//! paths* (see [`LayerDiff::shadowed`]): there it is exact only over lower layers that have nothing at those
//! paths, which `shadow.rs` checks for each stack the delta is mounted in.
//!
//! The difference is exact: both tars are read side by side (layer tars are written depth first, each
//! directory's entries sorted by name, so a merge of the two streams pairs equal paths) and each pair is
//! compared header, PAX records and bytes. A delta always sits on a *full* snapshot (a delta's base that is
//! itself a delta is replaced by the full snapshot below it), so a stack is never more than two deep and the
//! 100th edit costs what the first did; a delta that would be big is not made (the layer is unpacked in full,
//! and becomes the base of the next ones).

use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};
use std::io::{self, Read};
use std::path::PathBuf;

use tar::EntryType;

use crate::error::{Result, StoreError};

/// A delta is made only while what it writes stays under this share of the layer's size (in 1/N): beyond,
/// unpacking in full costs about as much and gives a new base for the next deltas.
pub(crate) const MAX_SHARE_DIVISOR: u64 = 4;

/// What differs between two layer tars: the new layer's entries to write (by cleaned path), the paths to
/// white out, the files that became directories, and about how many bytes the delta takes.
#[derive(Debug, Default)]
pub(crate) struct LayerDiff {
    pub write: HashSet<Vec<u8>>,
    /// Base paths the new layer does not have (only the topmost of a removed tree): each gets a whiteout.
    pub removed: Vec<Vec<u8>>,
    /// Base non-directories that are directories in the new layer.
    pub file_to_dir: Vec<Vec<u8>>,
    pub bytes: u64,
    /// Where the entries of `write` start in the new layer's tar (their first header block), so that making
    /// the delta reads those entries alone instead of every header of the layer.
    pub starts: HashMap<Vec<u8>, u64>,
}

impl LayerDiff {
    /// The paths where the delta over its base hides more than the new layer would: a whiteout hides what
    /// lower layers have at its path, where the full layer hides nothing; and the base's file under a new
    /// directory stops that directory merging with lower layers' directory of the same path. Over lower
    /// layers that have nothing at any of these, the delta over its base is exactly the layer.
    pub fn shadowed(&self) -> Vec<Vec<u8>> {
        let mut paths = self.removed.clone();
        paths.extend(self.file_to_dir.iter().cloned());
        paths
    }

    /// The offsets in the new layer's tar of the entries to write, in order (a directory above a written
    /// entry that the tar does not list has none: there is nothing to read for it).
    pub fn entry_starts(&self) -> Vec<u64> {
        let mut starts: Vec<u64> = self
            .write
            .iter()
            .filter_map(|p| self.starts.get(p).copied())
            .collect();
        starts.sort_unstable();
        starts
    }
}

/// `./a//b/` → `a/b`: the path as the unpacker resolves it (empty components and `.` dropped).
pub(crate) fn clean_path(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    for part in raw.split(|b| *b == b'/') {
        if part.is_empty() || part == b"." {
            continue;
        }
        if !out.is_empty() {
            out.push(b'/');
        }
        out.extend_from_slice(part);
    }
    out
}

/// Depth-first order with each directory's entries sorted by name bytes: the order of hoist's layer tars.
fn tree_order(a: &[u8], b: &[u8]) -> Ordering {
    a.split(|c| *c == b'/').cmp(b.split(|c| *c == b'/'))
}

/// Whether `path` is `dir` or lies under it.
fn is_under(path: &[u8], dir: &[u8]) -> bool {
    path.starts_with(dir) && (path.len() == dir.len() || path[dir.len()] == b'/')
}

/// One entry of a tar as far as comparing needs: its cleaned path, raw header and PAX records.
struct Seen {
    path: Vec<u8>,
    header: [u8; 512],
    pax: Vec<(Vec<u8>, Vec<u8>)>,
    kind: EntryType,
    size: u64,
    /// Offset of the entry's first header block in its tar.
    start: u64,
}

/// Why a delta cannot stand for the new layer: the caller unpacks it in full instead.
#[derive(Debug)]
pub(crate) struct NoDelta(#[allow(dead_code)] pub &'static str);

/// The next entry of a [`Stream`] (`None` at its end), or why there is no delta.
type Next<'a, R> = std::result::Result<Option<(Seen, tar::Entry<'a, R>)>, NoDelta>;

/// A stream of one tar's entries in tree order; any entry a delta cannot express ends the diff.
struct Stream<'a, R: Read> {
    entries: tar::Entries<'a, R>,
    label: &'a str,
    last: Option<Vec<u8>>,
    /// Where the next entry's first header block is: the end of the last entry's data.
    next_start: u64,
}

impl<'a, R: Read> Stream<'a, R> {
    fn next(&mut self) -> Result<Next<'a, R>> {
        let Some(entry) = self.entries.next() else {
            return Ok(Ok(None));
        };
        let mut entry = entry.map_err(|source| StoreError::Tar {
            what: self.label.to_string(),
            source,
        })?;
        let path = clean_path(&entry.path_bytes());
        let kind = entry.header().entry_type();
        let name = path.rsplit(|c| *c == b'/').next().unwrap_or_default();
        if name.starts_with(b".wh.") {
            return Ok(Err(NoDelta("a layer has whiteouts")));
        }
        if !matches!(
            kind,
            EntryType::Regular
                | EntryType::Directory
                | EntryType::Symlink
                | EntryType::Char
                | EntryType::Block
                | EntryType::Fifo
        ) {
            // Hardlinks name another entry, which may not be in the delta; other kinds are rare.
            return Ok(Err(NoDelta("a layer has hardlinks or unusual entries")));
        }
        if let Some(last) = &self.last {
            if tree_order(last, &path) != Ordering::Less {
                return Ok(Err(NoDelta("a layer's entries are not in tree order")));
            }
        }
        let mut header = [0u8; 512];
        header.copy_from_slice(entry.header().as_bytes());
        let mut pax = Vec::new();
        if let Ok(Some(records)) = entry.pax_extensions() {
            for record in records.flatten() {
                pax.push((record.key_bytes().to_vec(), record.value_bytes().to_vec()));
            }
        }
        let size = entry.size();
        let start = self.next_start;
        self.next_start = entry.raw_file_position() + size.div_ceil(512) * 512;
        self.last = Some(path.clone());
        Ok(Ok(Some((
            Seen {
                path,
                header,
                pax,
                kind,
                size,
                start,
            },
            entry,
        ))))
    }
}

/// Whether two readers give the same bytes (both read to their end, or to the first difference), through
/// `buffers` (two of the same length, reused for every entry).
fn same_bytes(
    a: &mut impl Read,
    b: &mut impl Read,
    buffers: &mut (Vec<u8>, Vec<u8>),
) -> io::Result<bool> {
    let (buf_a, buf_b) = buffers;
    loop {
        let n = read_full(a, buf_a)?;
        let m = read_full(b, buf_b)?;
        if n != m || buf_a[..n] != buf_b[..m] {
            return Ok(false);
        }
        if n == 0 {
            return Ok(true);
        }
    }
}

fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match r.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Compares the new layer's tar with the base layer's, both uncompressed and in tree order. `new_size` is
/// the new layer's size (for the size bound).
///
/// A removed path, or a file turned directory, is a *shadowed path* of the delta ([`LayerDiff::shadowed`]):
/// the delta is exact only over lower layers that have nothing there. A delta snapshot is reused wherever its
/// layer is mounted, so that is checked for each stack it is mounted in (`shadow.rs`), not here. (`_below` is
/// kept for the callers' sake.)
pub(crate) fn diff_layers(
    new: impl Read,
    base: impl Read,
    new_size: u64,
    _below: &[PathBuf],
    label: &str,
) -> Result<std::result::Result<LayerDiff, NoDelta>> {
    let mut new_archive = tar::Archive::new(new);
    let mut base_archive = tar::Archive::new(base);
    let tar_err = |source| StoreError::Tar {
        what: label.to_string(),
        source,
    };
    let mut new_stream = Stream {
        entries: new_archive.entries().map_err(tar_err)?,
        label,
        last: None,
        next_start: 0,
    };
    let mut base_stream = Stream {
        entries: base_archive.entries().map_err(tar_err)?,
        label,
        last: None,
        next_start: 0,
    };
    let mut diff = LayerDiff::default();
    let mut buffers = (vec![0u8; 64 * 1024], vec![0u8; 64 * 1024]);
    let mut new_cur = match new_stream.next()? {
        Ok(e) => e,
        Err(no) => return Ok(Err(no)),
    };
    let mut base_cur = match base_stream.next()? {
        Ok(e) => e,
        Err(no) => return Ok(Err(no)),
    };
    // A base path removed (or replaced by a non-directory) hides everything under it at once.
    let mut hidden: Option<Vec<u8>> = None;
    // Where the new layer's directories start: a directory above a written entry is written too.
    let mut dir_starts: HashMap<Vec<u8>, u64> = HashMap::new();
    loop {
        let order = match (&new_cur, &base_cur) {
            (None, None) => break,
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (Some((n, _)), Some((b, _))) => tree_order(&n.path, &b.path),
        };
        match order {
            Ordering::Less => {
                if let Some((seen, _)) = new_cur.take() {
                    note_dir(&mut dir_starts, &seen);
                    write(&mut diff, &seen);
                }
                new_cur = match new_stream.next()? {
                    Ok(e) => e,
                    Err(no) => return Ok(Err(no)),
                };
            }
            Ordering::Greater => {
                if let Some((seen, _)) = base_cur.take() {
                    if !hidden.as_deref().is_some_and(|h| is_under(&seen.path, h)) {
                        if std::str::from_utf8(&seen.path).is_err() {
                            // An overlay whiteout is made from a `.wh.` name, which must be UTF-8.
                            return Ok(Err(NoDelta("a removed path is not UTF-8")));
                        }
                        // One whiteout hides the path and everything under it.
                        mark_parents(&mut diff, &seen.path);
                        diff.bytes += 512;
                        diff.removed.push(seen.path.clone());
                        hidden = Some(seen.path);
                    }
                }
                base_cur = match base_stream.next()? {
                    Ok(e) => e,
                    Err(no) => return Ok(Err(no)),
                };
            }
            Ordering::Equal => {
                let (Some((n, mut n_entry)), Some((b, mut b_entry))) =
                    (new_cur.take(), base_cur.take())
                else {
                    break;
                };
                let same = n.header == b.header
                    && n.pax == b.pax
                    && n.size == b.size
                    && same_bytes(&mut n_entry, &mut b_entry, &mut buffers).map_err(|source| {
                        StoreError::Tar {
                            what: label.to_string(),
                            source,
                        }
                    })?;
                drop((n_entry, b_entry));
                note_dir(&mut dir_starts, &n);
                if !same {
                    let n_dir = n.kind == EntryType::Directory;
                    let b_dir = b.kind == EntryType::Directory;
                    if n_dir && !b_dir {
                        diff.file_to_dir.push(n.path.clone());
                    }
                    if b_dir && !n_dir {
                        // The new non-directory hides the base directory and all of it.
                        hidden = Some(n.path.clone());
                    }
                    write(&mut diff, &n);
                }
                new_cur = match new_stream.next()? {
                    Ok(e) => e,
                    Err(no) => return Ok(Err(no)),
                };
                base_cur = match base_stream.next()? {
                    Ok(e) => e,
                    Err(no) => return Ok(Err(no)),
                };
            }
        }
        if diff.bytes > new_size / MAX_SHARE_DIVISOR {
            return Ok(Err(NoDelta("too much changed")));
        }
    }
    for path in &diff.write {
        if let Some(start) = dir_starts.get(path) {
            diff.starts.entry(path.clone()).or_insert(*start);
        }
    }
    Ok(Ok(diff))
}

fn note_dir(dir_starts: &mut HashMap<Vec<u8>, u64>, seen: &Seen) {
    if seen.kind == EntryType::Directory {
        dir_starts.insert(seen.path.clone(), seen.start);
    }
}

fn write(diff: &mut LayerDiff, seen: &Seen) {
    mark_parents(diff, &seen.path);
    if diff.write.insert(seen.path.clone()) {
        diff.bytes += 512 + seen.size;
    }
    diff.starts.insert(seen.path.clone(), seen.start);
}

/// The directories above a written entry or a whiteout are written too, with the new layer's attributes
/// (in a merged view the topmost directory's attributes are the ones seen).
fn mark_parents(diff: &mut LayerDiff, path: &[u8]) {
    let mut end = path.len();
    while let Some(slash) = path[..end].iter().rposition(|c| *c == b'/') {
        if !diff.write.insert(path[..slash].to_vec()) {
            break;
        }
        diff.bytes += 512;
        end = slash;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar_of(entries: &[(&str, Option<&[u8]>, u32)]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (path, data, mode) in entries {
            let mut h = tar::Header::new_ustar();
            h.set_mode(*mode);
            h.set_mtime(1);
            match data {
                Some(d) => {
                    h.set_entry_type(EntryType::Regular);
                    h.set_size(d.len() as u64);
                    b.append_data(&mut h, path, *d).unwrap();
                }
                None => {
                    h.set_entry_type(EntryType::Directory);
                    h.set_size(0);
                    b.append_data(&mut h, path, io::empty()).unwrap();
                }
            }
        }
        b.into_inner().unwrap()
    }

    fn diff(new: &[u8], base: &[u8]) -> std::result::Result<LayerDiff, NoDelta> {
        diff_layers(new, base, 1 << 30, &[], "test").unwrap()
    }

    fn sorted(set: &HashSet<Vec<u8>>) -> Vec<String> {
        let mut v: Vec<String> = set
            .iter()
            .map(|p| String::from_utf8_lossy(p).into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn paths_are_cleaned_and_ordered_depth_first() {
        assert_eq!(clean_path(b"./a//b/"), b"a/b".to_vec());
        assert_eq!(clean_path(b"/"), b"".to_vec());
        // `a/z` comes before `a-b` in a depth-first walk, though '/' sorts after '-'.
        assert_eq!(tree_order(b"a/z", b"a-b"), Ordering::Less);
        assert_eq!(tree_order(b"a", b"a/b"), Ordering::Less);
    }

    #[test]
    fn each_written_entry_is_read_from_where_it_starts() {
        let long = format!("app/{}", "l".repeat(120));
        let base = tar_of(&[
            ("app/", None, 0o755),
            ("app/a", Some(b"one"), 0o644),
            (&long, Some(&[7u8; 700]), 0o644),
            ("app/sub/", None, 0o755),
            ("app/sub/z", Some(b"z"), 0o644),
        ]);
        let new = tar_of(&[
            ("app/", None, 0o755),
            ("app/a", Some(b"one"), 0o644),
            (&long, Some(&[8u8; 700]), 0o644),
            ("app/sub/", None, 0o755),
            ("app/sub/z", Some(b"Z"), 0o644),
        ]);
        let d = diff(&new, &base).unwrap();
        let starts = d.entry_starts();
        assert_eq!(starts.len(), 4, "app, the long name, app/sub and app/sub/z");
        let mut found = Vec::new();
        for start in starts {
            let mut archive = tar::Archive::new(&new[start as usize..]);
            let entry = archive.entries().unwrap().next().unwrap().unwrap();
            found.push(String::from_utf8(clean_path(&entry.path_bytes())).unwrap());
        }
        assert_eq!(found, ["app", long.as_str(), "app/sub", "app/sub/z"]);
    }

    #[test]
    fn changed_added_and_removed_entries_are_found() {
        let base = tar_of(&[
            ("app/", None, 0o755),
            ("app/a", Some(b"one"), 0o644),
            ("app/b", Some(b"two"), 0o644),
            ("app/gone/", None, 0o755),
            ("app/gone/x", Some(b"x"), 0o644),
            ("app/same", Some(b"same"), 0o644),
        ]);
        let new = tar_of(&[
            ("app/", None, 0o755),
            ("app/a", Some(b"ONE"), 0o644),
            ("app/b", Some(b"two"), 0o600),
            ("app/gone/", None, 0o755),
            ("app/gone/x", Some(b"x"), 0o644),
            ("app/new", Some(b"new"), 0o644),
            ("app/same", Some(b"same"), 0o644),
        ]);
        let d = diff(&new, &base).unwrap();
        assert_eq!(sorted(&d.write), ["app", "app/a", "app/b", "app/new"]);
        assert!(d.removed.is_empty());
        // A removed directory is one whiteout (nothing for what was under it), a shadowed path.
        let without_gone = tar_of(&[
            ("app/", None, 0o755),
            ("app/a", Some(b"one"), 0o644),
            ("app/b", Some(b"two"), 0o644),
            ("app/same", Some(b"same"), 0o644),
        ]);
        let d = diff(&without_gone, &base).unwrap();
        assert_eq!(sorted(&d.write), ["app"]);
        assert_eq!(d.removed, [b"app/gone".to_vec()]);
        assert_eq!(d.shadowed(), [b"app/gone".to_vec()]);
        // A removed file, and a removed last entry.
        let without_same = tar_of(&[
            ("app/", None, 0o755),
            ("app/a", Some(b"one"), 0o644),
            ("app/gone/", None, 0o755),
            ("app/gone/x", Some(b"x"), 0o644),
        ]);
        let d = diff(&without_same, &base).unwrap();
        assert_eq!(d.removed, [b"app/b".to_vec(), b"app/same".to_vec()]);
        assert!(d.file_to_dir.is_empty());
    }

    #[test]
    fn a_directory_turned_file_hides_its_tree_a_file_turned_directory_is_shadowed() {
        let base = tar_of(&[
            ("x", Some(b"file"), 0o644),
            ("y/", None, 0o755),
            ("y/in", Some(b"i"), 0o644),
        ]);
        let new = tar_of(&[
            ("x", Some(b"file"), 0o644),
            ("y", Some(b"now a file"), 0o644),
        ]);
        let d = diff(&new, &base).unwrap();
        assert_eq!(sorted(&d.write), ["y"]);
        assert!(d.removed.is_empty(), "y/in is hidden by the file y");
        assert!(d.shadowed().is_empty());
        let new = tar_of(&[
            ("x/", None, 0o755),
            ("x/in", Some(b"n"), 0o644),
            ("y/", None, 0o755),
            ("y/in", Some(b"i"), 0o644),
        ]);
        let d = diff(&new, &base).unwrap();
        assert_eq!(sorted(&d.write), ["x", "x/in"]);
        assert!(d.removed.is_empty());
        // The base file x would stop x/ merging with lower layers' x/.
        assert_eq!(d.shadowed(), [b"x".to_vec()]);
    }

    #[test]
    fn whiteouts_hardlinks_and_disorder_mean_no_delta() {
        let base = tar_of(&[("a", Some(b"1"), 0o644)]);
        assert!(diff(
            &tar_of(&[("a", Some(b"1"), 0o644), (".wh.b", Some(b""), 0o644)]),
            &base
        )
        .is_err());
        assert!(diff(
            &tar_of(&[("b", Some(b"1"), 0o644), ("a", Some(b"1"), 0o644)]),
            &base
        )
        .is_err());
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(EntryType::Link);
        h.set_size(0);
        b.append_link(&mut h, "c", "a").unwrap();
        assert!(diff(&b.into_inner().unwrap(), &base).is_err());
    }

    #[test]
    fn a_big_change_means_no_delta() {
        let base = tar_of(&[("a", Some(&[1u8; 4096]), 0o644)]);
        let new = tar_of(&[("a", Some(&[2u8; 4096]), 0o644)]);
        assert!(diff_layers(&new[..], &base[..], new.len() as u64, &[], "t")
            .unwrap()
            .is_err());
    }
}
