//! `hoist stats`: one sample of a running container's resource use, from its cgroup (v1 files, or
//! v2's where the container's cgroup is a v2 one) and, for its network, `/proc/<pid>/net/dev` in
//! its network namespace. CPU % needs two samples: the caller takes them and divides.

use std::path::{Path, PathBuf};

use super::config::NetworkMode;
use super::state::{ContainerRecord, ContainerState, Status};

/// One reading of a container's counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatsSample {
    /// CPU time used by the container so far, in nanoseconds.
    pub cpu_ns: u64,
    /// Memory in use, without the page cache that could be dropped (as Docker's CLI counts it).
    pub memory_usage: u64,
    /// The memory limit, or the host's memory when there is none.
    pub memory_limit: u64,
    pub net_rx: u64,
    pub net_tx: u64,
    pub block_read: u64,
    pub block_write: u64,
    pub pids: u64,
}

/// The container's cgroup dirs: one per hierarchy that has it.
fn cgroup_dirs(record: &ContainerRecord) -> Vec<PathBuf> {
    let relative = Path::new("hoist").join(super::monitor::libcontainer_id(record));
    crate::container::cgroup_mount_points()
        .into_iter()
        .map(|mp| mp.join(&relative))
        .filter(|d| d.is_dir())
        .collect()
}

/// The first of `file` in `dirs` that can be read.
fn read_first(dirs: &[PathBuf], file: &str) -> Option<String> {
    dirs.iter()
        .find_map(|d| std::fs::read_to_string(d.join(file)).ok())
}

fn number(text: Option<String>) -> Option<u64> {
    text.and_then(|t| t.trim().parse().ok())
}

/// The value of `key` in a `key value` per line file (`memory.stat`, `cpu.stat`).
fn keyed(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok())?
    })
}

/// Read and write bytes of v1's `blkio.throttle.io_service_bytes` (`MAJ:MIN Read N` lines).
fn blkio_v1(text: &str) -> (u64, u64) {
    let mut read = 0;
    let mut write = 0;
    for line in text.lines() {
        let mut f = line.split_whitespace();
        let (Some(_device), Some(op), Some(n)) = (f.next(), f.next(), f.next()) else {
            continue;
        };
        let n: u64 = n.parse().unwrap_or(0);
        match op {
            "Read" => read += n,
            "Write" => write += n,
            _ => {}
        }
    }
    (read, write)
}

/// Read and write bytes of v2's `io.stat` (`MAJ:MIN rbytes=N wbytes=N …` lines).
fn io_v2(text: &str) -> (u64, u64) {
    let mut read = 0;
    let mut write = 0;
    for field in text.split_whitespace() {
        if let Some(n) = field.strip_prefix("rbytes=") {
            read += n.parse::<u64>().unwrap_or(0);
        } else if let Some(n) = field.strip_prefix("wbytes=") {
            write += n.parse::<u64>().unwrap_or(0);
        }
    }
    (read, write)
}

/// Received and sent bytes of every interface but loopback in a `/proc/net/dev`.
fn net_dev(text: &str) -> (u64, u64) {
    let mut rx = 0;
    let mut tx = 0;
    for line in text.lines().skip(2) {
        let Some((iface, counters)) = line.split_once(':') else {
            continue;
        };
        if iface.trim() == "lo" {
            continue;
        }
        let fields: Vec<u64> = counters
            .split_whitespace()
            .map(|n| n.parse().unwrap_or(0))
            .collect();
        rx += fields.first().copied().unwrap_or(0);
        tx += fields.get(8).copied().unwrap_or(0);
    }
    (rx, tx)
}

/// The host's memory, from `/proc/meminfo`.
fn host_memory() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| {
            t.lines().find_map(|l| {
                let kb = l.strip_prefix("MemTotal:")?.trim().strip_suffix("kB")?;
                kb.trim().parse::<u64>().ok()
            })
        })
        .map_or(0, |kb| kb * 1024)
}

/// A sample of a container; zeros for one that is not running (as Docker shows a stopped one).
pub fn sample(record: &ContainerRecord, state: &ContainerState) -> StatsSample {
    if state.status != Status::Running {
        return StatsSample::default();
    }
    let dirs = cgroup_dirs(record);
    let host = host_memory();
    let cpu_ns = number(read_first(&dirs, "cpuacct.usage")).or_else(|| {
        read_first(&dirs, "cpu.stat")
            .and_then(|t| keyed(&t, "usage_usec"))
            .map(|us| us * 1000)
    });
    let (usage, inactive, limit) = match number(read_first(&dirs, "memory.usage_in_bytes")) {
        Some(usage) => {
            let stat = read_first(&dirs, "memory.stat").unwrap_or_default();
            let limit = number(read_first(&dirs, "memory.limit_in_bytes"));
            (usage, keyed(&stat, "total_inactive_file"), limit)
        }
        None => {
            let usage = number(read_first(&dirs, "memory.current")).unwrap_or(0);
            let stat = read_first(&dirs, "memory.stat").unwrap_or_default();
            // `max` (no limit) does not parse: the host's memory below.
            let limit = number(read_first(&dirs, "memory.max"));
            (usage, keyed(&stat, "inactive_file"), limit)
        }
    };
    let memory_limit = match limit {
        Some(l) if host == 0 || l < host => l,
        _ => host,
    };
    let (block_read, block_write) = match read_first(&dirs, "blkio.throttle.io_service_bytes") {
        Some(text) => blkio_v1(&text),
        None => read_first(&dirs, "io.stat").map_or((0, 0), |t| io_v2(&t)),
    };
    // With the host's network there is no network of its own to count (Docker shows 0B too).
    let (net_rx, net_tx) = match (record.network, state.pid) {
        (NetworkMode::Host, _) | (_, None) => (0, 0),
        (_, Some(pid)) => {
            std::fs::read_to_string(format!("/proc/{pid}/net/dev")).map_or((0, 0), |t| net_dev(&t))
        }
    };
    StatsSample {
        cpu_ns: cpu_ns.unwrap_or(0),
        memory_usage: usage.saturating_sub(inactive.unwrap_or(0).min(usage)),
        memory_limit,
        net_rx,
        net_tx,
        block_read,
        block_write,
        pids: number(read_first(&dirs, "pids.current")).unwrap_or(0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_io_v1_and_v2() {
        let v1 = "8:0 Read 4096\n8:0 Write 8192\n8:0 Sync 1\n8:16 Read 4\nTotal 12292\n";
        assert_eq!(blkio_v1(v1), (4100, 8192));
        let v2 = "8:0 rbytes=100 wbytes=20 rios=1 wios=1\n8:16 rbytes=1 wbytes=2\n";
        assert_eq!(io_v2(v2), (101, 22));
    }

    #[test]
    fn network_without_loopback() {
        let dev = "Inter-|   Receive                                                |  Transmit\n \
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n    \
lo:     100       1    0    0    0     0          0         0      100       1    0    0    0     0       0          0\n  \
eth0:    1500      10    0    0    0     0          0         0      700       5    0    0    0     0       0          0\n";
        assert_eq!(net_dev(dev), (1500, 700));
    }

    #[test]
    fn keyed_values() {
        assert_eq!(
            keyed("cache 1\ntotal_inactive_file 42\n", "total_inactive_file"),
            Some(42)
        );
        assert_eq!(keyed("usage_usec 7\n", "usage_usec"), Some(7));
        assert_eq!(keyed("inactive_file_x 1\n", "inactive_file"), None);
    }
}
