//! How hoist re-executes itself as a container's helper: the marker argument and the variable that
//! names another program to run instead. Used by the helper, by its errors, by `hoist run` (which
//! re-executes the same program as a monitor) and by the reaper of stale helpers; imports nothing.

/// The hidden first argument that makes a hoist process act as a container init helper.
pub const INIT_MARKER: &str = "__hoist-container-init";
/// Environment variable naming the program to re-execute instead of `/proc/self/exe`.
pub const INIT_PROGRAM_ENV: &str = "HOIST_CONTAINER_INIT";
