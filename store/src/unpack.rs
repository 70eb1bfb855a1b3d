//! Unpacking a layer tar into a directory in overlay format, without ever touching anything outside it.
//!
//! Every path is resolved with `openat2(RESOLVE_IN_ROOT)` relative to the destination, so `..`, absolute paths
//! and symlinks made by earlier entries all stay inside it (as if the destination were `/`); the final component
//! is never followed. `..` components are refused outright: no well-formed layer has them.

use std::collections::HashSet;
use std::ffi::{OsStr, OsString};
use std::io::{self, Read};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use nix::errno::Errno;
use nix::fcntl::AtFlags;
use nix::fcntl::{openat, openat2, OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::{
    fchmodat, fstatat, mkdirat, mknodat, utimensat, FchmodatFlags, Mode, SFlag, UtimensatFlags,
};
use nix::unistd::{fchownat, linkat, symlinkat, Gid, Uid};
use tar::EntryType;

use crate::error::{Result, StoreError};
use crate::unpack_pool::{FileJob, FilePool, MAX_WORKER_FILE};
use crate::unpack_write::{
    apply_fd_meta, bad_entry, parse_pax_time, sys_error, timespec, write_file, xattr_set_fd, Meta,
};

/// Whiteout prefix in OCI layers.
const WHITEOUT_PREFIX: &str = ".wh.";
/// Marks the directory holding it as opaque.
const OPAQUE_WHITEOUT: &str = ".wh..wh..opq";
/// Prefix of aufs-internal entries (`.wh..wh.plnk` …), which carry no meaning for overlay.
const AUFS_META_PREFIX: &str = ".wh..wh.";
/// The xattr overlayfs reads to treat a directory as opaque.
pub(crate) const OVERLAY_OPAQUE_XATTR: &str = "trusted.overlay.opaque";

/// How to unpack.
#[derive(Debug, Clone, Copy)]
pub struct UnpackOptions {
    /// Convert OCI whiteouts (`.wh.NAME`, `.wh..wh..opq`) to overlay ones (0/0 char device, opaque xattr).
    /// Off for plain archives (`ADD app.tar /`), where such names are ordinary files.
    pub overlay_whiteouts: bool,
    /// Entries unpacked by the reading thread alone before worker threads start writing regular files
    /// (see `unpack_pool.rs`): a small layer is done before threads would pay off. `0` starts them at once
    /// (tests), `usize::MAX` never.
    pub parallel_after_entries: usize,
}

/// Below this many entries a layer is unpacked on one thread.
pub const PARALLEL_AFTER_ENTRIES: usize = 2_000;

impl Default for UnpackOptions {
    fn default() -> Self {
        UnpackOptions {
            overlay_whiteouts: true,
            parallel_after_entries: PARALLEL_AFTER_ENTRIES,
        }
    }
}

/// Unpack an OCI layer tar (uncompressed) into `dest` (an existing directory) in overlay format.
/// `label` names the layer in error messages.
pub fn unpack_layer<R: Read>(reader: R, dest: &Path, label: &str) -> Result<()> {
    unpack_tar(reader, dest, label, UnpackOptions::default())
}

/// Unpack a tar into `dest` with the given options, keeping owners, modes, mtimes, links, devices and xattrs.
pub fn unpack_tar<R: Read>(
    reader: R,
    dest: &Path,
    label: &str,
    options: UnpackOptions,
) -> Result<()> {
    unpack(reader, dest, label, options, false)
}

/// Apply an OCI layer tar (uncompressed) on top of the filesystem in `dest`, as a container's root sees it:
/// a whiteout (`.wh.NAME`) removes what a lower layer put there, an opaque one (`.wh..wh..opq`) empties the
/// directory of what lower layers put there; no whiteout is left behind. For exporting a final filesystem
/// (`--output type=local`): apply every layer of an image, base first.
pub fn apply_layer<R: Read>(reader: R, dest: &Path, label: &str) -> Result<()> {
    unpack(reader, dest, label, UnpackOptions::default(), true)
}

fn unpack<R: Read>(
    reader: R,
    dest: &Path,
    label: &str,
    options: UnpackOptions,
    apply_whiteouts: bool,
) -> Result<()> {
    let root = open_dir(None, dest).map_err(|e| StoreError::Io {
        action: "opening unpack destination",
        path: dest.to_path_buf(),
        source: e.into(),
    })?;
    // Applying whiteouts removes what lower layers left, in tar order: one thread.
    let parallel_after = if apply_whiteouts {
        usize::MAX
    } else {
        options.parallel_after_entries
    };
    let workers = FilePool::worker_count();
    let pool = FilePool::new(label, workers);
    let mut unpacker = Unpacker::new(root, label, options, apply_whiteouts);
    std::thread::scope(|scope| {
        let read = (|| {
            let mut archive = tar::Archive::new(reader);
            let entries = archive.entries().map_err(|source| StoreError::Tar {
                what: label.to_string(),
                source,
            })?;
            for (index, entry) in entries.enumerate() {
                if index == parallel_after {
                    for me in 0..workers {
                        let pool = &pool;
                        scope.spawn(move || pool.work(me));
                    }
                    unpacker.workers = Some(&pool);
                }
                if pool.failed() {
                    return Err(pool.stopped());
                }
                let entry = entry.map_err(|source| StoreError::Tar {
                    what: label.to_string(),
                    source,
                })?;
                unpacker.entry(entry)?;
            }
            Ok(())
        })();
        // The workers finish (or drop) their files; the scope joins them before anything else happens.
        pool.close(read);
    });
    pool.take_result()?;
    unpacker.finish()
}

/// Unpack only the entries of a layer tar whose cleaned path (see [`crate::delta::clean_path`]) `keep`
/// accepts, then make an overlay whiteout at each of `whiteouts` (cleaned paths), before directory times are
/// set: a delta snapshot (see `delta.rs`). The tar is read with seeks, so skipped entries cost no read.
pub(crate) fn unpack_selected<R: Read + io::Seek>(
    reader: R,
    dest: &Path,
    label: &str,
    keep: &dyn Fn(&[u8]) -> bool,
    whiteouts: &[Vec<u8>],
) -> Result<()> {
    let root = open_dir(None, dest).map_err(|e| StoreError::Io {
        action: "opening unpack destination",
        path: dest.to_path_buf(),
        source: e.into(),
    })?;
    let mut unpacker = Unpacker::new(root, label, UnpackOptions::default(), false);
    let mut archive = tar::Archive::new(reader);
    let entries = archive
        .entries_with_seek()
        .map_err(|source| StoreError::Tar {
            what: label.to_string(),
            source,
        })?;
    for entry in entries {
        let entry = entry.map_err(|source| StoreError::Tar {
            what: label.to_string(),
            source,
        })?;
        if keep(&crate::delta::clean_path(&entry.path_bytes())) {
            unpacker.entry(entry)?;
        }
    }
    for path in whiteouts {
        let rel = Path::new(OsStr::from_bytes(path));
        let (Some(parent), Some(name)) = (rel.parent(), rel.file_name()) else {
            continue;
        };
        let marker = format!("{WHITEOUT_PREFIX}{}", name.to_string_lossy());
        if marker.len() != WHITEOUT_PREFIX.len() + name.len() {
            // Not UTF-8: whiteout() takes a str. Such names never reach here (see delta.rs).
            return Err(unpacker.bad(rel, "a removed path that is not UTF-8"));
        }
        unpacker.whiteout(parent, &marker, rel)?;
    }
    unpacker.finish()
}

struct Unpacker<'a> {
    root: OwnedFd,
    label: &'a str,
    options: UnpackOptions,
    /// Directory mtimes are set last: creating entries inside a directory changes its mtime.
    dir_times: Vec<(PathBuf, SystemTime)>,
    /// Whiteouts remove lower layers' entries instead of becoming overlay whiteouts ([`apply_layer`]).
    apply_whiteouts: bool,
    /// With `apply_whiteouts`: what this layer made, which its own whiteouts leave alone.
    created: HashSet<PathBuf>,
    /// The last parent directory resolved, reused by the next entry in it. Anything removed drops it: only a
    /// removal can make a path that resolved once resolve elsewhere.
    parent_cache: Option<(PathBuf, Arc<OwnedFd>)>,
    /// Set once regular files go to worker threads.
    workers: Option<&'a FilePool>,
    /// With `workers`: paths of the files handed out since the pool was last idle (some may be written).
    pending: HashSet<PathBuf>,
    /// With `workers`: the queue of the current directory's files; the next directory gets the next one.
    queue: usize,
}

