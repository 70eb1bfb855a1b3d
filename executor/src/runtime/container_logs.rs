//! `hoist logs [-f] NAME`: the output of a detached container (stdout and stderr, interleaved).

use std::io::{Read, Write};
use std::path::Path;
use std::time::Duration;

use super::state::{self, Status};
use super::{io_err, Result};

/// Copy the log to `out` (with `tail`, only its last that many lines); with `follow`, keep copying until the
/// container exits.
pub fn logs(
    root: &Path,
    name: &str,
    follow: bool,
    tail: Option<usize>,
    out: &mut dyn Write,
) -> Result<()> {
    use std::io::{Seek, SeekFrom};
    let (dir, _) = state::find(root, name)?;
    let path = dir.log_path();
    let mut file = match std::fs::File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !follow => return Ok(()),
        Err(e) => return Err(io_err("open the log", &path)(e)),
    };
    if let Some(lines) = tail {
        let start = tail_start(&mut file, lines).map_err(io_err("read", &path))?;
        file.seek(SeekFrom::Start(start))
            .map_err(io_err("read", &path))?;
    }
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = file.read(&mut buf).map_err(io_err("read", &path))?;
        if n > 0 {
            if out.write_all(&buf[..n]).and_then(|()| out.flush()).is_err() {
                return Ok(()); // the reader went away (`| head`)
            }
            continue;
        }
        if !follow {
            return Ok(());
        }
        let running = dir.path().exists()
            && dir
                .current_state()
                .map(|s| s.status != Status::Exited)
                .unwrap_or(false);
        if !running {
            // One last read: what was written just before the exit.
            let mut rest = Vec::new();
            let _ = file.read_to_end(&mut rest);
            let _ = out.write_all(&rest);
            let _ = out.flush();
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Where the last `lines` lines of `file` begin (a final line without a newline counts), reading backwards in
/// blocks so a long log is not read whole.
fn tail_start(file: &mut std::fs::File, lines: usize) -> std::io::Result<u64> {
    use std::io::{Seek, SeekFrom};
    let len = file.seek(SeekFrom::End(0))?;
    if lines == 0 {
        return Ok(len);
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
                    return Ok(pos + i as u64 + 1);
                }
            }
        }
        first = false;
    }
    Ok(0)
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
}
