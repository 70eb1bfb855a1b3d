//! An overlay upper dir → an uncompressed OCI layer tar (the caller hashes it: sha256 = diff ID).
//!
//! Deterministic: entries sorted by name (depth first), numeric uid/gid with no user or group names.
//! Overlay whiteouts (0/0 character devices) become OCI `.wh.NAME` files; an opaque dir
//! (`trusted.overlay.opaque=y`) becomes the dir entry followed by `DIR/.wh..wh..opq`.
//! Of the extended attributes only `security.capability` goes in (a PAX `SCHILY.xattr.*` record), as in the
//! layers Docker writes (its archive package records no other), so that `user.*`, ACLs, SELinux labels and
//! overlayfs' own `trusted.overlay.*` of the build host never reach an image.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use tar::{EntryType, Header};

use crate::layer_reuse::{LayerIndex, ReuseSource};

/// OCI whiteout prefix (`.wh.NAME` deletes NAME from the layers below).
pub const WHITEOUT_PREFIX: &str = ".wh.";
/// OCI opaque-dir marker: hides everything below in the lower layers.
pub const OPAQUE_WHITEOUT: &str = ".wh..wh..opq";
const OVERLAY_OPAQUE_XATTR: &str = "trusted.overlay.opaque";

#[derive(Debug, thiserror::Error)]
pub enum LayerError {
    #[error("could not read {path:?} in the upper dir: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("could not write the layer tar (at {path:?}): {source}")]
    Write { path: PathBuf, source: io::Error },
}

pub type Result<T, E = LayerError> = std::result::Result<T, E>;

/// What went into a layer tar.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct LayerStats {
    /// Tar entries written (files, dirs, links, whiteouts…; not counting PAX/GNU extension headers).
    pub entries: u64,
    /// OCI whiteouts written (`.wh.NAME` and `.wh..wh..opq`).
    pub whiteouts: u64,
    /// Bytes of file content.
    pub content_bytes: u64,
    /// Total size of the tar stream.
    pub tar_bytes: u64,
}

/// Counts the bytes of the tar stream; buffered, because tar writes 512-byte blocks.
pub(crate) struct CountingWriter<'a> {
    inner: io::BufWriter<&'a mut dyn Write>,
    pub(crate) count: u64,
}

impl Write for CountingWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.count += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Write `upper` (an overlay upper dir, not mounted any more or at least quiescent) as a layer tar.
pub fn write_layer_tar(upper: &Path, out: &mut dyn Write) -> Result<LayerStats> {
    write_layer_tar_grafted(upper, out, &mut |_, _, _| Ok(false))
}

/// Entries written into a layer tar from outside the upper dir: see [`write_layer_tar_grafted`].
pub type Graft<'g> = dyn FnMut(&Path, &Path, &mut LayerTar) -> Result<bool> + 'g;

/// [`write_layer_tar`], where `graft` may supply a directory of the upper dir itself: it is called with each
/// directory's path and name (relative to `upper`) before that directory is written; when it returns true it has
/// appended the directory and everything below it (a COPY's new directory, filled from the build context
/// without ever being written to disk), and the upper dir's own (empty) directory is skipped.
pub fn write_layer_tar_grafted(
    upper: &Path,
    out: &mut dyn Write,
    graft: &mut Graft,
) -> Result<LayerStats> {
    write_layer_tar_clamped(upper, out, graft, None)
}

/// [`write_layer_tar_grafted`] with every entry's mtime clamped to `min(mtime, clamp)` when `clamp` is set
/// (`SOURCE_DATE_EPOCH`: the same files give the same layer whenever they were written).
pub fn write_layer_tar_clamped(
    upper: &Path,
    out: &mut dyn Write,
    graft: &mut Graft,
    clamp: Option<i64>,
) -> Result<LayerStats> {
    write_tar(upper, None, out, graft, clamp, &|_| false, None).map(|(stats, _)| stats)
}

