//! Shadowed paths of a delta snapshot, and whether a stack of lower dirs lets the delta stand for its layer.
//!
//! A delta over its base hides more than its layer at a *shadowed path* (a removed path's whiteout hides what
//! lower layers have there; a base file under a new directory stops it merging with lower directories, see
//! `delta::LayerDiff::shadowed`). Over lower dirs that have nothing at any shadowed path the two views are the
//! same. A delta snapshot is reused wherever its layer is mounted, so every mount checks its own lower dirs: a
//! few `lstat`s per shadowed path and lower dir. When the check fails, that stack mounts a full unpack of the
//! layer instead (see `snapshot_stack.rs`).

use std::fs;
use std::io::ErrorKind;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// The shadowed paths as stored in a snapshot's row: NUL-separated (a path never holds a NUL byte).
pub(crate) fn encode(paths: &[Vec<u8>]) -> Option<Vec<u8>> {
    if paths.is_empty() {
        return None;
    }
    Some(paths.join(&0u8))
}

/// The paths [`encode`] stored.
pub(crate) fn decode(stored: &[u8]) -> Vec<Vec<u8>> {
    stored
        .split(|b| *b == 0)
        .filter(|p| !p.is_empty())
        .map(<[u8]>::to_vec)
        .collect()
}

/// Whether none of `lowers` has anything at any of `paths` (cleaned, relative). A component that is not a
/// directory, a symlink included (it is not followed: it could lead out of the lower dir), counts as something
/// there, and so does any error but "not found": the answer errs towards a full unpack.
pub(crate) fn nothing_at(lowers: &[PathBuf], paths: &[Vec<u8>]) -> bool {
    lowers
        .iter()
        .all(|lower| paths.iter().all(|path| !something_at(lower, path)))
}

fn something_at(lower: &Path, path: &[u8]) -> bool {
    let mut at = lower.to_path_buf();
    let mut parts = path
        .split(|b| *b == b'/')
        .filter(|p| !p.is_empty())
        .peekable();
    while let Some(part) = parts.next() {
        at.push(std::ffi::OsStr::from_bytes(part));
        match fs::symlink_metadata(&at) {
            Err(e) if e.kind() == ErrorKind::NotFound => return false,
            Err(_) => return true,
            Ok(_) if parts.peek().is_none() => return true,
            Ok(meta) if !meta.is_dir() => return true,
            Ok(_) => {}
        }
    }
    // An empty path is the root, which every lower dir has.
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_round_trip() {
        let paths = vec![b"app/a".to_vec(), b"app/b c".to_vec()];
        assert_eq!(decode(&encode(&paths).unwrap()), paths);
        assert_eq!(encode(&[]), None);
    }

    #[test]
    fn something_is_found_without_following_symlinks() {
        let dir = tempfile::tempdir().unwrap();
        let lower = dir.path().join("l");
        fs::create_dir_all(lower.join("app/sub")).unwrap();
        fs::write(lower.join("app/f"), b"x").unwrap();
        std::os::unix::fs::symlink("/", lower.join("link")).unwrap();
        let lowers = vec![lower.clone()];
        let at = |p: &str| !nothing_at(&lowers, &[p.as_bytes().to_vec()]);
        assert!(at("app/f"));
        assert!(at("app/sub"));
        assert!(!at("app/none"));
        assert!(!at("other/deep/path"));
        // A file where a directory would be: something is there (conservatively).
        assert!(at("app/f/below"));
        // A symlink is not followed (`/etc` exists through it): something is there.
        assert!(at("link/etc"));
        assert!(nothing_at(&[], &[b"app/f".to_vec()]));
        assert!(nothing_at(&lowers, &[]));
    }
}
