//! `--init`: pid 1 of the container stays a tiny reaper (like tini, docker's `--init`) and runs the
//! command as its child. It forwards every signal it can catch to the child, reaps orphans that the
//! pid namespace hands it, and exits with the child's code (128+signal when a signal killed it).
//! It is hoist's own code, running in the container's init process after `pivot_root`, so no binary
//! needs to exist in the image.

use nix::sys::signal::{SigSet, SigmaskHow};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{fork, ForkResult, Pid};

/// The exit code when the reaper cannot start the command: docker's 125 for the runtime's own
/// failures (the runtime's `EXIT_RUNTIME_ERROR`).
const FORK_FAILED: i32 = 125;

/// Fork: the child returns (to exec the command); this process never returns.
pub(crate) fn become_reaper() {
    let all = SigSet::all();
    let mut old = SigSet::empty();
    let _ = nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&all), Some(&mut old));
    // SAFETY: the container's init is single-threaded; the child only execs.
    match unsafe { fork() } {
        Ok(ForkResult::Child) => {
            // SAFETY: plain prctl; the child dies with the reaper.
            unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) };
        }
        Ok(ForkResult::Parent { child }) => reap(child, &all),
        Err(e) => {
            eprintln!("hoist --init: fork failed: {e}");
            // SAFETY: terminate the init process at once.
            unsafe { libc::_exit(FORK_FAILED) };
        }
    }
}

fn reap(child: Pid, all: &SigSet) -> ! {
    loop {
        let signal = match all.wait() {
            Ok(s) => s,
            Err(_) => continue,
        };
        if signal == nix::sys::signal::SIGCHLD {
            loop {
                match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                    Ok(WaitStatus::Exited(pid, code)) if pid == child => exit(code),
                    Ok(WaitStatus::Signaled(pid, sig, _)) if pid == child => exit(128 + sig as i32),
                    Ok(WaitStatus::StillAlive) | Err(_) => break,
                    Ok(_) => continue,
                }
            }
        } else {
            let _ = nix::sys::signal::kill(child, signal);
        }
    }
}

fn exit(code: i32) -> ! {
    // SAFETY: _exit ends the process without running anything of the parent's.
    unsafe { libc::_exit(code) }
}
