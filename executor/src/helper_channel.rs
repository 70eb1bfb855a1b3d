//! How the container helper tells the thread that started it what happened: a pipe, not a file in the bundle.
//!
//! A file fails exactly when the truth matters most — the disk is full, or the bundle directory was removed
//! under the helper — and its absence was then reported as "the helper did not run hoist's init". Through the
//! pipe the helper first writes [`STARTED`] (so the parent knows hoist's init runs, whatever comes next), then
//! its result as JSON. Nothing touches the disk.
use std::ffi::OsStr;
use std::io::{self, Read as _, Write as _};
use std::os::fd::{AsRawFd as _, FromRawFd as _, OwnedFd, RawFd};

/// The helper's descriptor for the pipe's write end (after stdin, stdout, stderr).
pub(crate) const RESULT_FD: RawFd = 3;
/// The first byte the helper writes: hoist's init code runs.
const STARTED: u8 = b'S';
/// A result larger than this is cut: the pipe must never fill up while nobody reads it yet.
const MAX_RESULT: usize = 32 * 1024;

/// The parent's side.
pub(crate) struct ResultPipe {
    read: OwnedFd,
    write: OwnedFd,
}

/// What the parent learnt once the helper exited.
pub(crate) struct HelperReport {
    /// hoist's init code ran in the helper.
    pub(crate) started: bool,
    /// The helper's result (JSON), when it got as far as writing one.
    pub(crate) result: Option<Vec<u8>>,
}

impl ResultPipe {
    pub(crate) fn new() -> io::Result<Self> {
        let (read, write) =
            nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(io::Error::from)?;
        Ok(ResultPipe { read, write })
    }

    /// The write end's descriptor in this process; [`Self::install_in_child`] makes it [`RESULT_FD`].
    pub(crate) fn write_fd(&self) -> RawFd {
        self.write.as_raw_fd()
    }

    /// In the forked child, before exec (async-signal-safe: only dup2 and fcntl): the write end becomes
    /// [`RESULT_FD`], without close-on-exec.
    pub(crate) fn install_in_child(write_fd: RawFd) -> io::Result<()> {
        // SAFETY: plain syscalls on descriptors of this (forked) process.
        unsafe {
            if write_fd == RESULT_FD {
                if libc::fcntl(RESULT_FD, libc::F_SETFD, 0) != 0 {
                    return Err(io::Error::last_os_error());
                }
            } else if libc::dup2(write_fd, RESULT_FD) < 0 {
                return Err(io::Error::last_os_error());
            }
        }
        Ok(())
    }

    /// After the helper exited: everything it wrote. Our write end is closed first, so a helper that never
    /// wrote reads as empty at once (the container's processes, if any lived on, closed theirs before exec).
    pub(crate) fn finish(self) -> HelperReport {
        drop(self.write);
        let _ = nix::fcntl::fcntl(
            self.read.as_raw_fd(),
            nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK),
        );
        let mut file = std::fs::File::from(self.read);
        let mut bytes = Vec::new();
        let mut buf = [0u8; 8192];
        loop {
            match file.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => bytes.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => break, // EAGAIN: a straggler still holds a write end; what it wrote is here
            }
        }
        match bytes.split_first() {
            Some((&STARTED, rest)) => HelperReport {
                started: true,
                result: (!rest.is_empty()).then(|| rest.to_vec()),
            },
            _ => HelperReport {
                started: false,
                result: None,
            },
        }
    }
}

/// The helper's side: the pipe named by its argument.
pub(crate) struct Reporter(Option<std::fs::File>);

impl Reporter {
    /// Takes the descriptor named by `arg` (from the parent), marks it close-on-exec so that the container's
    /// processes never hold it, and tells the parent that hoist's init runs. Without `arg`: reports nowhere.
    pub(crate) fn start(arg: Option<&OsStr>) -> Self {
        let Some(fd) = arg
            .and_then(|a| a.to_str())
            .and_then(|a| a.parse::<RawFd>().ok())
        else {
            return Reporter(None);
        };
        // SAFETY: the parent put the pipe's write end at this descriptor for us; nothing else owns it.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let _ = nix::fcntl::fcntl(
            fd.as_raw_fd(),
            nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
        );
        let mut file = std::fs::File::from(fd);
        let _ = file.write_all(&[STARTED]);
        Reporter(Some(file))
    }

    /// Sends the result; false when there is nobody to send it to.
    pub(crate) fn report(&mut self, result: &[u8]) -> bool {
        let Some(file) = self.0.as_mut() else {
            return false;
        };
        file.write_all(&result[..result.len().min(MAX_RESULT)])
            .is_ok()
    }
}
