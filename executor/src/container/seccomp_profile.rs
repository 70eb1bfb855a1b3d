//! Docker's default seccomp profile (moby `profiles/seccomp/default.json`), as data: every syscall not
//! allowed below fails with EPERM. Rules that name capabilities or architectures apply the way Docker
//! applies them: a rule with `if_caps` only when the container has all of them, one with `unless_caps`
//! only when it has none of them, and `arches` / `not_arches` against the architecture hoist runs on.
//! So `--cap-add SYS_ADMIN` allows `mount` and `unshare` again, as with Docker; `--privileged` and
//! `--security-opt seccomp=unconfined` load no filter at all. [`super::seccomp`] compiles and loads it.

use oci_spec::runtime::{
    Arch, Capabilities, Capability, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArgBuilder,
    LinuxSeccompBuilder, LinuxSeccompOperator, LinuxSyscallBuilder,
};

/// What a rule does to the syscalls it names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Allow,
    /// Fail with this errno (Docker returns ENOSYS for `clone3`, so that libc falls back to `clone`).
    Errno(u32),
}

/// One argument comparison (Docker's rules have at most one).
#[derive(Debug, Clone, Copy)]
enum Arg {
    /// `args[index] == value`
    Eq(usize, u64),
    /// `args[index] != value`
    Ne(usize, u64),
    /// `args[index] & mask == 0`
    MaskedZero(usize, u64),
}

#[derive(Debug, Clone, Copy)]
struct Rule {
    names: &'static [&'static str],
    action: Action,
    arg: Option<Arg>,
    if_caps: &'static [Capability],
    unless_caps: &'static [Capability],
    arches: &'static [&'static str],
    not_arches: &'static [&'static str],
}

impl Rule {
    const fn allow(names: &'static [&'static str]) -> Rule {
        Rule {
            names,
            action: Action::Allow,
            arg: None,
            if_caps: &[],
            unless_caps: &[],
            arches: &[],
            not_arches: &[],
        }
    }
    const fn with_cap(names: &'static [&'static str], caps: &'static [Capability]) -> Rule {
        Rule {
            if_caps: caps,
            ..Rule::allow(names)
        }
    }
    const fn on(names: &'static [&'static str], arches: &'static [&'static str]) -> Rule {
        Rule {
            arches,
            ..Rule::allow(names)
        }
    }
    const fn when(names: &'static [&'static str], arg: Arg) -> Rule {
        Rule {
            arg: Some(arg),
            ..Rule::allow(names)
        }
    }
}

/// The namespace flags of `clone`: without CAP_SYS_ADMIN a container may not create namespaces.
const CLONE_NAMESPACE_FLAGS: u64 = 0x7E02_0000;

