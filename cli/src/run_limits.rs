//! `hoist run -m/--cpus`: limits checked as Docker's daemon checks them, before anything is created.
//!
//! A memory limit too small for the container's own start-up made the runtime fail deep inside
//! (`BrokenChannel`); Docker refuses such values up front with a message that says the bound.
use anyhow::bail;
use hoist_executor::runtime::config::{parse_cpus, parse_size};

/// Docker's lower bound for `--memory` (daemon/daemon_unix.go: `linuxMinMemory`).
const MIN_MEMORY_BYTES: i64 = 6 * 1024 * 1024;

/// Refuses a `--memory` below Docker's minimum and a `--cpus` outside 0.01..=the CPUs this process may use.
pub fn check(memory: Option<&str>, cpus: Option<&str>) -> anyhow::Result<()> {
    if let Some(memory) = memory {
        if parse_size(memory)? < MIN_MEMORY_BYTES {
            bail!("Minimum memory limit allowed is 6MB (got --memory {memory})");
        }
    }
    if let Some(cpus) = cpus {
        check_cpus(parse_cpus(cpus)?, usable_cpus())?;
    }
    Ok(())
}

/// `cpu_millis` (thousandths of a CPU, as [`parse_cpus`] gives) against `available` CPUs.
fn check_cpus(cpu_millis: i64, available: usize) -> anyhow::Result<()> {
    // Docker counts in nano-CPUs: 0.01 CPU is 10 thousandths.
    if cpu_millis < 10 || cpu_millis > available as i64 * 1000 {
        bail!(
            "Range of CPUs is from 0.01 to {available}.00, as there are only {available} CPUs available"
        );
    }
    Ok(())
}

/// The CPUs this process may run on (Docker's `runtime.NumCPU()`: the affinity mask, not a cgroup quota).
fn usable_cpus() -> usize {
    // SAFETY: a zeroed cpu_set_t is a valid empty set, and sched_getaffinity writes at most its size.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    let ok =
        unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) };
    if ok == 0 {
        // SAFETY: `set` was filled by the kernel above.
        let count = unsafe { libc::CPU_COUNT(&set) };
        if count > 0 {
            return count as usize;
        }
    }
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpus_must_lie_between_a_hundredth_and_the_machines_count() {
        assert!(check_cpus(10, 2).is_ok());
        assert!(check_cpus(2000, 2).is_ok());
        let e = check_cpus(5000, 2).unwrap_err().to_string();
        assert_eq!(
            e,
            "Range of CPUs is from 0.01 to 2.00, as there are only 2 CPUs available"
        );
        assert!(check_cpus(5, 2).is_err());
    }

    #[test]
    fn memory_below_six_megabytes_is_refused() {
        let e = check(Some("2"), None).unwrap_err().to_string();
        assert!(e.starts_with("Minimum memory limit allowed is 6MB"), "{e}");
        assert!(check(Some("6m"), None).is_ok());
    }
}
