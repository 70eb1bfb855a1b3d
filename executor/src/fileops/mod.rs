//! File operations behind COPY, ADD and WORKDIR, on plain directories.
//!
//! The solver mounts an overlay (parent layers + a fresh upper dir) and passes the merged dir as `dest_root`;
//! everything written here lands in the upper dir and becomes the layer. Behaviour follows BuildKit
//! (fsutil's copier and Docker's untar), as recorded in the oracle cases.
//!
//! A copy is one walk of the source tree ([`walk`]) into a sink: a directory ([`dirsink`]: the merged rootfs, or
//! the upper dir when [`copy_deferring`] left new directories to fill after the unmount, see [`deferred`]) or the
//! layer tar ([`graft`]). The walk holds the rules of what is copied; the sinks say how an entry is written,
//! both as [`rules::SourceKind::entry_as`] says.
//!
//! Security: every path that comes from a Dockerfile, the context, another image or an archive is resolved
//! with [`resolve_in_root`], so nothing is read outside the source root or written outside the destination root.

mod archive;
mod copy;
mod deferred;
mod dirsink;
mod error;
mod graft;
mod meta;
mod paths;
mod rules;
mod securejoin;
mod tarmeta;
mod tarstream;
mod walk;
mod wildcard;

pub use archive::{extract_archive, is_archive};
pub use copy::{copy, copy_deferring, matched_sources, CopyRequest, CopyStats, MatchedSource};
pub use deferred::DeferredCopy;
pub use error::{CopyError, Result};
pub use graft::CopyGraft;
pub use rules::SourceKind;
pub use securejoin::{mkdir_all_in_root, resolve_in_root, resolve_parent_in_root};