/// [`write_layer_tar_clamped`] that takes the unchanged copied files from the step's previous layer when
/// `reuse` gives it, and also returns the index of the copied files it wrote (see `layer_reuse`).
pub fn write_layer_tar_reusing(
    upper: &Path,
    out: &mut dyn Write,
    graft: &mut Graft,
    clamp: Option<i64>,
    reuse: Option<ReuseSource>,
) -> Result<(LayerStats, LayerIndex)> {
    write_tar(upper, None, out, graft, clamp, &|_| false, reuse)
}

/// [`write_layer_tar`] without the entries (and what is below them) whose path relative to `upper` `leave_out`
/// accepts: `hoist commit` leaves out the mount points hoist made in a container's upper dir.
pub fn write_layer_tar_without(
    upper: &Path,
    out: &mut dyn Write,
    leave_out: &dyn Fn(&Path) -> bool,
) -> Result<LayerStats> {
    write_tar(
        upper,
        None,
        out,
        &mut |_, _, _| Ok(false),
        None,
        leave_out,
        None,
    )
    .map(|(stats, _)| stats)
}

/// A plain tar of the tree at `path` (`hoist cp`, `hoist export`), written as a layer's entries are: with
/// `root_name`, `path` itself is the first entry under that name and what is below it follows under
/// `root_name/…` (`path` may be a file); without, only what is below the directory `path`, named relative to
/// it. `owner` replaces every entry's uid and gid (Docker's `cp` without `--archive`). The tree must show no
/// overlay whiteouts (a mounted rootfs, not an upper dir).
pub fn write_tree_tar(
    path: &Path,
    root_name: Option<&Path>,
    owner: Option<(u32, u32)>,
    out: &mut dyn Write,
) -> Result<LayerStats> {
    write_tar(
        path,
        Some(TreeAs { root_name, owner }),
        out,
        &mut |_, _, _| Ok(false),
        None,
        &|_| false,
        None,
    )
    .map(|(stats, _)| stats)
}

/// How [`write_tree_tar`] names and owns the entries of a plain tree.
struct TreeAs<'a> {
    root_name: Option<&'a Path>,
    owner: Option<(u32, u32)>,
}

fn write_tar(
    upper: &Path,
    tree_as: Option<TreeAs>,
    out: &mut dyn Write,
    graft: &mut Graft,
    clamp: Option<i64>,
    leave_out: &dyn Fn(&Path) -> bool,
    reuse: Option<ReuseSource>,
) -> Result<(LayerStats, LayerIndex)> {
    let (root_name, owner) = match tree_as {
        Some(t) => (t.root_name, t.owner),
        None => (None, None),
    };
    let mut writer = LayerTar {
        reuse,
        index: LayerIndex::default(),
        scratch: tar::Builder::new(Vec::new()),
        started: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0),
        mtime_clamp: clamp.map(|c| c.max(0) as u64),
        builder: tar::Builder::new(CountingWriter {
            inner: io::BufWriter::with_capacity(256 * 1024, out),
            count: 0,
        }),
        stats: LayerStats::default(),
        hardlinks: HashMap::new(),
        owner,
    };
    let mut walk = walkdir::WalkDir::new(upper)
        .follow_links(false)
        .follow_root_links(false)
        .min_depth(if root_name.is_some() { 0 } else { 1 })
        .sort_by(|a, b| a.file_name().as_bytes().cmp(b.file_name().as_bytes()))
        .into_iter();
    while let Some(entry) = walk.next() {
        let entry = entry.map_err(|e| {
            let path = e.path().unwrap_or(upper).to_path_buf();
            LayerError::Read {
                path,
                source: e.into(),
            }
        })?;
        let path = entry.path();
        let rel = path.strip_prefix(upper).map_err(|_| LayerError::Read {
            path: path.to_path_buf(),
            source: io::Error::other("outside the upper dir"),
        })?;
        if leave_out(rel) {
            if entry.file_type().is_dir() {
                walk.skip_current_dir();
            }
            continue;
        }
        let renamed;
        let name = match root_name {
            Some(root) if rel.as_os_str().is_empty() => root,
            Some(root) => {
                renamed = root.join(rel);
                renamed.as_path()
            }
            None => rel,
        };
        if entry.file_type().is_dir() && graft(path, name, &mut writer)? {
            walk.skip_current_dir();
            continue;
        }
        writer.add_path(path, name)?;
    }
    let mut builder = writer.builder;
    let stats = writer.stats;
    let index = writer.index;
    builder.finish().map_err(|source| LayerError::Write {
        path: PathBuf::from("(end of archive)"),
        source,
    })?;
    let counted = builder
        .into_inner()
        .and_then(|mut counted| counted.flush().map(|()| counted))
        .map_err(|source| LayerError::Write {
            path: PathBuf::from("(end of archive)"),
            source,
        })?;
    Ok((
        LayerStats {
            tar_bytes: counted.count,
            ..stats
        },
        index,
    ))
}

