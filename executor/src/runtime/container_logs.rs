//! `hoist logs [-f] NAME`: the output of a detached container (stdout and stderr, interleaved).

use std::io::{Read, Write};
use std::path::Path;
use std::time::Duration;

use super::state::{self, Status};
use super::{io_err, Result};

/// Copy the log to `out`; with `follow`, keep copying until the container exits.
pub fn logs(root: &Path, name: &str, follow: bool, out: &mut dyn Write) -> Result<()> {
    let (dir, _) = state::find(root, name)?;
    let path = dir.log_path();
    let mut file = match std::fs::File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !follow => return Ok(()),
        Err(e) => return Err(io_err("open the log", &path)(e)),
    };
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