/// Syscalls every container may make.
const ALLOWED: &[&str] = &[
    "accept",
    "accept4",
    "access",
    "adjtimex",
    "alarm",
    "bind",
    "brk",
    "capget",
    "capset",
    "chdir",
    "chmod",
    "chown",
    "chown32",
    "clock_adjtime",
    "clock_adjtime64",
    "clock_getres",
    "clock_getres_time64",
    "clock_gettime",
    "clock_gettime64",
    "clock_nanosleep",
    "clock_nanosleep_time64",
    "close",
    "close_range",
    "connect",
    "copy_file_range",
    "creat",
    "dup",
    "dup2",
    "dup3",
    "epoll_create",
    "epoll_create1",
    "epoll_ctl",
    "epoll_ctl_old",
    "epoll_pwait",
    "epoll_pwait2",
    "epoll_wait",
    "epoll_wait_old",
    "eventfd",
    "eventfd2",
    "execve",
    "execveat",
    "exit",
    "exit_group",
    "faccessat",
    "faccessat2",
    "fadvise64",
    "fadvise64_64",
    "fallocate",
    "fanotify_mark",
    "fchdir",
    "fchmod",
    "fchmodat",
    "fchown",
    "fchown32",
    "fchownat",
    "fcntl",
    "fcntl64",
    "fdatasync",
    "fgetxattr",
    "flistxattr",
    "flock",
    "fork",
    "fremovexattr",
    "fsetxattr",
    "fstat",
    "fstat64",
    "fstatat64",
    "fstatfs",
    "fstatfs64",
    "fsync",
    "ftruncate",
    "ftruncate64",
    "futex",
    "futex_time64",
    "futex_waitv",
    "futimesat",
    "getcpu",
    "getcwd",
    "getdents",
    "getdents64",
    "getegid",
    "getegid32",
    "geteuid",
    "geteuid32",
    "getgid",
    "getgid32",
    "getgroups",
    "getgroups32",
    "getitimer",
    "getpeername",
    "getpgid",
    "getpgrp",
    "getpid",
    "getppid",
    "getpriority",
    "getrandom",
    "getresgid",
    "getresgid32",
    "getresuid",
    "getresuid32",
    "getrlimit",
    "get_robust_list",
    "getrusage",
    "getsid",
    "getsockname",
    "getsockopt",
    "get_thread_area",
    "gettid",
    "gettimeofday",
    "getuid",
    "getuid32",
    "getxattr",
    "inotify_add_watch",
    "inotify_init",
    "inotify_init1",
    "inotify_rm_watch",
    "io_cancel",
    "ioctl",
    "io_destroy",
    "io_getevents",
    "io_pgetevents",
    "io_pgetevents_time64",
    "ioprio_get",
    "ioprio_set",
    "io_setup",
    "io_submit",
    "io_uring_enter",
    "io_uring_register",
    "io_uring_setup",
    "ipc",
    "kill",
    "landlock_add_rule",
    "landlock_create_ruleset",
    "landlock_restrict_self",
    "lchown",
    "lchown32",
    "lgetxattr",
    "link",
    "linkat",
    "listen",
    "listxattr",
    "llistxattr",
    "_llseek",
    "lremovexattr",
    "lseek",
    "lsetxattr",
    "lstat",
    "lstat64",
    "madvise",
    "membarrier",
    "memfd_create",
    "memfd_secret",
    "mincore",
    "mkdir",
    "mkdirat",
    "mknod",
    "mknodat",
    "mlock",
    "mlock2",
    "mlockall",
    "mmap",
    "mmap2",
    "mprotect",
    "mq_getsetattr",
    "mq_notify",
    "mq_open",
    "mq_timedreceive",
    "mq_timedreceive_time64",
    "mq_timedsend",
    "mq_timedsend_time64",
    "mq_unlink",
    "mremap",
    "msgctl",
    "msgget",
    "msgrcv",
    "msgsnd",
    "msync",
    "munlock",
    "munlockall",
    "munmap",
    "name_to_handle_at",
    "nanosleep",
    "newfstatat",
    "_newselect",
    "open",
    "openat",
    "openat2",
    "pause",
    "pidfd_open",
    "pidfd_send_signal",
    "pipe",
    "pipe2",
    "pkey_alloc",
    "pkey_free",
    "pkey_mprotect",
    "poll",
    "ppoll",
    "ppoll_time64",
    "prctl",
    "pread64",
    "preadv",
    "preadv2",
    "prlimit64",
    "process_mrelease",
    "pselect6",
    "pselect6_time64",
    "pwrite64",
    "pwritev",
    "pwritev2",
    "read",
    "readahead",
    "readlink",
    "readlinkat",
    "readv",
    "recv",
    "recvfrom",
    "recvmmsg",
    "recvmmsg_time64",
    "recvmsg",
    "remap_file_pages",
    "removexattr",
    "rename",
    "renameat",
    "renameat2",
    "restart_syscall",
    "rmdir",
    "rseq",
    "rt_sigaction",
    "rt_sigpending",
    "rt_sigprocmask",
    "rt_sigqueueinfo",
    "rt_sigreturn",
    "rt_sigsuspend",
    "rt_sigtimedwait",
    "rt_sigtimedwait_time64",
    "rt_tgsigqueueinfo",
    "sched_getaffinity",
    "sched_getattr",
    "sched_getparam",
    "sched_get_priority_max",
    "sched_get_priority_min",
    "sched_getscheduler",
    "sched_rr_get_interval",
    "sched_rr_get_interval_time64",
    "sched_setaffinity",
    "sched_setattr",
    "sched_setparam",
    "sched_setscheduler",
    "sched_yield",
    "seccomp",
    "select",
    "semctl",
    "semget",
    "semop",
    "semtimedop",
    "semtimedop_time64",
    "send",
    "sendfile",
    "sendfile64",
    "sendmmsg",
    "sendmsg",
    "sendto",
    "setfsgid",
    "setfsgid32",
    "setfsuid",
    "setfsuid32",
    "setgid",
    "setgid32",
    "setgroups",
    "setgroups32",
    "setitimer",
    "setpgid",
    "setpriority",
    "setregid",
    "setregid32",
    "setresgid",
    "setresgid32",
    "setresuid",
    "setresuid32",
    "setreuid",
    "setreuid32",
    "setrlimit",
    "set_robust_list",
    "setsid",
    "setsockopt",
    "set_thread_area",
    "set_tid_address",
    "setuid",
    "setuid32",
    "setxattr",
    "shmat",
    "shmctl",
    "shmdt",
    "shmget",
    "shutdown",
    "sigaltstack",
    "signalfd",
    "signalfd4",
    "sigprocmask",
    "sigreturn",
    "socketcall",
    "socketpair",
    "splice",
    "stat",
    "stat64",
    "statfs",
    "statfs64",
    "statx",
    "symlink",
    "symlinkat",
    "sync",
    "sync_file_range",
    "syncfs",
    "sysinfo",
    "tee",
    "tgkill",
    "time",
    "timer_create",
    "timer_delete",
    "timer_getoverrun",
    "timer_gettime",
    "timer_gettime64",
    "timer_settime",
    "timer_settime64",
    "timerfd_create",
    "timerfd_gettime",
    "timerfd_gettime64",
    "timerfd_settime",
    "timerfd_settime64",
    "times",
    "tkill",
    "truncate",
    "truncate64",
    "ugetrlimit",
    "umask",
    "uname",
    "unlink",
    "unlinkat",
    "utime",
    "utimensat",
    "utimensat_time64",
    "utimes",
    "vfork",
    "vmsplice",
    "wait4",
    "waitid",
    "waitpid",
    "write",
    "writev",
];

