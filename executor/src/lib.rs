//! hoist-executor: the mechanics of build steps and containers — overlay mounts, containers, file operations,
//! layer tars. It knows nothing of Dockerfiles (the solver decides what to run) nor of the store's index.
//!
//! The API the solver and the CLI use, on one screen:
//!
//! - first thing in `main`: [`maybe_run_container_init`] (the re-executed container helper and monitor);
//! - a build step's container: [`container::run_cancellable`]`(`[`container::ContainerSpec`]`, state_dir,
//!   &`[`container::CancelToken`]`)`, with [`container::ExtraMount`] / [`container::Network`];
//! - filesystems: [`overlay::mount_overlay`] / [`overlay::mount_overlay_volatile`] (a repeated lower layer is
//!   mounted once), [`layer::write_layer_tar`] / [`layer::write_layer_tar_grafted`] (an upper dir → a layer);
//! - COPY/ADD: [`fileops::copy`], [`fileops::copy_deferring`] → [`fileops::DeferredCopy`] or
//!   [`fileops::CopyGraft`] (one walk, a directory or a tar as its sink), [`fileops::extract_archive`], paths
//!   resolved inside a root ([`fileops::resolve_in_root`], [`fileops::mkdir_all_in_root`]);
//! - users: [`user::resolve_user`], [`user::resolve_chown`] (names looked up in the image's /etc files);
//! - after killed hoists: [`reap::remove_containers_in`], [`reap::remove_orphaned_cgroups`];
//! - `hoist run` and friends: [`runtime::create`], [`runtime::run_foreground`], [`runtime::start_detached`],
//!   [`runtime::exec`], [`runtime::kill`], [`runtime::stop`], [`runtime::list`], [`runtime::logs`],
//!   [`runtime::remove`], [`runtime::find`]; `hoist store check`'s part: [`runtime::container_check::check`].
//!
//! Safety rules every module keeps: no path from a Dockerfile, context, tar or image is written outside its
//! root (symlinks and `..` resolved inside it), and containers get Docker's default capabilities, masked paths,
//! device rules and seccomp profile.
pub mod bridge;
mod cgroup_v1;
pub mod container;
mod dev_null;
mod entry;
mod error_text;
pub mod fileops;
mod helper_channel;
pub mod layer;
pub mod layer_reuse;
pub mod overlay;
pub mod reap;
pub mod runtime;
pub mod user;

pub use entry::maybe_run_container_init;
