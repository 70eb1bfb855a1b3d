//! What a copy keeps of its source, by where the source comes from: the rules the copy and its layer graft share.

use std::fs::FileType;
use std::os::unix::fs::FileTypeExt;

use crate::layer::EntryAs;

/// Where the sources of a copy come from. BuildKit keeps a stage's or an image's files as they are, while the
/// build context reaches it through the client's file transfer, which resets every owner to 0:0, carries no
/// extended attributes, and leaves directories with the time they were received.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    /// The build context (and files hoist makes for a step: heredocs, downloads): copies are 0:0 (or
    /// `--chown`'s), without xattrs; files keep their mtime, directories get the time of the copy.
    Context,
    /// Another stage's or an image's rootfs: copies keep each entry's owner (unless `--chown`), mode, times and
    /// xattrs.
    Rootfs,
}

impl SourceKind {
    /// How every entry copied from this kind of source is written, given `--chown` and `--chmod`.
    pub fn entry_as(self, chown: Option<(u32, u32)>, chmod: Option<u32>) -> EntryAs {
        let context = self == SourceKind::Context;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        EntryAs {
            owner: chown.or(context.then_some((0, 0))),
            mode: chmod,
            xattrs: !context,
            dir_mtime: context.then_some(now),
        }
    }
}

/// Sockets cannot be copied (fsutil refuses them, and a stray one in a context should not break the build);
/// FIFOs neither: BuildKit's copy (Docker 20.10's fsutil) leaves them out without a word.
pub(super) fn is_skipped_by_copy(file_type: FileType) -> bool {
    file_type.is_socket() || file_type.is_fifo()
}
