//! The container log in Docker's json-file format: one JSON object per line,
//! `{"log":"hello\n","stream":"stdout","time":"2026-12-03T11:40:23.123456789Z"}`, a line of output
//! per object (a tty's output too, with its `\r\n`), rotated by the monitor when `--log-opt
//! max-size` is reached (`container.log` → `container.log.1` → … up to `max-file` files).
//!
//! The monitor is the only writer: the container's stdout and stderr are pipes it reads
//! ([`ContainerOutput`]). Lines that are not JSON (the monitor's own error reports, logs of
//! containers made before this format) are read back as stderr without a time.

use std::io::Write as _;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::monitor_options::LogConfig;

/// Docker cuts a line that long without a newline into a partial message.
const MAX_LINE: usize = 16 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stream {
    Stdout,
    Stderr,
}

#[derive(Serialize, Deserialize)]
struct JsonLine<'a> {
    log: std::borrow::Cow<'a, str>,
    stream: Stream,
    time: std::borrow::Cow<'a, str>,
}

/// One record read back from the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRecord {
    pub stream: Stream,
    /// RFC 3339 with nanoseconds, as written; none for a line that was not JSON.
    pub time: Option<String>,
    pub text: Vec<u8>,
}

impl LogRecord {
    /// Nanoseconds since the epoch, when the record has a time.
    pub fn nanos(&self) -> Option<i128> {
        self.time.as_deref().and_then(parse_rfc3339_nanos)
    }
}

/// A line of the log file (without its `\n`) → the record it holds.
pub fn parse_line(line: &[u8]) -> LogRecord {
    match serde_json::from_slice::<JsonLine>(line) {
        Ok(json) => LogRecord {
            stream: json.stream,
            time: Some(json.time.into_owned()),
            text: json.log.into_owned().into_bytes(),
        },
        Err(_) => {
            let mut text = line.to_vec();
            text.push(b'\n');
            LogRecord {
                stream: Stream::Stderr,
                time: None,
                text,
            }
        }
    }
}

/// The files of the log at `path`, oldest first (`path.N` … `path.1`, `path`), those that exist.
pub fn log_files(path: &Path) -> Vec<PathBuf> {
    let mut rotated = Vec::new();
    for i in 1.. {
        let p = rotated_path(path, i);
        if !p.exists() {
            break;
        }
        rotated.push(p);
    }
    rotated.reverse();
    rotated.push(path.to_path_buf());
    rotated
}

fn rotated_path(path: &Path, i: u32) -> PathBuf {
    let mut name = path.as_os_str().to_os_string();
    name.push(format!(".{i}"));
    PathBuf::from(name)
}

/// The writer of a json-file log, with rotation.
pub struct JsonLog {
    path: PathBuf,
    file: std::fs::File,
    size: u64,
    config: LogConfig,
}

impl JsonLog {
    pub fn open(path: &Path, config: LogConfig) -> std::io::Result<JsonLog> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        let size = file.metadata()?.len();
        Ok(JsonLog {
            path: path.to_path_buf(),
            file,
            size,
            config,
        })
    }

    /// Write one record (a line of output, or a piece of a long one).
    pub fn write(&mut self, stream: Stream, text: &[u8]) {
        let line = JsonLine {
            log: String::from_utf8_lossy(text),
            stream,
            time: super::state::now_rfc3339().into(),
        };
        let Ok(mut bytes) = serde_json::to_vec(&line) else {
            return;
        };
        bytes.push(b'\n');
        if let Some(max) = self.config.max_size {
            if self.size > 0 && self.size + bytes.len() as u64 > max {
                self.rotate();
            }
        }
        if self.file.write_all(&bytes).is_ok() {
            self.size += bytes.len() as u64;
        }
    }

    /// `path.(N-1)` → `path.N` … `path` → `path.1`, a new empty `path` (with one file: `path` emptied).
    fn rotate(&mut self) {
        if self.config.max_file <= 1 {
            if self.file.set_len(0).is_ok() {
                self.size = 0;
            }
            return;
        }
        for i in (1..self.config.max_file - 1).rev() {
            let _ = std::fs::rename(rotated_path(&self.path, i), rotated_path(&self.path, i + 1));
        }
        let _ = std::fs::rename(&self.path, rotated_path(&self.path, 1));
        if let Ok(reopened) = JsonLog::open(&self.path, self.config) {
            *self = reopened;
        }
    }
}

/// One output stream of the container being read into the log, with its unfinished line.
struct Source {
    /// `None` once closed early (our reader of a teed stream left).
    fd: Option<OwnedFd>,
    stream: Stream,
    open: bool,
}

