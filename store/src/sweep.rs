//! Clean-up after hoist processes that died without cleaning up (killed, crashed, power loss): their staging
//! entries under `tmp/` — named `PREFIX-TOKEN-RANDOM`, see [`crate::owner`] — and any overlay mounted inside them.
//! An entry goes only when its owner's lock can be taken, that is when no live process owns it.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::owner::{self, Owner};
use crate::Store;

/// Mount points at or below `dir`, deepest first (from /proc/self/mountinfo; octal escapes decoded).
pub(crate) fn mounts_under(dir: &Path) -> Vec<PathBuf> {
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = info
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(|p| PathBuf::from(unescape(p)))
        .filter(|p| p.starts_with(dir))
        .collect();
    out.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    out
}

fn unescape(s: &str) -> String {
    let mut out = Vec::with_capacity(s.len());
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..(i + 4).min(s.len())], 8) {
                out.push(v);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The name of a [`crate::WorkLock`] file in `tmp/`.
pub(crate) fn is_work_lock(name: &str) -> bool {
    (name.starts_with("compress-") || name.starts_with("pull-") || name.starts_with("steplock-"))
        && name.ends_with(".lock")
}

impl Store {
    /// Removes the staging entries of hoist processes that are gone, unmounting what is mounted inside them
    /// first; `before_remove` sees each such entry before (the executor stops containers whose state lives
    /// there). Returns how many entries were removed. Entries of live processes (other builds) are never
    /// touched: their owner holds its lock.
    pub fn sweep_stale_tmp(&self, before_remove: &dyn Fn(&Path)) -> usize {
        let Ok(entries) = std::fs::read_dir(self.tmp_dir()) else {
            return 0;
        };
        let mut by_owner: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
        // Owners with no entry left still have their lock file to remove.
        if let Ok(locks) = std::fs::read_dir(owner::owners_dir(self.tmp_dir())) {
            for lock in locks.flatten() {
                if let Some(token) = owner::token_of_lock(&lock.file_name().to_string_lossy()) {
                    by_owner.entry(token.to_string()).or_default();
                }
            }
        }
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if is_work_lock(&name) {
                // A work lock a killed hoist left (compress-*.lock, pull-*.lock, steplock-*.lock): nobody holds it, it goes.
                crate::lock::WorkLock::remove_if_unheld(&entry.path());
                continue;
            }
            if let Some(token) = owner::token_of_entry(&name) {
                by_owner
                    .entry(token.to_string())
                    .or_default()
                    .push(entry.path());
            }
        }
        let mut removed = 0;
        for (token, paths) in by_owner {
            let Owner::Dead(dead) = owner::owner_of(self.tmp_dir(), &token) else {
                continue;
            };
            let mut all_gone = true;
            for path in paths {
                before_remove(&path);
                for mount in mounts_under(&path) {
                    let _ = nix::mount::umount2(&mount, nix::mount::MntFlags::MNT_DETACH);
                }
                if crate::fsutil::remove_any(&path).is_ok() {
                    removed += 1;
                } else {
                    all_gone = false;
                }
            }
            // The lock file goes last, so an entry never outlives its owner's record while someone could care.
            if all_gone {
                dead.forget();
            }
        }
        removed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_escapes() {
        assert_eq!(unescape("/a\\040b"), "/a b");
        assert_eq!(unescape("/plain"), "/plain");
    }

    #[test]
    fn stale_entries_go_live_ones_stay() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        // A dead owner: its lock file is there and nobody holds it.
        let dead = "2147483646_00000000";
        std::fs::write(owner::lock_path(store.tmp_dir(), dead), b"").unwrap();
        let stale = store
            .tmp_dir()
            .join(format!("step-{dead}-0000000000000000"));
        // An owner whose lock file is gone already (a sweep stopped halfway): also dead.
        let orphan = store
            .tmp_dir()
            .join("run-2147483645_00000001-0000000000000000");
        let mine = store.new_tmp_dir("step").unwrap();
        // Names of other schemes (and entries of older hoists) are left to the age rule of `Store::open`.
        let legacy = store.tmp_dir().join("hoist-1-2-0a0b0c0d");
        for d in [&stale.join("u/deep"), &orphan, &legacy] {
            std::fs::create_dir_all(d).unwrap();
        }
        let seen = std::sync::Mutex::new(Vec::new());
        let count = store.sweep_stale_tmp(&|p| seen.lock().unwrap().push(p.to_path_buf()));
        assert_eq!(count, 2);
        assert!(!stale.exists() && !orphan.exists());
        assert!(!owner::lock_path(store.tmp_dir(), dead).exists());
        assert!(mine.path().exists() && legacy.exists());
        assert_eq!(seen.into_inner().unwrap().len(), 2);
    }

    #[test]
    fn an_entry_of_a_live_process_with_a_small_pid_is_kept() {
        // The bug this replaces: `hoist-<pid>-<seq>-<rand>` read `<seq>` as the pid, and a running build's
        // RUN directory was deleted under it. Now a live owner's lock protects every entry, whatever its name.
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let live = "1_0000000a";
        let held = nix::fcntl::Flock::lock(
            std::fs::File::create(owner::lock_path(store.tmp_dir(), live)).unwrap(),
            nix::fcntl::FlockArg::LockExclusive,
        )
        .map_err(|(_, e)| e)
        .unwrap();
        let entry = store.tmp_dir().join(format!("run-{live}-0000000000000000"));
        std::fs::create_dir(&entry).unwrap();
        assert_eq!(store.sweep_stale_tmp(&|_| {}), 0);
        assert!(entry.exists());
        drop(held);
        assert_eq!(store.sweep_stale_tmp(&|_| {}), 1);
        assert!(!entry.exists());
    }
}
