//! hoist-executor: runs one build step at a time — overlay mounts, containers, file operations, layer diffs.
mod cgroup_v1;
pub mod container;
mod dev_null;
mod entry;
mod error_text;
pub mod fileops;
mod helper_channel;
pub mod layer;
pub mod overlay;
pub mod reap;
pub mod runtime;
pub mod user;

pub use entry::maybe_run_container_init;
