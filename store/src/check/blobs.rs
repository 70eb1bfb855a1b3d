//! Every blob's content hashes to its name. Blobs are hashed on all cores, streamed in 1 MiB reads.

use std::collections::HashSet;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use sha2::{Digest as _, Sha256};

use super::{CheckOptions, CheckReport, Problem};
use crate::digest::Digest;
use crate::error::{IoContext, Result};
use crate::Store;

/// What hashing one file found.
enum Verdict {
    Good,
    /// The content hashes to this instead.
    Corrupt(Digest),
    /// Removed while we looked (garbage collection by a hoist that does not lock): not a problem.
    Gone,
    Unreadable(String),
}

/// Hashes every blob; returns the corrupt ones (removed already under `repair`).
pub(super) fn check(
    store: &Store,
    options: CheckOptions,
    report: &mut CheckReport,
) -> Result<HashSet<Digest>> {
    let dir = &store.blobs;
    let mut named = Vec::new();
    for entry in fs::read_dir(dir).io_ctx("listing", dir.clone())? {
        let entry = entry.io_ctx("listing", dir.clone())?;
        let name = entry.file_name().to_string_lossy().into_owned();
        match Digest::from_hex(&name) {
            Ok(digest) => named.push((digest, entry.path())),
            Err(_) => {
                let path = entry.path();
                let problem = Problem::new(
                    format!("file {}", path.display()),
                    "in the content store is not named by a sha256 digest",
                );
                report.problems.push(if options.repair {
                    problem.repaired(crate::fsutil::remove_any(&path), "removed")
                } else {
                    problem
                });
            }
        }
    }
    let started = Instant::now();
    let verdicts = hash_all(&named);
    report.blob_time = started.elapsed();
    report.blobs = named.len();
    let mut corrupt = HashSet::new();
    for ((digest, path), (verdict, size)) in named.iter().zip(verdicts) {
        report.blob_bytes += size;
        let subject = format!("blob {digest}");
        let problem = match verdict {
            Verdict::Good | Verdict::Gone => continue,
            Verdict::Unreadable(why) => {
                // Unreadable is not known to be wrong: left in place, but the store cannot use it either.
                report.problems.push(
                    Problem::new(subject, format!("cannot be read: {why}")).unrepairable(format!(
                        "check the disk and the permissions of {}",
                        path.display()
                    )),
                );
                continue;
            }
            Verdict::Corrupt(actual) => Problem::new(
                subject,
                format!("content does not match its name (size {size}, content is {actual})"),
            ),
        };
        corrupt.insert(digest.clone());
        report.problems.push(if options.repair {
            problem.repaired(crate::fsutil::remove_any(path), "removed")
        } else {
            problem
        });
    }
    Ok(corrupt)
}

/// Hashes the files on as many threads as there are cores; results in the order of `blobs`.
fn hash_all(blobs: &[(Digest, PathBuf)]) -> Vec<(Verdict, u64)> {
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(blobs.len().max(1));
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<(Verdict, u64)>>> =
        Mutex::new((0..blobs.len()).map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some((digest, path)) = blobs.get(i) else {
                    break;
                };
                let verdict = hash_one(digest, path);
                results.lock().unwrap_or_else(|p| p.into_inner())[i] = Some(verdict);
            });
        }
    });
    results
        .into_inner()
        .unwrap_or_else(|p| p.into_inner())
        .into_iter()
        .map(|r| r.unwrap_or((Verdict::Gone, 0)))
        .collect()
}

fn hash_one(digest: &Digest, path: &Path) -> (Verdict, u64) {
    let mut file = match fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return (Verdict::Gone, 0),
        Err(e) => return (Verdict::Unreadable(e.to_string()), 0),
    };
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                hasher.update(&buf[..n]);
                size += n as u64;
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return (Verdict::Unreadable(e.to_string()), size),
        }
    }
    let actual = Digest::from_hasher(hasher);
    if &actual == digest {
        (Verdict::Good, size)
    } else {
        (Verdict::Corrupt(actual), size)
    }
}
