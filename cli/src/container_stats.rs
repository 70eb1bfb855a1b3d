//! `hoist stats [--no-stream] [--no-trunc] [--format] [-a] [CTR…]`: Docker's columns (CONTAINER ID,
//! NAME, CPU %, MEM USAGE / LIMIT, MEM %, NET I/O, BLOCK I/O, PIDS) from the containers' cgroups. CPU %
//! is the CPU time used between two samples over the time between them. Without `--no-stream` it
//! refreshes every second: on a terminal over a cleared screen, as Docker; into a pipe as one block
//! after another. It ends on Ctrl-C, or once the reader of its output has gone.
use std::collections::HashMap;
use std::io::{IsTerminal as _, Write as _};
use std::path::Path;
use std::time::{Duration, Instant};

use clap::Args;
use hoist_executor::runtime::{self, ContainerRecord, StatsSample};
use serde_json::{json, Value};

use crate::listing::Listing;

const DEFAULT_FORMAT: &str =
    "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}";

const HEADERS: [(&str, &str); 9] = [
    ("ID", "CONTAINER ID"),
    ("Container", "CONTAINER"),
    ("Name", "NAME"),
    ("CPUPerc", "CPU %"),
    ("MemUsage", "MEM USAGE / LIMIT"),
    ("MemPerc", "MEM %"),
    ("NetIO", "NET I/O"),
    ("BlockIO", "BLOCK I/O"),
    ("PIDs", "PIDS"),
];

/// Between the two samples of `--no-stream`, and between two refreshes.
const NO_STREAM_INTERVAL: Duration = Duration::from_millis(500);
const REFRESH_INTERVAL: Duration = Duration::from_secs(1);

#[derive(Debug, Args)]
pub struct StatsArgs {
    /// Every container (default: the running ones).
    #[arg(short = 'a', long)]
    all: bool,
    /// Print one sample and end.
    #[arg(long = "no-stream")]
    no_stream: bool,
    /// Full container IDs.
    #[arg(long = "no-trunc")]
    no_trunc: bool,
    /// A Go template (`table …`, `json`), fields .ID .Container .Name .CPUPerc .MemUsage .MemPerc .NetIO
    /// .BlockIO .PIDs.
    #[arg(long)]
    format: Option<String>,
    containers: Vec<String>,
}

/// One container's line: what it is, and its last sample with when it was taken.
struct Tracked {
    given: String,
    record: ContainerRecord,
    last: Option<(Instant, StatsSample)>,
}

pub fn stats(root: &Path, args: StatsArgs) -> anyhow::Result<i32> {
    let root = std::path::absolute(root).unwrap_or_else(|_| root.to_path_buf());
    let listing = Listing::new(args.format.as_deref(), DEFAULT_FORMAT)?;
    // Named containers must all exist (Docker checks before printing anything).
    let mut named = Vec::new();
    for name in &args.containers {
        match runtime::find(&root, name) {
            Ok((_, record)) => named.push((name.clone(), record)),
            Err(e) => {
                errln!("hoist: {e}");
                return Ok(1);
            }
        }
    }
    let mut tracked: HashMap<String, Tracked> = HashMap::new();
    let terminal = std::io::stdout().is_terminal();
    let mut first = true;
    loop {
        let order = current_containers(&root, &args, &named)?;
        tracked.retain(|id, _| order.iter().any(|(_, r)| &r.id == id));
        for (given, record) in &order {
            tracked.entry(record.id.clone()).or_insert_with(|| Tracked {
                given: given.clone(),
                record: record.clone(),
                last: None,
            });
        }
        if first {
            // CPU % needs a sample before.
            for t in tracked.values_mut() {
                t.last = Some(take_sample(&root, &t.record));
            }
            std::thread::sleep(if args.no_stream {
                NO_STREAM_INTERVAL
            } else {
                REFRESH_INTERVAL
            });
            first = false;
        }
        let mut rows = Vec::new();
        for (_, record) in &order {
            let Some(t) = tracked.get_mut(&record.id) else {
                continue;
            };
            let now = take_sample(&root, &t.record);
            rows.push(row(t, &now, args.no_trunc));
            t.last = Some(now);
        }
        let text = listing.render(&rows, &HEADERS)?;
        let block = if terminal && !args.no_stream {
            format!("\x1b[2J\x1b[H{text}")
        } else {
            text
        };
        let mut out = std::io::stdout().lock();
        if out
            .write_all(block.as_bytes())
            .and_then(|()| out.flush())
            .is_err()
        {
            // The reader went away (`| head`): done.
            return Ok(0);
        }
        drop(out);
        if args.no_stream {
            return Ok(0);
        }
        std::thread::sleep(REFRESH_INTERVAL);
    }
}

