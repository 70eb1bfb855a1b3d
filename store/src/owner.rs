//! Who owns an entry of the store's `tmp/`: the process that made it, for as long as that process lives.
//!
//! Each hoist process that stages something under `tmp/` first creates `owners/TOKEN.lock` (beside `tmp/`, so
//! that `tmp/` holds only staging entries and is empty when nothing is staged) and holds an
//! exclusive `flock` on it until it exits (the kernel releases it however the process ends: exit, crash,
//! SIGKILL). Its entries are named `PREFIX-TOKEN-RANDOM`. A sweep that can take that lock knows the owner is
//! gone; while the owner lives nobody can take it. TOKEN is the pid (for people reading `ls tmp/`) and 32
//! random bits, so a later process that gets the same pid has another token: nothing is guessed from pids.
use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use nix::fcntl::{Flock, FlockArg};
use rand::Rng;

use crate::error::{IoContext, Result};

const OWNER_SUFFIX: &str = ".lock";

/// This process's token (`PID_RANDOM`), the same for every store it uses.
pub(crate) fn token() -> &'static str {
    static TOKEN: OnceLock<String> = OnceLock::new();
    TOKEN.get_or_init(|| {
        let random: u32 = rand::thread_rng().gen();
        format!("{}_{random:08x}", std::process::id())
    })
}

/// The owner locks this process holds, one per `tmp/` directory; never released before the process exits.
fn held() -> &'static Mutex<HashMap<PathBuf, Flock<File>>> {
    static HELD: OnceLock<Mutex<HashMap<PathBuf, Flock<File>>>> = OnceLock::new();
    HELD.get_or_init(Mutex::default)
}

/// Where the owner lock files of the entries in `tmp` live: `owners/` beside it.
pub(crate) fn owners_dir(tmp: &Path) -> PathBuf {
    tmp.with_file_name("owners")
}

/// The owner lock file of `token` for the entries in `tmp`.
pub(crate) fn lock_path(tmp: &Path, token: &str) -> PathBuf {
    owners_dir(tmp).join(format!("{token}{OWNER_SUFFIX}"))
}

/// Makes sure this process holds its owner lock in `tmp`; call before creating an entry there.
pub(crate) fn claim(tmp: &Path) -> Result<()> {
    let mut held = held().lock().unwrap_or_else(|p| p.into_inner());
    if held.contains_key(tmp) {
        return Ok(());
    }
    let path = lock_path(tmp, token());
    let dir = owners_dir(tmp);
    std::fs::create_dir_all(&dir).io_ctx("creating the owner lock directory", &dir)?;
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .io_ctx("creating the owner lock file", &path)?;
    let lock = Flock::lock(file, FlockArg::LockExclusiveNonblock)
        .map_err(|(_, e)| e)
        .io_ctx("locking the owner lock file", &path)?;
    held.insert(tmp.to_path_buf(), lock);
    Ok(())
}

/// A name for a new entry in `tmp` that this process owns: `PREFIX-TOKEN-RANDOM`.
pub(crate) fn owned_name(tmp: &Path, prefix: &str) -> Result<String> {
    claim(tmp)?;
    let random: u64 = rand::thread_rng().gen();
    Ok(format!("{prefix}-{}-{random:016x}", token()))
}

/// The owner token in an entry name made by [`owned_name`] (`step-12_0a0b0c0d-00ff…` → `12_0a0b0c0d`).
pub(crate) fn token_of_entry(name: &str) -> Option<&str> {
    let mut parts = name.rsplitn(3, '-');
    let _random = parts.next()?;
    let token = parts.next()?;
    let _prefix = parts.next()?;
    is_token(token).then_some(token)
}

/// The token of an owner lock file name (`12_0a0b0c0d.lock` → `12_0a0b0c0d`).
pub(crate) fn token_of_lock(name: &str) -> Option<&str> {
    let token = name.strip_suffix(OWNER_SUFFIX)?;
    is_token(token).then_some(token)
}