/// A layer tar being written, in order.
pub struct LayerTar<'w> {
    pub(crate) builder: tar::Builder<CountingWriter<'w>>,
    pub(crate) stats: LayerStats,
    /// The step's previous layer, to take unchanged copied files from (`layer_reuse`).
    pub(crate) reuse: Option<ReuseSource>,
    /// What the copied files written so far were read from (`layer_reuse`).
    pub(crate) index: LayerIndex,
    /// For rendering a copied file's header blocks before they are written.
    pub(crate) scratch: tar::Builder<Vec<u8>>,
    /// When the write began (seconds since the epoch): see `layer_reuse::RACY_SECONDS`.
    pub(crate) started: i64,
    /// (dev, ino) of files with several links → the name they were first written under.
    hardlinks: HashMap<(u64, u64), PathBuf>,
    /// `Some(t)`: no entry's mtime is later than `t` (see [`write_layer_tar_clamped`]).
    mtime_clamp: Option<u64>,
    /// `Some((uid, gid))`: the owner of every entry of the upper dir (see [`write_tree_tar`]).
    owner: Option<(u32, u32)>,
}

/// `header` with its mtime lowered to `clamp` when later.
fn clamped(header: &mut Header, clamp: Option<u64>) -> &mut Header {
    if let (Some(clamp), Ok(mtime)) = (clamp, header.mtime()) {
        if mtime > clamp {
            header.set_mtime(clamp);
            header.set_cksum();
        }
    }
    header
}

/// How an entry read from a file outside the upper dir is written, as a copy of it would have been made
/// (`fileops::CopyRequest::entry_as` says how; the copy applies the same rules on disk).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntryAs {
    /// The owner of every entry (`--chown`, or 0:0 for the build context); `None`: the file's own.
    pub owner: Option<(u32, u32)>,
    /// `--chmod`: its permission bits replace the file's, whose setuid, setgid and sticky bits stay (not for
    /// symlinks).
    pub mode: Option<u32>,
    /// Whether the file's extended attributes are kept (the build context's are not).
    pub xattrs: bool,
    /// `Some`: the mtime of directories instead of their own (the build context's directories get the time
    /// of the copy).
    pub dir_mtime: Option<i64>,
}

impl EntryAs {
    /// The owner a copy of the file described by `meta` gets.
    pub fn owner_of(&self, meta: &std::fs::Metadata) -> (u32, u32) {
        self.owner.unwrap_or((meta.uid(), meta.gid()))
    }

    /// The mode (with setuid, setgid and sticky) a copy of a file of mode `source_mode` gets: BuildKit (Docker
    /// 20.10's fsutil) replaces only the permission bits with --chmod's.
    pub fn mode_of(&self, source_mode: u32) -> u32 {
        match self.mode {
            Some(mode) => (source_mode & 0o7000) | (mode & 0o777),
            None => source_mode & 0o7777,
        }
    }
}