/// Docker's rules, in its order.
const RULES: &[Rule] = {
    use Capability::*;
    &[
        Rule::allow(ALLOWED),
        // Docker gates these on kernel ≥ 4.8 (older kernels let ptrace bypass seccomp).
        Rule::allow(&["process_vm_readv", "process_vm_writev", "ptrace"]),
        // Every socket family but AF_VSOCK (40).
        Rule::when(&["socket"], Arg::Ne(0, 40)),
        Rule::when(&["personality"], Arg::Eq(0, 0)),
        Rule::when(&["personality"], Arg::Eq(0, 8)),
        Rule::when(&["personality"], Arg::Eq(0, 0x20000)),
        Rule::when(&["personality"], Arg::Eq(0, 0x20008)),
        Rule::when(&["personality"], Arg::Eq(0, 0xffff_ffff)),
        Rule::on(&["sync_file_range2", "swapcontext"], &["ppc64le"]),
        Rule::on(
            &[
                "arm_fadvise64_64",
                "arm_sync_file_range",
                "sync_file_range2",
                "breakpoint",
                "cacheflush",
                "set_tls",
            ],
            &["arm", "arm64"],
        ),
        Rule::on(&["arch_prctl"], &["amd64", "x32"]),
        Rule::on(&["modify_ldt"], &["amd64", "x32", "x86"]),
        Rule::on(
            &[
                "s390_pci_mmio_read",
                "s390_pci_mmio_write",
                "s390_runtime_instr",
            ],
            &["s390", "s390x"],
        ),
        Rule::on(&["riscv_flush_icache"], &["riscv64"]),
        Rule::with_cap(&["open_by_handle_at"], &[DacReadSearch]),
        Rule::with_cap(
            &[
                "bpf",
                "clone",
                "clone3",
                "fanotify_init",
                "fsconfig",
                "fsmount",
                "fsopen",
                "fspick",
                "lookup_dcookie",
                "mount",
                "mount_setattr",
                "move_mount",
                "open_tree",
                "perf_event_open",
                "quotactl",
                "quotactl_fd",
                "setdomainname",
                "sethostname",
                "setns",
                "syslog",
                "umount",
                "umount2",
                "unshare",
            ],
            &[SysAdmin],
        ),
        Rule {
            arg: Some(Arg::MaskedZero(0, CLONE_NAMESPACE_FLAGS)),
            unless_caps: &[SysAdmin],
            not_arches: &["s390", "s390x"],
            ..Rule::allow(&["clone"])
        },
        // s390 passes clone's flags second.
        Rule {
            arg: Some(Arg::MaskedZero(1, CLONE_NAMESPACE_FLAGS)),
            unless_caps: &[SysAdmin],
            arches: &["s390", "s390x"],
            ..Rule::allow(&["clone"])
        },
        Rule {
            action: Action::Errno(libc::ENOSYS as u32),
            unless_caps: &[SysAdmin],
            ..Rule::allow(&["clone3"])
        },
        Rule::with_cap(&["reboot"], &[SysBoot]),
        Rule::with_cap(&["chroot"], &[SysChroot]),
        Rule::with_cap(
            &["delete_module", "init_module", "finit_module"],
            &[SysModule],
        ),
        Rule::with_cap(&["acct"], &[SysPacct]),
        Rule::with_cap(
            &[
                "kcmp",
                "pidfd_getfd",
                "process_madvise",
                "process_vm_readv",
                "process_vm_writev",
                "ptrace",
            ],
            &[SysPtrace],
        ),
        Rule::with_cap(&["iopl", "ioperm"], &[SysRawio]),
        Rule::with_cap(
            &["settimeofday", "stime", "clock_settime", "clock_settime64"],
            &[SysTime],
        ),
        Rule::with_cap(&["vhangup"], &[SysTtyConfig]),
        Rule::with_cap(
            &[
                "get_mempolicy",
                "mbind",
                "set_mempolicy",
                "set_mempolicy_home_node",
            ],
            &[SysNice],
        ),
        Rule::with_cap(&["syslog"], &[Syslog]),
        Rule::with_cap(&["bpf"], &[Bpf]),
        Rule::with_cap(&["perf_event_open"], &[Perfmon]),
    ]
};

