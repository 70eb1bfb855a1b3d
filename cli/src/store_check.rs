//! `hoist store check [--repair]`: prints what [`Store::check`] and the runtime's container check found.

use clap::{Args, Subcommand};
use hoist_executor::runtime::container_check;
use hoist_store::{CheckOptions, CheckReport, Outcome, Problem, Store};

#[derive(Debug, Args)]
pub struct StoreArgs {
    #[command(subcommand)]
    command: StoreCommand,
}

#[derive(Debug, Subcommand)]
enum StoreCommand {
    /// Verify the state directory: blob contents, the index, images, snapshots, and leftovers of dead
    /// processes (temp entries, mounts, cgroups, container records), and mount points layers of `hoist run` that
    /// no container and no image uses. Exits 1 when something is wrong.
    Check(CheckArgs),
}

#[derive(Debug, Args)]
struct CheckArgs {
    /// Remove what is broken or orphaned (it waits for running builds first). Exits 0 when the store is clean
    /// afterwards, 1 when something could not be repaired.
    #[arg(long)]
    repair: bool,
}

pub fn run(store: &Store, args: StoreArgs) -> anyhow::Result<i32> {
    match args.command {
        StoreCommand::Check(a) => check(store, a),
    }
}

fn check(store: &Store, args: CheckArgs) -> anyhow::Result<i32> {
    // As `hoist cache prune`: a repair holds the lock exclusively, so no build runs while it removes things
    // (builds hold it shared); a check holds it shared, so no repair or prune runs under it.
    let _lock = if args.repair {
        match store.try_lock()? {
            Some(lock) => lock,
            None => {
                errln!(
                    "waiting for the builds using {} to finish…",
                    store.root().display()
                );
                store.lock()?
            }
        }
    } else {
        store.lock_shared()?
    };
    let root = std::path::absolute(store.root()).unwrap_or_else(|_| store.root().to_path_buf());
    // Containers first: a repair there removes build steps' container state from tmp/ with their cgroups.
    let containers = container_check::check(
        &root,
        store.tmp_dir(),
        &hoist_store::entry_is_owned,
        args.repair,
    )?;
    let mut report = store.check(CheckOptions {
        repair: args.repair,
    })?;
    // After the store's repair: an image it removed no longer keeps its mount points layer.
    let mut image_stacks =
        || crate::layer_stacks::of_all_images(store).map_err(|e| format!("{e:#}"));
    let mountpoints = container_check::check_mountpoints(&root, &mut image_stacks, args.repair)?;
    report.problems.extend(
        containers
            .findings
            .into_iter()
            .chain(mountpoints)
            .map(problem_of),
    );
    print_report(&report, containers.containers, args.repair);
    Ok(if report.is_clean() { 0 } else { 1 })
}

fn problem_of(finding: container_check::Finding) -> Problem {
    Problem {
        subject: finding.subject,
        message: finding.message,
        outcome: match finding.repair {
            None => Outcome::Found,
            Some(Ok(done)) => Outcome::Repaired(done),
            Some(Err(why)) => Outcome::NotRepaired(why),
        },
    }
}

fn print_report(report: &CheckReport, containers: usize, repair: bool) {
    outln!(
        "checked {} blobs ({} hashed in {:.2} s), {} snapshots, {} images, {} cache records, {} containers, \
         {} temp entries",
        report.blobs,
        crate::output::human_size(report.blob_bytes),
        report.blob_time.as_secs_f64(),
        report.snapshots,
        report.images,
        report.cache_records,
        containers,
        report.temp_entries
    );
    let found = report.problems.len();
    if found == 0 {
        outln!("no problems");
        return;
    }
    let remaining = report.problems.iter().filter(|p| p.remains()).count();
    if repair {
        outln!("problems: {found}, repaired: {}", found - remaining);
    } else {
        outln!("problems: {found}");
    }
    for problem in &report.problems {
        outln!("  {problem}");
    }
    if !repair {
        outln!("run `hoist store check --repair` to remove what is broken");
    } else if remaining > 0 {
        outln!("{remaining} could not be repaired: see NOT REPAIRED above");
    } else {
        outln!("the store is clean now");
    }
}
