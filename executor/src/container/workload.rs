//! [`Workload`]: what runs inside the container's init right before the command — die with the
//! parent, the `--init` reaper, default signals, joining the cgroups, loading the seccomp filter.

use super::seccomp::Program;

/// Runs the workload like libcontainer's default executor, but first, when `die_with_parent`,
/// asks the kernel to kill it when its parent (the helper, or the thread of [`super::run_in_process`])
/// dies: pid 1 of the container going down takes every process of its pid namespace, and with it
/// its mounts. With `seccomp`, the filter is loaded (and CAP_SYS_ADMIN dropped when the bool
/// says so) before the start signal, so a failure fails the container's creation.
#[derive(Clone)]
pub(crate) struct Workload {
    pub(crate) die_with_parent: bool,
    /// Stay as pid 1 (a reaper) and run the command as a child.
    pub(crate) init: bool,
    pub(crate) seccomp: Option<(Program, bool)>,
    /// `tasks` files of the container's cgroups (open in the process that creates the
    /// container) that the init writes `0` to: it joins them itself ([`crate::cgroup_v1`]).
    pub(crate) join_cgroups: Vec<std::os::fd::RawFd>,
}

impl libcontainer::workload::Executor for Workload {
    fn exec(
        &self,
        spec: &oci_spec::runtime::Spec,
    ) -> Result<(), libcontainer::workload::ExecutorError> {
        if self.die_with_parent {
            // SAFETY: prctl with plain integer arguments. Done after the uid switch, which would
            // clear it; kept across execve unless the program is setuid or has file capabilities.
            unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) };
        }
        if self.init {
            super::reaper::become_reaper();
        }
        reset_signals();
        crate::dev_null::reopen_read_write();
        libcontainer::workload::default::DefaultExecutor {}.exec(spec)
    }

    fn validate(
        &self,
        spec: &oci_spec::runtime::Spec,
    ) -> Result<(), libcontainer::workload::ExecutorValidationError> {
        if self.die_with_parent {
            // Also here, before the init waits for the start signal: a helper killed between creating
            // and starting the container would otherwise leave the init waiting forever, holding the
            // rootfs mounted in its namespace and its cgroup. (validate runs after the uid switch.)
            // SAFETY: prctl with plain integer arguments.
            unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) };
        }
        libcontainer::workload::default::DefaultExecutor {}.validate(spec)?;
        // Before the start signal, so the command and all it starts run in the cgroups; and
        // before seccomp, which is the last thing.
        crate::cgroup_v1::join(&self.join_cgroups).map_err(|e| {
            libcontainer::workload::ExecutorValidationError::ArgValidationError(format!(
                "joining the container's cgroups: {e}"
            ))
        })?;
        if let Some((program, drop_sys_admin)) = &self.seccomp {
            super::seccomp::load(program, *drop_sys_admin).map_err(|e| {
                libcontainer::workload::ExecutorValidationError::ArgValidationError(format!(
                    "loading the seccomp filter: {e}"
                ))
            })?;
        }
        Ok(())
    }
}

/// Ignored signals and the signal mask survive `execve`; the process must start as Docker
/// starts it, with none (Rust programs ignore SIGPIPE, for one, and `yes | head` relies on it).
pub(crate) fn reset_signals() {
    /// The kernel's `struct sigaction` (glibc's `signal()` refuses its reserved signals 32 and 33).
    #[repr(C)]
    struct KernelSigaction {
        handler: libc::sighandler_t,
        flags: libc::c_ulong,
        restorer: usize,
        mask: u64,
    }
    let default = KernelSigaction {
        handler: libc::SIG_DFL,
        flags: 0,
        restorer: 0,
        mask: 0,
    };
    // SAFETY: plain syscalls on this process's own signal state, right before execve; the
    // struct matches the kernel's layout and the size argument is the kernel's sigset size.
    unsafe {
        for signal in 1..=libc::SIGRTMAX() {
            if signal == libc::SIGKILL || signal == libc::SIGSTOP {
                continue;
            }
            if cfg!(not(target_arch = "x86_64")) {
                // Layout above is x86_64's; elsewhere settle for what glibc allows.
                libc::signal(signal, libc::SIG_DFL);
            } else {
                libc::syscall(
                    libc::SYS_rt_sigaction,
                    signal,
                    &default as *const KernelSigaction,
                    std::ptr::null_mut::<KernelSigaction>(),
                    8usize,
                );
            }
        }
        let mut empty: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut empty);
        libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
    }
}