/// The containers to show now: the named ones, else the running (with `-a`, all) ones, oldest first
/// as Docker lists them.
fn current_containers(
    root: &Path,
    args: &StatsArgs,
    named: &[(String, ContainerRecord)],
) -> anyhow::Result<Vec<(String, ContainerRecord)>> {
    if !named.is_empty() {
        return Ok(named.to_vec());
    }
    let mut list = runtime::list(root, args.all)?;
    list.reverse();
    Ok(list
        .into_iter()
        .map(|c| {
            (
                c.record.id[..12.min(c.record.id.len())].to_string(),
                c.record,
            )
        })
        .collect())
}

fn take_sample(root: &Path, record: &ContainerRecord) -> (Instant, StatsSample) {
    let state = runtime::find(root, &record.id)
        .and_then(|(dir, _)| dir.current_state())
        .unwrap_or_default();
    (Instant::now(), runtime::stats_sample(record, &state))
}

/// A row's fields, in Docker's words.
fn row(t: &Tracked, now: &(Instant, StatsSample), no_trunc: bool) -> Value {
    let (at, s) = now;
    let cpu = match &t.last {
        Some((before, prev)) if *at > *before => {
            let wall = at.duration_since(*before).as_nanos() as f64;
            s.cpu_ns.saturating_sub(prev.cpu_ns) as f64 / wall * 100.0
        }
        _ => 0.0,
    };
    let mem_perc = if s.memory_limit > 0 {
        s.memory_usage as f64 / s.memory_limit as f64 * 100.0
    } else {
        0.0
    };
    let id = if no_trunc {
        t.record.id.clone()
    } else {
        t.record.id[..12.min(t.record.id.len())].to_string()
    };
    json!({
        "ID": id,
        "Container": t.given,
        "Name": t.record.name,
        "CPUPerc": format!("{cpu:.2}%"),
        "MemUsage": format!("{} / {}", binary_size(s.memory_usage), binary_size(s.memory_limit)),
        "MemPerc": format!("{mem_perc:.2}%"),
        "NetIO": format!("{} / {}", crate::listing::docker_size(s.net_rx), crate::listing::docker_size(s.net_tx)),
        "BlockIO": format!("{} / {}", crate::listing::docker_size(s.block_read), crate::listing::docker_size(s.block_write)),
        "PIDs": s.pids.to_string(),
    })
}

/// Docker's `units.BytesSize`: binary units, four significant digits (`1.5MiB`, `7.772GiB`, `0B`).
fn binary_size(bytes: u64) -> String {
    const UNITS: [&str; 9] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"];
    let mut size = bytes as f64;
    let mut unit = 0;
    while size >= 1024.0 && unit < UNITS.len() - 1 {
        size /= 1024.0;
        unit += 1;
    }
    format!("{}{}", go_g4(size), UNITS[unit])
}

/// Go's `%.4g` for 0 ≤ x < 1024: four significant digits, trailing zeros dropped.
fn go_g4(x: f64) -> String {
    let digits_before = if x < 1.0 {
        1
    } else {
        x.log10().floor() as i32 + 1
    };
    let decimals = (4 - digits_before).max(0) as usize;
    let text = format!("{x:.decimals$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_sizes_as_docker() {
        assert_eq!(binary_size(0), "0B");
        assert_eq!(binary_size(512), "512B");
        assert_eq!(binary_size(1536 * 1024), "1.5MiB");
        assert_eq!(binary_size(8_345_000_000), "7.772GiB");
        assert_eq!(binary_size(1000 * 1024), "1000KiB");
    }
}