/// Docker's name for the architecture hoist was built for (Go's GOARCH).
fn native_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "x86" => "x86",
        "aarch64" => "arm64",
        "arm" => "arm",
        "powerpc64" => "ppc64le",
        "s390x" => "s390x",
        "riscv64" => "riscv64",
        other => other,
    }
}

/// The architectures the filter covers: the native one and those its processes can also run
/// (32-bit x86 and x32 on x86_64, arm on arm64), as Docker's `archMap`.
fn architectures() -> Vec<Arch> {
    match std::env::consts::ARCH {
        "x86_64" => vec![Arch::ScmpArchX86_64, Arch::ScmpArchX86, Arch::ScmpArchX32],
        "aarch64" => vec![Arch::ScmpArchAarch64, Arch::ScmpArchArm],
        "s390x" => vec![Arch::ScmpArchS390x, Arch::ScmpArchS390],
        "riscv64" => vec![Arch::ScmpArchRiscv64],
        _ => vec![Arch::ScmpArchNative],
    }
}

/// Docker's default profile for a container whose processes have `caps`.
pub fn docker_default(caps: &Capabilities) -> Result<LinuxSeccomp, oci_spec::OciSpecError> {
    let arch = native_arch();
    let mut syscalls = Vec::new();
    for rule in RULES {
        let applies = rule.if_caps.iter().all(|c| caps.contains(c))
            && !rule.unless_caps.iter().any(|c| caps.contains(c))
            && (rule.arches.is_empty() || rule.arches.contains(&arch))
            && !rule.not_arches.contains(&arch);
        if !applies {
            continue;
        }
        let mut syscall = LinuxSyscallBuilder::default()
            .names(rule.names.iter().map(|n| n.to_string()).collect::<Vec<_>>());
        syscall = match rule.action {
            Action::Allow => syscall.action(LinuxSeccompAction::ScmpActAllow),
            Action::Errno(errno) => syscall
                .action(LinuxSeccompAction::ScmpActErrno)
                .errno_ret(errno),
        };
        if let Some(arg) = rule.arg {
            let (index, value, value_two, op) = match arg {
                Arg::Eq(i, v) => (i, v, None, LinuxSeccompOperator::ScmpCmpEq),
                Arg::Ne(i, v) => (i, v, None, LinuxSeccompOperator::ScmpCmpNe),
                Arg::MaskedZero(i, mask) => {
                    (i, mask, Some(0u64), LinuxSeccompOperator::ScmpCmpMaskedEq)
                }
            };
            let mut a = LinuxSeccompArgBuilder::default()
                .index(index)
                .value(value)
                .op(op);
            if let Some(v2) = value_two {
                a = a.value_two(v2);
            }
            syscall = syscall.args(vec![a.build()?]);
        }
        syscalls.push(syscall.build()?);
    }
    LinuxSeccompBuilder::default()
        .default_action(LinuxSeccompAction::ScmpActErrno)
        .default_errno_ret(libc::EPERM as u32)
        .architectures(architectures())
        .syscalls(syscalls)
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names_allowed(profile: &LinuxSeccomp) -> Vec<String> {
        profile
            .syscalls()
            .as_ref()
            .unwrap()
            .iter()
            .filter(|s| s.action() == LinuxSeccompAction::ScmpActAllow && s.args().is_none())
            .flat_map(|s| s.names().clone())
            .collect()
    }

    #[test]
    fn default_caps_do_not_allow_mount_or_unshare() {
        let caps: Capabilities = [Capability::Chown, Capability::Kill].into_iter().collect();
        let p = docker_default(&caps).unwrap();
        assert_eq!(p.default_action(), LinuxSeccompAction::ScmpActErrno);
        assert_eq!(p.default_errno_ret(), Some(libc::EPERM as u32));
        let allowed = names_allowed(&p);
        for name in ["read", "execve", "clone3", "mount", "unshare", "ptrace"] {
            let expected = matches!(name, "read" | "execve" | "ptrace");
            assert_eq!(allowed.iter().any(|n| n == name), expected, "{name}");
        }
        // clone is allowed only without namespace flags; clone3 gets ENOSYS.
        let syscalls = p.syscalls().as_ref().unwrap();
        let clone = syscalls
            .iter()
            .find(|s| s.names() == &["clone".to_string()])
            .unwrap();
        let arg = &clone.args().as_ref().unwrap()[0];
        assert_eq!(arg.op(), LinuxSeccompOperator::ScmpCmpMaskedEq);
        assert_eq!(arg.value(), CLONE_NAMESPACE_FLAGS);
        assert_eq!(arg.value_two(), Some(0));
        let clone3 = syscalls
            .iter()
            .find(|s| s.names() == &["clone3".to_string()])
            .unwrap();
        assert_eq!(clone3.errno_ret(), Some(libc::ENOSYS as u32));
    }

    #[test]
    fn sys_admin_allows_mount_and_namespaces() {
        let caps: Capabilities = [Capability::SysAdmin].into_iter().collect();
        let p = docker_default(&caps).unwrap();
        let allowed = names_allowed(&p);
        for name in ["mount", "unshare", "setns", "clone", "clone3"] {
            assert!(allowed.iter().any(|n| n == name), "{name}");
        }
        let syscalls = p.syscalls().as_ref().unwrap();
        assert!(!syscalls
            .iter()
            .any(|s| s.action() == LinuxSeccompAction::ScmpActErrno));
    }
}
