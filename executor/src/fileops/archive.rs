//! ADD of a local tar archive: detection by content and extraction that cannot escape its directory.
//!
//! Mirrors Docker's `chrootarchive.Untar` as BuildKit uses it: plain, gzip, bzip2 and xz tars are recognised by
//! their content (a file is an archive when its first tar header reads), entries keep the archive's owners,
//! modes and times, names with `..` that climb out and links that point out are refused, and everything
//! else (absolute names, absolute symlinks, symlinked parents) is resolved inside the extraction directory,
//! as Docker's chroot does.

use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use nix::sys::stat::{makedev, mknod, Mode, SFlag};
use tar::EntryType;

use super::copy::CopyStats;
use super::error::{CopyError, Result};
use super::meta;
use super::securejoin::{is_missing, mkdir_all_in_root, mkdir_all_resolved, resolve_components};
use super::tarmeta::entry_meta;
use super::tarstream::GoSizes;

/// Reads the first tar header (after decompression) of `path`: true when it is a tar archive.
/// Anything that fails to read as a tar (text, a gzip of a non-tar, an empty file) is not an archive.
pub fn is_archive(path: &Path) -> Result<bool> {
    let meta = fs::symlink_metadata(path).map_err(|e| CopyError::io("inspect", path, e))?;
    if !meta.is_file() {
        return Ok(false);
    }
    let reader = open_decompressed(path)?;
    let mut archive = tar::Archive::new(reader);
    let first = match archive.entries() {
        Ok(mut entries) => matches!(entries.next(), Some(Ok(_))),
        Err(_) => false,
    };
    Ok(first)
}

/// Extracts the archive at `archive` into `dest` (absolute inside `dest_root`, symlinks followed inside it),
/// creating `dest` and its missing parents owned by `owner` (0:0 when `None`).
pub fn extract_archive(
    archive: &Path,
    dest_root: &Path,
    dest: &str,
    owner: Option<(u32, u32)>,
) -> Result<CopyStats> {
    let dir = mkdir_all_in_root(dest_root, dest, owner)?;
    let mut stats = CopyStats::default();
    extract_into(archive, &archive.to_string_lossy(), &dir, &mut stats)?;
    Ok(stats)
}

enum Compression {
    Plain,
    Gzip,
    Bzip2,
    Xz,
}

fn detect(magic: &[u8]) -> Compression {
    if magic.starts_with(&[0x1f, 0x8b]) {
        Compression::Gzip
    } else if magic.starts_with(b"BZh") {
        Compression::Bzip2
    } else if magic.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0x00]) {
        Compression::Xz
    } else {
        Compression::Plain
    }
}

fn open_decompressed(path: &Path) -> Result<Box<dyn Read>> {
    let file = File::open(path).map_err(|e| CopyError::io("open", path, e))?;
    let mut reader = BufReader::with_capacity(128 * 1024, file);
    let magic = reader
        .fill_buf()
        .map_err(|e| CopyError::io("read", path, e))?;
    let decompressed: Box<dyn Read> = match detect(magic) {
        Compression::Plain => Box::new(reader),
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(reader)),
        Compression::Bzip2 => Box::new(bzip2::bufread::MultiBzDecoder::new(reader)),
        Compression::Xz => Box::new(xz2::bufread::XzDecoder::new_multi_decoder(reader)),
    };
    Ok(Box::new(GoSizes::new(decompressed)))
}