impl LayerTar<'_> {
    /// Appends the upper dir's entry at `path` under `name` (its path relative to the upper dir).
    pub fn add_path(&mut self, path: &Path, name: &Path) -> Result<()> {
        let meta = std::fs::symlink_metadata(path).map_err(|source| LayerError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        self.add(path, name, &meta, None)
    }

    /// Appends `path` (described by `meta`, its `symlink_metadata`) under `name`, as [`EntryAs`] says; the
    /// contents of a directory are not appended. A file with several links that was written before under
    /// the same (dev, ino) becomes a hardlink to it.
    pub fn add_as(
        &mut self,
        path: &Path,
        name: &Path,
        meta: &std::fs::Metadata,
        how: EntryAs,
    ) -> Result<()> {
        self.add(path, name, meta, Some(how))
    }

    fn add(
        &mut self,
        path: &Path,
        name: &Path,
        meta: &std::fs::Metadata,
        how: Option<EntryAs>,
    ) -> Result<()> {
        let read_err = |source| LayerError::Read {
            path: path.to_path_buf(),
            source,
        };
        let ft = meta.file_type();

        if how.is_none() && ft.is_char_device() && meta.rdev() == 0 {
            let file_name = name.file_name().unwrap_or_default();
            let mut wh_name = std::ffi::OsString::from(WHITEOUT_PREFIX);
            wh_name.push(file_name);
            return self.whiteout(&name.with_file_name(wh_name), meta);
        }
        // A copied device node is an empty file, as BuildKit's copy (Docker 20.10's fsutil) makes it.
        let copied_device = how.is_some() && (ft.is_char_device() || ft.is_block_device());

        let mut header = base_header(meta);
        if let (None, Some((uid, gid))) = (how, self.owner) {
            header.set_uid(u64::from(uid));
            header.set_gid(u64::from(gid));
        }
        if let Some(how) = how {
            let (uid, gid) = how.owner_of(meta);
            header.set_uid(u64::from(uid));
            header.set_gid(u64::from(gid));
            if !ft.is_symlink() {
                header.set_mode(how.mode_of(meta.mode()));
            }
            if let (Some(mtime), true) = (how.dir_mtime, ft.is_dir()) {
                header.set_mtime(mtime.max(0) as u64);
            }
        }
        // A copied symlink gets no attributes (the copy sets none on links): nothing to read.
        let reads_xattrs = match how {
            Some(how) => how.xattrs && !ft.is_symlink(),
            None => true,
        };
        let xattrs = if reads_xattrs {
            read_xattrs(path).map_err(read_err)?
        } else {
            Vec::new()
        };
        // A grafted entry is a copy, and a copy never carries overlayfs' attributes (an opaque marker in
        // the build context means nothing).
        let opaque = how.is_none()
            && ft.is_dir()
            && xattrs
                .iter()
                .any(|(k, v)| k == OVERLAY_OPAQUE_XATTR && v.as_slice() == b"y");
        let kept: Vec<(String, Vec<u8>)> = xattrs
            .into_iter()
            .filter(|(k, _)| is_layer_xattr(k))
            .collect();
        if !kept.is_empty() {
            self.pax(name, &kept)?;
        }
        let write_err = |source| LayerError::Write {
            path: path.to_path_buf(),
            source,
        };
        if ft.is_dir() {
            header.set_entry_type(EntryType::Directory);
            header.set_size(0);
            // A trailing slash marks directories, as docker and containerd write them.
            let mut dir_name = name.as_os_str().to_os_string();
            dir_name.push("/");
            self.builder
                .append_data(
                    clamped(&mut header, self.mtime_clamp),
                    Path::new(&dir_name),
                    io::empty(),
                )
                .map_err(write_err)?;
            self.stats.entries += 1;
            if opaque {
                self.whiteout(&name.join(OPAQUE_WHITEOUT), meta)?;
            }
        } else if ft.is_symlink() {
            let target = std::fs::read_link(path).map_err(read_err)?;
            header.set_entry_type(EntryType::Symlink);
            header.set_size(0);
            // The target as readlink(2) gives it: the tar crate's path writer would turn `/` into `//`.
            let literal = target.as_os_str().as_bytes();
            if literal.len() < 100 {
                header.set_link_name_literal(literal).map_err(write_err)?;
                self.builder
                    .append_data(clamped(&mut header, self.mtime_clamp), name, io::empty())
                    .map_err(write_err)?;
            } else {
                self.builder
                    .append_link(clamped(&mut header, self.mtime_clamp), name, &target)
                    .map_err(write_err)?;
            }
            self.stats.entries += 1;
        } else if copied_device {
            header.set_entry_type(EntryType::Regular);
            header.set_size(0);
            self.builder
                .append_data(clamped(&mut header, self.mtime_clamp), name, io::empty())
                .map_err(write_err)?;
            self.stats.entries += 1;
        } else if ft.is_file() {
            if meta.nlink() > 1 {
                let key = (meta.dev(), meta.ino());
                if let Some(first) = self.hardlinks.get(&key) {
                    let first = first.clone();
                    header.set_entry_type(EntryType::Link);
                    header.set_size(0);
                    self.builder
                        .append_link(clamped(&mut header, self.mtime_clamp), name, &first)
                        .map_err(write_err)?;
                    self.stats.entries += 1;
                    return Ok(());
                }
                self.hardlinks.insert(key, name.to_path_buf());
            } else if how.is_some() {
                header.set_entry_type(EntryType::Regular);
                header.set_size(meta.len());
                clamped(&mut header, self.mtime_clamp);
                return self.add_copied_file(path, name, meta, &mut header);
            }
            // O_NOFOLLOW: the entry was a regular file when we looked; never follow a swapped-in link.
            let file = std::fs::OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_NOFOLLOW)
                .open(path)
                .map_err(read_err)?;
            header.set_entry_type(EntryType::Regular);
            header.set_size(meta.len());
            self.builder
                .append_data(
                    clamped(&mut header, self.mtime_clamp),
                    name,
                    ExactSize::new(file, meta.len()),
                )
                .map_err(write_err)?;
            self.stats.entries += 1;
            self.stats.content_bytes += meta.len();
        } else {
            let kind = if ft.is_char_device() {
                EntryType::Char
            } else if ft.is_block_device() {
                EntryType::Block
            } else if ft.is_fifo() {
                EntryType::Fifo
            } else {
                // Sockets cannot be archived; docker skips them too.
                return Ok(());
            };
            header.set_entry_type(kind);
            header.set_size(0);
            if kind != EntryType::Fifo {
                let rdev = meta.rdev();
                header
                    .set_device_major(libc::major(rdev))
                    .and_then(|()| header.set_device_minor(libc::minor(rdev)))
                    .map_err(write_err)?;
            }
            self.builder
                .append_data(clamped(&mut header, self.mtime_clamp), name, io::empty())
                .map_err(write_err)?;
            self.stats.entries += 1;
        }
        Ok(())
    }

    fn whiteout(&mut self, name: &Path, meta: &std::fs::Metadata) -> Result<()> {
        let mut header = Header::new_gnu();
        header.set_entry_type(EntryType::Regular);
        header.set_size(0);
        header.set_mode(0o644);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(meta.mtime().max(0) as u64);
        self.builder
            .append_data(clamped(&mut header, self.mtime_clamp), name, io::empty())
            .map_err(|source| LayerError::Write {
                path: name.to_path_buf(),
                source,
            })?;
        self.stats.entries += 1;
        self.stats.whiteouts += 1;
        Ok(())
    }

    /// A PAX extended header carrying xattrs for the entry that follows.
    fn pax(&mut self, name: &Path, xattrs: &[(String, Vec<u8>)]) -> Result<()> {
        let mut data = Vec::new();
        for (key, value) in xattrs {
            pax_record(&mut data, &format!("SCHILY.xattr.{key}"), value);
        }
        let mut header = Header::new_ustar();
        header.set_entry_type(EntryType::XHeader);
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(0);
        // Like GNU tar: "PaxHeaders.0/NAME", truncated to fit the 100-byte name field.
        let base = name
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut pax_name = format!("PaxHeaders.0/{base}");
        while pax_name.len() > 99 {
            pax_name.pop();
        }
        self.builder
            .append_data(
                clamped(&mut header, self.mtime_clamp),
                &pax_name,
                data.as_slice(),
            )
            .map_err(|source| LayerError::Write {
                path: name.to_path_buf(),
                source,
            })
    }
}

