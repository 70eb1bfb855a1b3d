//! What a re-executed hoist becomes. hoist starts itself again (`/proc/self/exe`, or
//! `$HOIST_CONTAINER_INIT`) with a hidden marker argument: as the helper that runs a build step's
//! container ([`crate::container::INIT_MARKER`]) or as the monitor of a `hoist run` container
//! ([`crate::runtime::MONITOR_MARKER`]). Each turns into that before `main` through an
//! `.init_array` hook of its own (glibc targets); [`maybe_run_container_init`] is the same check
//! for `main` to call, for the targets without the hook. It sits above both modules so that the
//! container code never imports the runtime.

use std::path::Path;

/// When this process was started as a container helper or a container's monitor, run it and exit
/// with its code; otherwise return at once. Call it first thing in `main`, before any thread.
pub fn maybe_run_container_init() {
    let mut args = std::env::args_os().skip(1);
    let marker = args.next();
    if marker.as_deref() == Some(std::ffi::OsStr::new(crate::runtime::MONITOR_MARKER)) {
        let code = match args.next() {
            Some(dir) => crate::runtime::monitor::monitor_main(Path::new(&dir)),
            None => 125,
        };
        std::process::exit(code);
    }
    if marker.as_deref() != Some(std::ffi::OsStr::new(crate::container::INIT_MARKER)) {
        return;
    }
    let code = match args.next() {
        Some(request_path) => {
            crate::container::init_main(Path::new(&request_path), args.next().as_deref())
        }
        None => {
            eprintln!(
                "hoist: {} needs the path of a request file",
                crate::container::INIT_MARKER
            );
            125
        }
    };
    std::process::exit(code);
}
