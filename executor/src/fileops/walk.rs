//! The one walk of a copy's source tree, whatever it writes to: a directory ([`super::dirsink`], COPY into the
//! step's rootfs or upper dir) or a layer tar ([`super::graft`], COPY straight into the layer). The rules of
//! what is copied live here once: entries in name order; an excluded entry is left out, but an excluded
//! directory is walked for re-included entries (`docs` + `!docs/README.md`) and written only once one of
//! them is (with every excluded directory around it); sockets and FIFOs are left out
//! ([`super::rules::is_skipped_by_copy`]). How an entry is written (owner, mode, times, xattrs, hardlinks,
//! devices) is the sink's, by the [`layer::EntryAs`](crate::layer::EntryAs) both sinks follow.

use std::ffi::OsString;
use std::fs::{self, FileType, Metadata};
use std::io;
use std::path::{Path, PathBuf};

use super::rules::is_skipped_by_copy;

/// Where a walk writes. `dst` is the entry's place in the sink: an absolute path for a directory, the
/// entry's name in the layer for a tar. `known_absent`: nothing is at `dst` yet (its parent was just made).
pub(super) trait CopySink {
    type Error;

    /// The error for an `io` failure to `what` (read, inspect) the source at `path`.
    fn source_error(&self, what: &'static str, path: &Path, error: io::Error) -> Self::Error;

    /// A source directory: write it at `dst`. `Some(fresh)`: walk its entries now, `fresh` when `dst` is
    /// new (nothing in it to replace); `None`: the sink takes care of its entries later (a deferred copy).
    /// `inside_excluded`: it is below an excluded directory.
    fn enter_dir(
        &mut self,
        src: &Path,
        rel: &str,
        dst: &Path,
        meta: &Metadata,
        known_absent: bool,
        inside_excluded: bool,
    ) -> Result<Option<bool>, Self::Error>;

    /// After the entries of a directory that [`CopySink::enter_dir`] said to walk.
    fn leave_dir(&mut self, src: &Path, dst: &Path, meta: &Metadata) -> Result<(), Self::Error>;

    /// An excluded directory around a re-included entry, about to be written: make it at `dst`.
    fn open_excluded_dir(
        &mut self,
        src: &Path,
        dst: &Path,
        known_absent: bool,
    ) -> Result<(), Self::Error>;

    /// After the walk of an excluded directory that [`CopySink::open_excluded_dir`] made.
    fn close_excluded_dir(&mut self, src: &Path, dst: &Path) -> Result<(), Self::Error>;

    /// Anything but a directory, a socket or a FIFO: a file (maybe a hardlink of one), a symlink, a device.
    fn add_entry(
        &mut self,
        src: &Path,
        dst: &Path,
        meta: &Metadata,
        known_absent: bool,
    ) -> Result<(), Self::Error>;
}

/// An excluded directory being walked, made in the sink only once something inside it is written.
struct ExcludedDir {
    src: PathBuf,
    dst: PathBuf,
    known_absent: bool,
    opened: bool,
}

/// A walk into sink `S`, with the request's exclusion predicate (true for a source-relative path that
/// `.dockerignore` or `--exclude` drops).
pub(super) struct Walker<'e, S> {
    pub(super) sink: S,
    excluded: &'e dyn Fn(&str) -> bool,
    excluded_dirs: Vec<ExcludedDir>,
}

impl<'e, S: CopySink> Walker<'e, S> {
    pub(super) fn new(sink: S, excluded: &'e dyn Fn(&str) -> bool) -> Self {
        Walker {
            sink,
            excluded,
            excluded_dirs: Vec::new(),
        }
    }

    /// Walks the entries of directory `src` into `dst`. `rel` is `src` relative to the source root;
    /// `dst_fresh` says `dst` was just made, so nothing in it needs replacing.
    pub(super) fn children(
        &mut self,
        src: &mut PathBuf,
        dst: &mut PathBuf,
        rel: &mut String,
        dst_fresh: bool,
    ) -> Result<(), S::Error> {
        let entries =
            sorted_entries(src).map_err(|e| self.sink.source_error("read directory", src, e))?;
        for (name, file_type) in entries {
            let rel_len = rel.len();
            if !rel.is_empty() {
                rel.push('/');
            }
            rel.push_str(&name.to_string_lossy());
            src.push(&name);
            dst.push(&name);
            let result = self.child(src, dst, rel, file_type, dst_fresh);
            src.pop();
            dst.pop();
            rel.truncate(rel_len);
            result?;
        }
        Ok(())
    }

    /// One entry of a directory (`file_type` as its listing says).
    pub(super) fn child(
        &mut self,
        src: &mut PathBuf,
        dst: &mut PathBuf,
        rel: &mut String,
        file_type: FileType,
        dst_fresh: bool,
    ) -> Result<(), S::Error> {
        if (self.excluded)(rel) {
            if file_type.is_dir() {
                return self.excluded_dir(src, dst, rel, dst_fresh);
            }
            return Ok(());
        }
        let meta =
            fs::symlink_metadata(&*src).map_err(|e| self.sink.source_error("inspect", src, e))?;
        self.entry(src, dst, rel, &meta, dst_fresh)
    }