/// Whether an extended attribute goes into a layer: only file capabilities, as Docker's archive writer keeps.
pub fn is_layer_xattr(name: &str) -> bool {
    name == "security.capability"
}

fn base_header(meta: &std::fs::Metadata) -> Header {
    let mut header = Header::new_gnu();
    header.set_mode(meta.mode() & 0o7777);
    header.set_uid(u64::from(meta.uid()));
    header.set_gid(u64::from(meta.gid()));
    header.set_mtime(meta.mtime().max(0) as u64);
    header
}

/// `"LEN key=value\n"`, where LEN counts the whole record including its own digits.
fn pax_record(out: &mut Vec<u8>, key: &str, value: &[u8]) {
    let rest = key.len() + value.len() + 3; // ' ', '=', '\n'
    let mut len = rest + 1;
    while len != rest + len.to_string().len() {
        len = rest + len.to_string().len();
    }
    out.extend_from_slice(len.to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(key.as_bytes());
    out.push(b'=');
    out.extend_from_slice(value);
    out.push(b'\n');
}

/// Extended attributes of `path` (not following symlinks), sorted by name.
fn read_xattrs(path: &Path) -> io::Result<Vec<(String, Vec<u8>)>> {
    let names = match xattr::list(path) {
        Ok(names) => names,
        Err(e) if e.raw_os_error() == Some(libc::ENOTSUP) => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for name in names {
        let Some(key) = name.to_str() else { continue };
        if let Some(value) = xattr::get(path, &name)? {
            out.push((key.to_string(), value));
        }
    }
    out.sort();
    Ok(out)
}

/// A reader that yields exactly `len` bytes: zero-padded if the file shrank, cut if it grew,
/// so the tar header's size is always right.
pub(crate) struct ExactSize {
    file: io::Take<File>,
    remaining: u64,
}

impl ExactSize {
    pub(crate) fn new(file: File, len: u64) -> Self {
        use io::Read;
        ExactSize {
            file: file.take(len),
            remaining: len,
        }
    }

    pub(crate) fn into_file(self) -> File {
        self.file.into_inner()
    }
}

impl io::Read for ExactSize {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.remaining == 0 {
            return Ok(0);
        }
        let n = self.file.read(buf)?;
        let n = if n == 0 {
            let pad = buf.len().min(self.remaining as usize);
            buf[..pad].fill(0);
            pad
        } else {
            n
        };
        self.remaining -= n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn entries(tar_bytes: &[u8]) -> Vec<(String, EntryType, Vec<u8>)> {
        let mut archive = tar::Archive::new(tar_bytes);
        archive
            .entries()
            .unwrap()
            .map(|e| {
                let mut e = e.unwrap();
                let path = e.path().unwrap().to_string_lossy().into_owned();
                let kind = e.header().entry_type();
                let mut data = Vec::new();
                if kind == EntryType::Link || kind == EntryType::Symlink {
                    data = e.link_name_bytes().unwrap().into_owned();
                } else {
                    e.read_to_end(&mut data).unwrap();
                }
                (path, kind, data)
            })
            .collect()
    }

    #[test]
    fn pax_record_length_counts_itself() {
        let mut out = Vec::new();
        pax_record(&mut out, "SCHILY.xattr.user.a", b"b");
        assert_eq!(out, b"25 SCHILY.xattr.user.a=b\n");
        assert_eq!(out.len(), 25);
        let mut out = Vec::new();
        pax_record(&mut out, "k", &[b'v'; 95]);
        assert_eq!(out.len(), 102);
        assert!(out.starts_with(b"102 k="));
    }

    #[test]
    fn sorted_files_dirs_symlinks_hardlinks() {
        let dir = tempfile::tempdir().unwrap();
        let u = dir.path();
        std::fs::create_dir(u.join("b")).unwrap();
        std::fs::write(u.join("b/z"), "zz").unwrap();
        std::fs::write(u.join("a"), "aaa").unwrap();
        std::fs::hard_link(u.join("a"), u.join("c")).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", u.join("b/link")).unwrap();
        let mut out = Vec::new();
        let stats = write_layer_tar(u, &mut out).unwrap();
        let got = entries(&out);
        let names: Vec<&str> = got.iter().map(|(n, _, _)| n.as_str()).collect();
        assert_eq!(names, ["a", "b/", "b/link", "b/z", "c"]);
        assert_eq!(got[0].2, b"aaa");
        assert_eq!(got[2].1, EntryType::Symlink);
        assert_eq!(got[2].2, b"/etc/passwd");
        assert_eq!(got[4].1, EntryType::Link);
        assert_eq!(got[4].2, b"a");
        assert_eq!(stats.entries, 5);
        assert_eq!(stats.content_bytes, 5);
        assert_eq!(stats.tar_bytes, out.len() as u64);

        let mut again = Vec::new();
        write_layer_tar(u, &mut again).unwrap();
        assert_eq!(out, again, "same tree, same bytes");
    }

    #[test]
    fn symlink_targets_are_written_as_readlink_gives_them() {
        let dir = tempfile::tempdir().unwrap();
        for (name, target) in [("root", "/"), ("dot", "./x/"), ("up", "../../..")] {
            std::os::unix::fs::symlink(target, dir.path().join(name)).unwrap();
        }
        let mut out = Vec::new();
        write_layer_tar(dir.path(), &mut out).unwrap();
        let mut archive = tar::Archive::new(out.as_slice());
        let mut links = Vec::new();
        for entry in archive.entries().unwrap() {
            let entry = entry.unwrap();
            let target = entry.link_name_bytes().unwrap().into_owned();
            links.push((entry.path().unwrap().display().to_string(), target));
        }
        let want: Vec<(String, Vec<u8>)> = [("dot", "./x/"), ("root", "/"), ("up", "../../..")]
            .iter()
            .map(|(n, t)| (n.to_string(), t.as_bytes().to_vec()))
            .collect();
        assert_eq!(links, want);
    }

    #[test]
    fn tree_tars_name_the_root_and_replace_owners() {
        let dir = tempfile::tempdir().unwrap();
        let tree = dir.path().join("tree");
        std::fs::create_dir_all(tree.join("sub")).unwrap();
        std::fs::write(tree.join("sub/f"), "f").unwrap();
        let mut out = Vec::new();
        write_tree_tar(&tree, Some(Path::new("copy")), Some((7, 8)), &mut out).unwrap();
        let mut archive = tar::Archive::new(out.as_slice());
        let mut seen = Vec::new();
        for entry in archive.entries().unwrap() {
            let entry = entry.unwrap();
            let header = entry.header();
            assert_eq!((header.uid().unwrap(), header.gid().unwrap()), (7, 8));
            seen.push(entry.path().unwrap().display().to_string());
        }
        assert_eq!(seen, ["copy/", "copy/sub/", "copy/sub/f"]);
        let mut out = Vec::new();
        write_tree_tar(&tree, None, None, &mut out).unwrap();
        let names: Vec<String> = tar::Archive::new(out.as_slice())
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string())
            .collect();
        assert_eq!(names, ["sub/", "sub/f"]);
    }

    #[test]
    fn devices_fifos_and_special_modes_are_kept() {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("skipping: needs root for mknod and chown");
            return;
        }
        use nix::sys::stat::{makedev, mknod, Mode, SFlag};
        let dir = tempfile::tempdir().unwrap();
        let u = dir.path();
        mknod(
            &u.join("null"),
            SFlag::S_IFCHR,
            Mode::from_bits_truncate(0o666),
            makedev(1, 3),
        )
        .unwrap();
        nix::unistd::mkfifo(&u.join("fifo"), Mode::from_bits_truncate(0o600)).unwrap();
        std::fs::write(u.join("suid"), "x").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(u.join("null"), std::fs::Permissions::from_mode(0o666)).unwrap();
        // chown first: it clears the setuid bit.
        std::os::unix::fs::chown(u.join("suid"), Some(1234), Some(5678)).unwrap();
        std::fs::set_permissions(u.join("suid"), std::fs::Permissions::from_mode(0o4755)).unwrap();
        std::fs::create_dir(u.join("sticky")).unwrap();
        std::fs::set_permissions(u.join("sticky"), std::fs::Permissions::from_mode(0o1777))
            .unwrap();

        let mut out = Vec::new();
        write_layer_tar(u, &mut out).unwrap();
        let mut archive = tar::Archive::new(out.as_slice());
        let mut seen = Vec::new();
        for e in archive.entries().unwrap() {
            let e = e.unwrap();
            let h = e.header();
            let name = e.path().unwrap().to_string_lossy().into_owned();
            match name.as_str() {
                "fifo" => assert_eq!(h.entry_type(), EntryType::Fifo),
                "null" => {
                    assert_eq!(h.entry_type(), EntryType::Char);
                    assert_eq!(
                        (h.device_major().unwrap(), h.device_minor().unwrap()),
                        (Some(1), Some(3))
                    );
                    assert_eq!(h.mode().unwrap() & 0o7777, 0o666);
                }
                "suid" => {
                    assert_eq!(h.mode().unwrap(), 0o4755);
                    assert_eq!((h.uid().unwrap(), h.gid().unwrap()), (1234, 5678));
                    assert_eq!(h.username_bytes(), Some(&b""[..]));
                }
                "sticky/" => assert_eq!(h.mode().unwrap(), 0o1777),
                other => panic!("unexpected {other}"),
            }
            seen.push(name);
        }
        assert_eq!(seen, ["fifo", "null", "sticky/", "suid"]);
    }

    #[test]
    fn whiteouts_and_opaque_dirs_become_oci_markers() {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("skipping: needs root for mknod and trusted.* xattrs");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let u = dir.path();
        std::fs::create_dir(u.join("etc")).unwrap();
        nix::sys::stat::mknod(
            &u.join("etc/gone"),
            nix::sys::stat::SFlag::S_IFCHR,
            nix::sys::stat::Mode::empty(),
            0,
        )
        .unwrap();
        std::fs::create_dir(u.join("opq")).unwrap();
        std::fs::write(u.join("opq/new"), "n").unwrap();
        xattr::set(u.join("opq"), "trusted.overlay.opaque", b"y").unwrap();
        xattr::set(u.join("opq/new"), "user.dropped", b"1").unwrap();
        let caps: [u8; 20] = [1, 0, 0, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        xattr::set(u.join("opq/new"), "security.capability", &caps).unwrap();
        let mut out = Vec::new();
        let stats = write_layer_tar(u, &mut out).unwrap();
        let got = entries(&out);
        let names: Vec<&str> = got.iter().map(|(n, _, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "etc/",
                "etc/.wh.gone",
                "opq/",
                "opq/.wh..wh..opq",
                "opq/new"
            ]
        );
        assert_eq!(stats.whiteouts, 2);

        let mut archive = tar::Archive::new(out.as_slice());
        for e in archive.entries().unwrap() {
            let mut e = e.unwrap();
            let path = e.path().unwrap().into_owned();
            let pax: Vec<(String, Vec<u8>)> = e
                .pax_extensions()
                .unwrap()
                .map(|exts| {
                    exts.map(|x| {
                        let x = x.unwrap();
                        (x.key().unwrap().to_string(), x.value_bytes().to_vec())
                    })
                    .collect()
                })
                .unwrap_or_default();
            if path == Path::new("opq/new") {
                // Only file capabilities, as in the layers Docker writes.
                assert_eq!(
                    pax,
                    [(
                        "SCHILY.xattr.security.capability".to_string(),
                        caps.to_vec()
                    )]
                );
            } else {
                assert!(
                    pax.iter().all(|(k, _)| !k.contains("trusted.overlay")),
                    "{path:?}: {pax:?}"
                );
            }
        }
    }
}
