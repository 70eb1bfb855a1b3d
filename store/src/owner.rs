//! Who owns a staging entry under `tmp/`: the one test `hoist store check` uses to tell a live process's
//! work from a dead one's leftovers.
//!
//! Today an entry names its owner's pid (`PREFIX-PID-RANDOM`, see `fsutil::unique_name`; a build step's
//! container state is `hoist-PID-N-NANOS[.bundle]`, see the executor), and the owner is alive when that pid
//! runs. Everything that judges ownership goes through [`entry_is_owned`], so a switch to another test (such as
//! a `flock` the owner holds) changes this file only.

use std::path::Path;

use crate::sweep::{owner_pid, process_alive};

/// Whether a live process may still be using staging entry `path`. An entry whose owner cannot be told
/// (a name of no known shape, such as the per-layer compression locks) counts as owned: it is never reported
/// or removed on a guess.
pub fn entry_is_owned(path: &Path) -> bool {
    let Some(name) = path.file_name().map(|n| n.to_string_lossy().into_owned()) else {
        return true;
    };
    let Some(pid) = entry_owner_pid(&name) else {
        return true;
    };
    pid as u32 == std::process::id() || process_alive(pid)
}

/// The pid named by an entry: `hoist-PID-N-NANOS[.bundle]` (a build step's container state), else the
/// store's own `PREFIX-PID-RANDOM`.
pub(crate) fn entry_owner_pid(name: &str) -> Option<i32> {
    if let Some(rest) = name.strip_prefix("hoist-") {
        if let Some(pid) = rest.split('-').next().and_then(|p| p.parse().ok()) {
            return Some(pid);
        }
    }
    owner_pid(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_pids_of_both_name_shapes() {
        assert_eq!(entry_owner_pid("step-1234-00ff00ff00ff00ff"), Some(1234));
        assert_eq!(entry_owner_pid("hoist-42-7-0000abcd"), Some(42));
        assert_eq!(entry_owner_pid("hoist-42-7-0000abcd.bundle"), Some(42));
        assert_eq!(entry_owner_pid("compress-gzip-abc.lock"), None);
    }

    #[test]
    fn live_dead_and_unknown_owners() {
        let me = std::process::id();
        assert!(entry_is_owned(Path::new(&format!("/x/step-{me}-00"))));
        assert!(!entry_is_owned(Path::new("/x/step-2147483646-00")));
        assert!(!entry_is_owned(Path::new("/x/hoist-2147483646-0-00")));
        assert!(entry_is_owned(Path::new("/x/compress-gzip-abc.lock")));
    }

    #[test]
    fn sweep_keeps_a_live_build_steps_container_state() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::Store::open(dir.path()).unwrap();
        // The first RUN step of a running build (this process): `hoist-PID-0-NANOS`, and its bundle.
        let me = std::process::id();
        let state = store.tmp_dir().join(format!("hoist-{me}-0-0000abcd"));
        let bundle = store
            .tmp_dir()
            .join(format!("hoist-{me}-0-0000abcd.bundle"));
        let dead = store.tmp_dir().join("hoist-2147483646-3-0000abcd");
        for d in [&state, &bundle, &dead] {
            std::fs::create_dir_all(d).unwrap();
        }
        assert_eq!(store.sweep_stale_tmp(), 1);
        assert!(state.exists() && bundle.exists() && !dead.exists());
    }
}
