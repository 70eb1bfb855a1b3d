//! Temp entries under `tmp/` and mounts in the store that no live process owns.

use std::fs;

use super::{CheckOptions, CheckReport, Problem};
use crate::error::{IoContext, Result};
use crate::owner::{entry_is_owned, entry_owner_pid};
use crate::sweep::mounts_under;
use crate::Store;

pub(super) fn check(store: &Store, options: CheckOptions, report: &mut CheckReport) -> Result<()> {
    let tmp = store.tmp_dir();
    let mut entries = Vec::new();
    for entry in fs::read_dir(tmp).io_ctx("listing", tmp)? {
        entries.push(entry.io_ctx("listing", tmp)?.path());
    }
    entries.sort();
    report.temp_entries = entries.len();
    for path in entries {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
        if name.as_deref().is_some_and(crate::sweep::is_work_lock) {
            // A work lock a killed hoist left (a build's step lock, say): an empty file that nothing refers to and
            // that blocks nobody, so not a problem to report; repair removes it when nobody holds it.
            if options.repair {
                crate::lock::WorkLock::remove_if_unheld(&path);
            }
            continue;
        }
        if entry_is_owned(&path) {
            continue;
        }
        let mounts = mounts_under(&path);
        let owner = path
            .file_name()
            .and_then(|n| entry_owner_pid(&n.to_string_lossy()))
            .map(|pid| format!("process {pid}, which is gone"))
            .unwrap_or_else(|| "no live process".to_string());
        let mut message = format!("belongs to {owner}");
        if !mounts.is_empty() {
            message.push_str(&format!(
                " ({} mount{} inside)",
                mounts.len(),
                if mounts.len() == 1 { "" } else { "s" }
            ));
        }
        let problem = Problem::new(format!("temp entry {}", path.display()), message);
        report.problems.push(if options.repair {
            for mount in &mounts {
                let _ = nix::mount::umount2(mount, nix::mount::MntFlags::MNT_DETACH);
            }
            let done = if mounts.is_empty() {
                "removed"
            } else {
                "unmounted and removed"
            };
            problem.repaired(crate::fsutil::remove_any(&path), done)
        } else {
            problem
        });
    }
    // Snapshots are only ever overlay lower dirs and blobs plain files: nothing is mounted on them.
    for dir in [&store.snapshots, &store.blobs] {
        for mount in mounts_under(dir) {
            if &mount == dir {
                continue;
            }
            let problem = Problem::new(
                format!("mount {}", mount.display()),
                "is inside the store's snapshots or blobs, where hoist never mounts anything",
            );
            report.problems.push(if options.repair {
                let result = nix::mount::umount2(&mount, nix::mount::MntFlags::MNT_DETACH)
                    .io_ctx("unmounting", &mount);
                problem.repaired(result, "unmounted")
            } else {
                problem
            });
        }
    }
    Ok(())
}
