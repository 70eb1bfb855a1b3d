//! `hoist logs [-f] [-t] [--since] [--until] [--tail N] NAME`: the output of a detached container,
//! read back from its json-file log ([`super::log_format`]), rotated files included; stdout
//! records to one writer, stderr records to the other, as `docker logs` splits them.

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::log_format::{self, LogRecord, Stream};
use super::state::{self, ContainerDir, Status};
use super::{io_err, Result, RuntimeError};

/// What `hoist logs` was asked for.
#[derive(Debug, Clone, Default)]
pub struct LogsOptions {
    pub follow: bool,
    /// Only the last that many records.
    pub tail: Option<usize>,
    /// Only records at or after this time (nanoseconds since the epoch).
    pub since: Option<i128>,
    /// Only records at or before this time.
    pub until: Option<i128>,
    /// Each line begins with its time (RFC 3339, nanoseconds).
    pub timestamps: bool,
}

/// Copy the log to `out`, stdout and stderr records alike (with `tail`, only its last that many
/// lines); with `follow`, keep copying until the container exits.
pub fn logs(
    root: &Path,
    name: &str,
    follow: bool,
    tail: Option<usize>,
    out: &mut dyn Write,
) -> Result<()> {
    let options = LogsOptions {
        follow,
        tail,
        ..Default::default()
    };
    logs_split(root, name, &options, out, None)
}

/// `hoist logs`: stdout records to `out`, stderr records to `err` (to `out` too without one).
pub fn logs_split(
    root: &Path,
    name: &str,
    options: &LogsOptions,
    out: &mut dyn Write,
    mut err: Option<&mut dyn Write>,
) -> Result<()> {
    let (dir, record) = state::find(root, name)?;
    if record.options.monitor.log_config().disabled {
        return Err(RuntimeError::Invalid(
            "configured logging driver does not support reading".into(),
        ));
    }
    let path = dir.log_path();
    let mut emit = |r: &LogRecord| -> bool {
        let nanos = r.nanos();
        if let (Some(since), Some(t)) = (options.since, nanos) {
            if t < since {
                return true;
            }
        }
        if let (Some(until), Some(t)) = (options.until, nanos) {
            if t > until {
                return true;
            }
        }
        let writer: &mut dyn Write = match (r.stream, err.as_deref_mut()) {
            (Stream::Stderr, Some(e)) => e,
            _ => &mut *out,
        };
        let written = if options.timestamps {
            let time = r.time.as_deref().unwrap_or("");
            write!(writer, "{time} ").and_then(|()| writer.write_all(&r.text))
        } else {
            writer.write_all(&r.text)
        };
        // False: the reader went away (`| head`).
        written.and_then(|()| writer.flush()).is_ok()
    };
    let starts = match options.tail {
        Some(lines) => tail_starts(&path, lines).map_err(io_err("read", &path))?,
        None => log_format::log_files(&path)
            .into_iter()
            .map(|p| (p, 0))
            .collect(),
    };
    let last = starts.len().saturating_sub(1);
    for (i, (file_path, offset)) in starts.into_iter().enumerate() {
        let mut file = match std::fs::File::open(&file_path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if i == last && options.follow {
                    // Not written yet: follow from its start.
                    match wait_for_file(&dir, &file_path) {
                        Some(f) => f,
                        None => return Ok(()),
                    }
                } else {
                    continue;
                }
            }
            Err(e) => return Err(io_err("open the log", &file_path)(e)),
        };
        file.seek(SeekFrom::Start(offset))
            .map_err(io_err("read", &file_path))?;
        let follow_this = options.follow && i == last;
        if !copy_records(
            &dir,
            &file_path,
            file,
            follow_this,
            options.until,
            &mut emit,
        )? {
            return Ok(());
        }
    }
    Ok(())
}