/// Extracts `archive` into the existing directory `dir`; `shown` names the archive in errors.
pub(crate) fn extract_into(
    archive: &Path,
    shown: &str,
    dir: &Path,
    stats: &mut CopyStats,
) -> Result<()> {
    let read_error = |error: io::Error| CopyError::Archive {
        archive: shown.to_string(),
        error,
    };
    let mut tar = tar::Archive::new(open_decompressed(archive)?);
    let entries = tar.entries().map_err(read_error)?;
    // Directory times are set last: extracting their children changes them.
    let mut dir_times: Vec<(PathBuf, (i64, i64))> = Vec::new();

    for entry in entries {
        let mut entry = entry.map_err(read_error)?;
        let name_bytes = entry.path_bytes().into_owned();
        let name = String::from_utf8_lossy(&name_bytes).into_owned();
        let outside = |reason| CopyError::ArchiveEntryOutside {
            archive: shown.to_string(),
            entry: name.clone(),
            reason,
        };
        let Some(components) = clean_entry_name(&name_bytes) else {
            return Err(outside("climbs out of the destination with '..'"));
        };
        let kind = entry.header().entry_type();
        if components.is_empty() {
            // "." or "/": the extraction directory itself, which exists already.
            continue;
        }
        if matches!(
            kind,
            EntryType::XGlobalHeader
                | EntryType::XHeader
                | EntryType::GNULongName
                | EntryType::GNULongLink
        ) {
            continue;
        }
        let info = entry_meta(&mut entry)
            .map_err(|e| read_error(io::Error::new(e.kind(), format!("entry {name}: {e}"))))?;
        let owner = (info.uid, info.gid);

        // The parent is resolved inside `dir` (following symlinks, as in Docker's chroot); the entry itself is
        // never followed: it replaces whatever is there.
        let (last, parents) = components
            .split_last()
            .map_or((&[][..], &[][..]), |(l, p)| (*l, p));
        let parent = resolve_components(
            dir,
            parents.iter().map(|c| std::ffi::OsStr::from_bytes(c)),
            &name,
        )?;
        mkdir_all_resolved(dir, &parent, (0, 0))?;
        let target = parent.join(std::ffi::OsStr::from_bytes(last));

        let existing = match fs::symlink_metadata(&target) {
            Ok(m) => Some(m),
            Err(e) if is_missing(&e) => None,
            Err(e) => return Err(CopyError::io("inspect", &target, e)),
        };
        if let Some(existing) = &existing {
            if !(existing.is_dir() && kind == EntryType::Directory) {
                let removed = if existing.is_dir() {
                    fs::remove_dir_all(&target)
                } else {
                    fs::remove_file(&target)
                };
                removed.map_err(|e| CopyError::io("replace", &target, e))?;
            }
        }

        match kind {
            EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => {
                let mut file = fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(&target)
                    .map_err(|e| CopyError::io("create", &target, e))?;
                let written = io::copy(&mut entry, &mut file).map_err(read_error)?;
                stats.files += 1;
                stats.bytes += written;
            }
            EntryType::Directory => {
                if existing.as_ref().is_none_or(|m| !m.is_dir()) {
                    fs::create_dir(&target)
                        .map_err(|e| CopyError::io("create directory", &target, e))?;
                }
                stats.dirs += 1;
            }
            EntryType::Symlink => {
                let link = entry
                    .link_name_bytes()
                    .map(|l| l.into_owned())
                    .unwrap_or_default();
                // Docker refuses a relative link whose target, read from the link's directory, leaves the
                // destination; absolute targets are fine (they resolve inside the root later).
                if !link_stays_inside(parents, &link) {
                    return Err(outside("is a symlink pointing outside the destination"));
                }
                std::os::unix::fs::symlink(std::ffi::OsStr::from_bytes(&link), &target)
                    .map_err(|e| CopyError::io("create symlink", &target, e))?;
                stats.symlinks += 1;
            }
            EntryType::Link => {
                let link = entry
                    .link_name_bytes()
                    .map(|l| l.into_owned())
                    .unwrap_or_default();
                let Some(link_components) = clean_entry_name(&link) else {
                    return Err(outside("is a hardlink to a file outside the destination"));
                };
                let Some((link_last, link_parents)) = link_components.split_last() else {
                    return Err(outside("is a hardlink to the destination directory itself"));
                };
                let link_parent = resolve_components(
                    dir,
                    link_parents.iter().map(|c| std::ffi::OsStr::from_bytes(c)),
                    &name,
                )?;
                let source = link_parent.join(std::ffi::OsStr::from_bytes(link_last));
                // link(2) does not follow a symlink at `source`, so this cannot reach outside `dir`.
                fs::hard_link(&source, &target)
                    .map_err(|e| CopyError::io("create hardlink", &target, e))?;
                stats.hardlinks += 1;
                // The inode already has its owner and mode.
                continue;
            }
            EntryType::Char | EntryType::Block | EntryType::Fifo => {
                let sflag = match kind {
                    EntryType::Char => SFlag::S_IFCHR,
                    EntryType::Block => SFlag::S_IFBLK,
                    _ => SFlag::S_IFIFO,
                };
                mknod(
                    &target,
                    sflag,
                    Mode::from_bits_truncate(info.mode),
                    makedev(u64::from(info.device.0), u64::from(info.device.1)),
                )
                .map_err(|e| CopyError::io("create device", &target, io::Error::from(e)))?;
                stats.other += 1;
            }
            _ => {
                // Unknown types (e.g. Solaris ACLs): Docker skips them too.
                continue;
            }
        }

        meta::lchown(&target, owner)?;
        if kind != EntryType::Symlink {
            meta::chmod(&target, info.mode)?;
            for (name, value) in &info.xattrs {
                if meta::is_portable_xattr(name) {
                    let _ = xattr::set(&target, std::ffi::OsStr::from_bytes(name), value);
                }
            }
        }
        if kind == EntryType::Directory {
            dir_times.push((target, info.mtime));
        } else {
            meta::set_times(&target, info.mtime, info.mtime)?;
        }
    }
    for (path, mtime) in dir_times.iter().rev() {
        // A later entry may have replaced the directory with a file: only directories still there get times.
        if fs::symlink_metadata(path).is_ok_and(|m| m.is_dir()) {
            meta::set_times(path, *mtime, *mtime)?;
        }
    }
    stats.archives += 1;
    Ok(())
}

