//! `hoist logs`: Docker's flags (`-f`, `-t`, `--since`, `--until`, `-n/--tail`) over the container's
//! json-file log; stdout records to hoist's stdout, stderr records to hoist's stderr.
use std::path::Path;

use anyhow::bail;
use clap::Args;
use hoist_executor::runtime::{self, LogsOptions};

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// Keep printing new output until the container exits.
    #[arg(short = 'f', long)]
    follow: bool,
    /// Only the last N lines (`all`: everything, the default).
    #[arg(short = 'n', long, default_value = "all")]
    tail: String,
    /// Show output since a time: RFC 3339 (`2026-12-03T10:00:00Z`), a unix timestamp, or a duration
    /// before now (`10m`, `1h30m`).
    #[arg(long)]
    since: Option<String>,
    /// Show output until a time (same forms as --since).
    #[arg(long)]
    until: Option<String>,
    /// Begin each line with its time (RFC 3339, nanoseconds).
    #[arg(short = 't', long)]
    timestamps: bool,
    container: String,
}

pub fn logs(root: &Path, args: LogsArgs) -> anyhow::Result<i32> {
    // As Docker: `all`, or a count; a negative or unreadable count means all.
    let tail = match args.tail.as_str() {
        "all" => None,
        n => n.parse::<usize>().ok(),
    };
    let now = chrono::Utc::now();
    let options = LogsOptions {
        follow: args.follow,
        tail,
        since: args
            .since
            .as_deref()
            .map(|v| timestamp_nanos(v, now))
            .transpose()?,
        until: args
            .until
            .as_deref()
            .map(|v| timestamp_nanos(v, now))
            .transpose()?,
        timestamps: args.timestamps,
    };
    let root = std::path::absolute(root).unwrap_or_else(|_| root.to_path_buf());
    let mut stdout = std::io::stdout().lock();
    let mut stderr = std::io::stderr();
    runtime::logs_split(
        &root,
        &args.container,
        &options,
        &mut stdout,
        Some(&mut stderr),
    )?;
    Ok(0)
}

/// Docker's `--since`/`--until` value (its `timetypes.GetTimestamp`): a Go duration before `now`,
/// an RFC 3339 time (with or without fraction, zone, seconds: local time without a zone), a date,
/// or a unix timestamp with optional fraction → nanoseconds since the epoch.
pub fn timestamp_nanos(value: &str, now: chrono::DateTime<chrono::Utc>) -> anyhow::Result<i128> {
    use chrono::{NaiveDate, NaiveDateTime, TimeZone};
    let nanos_of = |t: chrono::DateTime<chrono::Utc>| {
        i128::from(t.timestamp()) * 1_000_000_000 + i128::from(t.timestamp_subsec_nanos())
    };
    if value != "0" {
        if let Some(d) = runtime::monitor_options::parse_go_duration(value) {
            let d = chrono::Duration::from_std(d)?;
            return Ok(nanos_of(now - d));
        }
    }
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(value) {
        return Ok(nanos_of(t.with_timezone(&chrono::Utc)));
    }
    for format in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M", "%Y-%m-%dT%H"] {
        let parsed = NaiveDateTime::parse_from_str(value, format).or_else(|e| {
            // `%Y-%m-%dT%H` has no minutes for chrono's NaiveDateTime: pad them.
            if format == "%Y-%m-%dT%H" {
                NaiveDateTime::parse_from_str(&format!("{value}:00"), "%Y-%m-%dT%H:%M")
            } else {
                Err(e)
            }
        });
        if let Ok(t) = parsed {
            if let Some(local) = chrono::Local.from_local_datetime(&t).earliest() {
                return Ok(nanos_of(local.with_timezone(&chrono::Utc)));
            }
        }
    }
    if let Ok(d) = NaiveDate::parse_from_str(value, "%Y-%m-%d") {
        if let Some(local) = d
            .and_hms_opt(0, 0, 0)
            .and_then(|t| chrono::Local.from_local_datetime(&t).earliest())
        {
            return Ok(nanos_of(local.with_timezone(&chrono::Utc)));
        }
    }
    if value.contains('-') {
        bail!("invalid time {value:?}: use RFC 3339 (2026-12-03T10:00:00Z), a unix timestamp or a duration (10m)");
    }
    let (secs, frac) = value.split_once('.').unwrap_or((value, ""));
    let secs: i64 = secs
        .parse()
        .map_err(|_| anyhow::anyhow!("failed to parse value as time or duration: {value:?}"))?;
    let mut padded: String = frac.chars().take(9).collect();
    if !padded.chars().all(|c| c.is_ascii_digit()) {
        bail!("failed to parse value as time or duration: {value:?}");
    }
    while padded.len() < 9 {
        padded.push('0');
    }
    let nanos: i128 = padded.parse().unwrap_or(0);
    Ok(i128::from(secs) * 1_000_000_000 + nanos)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_time_forms() {
        let now = chrono::DateTime::parse_from_rfc3339("2026-12-03T12:00:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        let at = |s: &str| timestamp_nanos(s, now).unwrap();
        let noon = 1_796_299_200i128 * 1_000_000_000;
        assert_eq!(at("2026-12-03T12:00:00Z"), noon);
        assert_eq!(at("10m"), noon - 600 * 1_000_000_000);
        assert_eq!(at("1796299200"), noon);
        assert_eq!(at("1796299200.5"), noon + 500_000_000);
        assert_eq!(at("2026-12-03T13:00:00+01:00"), noon);
        assert!(timestamp_nanos("yesterday", now).is_err());
        assert!(timestamp_nanos("2026-13-45", now).is_err());
    }
}