/// A log file that does not exist yet, once the monitor makes it; none when the container ends first.
fn wait_for_file(dir: &ContainerDir, path: &Path) -> Option<std::fs::File> {
    loop {
        if let Ok(f) = std::fs::File::open(path) {
            return Some(f);
        }
        if !running(dir) {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn running(dir: &ContainerDir) -> bool {
    dir.path().exists()
        && dir
            .current_state()
            .map(|s| s.status != Status::Exited)
            .unwrap_or(false)
}

/// Emit the records of `file` from where it stands; with `follow`, keep going (across rotations)
/// until the container stops. False when the reader went away or `until` is past.
fn copy_records(
    dir: &ContainerDir,
    path: &Path,
    mut file: std::fs::File,
    follow: bool,
    until: Option<i128>,
    emit: &mut dyn FnMut(&LogRecord) -> bool,
) -> Result<bool> {
    let mut pending: Vec<u8> = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut last_look = false;
    loop {
        let n = file.read(&mut buf).map_err(io_err("read", path))?;
        if n > 0 {
            pending.extend_from_slice(&buf[..n]);
            let mut start = 0;
            while let Some(nl) = pending[start..].iter().position(|&b| b == b'\n') {
                let record = log_format::parse_line(&pending[start..start + nl]);
                start += nl + 1;
                if let (Some(until), Some(t)) = (until, record.nanos()) {
                    if t > until {
                        return Ok(false);
                    }
                }
                if !emit(&record) {
                    return Ok(false);
                }
            }
            pending.drain(..start);
            continue;
        }
        if !follow || last_look {
            if !pending.is_empty() {
                let record = log_format::parse_line(&pending);
                return Ok(emit(&record));
            }
            return Ok(true);
        }
        if rotated_away(&file, path) {
            // The monitor rotated: what is left of the old file was read; on with the new one.
            match std::fs::File::open(path) {
                Ok(f) => {
                    file = f;
                    continue;
                }
                Err(_) => return Ok(true),
            }
        }
        if !running(dir) {
            // One last read: what was written just before the exit.
            last_look = true;
            continue;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Whether the file at `path` is no longer the one open as `file`.
fn rotated_away(file: &std::fs::File, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (file.metadata(), std::fs::metadata(path)) {
        (Ok(open), Ok(now)) => open.ino() != now.ino(),
        _ => false,
    }
}

/// Where reading must start for the last `lines` records: each file to read (oldest first) with
/// the offset to start at.
fn tail_starts(path: &Path, lines: usize) -> std::io::Result<Vec<(PathBuf, u64)>> {
    let mut starts = Vec::new();
    let mut wanted = lines;
    for file_path in log_format::log_files(path).into_iter().rev() {
        let mut file = match std::fs::File::open(&file_path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        let (offset, found) = tail_start_counted(&mut file, wanted)?;
        starts.push((file_path, offset));
        if found >= wanted {
            break;
        }
        wanted -= found;
    }
    starts.reverse();
    if starts.is_empty() {
        starts.push((path.to_path_buf(), 0));
    }
    Ok(starts)
}

/// Where the last `lines` lines of `file` begin (a final line without a newline counts), reading backwards in
/// blocks so a long log is not read whole.
#[cfg(test)]
fn tail_start(file: &mut std::fs::File, lines: usize) -> std::io::Result<u64> {
    tail_start_counted(file, lines).map(|(offset, _)| offset)
}

/// [`tail_start`], with how many lines there are from there (fewer than `lines` when the file
/// has fewer).
fn tail_start_counted(file: &mut std::fs::File, lines: usize) -> std::io::Result<(u64, usize)> {
    let len = file.seek(SeekFrom::End(0))?;
    if lines == 0 {
        return Ok((len, 0));
    }
    let mut pos = len;
    let mut newlines = 0;
    let mut block = vec![0u8; 64 * 1024];
    let mut first = true;
    while pos > 0 {
        let size = block.len().min(pos as usize);
        pos -= size as u64;
        file.seek(SeekFrom::Start(pos))?;
        file.read_exact(&mut block[..size])?;
        for i in (0..size).rev() {
            // A newline ending the file closes the last line rather than starting another.
            if block[i] == b'\n' && !(first && pos + i as u64 == len - 1) {
                newlines += 1;
                if newlines == lines {
                    return Ok((pos + i as u64 + 1, lines));
                }
            }
        }
        first = false;
    }
    // The whole file: its lines are the newlines counted, plus the first line.
    let count = if len == 0 { 0 } else { newlines + 1 };
    Ok((0, count))
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Seek, SeekFrom, Write};

    fn tail(text: &str, n: usize) -> String {
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(text.as_bytes()).unwrap();
        let start = super::tail_start(&mut f, n).unwrap();
        f.seek(SeekFrom::Start(start)).unwrap();
        let mut out = String::new();
        f.read_to_string(&mut out).unwrap();
        out
    }

    #[test]
    fn tail_takes_the_last_lines() {
        assert_eq!(tail("a\nb\nc\n", 2), "b\nc\n");
        assert_eq!(tail("a\nb\nc", 2), "b\nc");
        assert_eq!(tail("a\nb\n", 5), "a\nb\n");
        assert_eq!(tail("a\nb\n", 0), "");
        assert_eq!(tail("", 3), "");
        let long: String = (0..100_000).map(|i| format!("line {i}\n")).collect();
        assert_eq!(tail(&long, 2), "line 99998\nline 99999\n");
    }

    #[test]
    fn tail_counts_what_a_short_file_has() {
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(b"a\nb\n").unwrap();
        assert_eq!(super::tail_start_counted(&mut f, 5).unwrap(), (0, 2));
    }
}
