//! [`CancelToken`]: stops running containers from another thread (Ctrl-C during a build) through
//! pidfds of their helpers, so a recycled pid is never signalled.

use std::io;
use std::os::fd::OwnedFd;

/// Stops [`super::run_cancellable`] calls from any thread; clones share the state.
#[derive(Debug, Clone, Default)]
pub struct CancelToken(std::sync::Arc<std::sync::Mutex<CancelState>>);

#[derive(Debug, Default)]
struct CancelState {
    cancelled: bool,
    /// pidfds of running helpers: signalling one can never hit a recycled pid.
    helpers: Vec<OwnedFd>,
}

impl CancelToken {
    pub fn new() -> Self {
        Self::default()
    }

    /// Kill every container running under this token, and refuse new ones.
    pub fn cancel(&self) {
        let mut state = self.lock();
        state.cancelled = true;
        for pidfd in &state.helpers {
            kill_pidfd(pidfd);
        }
    }

    pub fn is_cancelled(&self) -> bool {
        self.lock().cancelled
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, CancelState> {
        // A panic while holding this lock leaves plain data behind: keep going.
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Track a helper; killed at once if the token is already cancelled.
    pub(super) fn register(&self, pidfd: OwnedFd) -> i32 {
        use std::os::fd::AsRawFd;
        let mut state = self.lock();
        if state.cancelled {
            kill_pidfd(&pidfd);
        }
        let raw = pidfd.as_raw_fd();
        state.helpers.push(pidfd);
        raw
    }

    pub(super) fn unregister(&self, raw: i32) {
        use std::os::fd::AsRawFd;
        self.lock().helpers.retain(|fd| fd.as_raw_fd() != raw);
    }
}

pub(super) fn pidfd_open(pid: u32) -> io::Result<OwnedFd> {
    // SAFETY: plain syscall; returns a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel just gave us this descriptor.
    Ok(unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd as i32) })
}

fn kill_pidfd(pidfd: &OwnedFd) {
    use std::os::fd::AsRawFd;
    // SAFETY: a valid pidfd; an exited process gives ESRCH, which is fine to ignore.
    unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            libc::SIGKILL,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
}