/// Cleans an entry name like Go's `filepath.Clean`: a rooted name stays under the root ("/../x" is "x"),
/// while a relative one that climbs above its start ("../x", "a/../../x") is refused with `None`.
fn clean_entry_name(name: &[u8]) -> Option<Vec<&[u8]>> {
    let rooted = name.first() == Some(&b'/');
    let mut out: Vec<&[u8]> = Vec::new();
    for component in name.split(|b| *b == b'/') {
        match component {
            b"" | b"." => {}
            b".." => {
                if out.pop().is_none() && !rooted {
                    return None;
                }
            }
            c => out.push(c),
        }
    }
    Some(out)
}

/// Docker's check for symlink entries: the link's directory joined with the target (an absolute target is
/// simply appended, as Go's `filepath.Join` does) must not climb above the extraction directory.
fn link_stays_inside(parents: &[&[u8]], link: &[u8]) -> bool {
    let mut depth = parents.len();
    for component in link.split(|b| *b == b'/') {
        match component {
            b"" | b"." => {}
            b".." => {
                if depth == 0 {
                    return false;
                }
                depth -= 1;
            }
            _ => depth += 1,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_names_are_cleaned_like_docker() {
        assert_eq!(clean_entry_name(b"/abs/x"), Some(vec![&b"abs"[..], b"x"]));
        assert_eq!(clean_entry_name(b"/../x"), Some(vec![&b"x"[..]]));
        assert_eq!(clean_entry_name(b"../x"), None);
        assert_eq!(clean_entry_name(b"a/../../x"), None);
        assert_eq!(clean_entry_name(b"./a/./b/"), Some(vec![&b"a"[..], b"b"]));
        assert!(link_stays_inside(&[b"a"], b"../b"));
        assert!(!link_stays_inside(&[b"a"], b"../../b"));
        assert!(link_stays_inside(&[], b"/etc/passwd"));
    }
}