    /// Writes one entry that is not excluded (recursively for a directory), described by `meta`.
    pub(super) fn entry(
        &mut self,
        src: &mut PathBuf,
        dst: &mut PathBuf,
        rel: &mut String,
        meta: &Metadata,
        known_absent: bool,
    ) -> Result<(), S::Error> {
        // The excluded directories around it first, even for a socket, which itself is left out.
        self.open_excluded_dirs()?;
        let file_type = meta.file_type();
        if file_type.is_dir() {
            let inside_excluded = !self.excluded_dirs.is_empty();
            let walk = self
                .sink
                .enter_dir(src, rel, dst, meta, known_absent, inside_excluded)?;
            let Some(fresh) = walk else {
                return Ok(());
            };
            self.children(src, dst, rel, fresh)?;
            return self.sink.leave_dir(src, dst, meta);
        }
        if is_skipped_by_copy(file_type) {
            return Ok(());
        }
        self.sink.add_entry(src, dst, meta, known_absent)
    }

    fn excluded_dir(
        &mut self,
        src: &mut PathBuf,
        dst: &mut PathBuf,
        rel: &mut String,
        known_absent: bool,
    ) -> Result<(), S::Error> {
        self.excluded_dirs.push(ExcludedDir {
            src: src.clone(),
            dst: dst.clone(),
            known_absent,
            opened: false,
        });
        let result = self.children(src, dst, rel, known_absent);
        let dir = self.excluded_dirs.pop();
        result?;
        if dir.is_some_and(|d| d.opened) {
            self.sink.close_excluded_dir(src, dst)?;
        }
        Ok(())
    }

    fn open_excluded_dirs(&mut self) -> Result<(), S::Error> {
        // Opening opens every one, so the last one tells whether any is left.
        if self.excluded_dirs.last().is_none_or(|d| d.opened) {
            return Ok(());
        }
        for dir in self.excluded_dirs.iter_mut().filter(|d| !d.opened) {
            self.sink
                .open_excluded_dir(&dir.src, &dir.dst, dir.known_absent)?;
            dir.opened = true;
        }
        Ok(())
    }
}

/// The entries of `dir`, sorted by name.
pub(super) fn sorted_entries(dir: &Path) -> io::Result<Vec<(OsString, FileType)>> {
    let mut entries = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        entries.push((entry.file_name(), entry.file_type()?));
    }
    entries.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    Ok(entries)
}

/// `parent/name`, or `name` at the source root.
pub(super) fn join_rel(parent: &str, name: &str) -> String {
    if parent.is_empty() {
        name.to_string()
    } else {
        format!("{parent}/{name}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records what the walk asks of a sink, by destination name.
    #[derive(Default)]
    struct Recording(Vec<String>);

    impl Recording {
        fn note(&mut self, what: &str, dst: &Path) {
            self.0.push(format!("{what} {}", dst.display()));
        }
    }

    impl CopySink for Recording {
        type Error = io::Error;
        fn source_error(&self, _: &'static str, _: &Path, error: io::Error) -> io::Error {
            error
        }
        fn enter_dir(
            &mut self,
            _: &Path,
            _: &str,
            dst: &Path,
            _: &Metadata,
            _: bool,
            inside_excluded: bool,
        ) -> io::Result<Option<bool>> {
            self.note(
                if inside_excluded {
                    "dir(in excluded)"
                } else {
                    "dir"
                },
                dst,
            );
            Ok(Some(true))
        }
        fn leave_dir(&mut self, _: &Path, dst: &Path, _: &Metadata) -> io::Result<()> {
            self.note("end", dst);
            Ok(())
        }
        fn open_excluded_dir(&mut self, _: &Path, dst: &Path, _: bool) -> io::Result<()> {
            self.note("open", dst);
            Ok(())
        }
        fn close_excluded_dir(&mut self, _: &Path, dst: &Path) -> io::Result<()> {
            self.note("close", dst);
            Ok(())
        }
        fn add_entry(&mut self, _: &Path, dst: &Path, _: &Metadata, _: bool) -> io::Result<()> {
            self.note("add", dst);
            Ok(())
        }
    }

    #[test]
    fn excluded_dirs_are_written_only_around_re_included_entries() {
        let src = tempfile::tempdir().unwrap();
        let p = |rel: &str| src.path().join(rel);
        for dir in ["docs/deep", "gone", "z"] {
            std::fs::create_dir_all(p(dir)).unwrap();
        }
        for file in [
            "b.txt",
            "a.txt",
            "docs/x",
            "docs/deep/README.md",
            "gone/y",
            "z/k",
        ] {
            std::fs::write(p(file), "").unwrap();
        }
        std::os::unix::net::UnixListener::bind(p("docs/sock")).unwrap();
        nix::unistd::mkfifo(&p("fifo"), nix::sys::stat::Mode::from_bits_truncate(0o644)).unwrap();
        let excluded = |rel: &str| {
            rel.starts_with("docs") && rel != "docs/deep/README.md" || rel.starts_with("gone")
        };
        let mut walker = Walker::new(Recording::default(), &excluded);
        walker
            .children(
                &mut src.path().to_path_buf(),
                &mut PathBuf::from("out"),
                &mut String::new(),
                true,
            )
            .unwrap();
        assert_eq!(
            walker.sink.0,
            [
                "add out/a.txt",
                "add out/b.txt",
                // Made for the file brought back, with the excluded dir around it, once; the socket is left
                // out and makes nothing.
                "open out/docs",
                "open out/docs/deep",
                "add out/docs/deep/README.md",
                "close out/docs/deep",
                "close out/docs",
                "dir out/z",
                "add out/z/k",
                "end out/z",
            ]
        );
    }
}