impl<'a> Unpacker<'a> {
    fn new(root: OwnedFd, label: &'a str, options: UnpackOptions, apply_whiteouts: bool) -> Self {
        Unpacker {
            root,
            label,
            options,
            dir_times: Vec::new(),
            apply_whiteouts,
            created: HashSet::new(),
            parent_cache: None,
            workers: None,
            pending: HashSet::new(),
            queue: 0,
        }
    }

    fn bad(&self, entry: &Path, reason: impl Into<String>) -> StoreError {
        bad_entry(self.label, entry, reason)
    }

    fn sys(&self, entry: &Path, action: &str, errno: Errno) -> StoreError {
        sys_error(self.label, entry, action, errno)
    }

    /// With workers: wait for the files in flight if `path` or a directory above it is one of them (a later
    /// entry replaces it, links to it or puts something in it): the entry then sees the tree it would see
    /// on one thread.
    fn wait_if_pending(&mut self, path: &Path) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        if path.ancestors().any(|p| self.pending.contains(p)) {
            self.wait_for_files()?;
        }
        Ok(())
    }

    /// With workers: wait until every file handed out is written.
    fn wait_for_files(&mut self) -> Result<()> {
        if let Some(pool) = self.workers {
            pool.wait_idle()?;
            self.pending.clear();
        }
        Ok(())
    }

    /// The directory `rel` resolved inside the root (created if missing), reusing the last one resolved.
    fn parent_dir(&mut self, rel: &Path, entry: &Path) -> Result<Arc<OwnedFd>> {
        if let Some((cached, fd)) = &self.parent_cache {
            if cached == rel {
                return Ok(fd.clone());
            }
        }
        let fd = Arc::new(self.ensure_dir(rel, entry)?);
        self.parent_cache = Some((rel.to_path_buf(), fd.clone()));
        self.queue = self.queue.wrapping_add(1);
        Ok(fd)
    }

    fn entry<R: Read>(&mut self, mut entry: tar::Entry<'_, R>) -> Result<()> {
        let raw_path = PathBuf::from(OsStr::from_bytes(&entry.path_bytes()).to_os_string());
        let kind = entry.header().entry_type();
        if matches!(
            kind,
            EntryType::XGlobalHeader
                | EntryType::XHeader
                | EntryType::GNULongName
                | EntryType::GNULongLink
        ) {
            return Ok(());
        }
        let rel = self.clean(&raw_path, &raw_path)?;
        let meta = self.meta(&mut entry, &raw_path)?;
        let (parent_rel, name) = match (rel.parent(), rel.file_name()) {
            (Some(p), Some(n)) => (p.to_path_buf(), n.to_os_string()),
            _ => {
                // The root itself (`./`): only a directory entry makes sense; apply its metadata.
                if kind == EntryType::Directory {
                    let fd = self.dup_root(&raw_path)?;
                    apply_fd_meta(&fd, &meta, &raw_path, false, self.label)?;
                    self.dir_times.push((PathBuf::new(), meta.mtime));
                }
                return Ok(());
            }
        };
        let name_str = name.to_string_lossy().into_owned();
        if self.apply_whiteouts && name_str.starts_with(WHITEOUT_PREFIX) {
            return self.apply_whiteout(&parent_rel, &name_str, &raw_path);
        }
        if self.options.overlay_whiteouts && name_str.starts_with(WHITEOUT_PREFIX) {
            // It may remove what a worker is writing: let them finish (whiteouts are few).
            self.wait_for_files()?;
            return self.whiteout(&parent_rel, &name_str, &raw_path);
        }
        if self.apply_whiteouts {
            // With its parents: an opaque whiteout listed after `a/b/c` must keep `a/b`.
            for made in rel.ancestors().filter(|p| !p.as_os_str().is_empty()) {
                if !self.created.insert(made.to_path_buf()) {
                    break;
                }
            }
        }
        let link_target = match kind {
            EntryType::Link => {
                let target_raw = entry
                    .link_name_bytes()
                    .map(|b| PathBuf::from(OsStr::from_bytes(&b)))
                    .ok_or_else(|| self.bad(&raw_path, "hardlink without a target"))?;
                let target = self.clean(&target_raw, &raw_path)?;
                if target == rel {
                    return Ok(());
                }
                Some((target_raw, target))
            }
            _ => None,
        };
        self.wait_if_pending(&rel)?;
        if let Some((_, target)) = &link_target {
            self.wait_if_pending(target)?;
        }
        let parent = self.parent_dir(&parent_rel, &raw_path)?;
        let existing = fstatat(
            Some(parent.as_raw_fd()),
            name.as_os_str(),
            AtFlags::AT_SYMLINK_NOFOLLOW,
        )
        .ok();
        let existing_is_dir = existing.is_some_and(|st| st.st_mode & libc::S_IFMT == libc::S_IFDIR);
        if existing.is_some() && !(kind == EntryType::Directory && existing_is_dir) {
            // A directory removed may hold files in flight.
            self.wait_for_files()?;
            self.remove_at(&parent, &name, &rel, &raw_path)?;
        }
        match kind {
            EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => match self.workers
            {
                Some(pool) if kind != EntryType::GNUSparse && entry.size() <= MAX_WORKER_FILE => {
                    let mut data = Vec::with_capacity(entry.size() as usize);
                    entry
                        .read_to_end(&mut data)
                        .map_err(|e| self.bad(&raw_path, format!("reading file data: {e}")))?;
                    self.pending.insert(rel);
                    pool.submit(FileJob {
                        parent,
                        name,
                        data,
                        meta,
                        entry: raw_path,
                        queue: self.queue,
                    })?;
                }
                _ => write_file(&parent, &name, &mut entry, &meta, &raw_path, self.label)?,
            },
            EntryType::Directory => {
                if !existing_is_dir {
                    mkdirat(
                        Some(parent.as_raw_fd()),
                        name.as_os_str(),
                        Mode::from_bits_truncate(0o700),
                    )
                    .map_err(|e| self.sys(&raw_path, "creating directory", e))?;
                }
                let fd = open_dir(Some(parent.as_raw_fd()), name.as_os_str())
                    .map_err(|e| self.sys(&raw_path, "opening directory", e))?;
                apply_fd_meta(&fd, &meta, &raw_path, false, self.label)?;
                self.dir_times.push((rel.clone(), meta.mtime));
            }
            EntryType::Symlink => {
                let target = entry
                    .link_name_bytes()
                    .ok_or_else(|| self.bad(&raw_path, "symlink without a target"))?;
                let target = OsStr::from_bytes(&target).to_os_string();
                symlinkat(
                    target.as_os_str(),
                    Some(parent.as_raw_fd()),
                    name.as_os_str(),
                )
                .map_err(|e| self.sys(&raw_path, "creating symlink", e))?;
                self.apply_at_meta(&parent, &name, &meta, &raw_path, true)?;
            }
            EntryType::Link => {
                let Some((target_raw, target)) = link_target else {
                    return Err(self.bad(&raw_path, "hardlink without a target"));
                };
                let (Some(t_parent), Some(t_name)) = (target.parent(), target.file_name()) else {
                    return Err(self.bad(&raw_path, "hardlink to the root directory"));
                };
                let t_parent_fd = self.open_in_root(t_parent).map_err(|e| {
                    self.sys(
                        &raw_path,
                        &format!("resolving hardlink target {}", target_raw.display()),
                        e,
                    )
                })?;
                linkat(
                    Some(t_parent_fd.as_raw_fd()),
                    t_name,
                    Some(parent.as_raw_fd()),
                    name.as_os_str(),
                    AtFlags::empty(),
                )
                .map_err(|e| {
                    self.sys(
                        &raw_path,
                        &format!("hardlinking to {}", target_raw.display()),
                        e,
                    )
                })?;
            }
            EntryType::Char | EntryType::Block | EntryType::Fifo => {
                let sflag = match kind {
                    EntryType::Char => SFlag::S_IFCHR,
                    EntryType::Block => SFlag::S_IFBLK,
                    _ => SFlag::S_IFIFO,
                };
                let header = entry.header();
                let major = header.device_major().ok().flatten().unwrap_or(0);
                let minor = header.device_minor().ok().flatten().unwrap_or(0);
                mknodat(
                    Some(parent.as_raw_fd()),
                    name.as_os_str(),
                    sflag,
                    Mode::from_bits_truncate(0o600),
                    libc::makedev(major, minor),
                )
                .map_err(|e| self.sys(&raw_path, "creating device node", e))?;
                self.apply_at_meta(&parent, &name, &meta, &raw_path, false)?;
            }
            other => {
                return Err(self.bad(&raw_path, format!("unsupported tar entry type {other:?}")));
            }
        }
        Ok(())
    }

    /// `a/./b/` → `a/b`; leading `/` dropped; `..` refused.
    fn clean(&self, path: &Path, entry: &Path) -> Result<PathBuf> {
        let mut out = PathBuf::new();
        for part in path.as_os_str().as_bytes().split(|b| *b == b'/') {
            match part {
                b"" | b"." => {}
                b".." => {
                    return Err(self.bad(
                        entry,
                        "path contains \"..\"; refusing to write outside the layer",
                    ))
                }
                p => out.push(OsStr::from_bytes(p)),
            }
        }
        Ok(out)
    }

    fn meta<R: Read>(&self, entry: &mut tar::Entry<'_, R>, raw_path: &Path) -> Result<Meta> {
        let header = entry.header();
        let old = header.as_old();
        // Go's archive/tar, and so Docker, reads an empty numeric field as 0; so do we.
        let numeric = |value: io::Result<u64>, raw: &[u8], what: &str| -> Result<u64> {
            match value {
                Ok(v) => Ok(v),
                Err(_) if raw.iter().all(|b| *b == 0 || *b == b' ') => Ok(0),
                Err(e) => Err(self.bad(raw_path, format!("bad {what}: {e}"))),
            }
        };
        let mut uid = numeric(header.uid(), &old.uid, "uid")? as u32;
        let mut gid = numeric(header.gid(), &old.gid, "gid")? as u32;
        let mode = numeric(header.mode().map(u64::from), &old.mode, "mode")? as u32 & 0o7777;
        let mtime_secs = header.mtime().unwrap_or(0);
        let mut mtime = SystemTime::UNIX_EPOCH + Duration::from_secs(mtime_secs);
        let mut xattrs = Vec::new();
        if let Ok(Some(pax)) = entry.pax_extensions() {
            for ext in pax.flatten() {
                let Ok(key) = ext.key() else { continue };
                if let Some(name) = key.strip_prefix("SCHILY.xattr.") {
                    // Only hoist decides what is opaque or redirected in an overlay.
                    if !name.starts_with("trusted.overlay.") {
                        xattrs.push((OsString::from(name), ext.value_bytes().to_vec()));
                    }
                } else if key == "uid" {
                    if let Some(v) = ext.value().ok().and_then(|v| v.parse().ok()) {
                        uid = v;
                    }
                } else if key == "gid" {
                    if let Some(v) = ext.value().ok().and_then(|v| v.parse().ok()) {
                        gid = v;
                    }
                } else if key == "mtime" {
                    if let Some(t) = ext.value().ok().and_then(parse_pax_time) {
                        mtime = t;
                    }
                }
            }
        }
        Ok(Meta {
            uid,
            gid,
            mode,
            mtime,
            xattrs,
        })
    }

    fn dup_root(&self, entry: &Path) -> Result<OwnedFd> {
        self.root
            .try_clone()
            .map_err(|e| self.bad(entry, format!("duplicating root descriptor: {e}")))
    }

    fn open_in_root(&self, rel: &Path) -> nix::Result<OwnedFd> {
        let path: &Path = if rel.as_os_str().is_empty() {
            Path::new(".")
        } else {
            rel
        };
        let how = OpenHow::new()
            .flags(OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC)
            .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
        // The kernel answers EAGAIN when a rename or mount anywhere on the system raced the walk (it cannot then
        // prove `..` stayed inside); openat2(2) says to retry, and another process is renaming all the time.
        let mut attempts = 0;
        let fd = loop {
            match openat2(self.root.as_raw_fd(), path, how) {
                Err(Errno::EAGAIN) if attempts < 64 => attempts += 1,
                other => break other?,
            }
        };
        // SAFETY: openat2 returned a fresh descriptor that nothing else owns.
        Ok(unsafe { OwnedFd::from_raw_fd(fd) })
    }

    /// Open the directory `rel` (resolved inside the root), creating missing components with mode 0755.
    fn ensure_dir(&self, rel: &Path, entry: &Path) -> Result<OwnedFd> {
        match self.open_in_root(rel) {
            Ok(fd) => return Ok(fd),
            Err(Errno::ENOENT) => {}
            Err(e) => {
                return Err(self.sys(
                    entry,
                    &format!("opening parent directory {}", rel.display()),
                    e,
                ))
            }
        }
        let mut current = self.dup_root(entry)?;
        let mut prefix = PathBuf::new();
        for comp in rel.components() {
            prefix.push(comp);
            current = match self.open_in_root(&prefix) {
                Ok(fd) => fd,
                Err(Errno::ENOENT) => {
                    let name = comp.as_os_str();
                    match mkdirat(Some(current.as_raw_fd()), name, Mode::from_bits_truncate(0o755)) {
                        Ok(()) => {}
                        // It exists but did not resolve: a symlink to something missing from this layer.
                        Err(Errno::EEXIST) => {
                            return Err(self.bad(
                                entry,
                                format!(
                                    "parent {} is a symlink whose target is not in this layer; refusing to create it",
                                    prefix.display()
                                ),
                            ))
                        }
                        Err(e) => {
                            return Err(self.sys(entry, &format!("creating parent directory {}", prefix.display()), e))
                        }
                    }
                    let fd = open_dir(Some(current.as_raw_fd()), name).map_err(|e| {
                        self.sys(
                            entry,
                            &format!("opening parent directory {}", prefix.display()),
                            e,
                        )
                    })?;
                    nix::sys::stat::fchmod(fd.as_raw_fd(), Mode::from_bits_truncate(0o755))
                        .map_err(|e| self.sys(entry, "setting parent directory mode", e))?;
                    fd
                }
                Err(e) => {
                    return Err(self.sys(
                        entry,
                        &format!("opening parent directory {}", prefix.display()),
                        e,
                    ))
                }
            };
        }
        Ok(current)
    }

    /// Remove `name` in `parent`, which is `rel` in the layer.
    fn remove_at(
        &mut self,
        parent: &OwnedFd,
        name: &OsStr,
        rel: &Path,
        entry: &Path,
    ) -> Result<()> {
        self.parent_cache = None;
        // A directory of this layer replaced or whited out by a later entry: its time (and its
        // subdirectories') must not be set on what took its place, nor fail the unpack.
        self.dir_times.retain(|(dir, _)| !dir.starts_with(rel));
        // Through the descriptor's /proc link: `parent` is already resolved inside the root, and remove_dir_all
        // never follows symlinks inside what it removes.
        let path = proc_fd_path(parent.as_raw_fd()).join(name);
        crate::fsutil::remove_any(&path)
            .map_err(|e| self.bad(entry, format!("replacing existing entry: {e}")))
    }

    /// A whiteout applied ([`apply_layer`]): what lower layers left at the name (or, opaque, in the
    /// directory) is removed; what this layer made stays.
    fn apply_whiteout(&mut self, parent_rel: &Path, name: &str, entry: &Path) -> Result<()> {
        if name.starts_with(AUFS_META_PREFIX) && name != OPAQUE_WHITEOUT {
            return Ok(());
        }
        let parent = match self.open_in_root(parent_rel) {
            Ok(fd) => fd,
            // Nothing below to hide.
            Err(Errno::ENOENT) | Err(Errno::ENOTDIR) => return Ok(()),
            Err(e) => return Err(self.sys(entry, "opening the whiteout's directory", e)),
        };
        let targets: Vec<OsString> = if name == OPAQUE_WHITEOUT {
            let listing = std::fs::read_dir(proc_fd_path(parent.as_raw_fd()))
                .map_err(|e| self.bad(entry, format!("listing the opaque directory: {e}")))?;
            listing
                .filter_map(|e| e.ok().map(|e| e.file_name()))
                .collect()
        } else {
            vec![OsString::from(&name[WHITEOUT_PREFIX.len()..])]
        };
        for target in targets {
            if target.is_empty() || self.created.contains(&parent_rel.join(&target)) {
                continue;
            }
            let exists = fstatat(
                Some(parent.as_raw_fd()),
                target.as_os_str(),
                AtFlags::AT_SYMLINK_NOFOLLOW,
            )
            .is_ok();
            if exists {
                self.remove_at(&parent, &target, &parent_rel.join(&target), entry)?;
            }
        }
        Ok(())
    }

    fn whiteout(&mut self, parent_rel: &Path, name: &str, entry: &Path) -> Result<()> {
        let parent = self.ensure_dir(parent_rel, entry)?;
        if name == OPAQUE_WHITEOUT {
            return xattr_set_fd(&parent, OsStr::new(OVERLAY_OPAQUE_XATTR), b"y")
                .map_err(|e| self.bad(entry, format!("marking directory opaque: {e}")));
        }
        if name.starts_with(AUFS_META_PREFIX) {
            return Ok(());
        }
        let target = OsStr::new(&name[WHITEOUT_PREFIX.len()..]);
        if target.is_empty() {
            return Err(self.bad(entry, "whiteout without a name"));
        }
        if fstatat(
            Some(parent.as_raw_fd()),
            target,
            AtFlags::AT_SYMLINK_NOFOLLOW,
        )
        .is_ok()
        {
            self.remove_at(&parent, target, &parent_rel.join(target), entry)?;
        }
        mknodat(
            Some(parent.as_raw_fd()),
            target,
            SFlag::S_IFCHR,
            Mode::empty(),
            libc::makedev(0, 0),
        )
        .map_err(|e| self.sys(entry, "creating overlay whiteout", e))
    }

    fn apply_at_meta(
        &self,
        parent: &OwnedFd,
        name: &OsStr,
        meta: &Meta,
        entry: &Path,
        symlink: bool,
    ) -> Result<()> {
        let dirfd = Some(parent.as_raw_fd());
        fchownat(
            dirfd,
            name,
            Some(Uid::from_raw(meta.uid)),
            Some(Gid::from_raw(meta.gid)),
            AtFlags::AT_SYMLINK_NOFOLLOW,
        )
        .map_err(|e| self.sys(entry, "setting owner", e))?;
        if !symlink {
            fchmodat(
                dirfd,
                name,
                Mode::from_bits_truncate(meta.mode),
                FchmodatFlags::NoFollowSymlink,
            )
            .or_else(|e| {
                // Older kernels refuse AT_SYMLINK_NOFOLLOW; `name` is known not to be a symlink.
                if e == Errno::ENOTSUP || e == Errno::EOPNOTSUPP {
                    fchmodat(
                        dirfd,
                        name,
                        Mode::from_bits_truncate(meta.mode),
                        FchmodatFlags::FollowSymlink,
                    )
                } else {
                    Err(e)
                }
            })
            .map_err(|e| self.sys(entry, "setting mode", e))?;
        }
        let path = proc_fd_path(parent.as_raw_fd()).join(name);
        for (xname, value) in &meta.xattrs {
            // lsetxattr: never follows the final symlink. user.* xattrs are impossible on symlinks; skip those.
            if let Err(e) = xattr::set(&path, xname, value) {
                if !symlink {
                    return Err(self.bad(
                        entry,
                        format!("setting xattr {}: {e}", xname.to_string_lossy()),
                    ));
                }
            }
        }
        let t = timespec(meta.mtime);
        utimensat(dirfd, name, &t, &t, UtimensatFlags::NoFollowSymlink)
            .map_err(|e| self.sys(entry, "setting mtime", e))?;
        Ok(())
    }

    fn finish(self) -> Result<()> {
        // Deepest last, so backwards: contents first. A directory listed twice takes its last entry's time.
        let mut done = HashSet::new();
        for (rel, mtime) in self.dir_times.iter().rev() {
            if !done.insert(rel) {
                continue;
            }
            let fd = self
                .open_in_root(rel)
                .map_err(|e| self.sys(rel, "reopening directory to set its mtime", e))?;
            let t = timespec(*mtime);
            nix::sys::stat::futimens(fd.as_raw_fd(), &t, &t)
                .map_err(|e| self.sys(rel, "setting mtime", e))?;
        }
        Ok(())
    }
}

fn open_dir<P: ?Sized + nix::NixPath>(dirfd: Option<RawFd>, path: &P) -> nix::Result<OwnedFd> {
    let fd = openat(
        dirfd,
        path,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )?;
    // SAFETY: openat returned a fresh descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn proc_fd_path(fd: RawFd) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{fd}"))
}
