//! Clean-up after hoist processes that died without cleaning up (killed, crashed, power loss): their staging
//! dirs under `tmp/` — named `PREFIX-PID-RANDOM` — and any overlay mounted inside them.
use std::path::{Path, PathBuf};

use crate::Store;

/// The pid a staging entry's name carries (`step-1234-00ff…` → 1234).
pub(crate) fn owner_pid(name: &str) -> Option<i32> {
    let mut parts = name.rsplitn(3, '-');
    let _random = parts.next()?;
    parts.next()?.parse().ok()
}

pub(crate) fn process_alive(pid: i32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

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

impl Store {
    /// Removes staging entries of processes that no longer run, unmounting what is mounted inside them first.
    /// Returns how many entries were removed. Entries of live processes (other builds) are left alone.
    pub fn sweep_stale_tmp(&self) -> usize {
        let Ok(entries) = std::fs::read_dir(self.tmp_dir()) else {
            return 0;
        };
        let mut removed = 0;
        for entry in entries.flatten() {
            let path = entry.path();
            // The one ownership test (it also reads a build step's `hoist-PID-N-NANOS` container state right).
            if crate::owner::entry_is_owned(&path) {
                continue;
            }
            for mount in mounts_under(&path) {
                let _ = nix::mount::umount2(&mount, nix::mount::MntFlags::MNT_DETACH);
            }
            if crate::fsutil::remove_any(&path).is_ok() {
                removed += 1;
            }
        }
        removed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pid_from_names() {
        assert_eq!(owner_pid("step-1234-00ff00ff00ff00ff"), Some(1234));
        assert_eq!(owner_pid("cache-private-77-0123456789abcdef"), Some(77));
        assert_eq!(owner_pid("junk"), None);
    }

    #[test]
    fn mountinfo_escapes() {
        assert_eq!(unescape("/a\\040b"), "/a b");
        assert_eq!(unescape("/plain"), "/plain");
    }

    #[test]
    fn stale_entries_go_live_ones_stay() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        // pid 0x7ffffffe cannot be running; our own pid is.
        let stale = store.tmp_dir().join("step-2147483646-0000000000000000");
        let mine = store
            .tmp_dir()
            .join(format!("step-{}-0000000000000001", std::process::id()));
        std::fs::create_dir_all(stale.join("u/deep")).unwrap();
        std::fs::create_dir_all(&mine).unwrap();
        assert_eq!(store.sweep_stale_tmp(), 1);
        assert!(!stale.exists());
        assert!(mine.exists());
    }
}