/// The container's output on its way to the log: its stdout and stderr pipes (none with a tty,
/// whose output comes through [`ContainerOutput::write`]), cut into lines.
pub struct ContainerOutput {
    log: JsonLog,
    sources: Vec<Source>,
    partial: [Vec<u8>; 2],
    /// A foreground `run`: every byte also goes to our own stdout/stderr as it comes
    /// ([`Self::tee_to_stdio`]); `false` for a stream whose reader left.
    tee: [bool; 2],
}

/// The write ends of the pipes, for the container's stdout and stderr.
pub struct ContainerPipes {
    pub stdout: OwnedFd,
    pub stderr: OwnedFd,
}

impl ContainerOutput {
    /// A log for container output at `path`; with `pipes`, also the pipes to read it from.
    pub fn open(
        path: &Path,
        config: LogConfig,
        pipes: bool,
    ) -> std::io::Result<(ContainerOutput, Option<ContainerPipes>)> {
        let log = JsonLog::open(path, config)?;
        let mut output = ContainerOutput {
            log,
            sources: Vec::new(),
            partial: [Vec::new(), Vec::new()],
            tee: [false, false],
        };
        if !pipes {
            return Ok((output, None));
        }
        let mut write_ends = Vec::new();
        for stream in [Stream::Stdout, Stream::Stderr] {
            let (read, write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
            super::tty::set_nonblocking(&read);
            output.sources.push(Source {
                fd: Some(read),
                stream,
                open: true,
            });
            write_ends.push(write);
        }
        let stderr = write_ends.pop();
        let stdout = write_ends.pop();
        let pipes = stdout
            .zip(stderr)
            .map(|(stdout, stderr)| ContainerPipes { stdout, stderr });
        Ok((output, pipes))
    }

    /// Also copy the output, unchanged and at once, to this process's stdout and stderr (a
    /// foreground `run`, whose terminal sees the bytes as the container writes them). A reader
    /// that leaves closes the container's pipe, so the container gets its EPIPE/SIGPIPE as if
    /// it wrote to that reader itself.
    pub fn tee_to_stdio(&mut self) {
        // The monitor must get EPIPE, not die (the container starts with default signals).
        // SAFETY: setting a signal's disposition to SIG_IGN has no preconditions.
        unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
        self.tee = [true, true];
    }

    /// Copy `data` of `stream` to our own stdout/stderr; false when its reader is gone.
    fn tee(&mut self, stream: Stream, data: &[u8]) -> bool {
        let slot = stream as usize;
        if !self.tee[slot] {
            return true;
        }
        let fd = match stream {
            Stream::Stdout => 1,
            Stream::Stderr => 2,
        };
        // SAFETY: our stdout/stderr stay open for the whole process.
        let to = unsafe { BorrowedFd::borrow_raw(fd) };
        if super::tty::write_all(to, data).is_err() {
            self.tee[slot] = false;
            return false;
        }
        true
    }

    /// The pipe ends to poll, with their index for [`Self::read_ready`].
    pub fn fds(&self) -> Vec<(usize, BorrowedFd<'_>)> {
        self.sources
            .iter()
            .enumerate()
            .filter(|(_, s)| s.open)
            .filter_map(|(i, s)| s.fd.as_ref().map(|fd| (i, fd.as_fd())))
            .collect()
    }

    /// Read what source `index` has now; false when there was nothing (or it closed).
    pub fn read_ready(&mut self, index: usize) -> bool {
        let mut buf = [0u8; 16 * 1024];
        let Some(source) = self.sources.get_mut(index) else {
            return false;
        };
        let Some(fd) = source.fd.as_ref().map(AsRawFd::as_raw_fd) else {
            return false;
        };
        loop {
            match nix::unistd::read(fd, &mut buf) {
                Ok(0) => {
                    source.open = false;
                    return false;
                }
                Ok(n) => {
                    let stream = source.stream;
                    if !self.tee(stream, &buf[..n]) {
                        // Its reader left: so does the container's (EPIPE on its next write).
                        if let Some(source) = self.sources.get_mut(index) {
                            source.open = false;
                            source.fd = None;
                        }
                    }
                    self.write(stream, &buf[..n]);
                    return true;
                }
                Err(nix::errno::Errno::EINTR) => continue,
                Err(nix::errno::Errno::EAGAIN) => return false,
                Err(_) => {
                    source.open = false;
                    return false;
                }
            }
        }
    }

    /// Output of a pty (one stream): to the log, and to our stdout when teeing.
    pub fn write_pty(&mut self, data: &[u8]) {
        self.tee(Stream::Stdout, data);
        self.write(Stream::Stdout, data);
    }

    /// Take in output of `stream`: every complete line becomes a record.
    pub fn write(&mut self, stream: Stream, data: &[u8]) {
        let slot = stream as usize;
        let mut pending = std::mem::take(&mut self.partial[slot]);
        pending.extend_from_slice(data);
        let mut start = 0;
        while let Some(newline) = pending[start..].iter().position(|&b| b == b'\n') {
            let end = start + newline + 1;
            self.log.write(stream, &pending[start..end]);
            start = end;
        }
        while pending.len() - start >= MAX_LINE {
            self.log.write(stream, &pending[start..start + MAX_LINE]);
            start += MAX_LINE;
        }
        pending.drain(..start);
        self.partial[slot] = pending;
    }

    /// The container is gone: read what is left in the pipes, write unfinished lines.
    pub fn finish(&mut self) {
        for index in 0..self.sources.len() {
            while self.read_ready(index) {}
        }
        for stream in [Stream::Stdout, Stream::Stderr] {
            let rest = std::mem::take(&mut self.partial[stream as usize]);
            if !rest.is_empty() {
                self.log.write(stream, &rest);
            }
        }
    }
}

/// `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)` → nanoseconds since the epoch.
pub fn parse_rfc3339_nanos(text: &str) -> Option<i128> {
    let b = text.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> { text.get(r)?.parse().ok() };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, s) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let mut rest = &text[19..];
    let mut nanos: i128 = 0;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(frac.len());
        if digits == 0 {
            return None;
        }
        let mut padded = frac[..digits.min(9)].to_string();
        while padded.len() < 9 {
            padded.push('0');
        }
        nanos = padded.parse().ok()?;
        rest = &frac[digits..];
    }
    let offset_secs: i64 = match rest {
        "Z" | "z" => 0,
        _ if rest.len() == 6 && (rest.starts_with('+') || rest.starts_with('-')) => {
            let sign = if rest.starts_with('-') { -1 } else { 1 };
            let oh: i64 = rest[1..3].parse().ok()?;
            let om: i64 = rest[4..6].parse().ok()?;
            sign * (oh * 3600 + om * 60)
        }
        _ => return None,
    };
    let days = days_from_civil(y, mo, d);
    let secs = days * 86_400 + h * 3600 + mi * 60 + s - offset_secs;
    Some(i128::from(secs) * 1_000_000_000 + nanos)
}

/// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse() {
        assert_eq!(parse_rfc3339_nanos("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_rfc3339_nanos("1970-01-01T00:00:01.5Z"),
            Some(1_500_000_000)
        );
        assert_eq!(
            parse_rfc3339_nanos("2001-09-09T01:46:40.000000001Z"),
            Some(1_000_000_000_000_000_001)
        );
        assert_eq!(
            parse_rfc3339_nanos("2001-09-09T03:46:40+02:00"),
            Some(1_000_000_000_000_000_000)
        );
        assert_eq!(parse_rfc3339_nanos("yesterday"), None);
        let now = super::super::state::now_rfc3339();
        assert!(parse_rfc3339_nanos(&now).is_some());
    }

    #[test]
    fn lines_become_records_and_rotate() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("container.log");
        let config = LogConfig {
            disabled: false,
            max_size: Some(200),
            max_file: 3,
        };
        let (mut out, _) = ContainerOutput::open(&path, config, false).unwrap();
        out.write(Stream::Stdout, b"one\ntw");
        out.write(Stream::Stderr, b"err\n");
        out.write(Stream::Stdout, b"o\n");
        out.finish();
        let text: Vec<u8> = log_files(&path)
            .iter()
            .flat_map(|f| std::fs::read(f).unwrap())
            .collect();
        let records: Vec<LogRecord> = text
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .map(parse_line)
            .collect();
        let texts: Vec<(&[u8], Stream)> = records
            .iter()
            .map(|r| (r.text.as_slice(), r.stream))
            .collect();
        assert_eq!(
            texts,
            [
                (&b"one\n"[..], Stream::Stdout),
                (&b"err\n"[..], Stream::Stderr),
                (&b"two\n"[..], Stream::Stdout)
            ]
        );
        assert!(records.iter().all(|r| r.nanos().is_some()));
        for i in 0..20 {
            out.write(Stream::Stdout, format!("line {i}\n").as_bytes());
        }
        let files = log_files(&path);
        assert_eq!(files.len(), 3, "{files:?}");
        for f in &files {
            assert!(std::fs::metadata(f).unwrap().len() <= 200);
        }
        let last = std::fs::read_to_string(&path).unwrap();
        assert!(last.contains("line 19"), "{last}");
    }

    #[test]
    fn a_raw_line_is_stderr_without_time() {
        let r = parse_line(b"hoist: something failed");
        assert_eq!(r.stream, Stream::Stderr);
        assert_eq!(r.time, None);
        assert_eq!(r.text, b"hoist: something failed\n");
    }
}