fn is_token(s: &str) -> bool {
    let Some((pid, random)) = s.split_once('_') else {
        return false;
    };
    !pid.is_empty()
        && pid.bytes().all(|b| b.is_ascii_digit())
        && random.len() == 8
        && random.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Whether the owner of `token` in `tmp` is gone for good; if so, the returned guard keeps it that way (it holds
/// the dead owner's lock) until the caller has removed the owner's entries and dropped it.
pub(crate) enum Owner {
    Alive,
    /// Gone. `Some` holds its lock file (removed on [`DeadOwner::forget`]); `None`: the file is gone already.
    Dead(DeadOwner),
}

pub(crate) struct DeadOwner {
    lock: Option<(PathBuf, Flock<File>)>,
}

impl DeadOwner {
    /// Removes the lock file; call after every entry of the owner is gone. The path is unlinked while the lock
    /// is still held, so a sweeper that opened the file meanwhile only ever locks a dead owner's file.
    pub(crate) fn forget(self) {
        if let Some((path, lock)) = self.lock {
            let _ = std::fs::remove_file(&path);
            drop(lock);
        }
    }
}

pub(crate) fn owner_of(tmp: &Path, token: &str) -> Owner {
    if token == self::token() {
        return Owner::Alive;
    }
    let path = lock_path(tmp, token);
    let file = match OpenOptions::new().write(true).open(&path) {
        Ok(f) => f,
        // A live owner creates its lock file before its first entry, and only a sweeper holding the lock of a
        // dead owner removes it: entries without one belong to an owner that is gone.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Owner::Dead(DeadOwner { lock: None })
        }
        Err(_) => return Owner::Alive,
    };
    match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(lock) => Owner::Dead(DeadOwner {
            lock: Some((path, lock)),
        }),
        Err(_) => Owner::Alive,
    }
}

/// Whether a live process may still be using staging entry `path` of `tmp/`: the one ownership test
/// `hoist store check` shares with the sweep. An entry whose name carries no owner token (a name of no known
/// shape, such as the per-layer compression locks) counts as owned: it is never reported or removed on a guess.
pub fn entry_is_owned(path: &Path) -> bool {
    let (Some(tmp), Some(name)) = (path.parent(), path.file_name()) else {
        return true;
    };
    let Some(token) = token_of_entry(&name.to_string_lossy()).map(str::to_string) else {
        return true;
    };
    // Dropping a `Dead` guard releases the dead owner's lock again: checking changes nothing.
    matches!(owner_of(tmp, &token), Owner::Alive)
}

/// The pid part of the owner token in an entry's name, for messages (`step-12_0a0b0c0d-…` → 12).
pub(crate) fn entry_owner_pid(name: &str) -> Option<u32> {
    token_of_entry(name)?.split_once('_')?.0.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_carry_the_token() {
        let dir = tempfile::tempdir().unwrap();
        let tmp = dir.path().join("tmp");
        let name = owned_name(&tmp, "step").unwrap();
        assert_eq!(token_of_entry(&name), Some(token()));
        let lock = dir.path().join("owners").join(format!("{}.lock", token()));
        assert!(lock.is_file());
        assert_eq!(token_of_lock(&format!("{}.lock", token())), Some(token()));
        // Names of other schemes are not ours to judge.
        assert_eq!(token_of_entry("step-1234-00ff00ff00ff00ff"), None);
        assert_eq!(token_of_entry("compress-abcdef-gzip.lock"), None);
        assert_eq!(token_of_entry("hoist-12-3-0a0b0c0d"), None);
        assert_eq!(token_of_lock("12.lock"), None);
    }

    #[test]
    fn a_held_lock_means_alive_a_free_one_dead() {
        let dir = tempfile::tempdir().unwrap();
        let tmp = dir.path().join("tmp");
        claim(&tmp).unwrap();
        assert!(matches!(owner_of(&tmp, token()), Owner::Alive));
        // Another "process": a lock file nobody holds.
        let other = "999999_0badf00d";
        std::fs::write(lock_path(&tmp, other), b"").unwrap();
        match owner_of(&tmp, other) {
            Owner::Dead(dead) => dead.forget(),
            Owner::Alive => panic!("nobody holds that lock"),
        }
        assert!(!lock_path(&tmp, other).exists());
        // A lock held through another open file description (as another process would) means alive.
        let held = Flock::lock(
            File::create(lock_path(&tmp, other)).unwrap(),
            FlockArg::LockExclusive,
        )
        .map_err(|(_, e)| e)
        .unwrap();
        assert!(matches!(owner_of(&tmp, other), Owner::Alive));
        drop(held);
        assert!(matches!(owner_of(&tmp, other), Owner::Dead(_)));
    }

    #[test]
    fn entries_of_live_dead_and_unknown_owners() {
        let dir = tempfile::tempdir().unwrap();
        let tmp = dir.path().join("tmp");
        std::fs::create_dir_all(&tmp).unwrap();
        let mine = tmp.join(owned_name(&tmp, "step").unwrap());
        assert!(entry_is_owned(&mine));
        let dead = "999998_0badf00d";
        let theirs = tmp.join(format!("step-{dead}-00ff00ff00ff00ff"));
        assert!(!entry_is_owned(&theirs), "no lock file: its owner is gone");
        std::fs::write(lock_path(&tmp, dead), b"").unwrap();
        assert!(!entry_is_owned(&theirs), "a lock nobody holds");
        assert!(lock_path(&tmp, dead).exists(), "checking removes nothing");
        assert_eq!(entry_owner_pid(&format!("step-{dead}-00")), Some(999998));
        assert!(entry_is_owned(&tmp.join("compress-gzip-abc.lock")));
    }
}
