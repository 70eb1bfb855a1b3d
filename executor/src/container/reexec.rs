//! How hoist re-executes itself as a container's helper: the marker argument and the variable that
//! names another program to run instead, and how a pre-`main` hook reads its arguments. Used by the helper,
//! by its errors, by `hoist run` (which re-executes the same program as a monitor) and by the reaper of stale
//! helpers; imports nothing of hoist.

/// The hidden first argument that makes a hoist process act as a container init helper.
pub const INIT_MARKER: &str = "__hoist-container-init";
/// Environment variable naming the program to re-execute instead of `/proc/self/exe`.
pub const INIT_PROGRAM_ENV: &str = "HOIST_CONTAINER_INIT";

/// In a pre-`main` hook (`.init_array`, which glibc calls with `main`'s arguments): the arguments after
/// `marker` when the program was started as `PROGRAM MARKER ARG…` with at least one argument, else `None`.
///
/// # Safety
/// `argv` must hold `argc` valid NUL-terminated strings, as glibc passes them to `.init_array` functions.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub(crate) unsafe fn marker_arguments(
    argc: libc::c_int,
    argv: *const *const libc::c_char,
    marker: &str,
) -> Option<Vec<std::ffi::OsString>> {
    use std::os::unix::ffi::OsStrExt;
    if argc < 3 || argv.is_null() {
        return None;
    }
    // SAFETY: the caller passes main's argc/argv.
    let arg = |i: usize| unsafe { std::ffi::CStr::from_ptr(*argv.add(i)) };
    if arg(1).to_bytes() != marker.as_bytes() {
        return None;
    }
    Some(
        (2..argc as usize)
            .map(|i| std::ffi::OsStr::from_bytes(arg(i).to_bytes()).to_os_string())
            .collect(),
    )
}
