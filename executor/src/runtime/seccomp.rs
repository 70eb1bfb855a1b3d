//! Docker's default seccomp profile (moby `profiles/seccomp/default.json`), as data: every syscall not
//! allowed below fails with EPERM. Rules that name capabilities or architectures apply the way Docker
//! applies them: a rule with `if_caps` only when the container has all of them, one with `unless_caps`
//! only when it has none of them, and `arches` / `not_arches` against the architecture hoist runs on.
//! So `--cap-add SYS_ADMIN` allows `mount` and `unshare` again, as with Docker; `--privileged` and
//! `--security-opt seccomp=unconfined` load no filter at all.
//!
//! Compiling the profile with libseccomp takes 15–20 ms (three architectures on x86_64), most of a
//! container start, so hoist compiles it once per capability set into BPF, keeps the program in the
//! state dir (`containers/.seccomp/<hash>.bpf`), and the container's init loads it itself
//! ([`load`]) right before the command runs — where libcontainer would have loaded the same filter.
//! Loading needs CAP_SYS_ADMIN (no-new-privileges is off, as in Docker): the init keeps it in its
//! permitted set, raises it to load the filter, then drops it for good (it is never in the bounding
//! set, so `execve` cannot bring it back either).

use std::path::Path;
use std::sync::Arc;

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

/// A compiled filter, shared (cheaply cloned) between the spec and the executor.
pub type Program = Arc<[libc::sock_filter]>;

/// Why a filter could not be compiled, cached or loaded.
#[derive(Debug, thiserror::Error)]
pub enum SeccompError {
    #[error("building the seccomp profile: {0}")]
    Spec(#[from] oci_spec::OciSpecError),
    #[error("compiling the seccomp profile with libseccomp: {0}")]
    Compile(String),
}

fn compile_err(e: impl std::fmt::Display) -> SeccompError {
    SeccompError::Compile(e.to_string())
}

fn scmp_arch(arch: Arch) -> libseccomp::ScmpArch {
    use libseccomp::ScmpArch as A;
    match arch {
        Arch::ScmpArchX86_64 => A::X8664,
        Arch::ScmpArchX86 => A::X86,
        Arch::ScmpArchX32 => A::X32,
        Arch::ScmpArchAarch64 => A::Aarch64,
        Arch::ScmpArchArm => A::Arm,
        Arch::ScmpArchS390x => A::S390X,
        Arch::ScmpArchS390 => A::S390,
        Arch::ScmpArchRiscv64 => A::Riscv64,
        _ => A::Native,
    }
}

fn scmp_action(action: LinuxSeccompAction, errno: Option<u32>) -> libseccomp::ScmpAction {
    use libseccomp::ScmpAction as A;
    match action {
        LinuxSeccompAction::ScmpActAllow => A::Allow,
        LinuxSeccompAction::ScmpActErrno => A::Errno(errno.unwrap_or(libc::EPERM as u32) as i32),
        LinuxSeccompAction::ScmpActKillProcess => A::KillProcess,
        LinuxSeccompAction::ScmpActLog => A::Log,
        LinuxSeccompAction::ScmpActTrap => A::Trap,
        // Not used by the profile; the strictest choice for anything else.
        _ => A::KillThread,
    }
}

/// The profile as a BPF program (libseccomp does the work, as it would inside libcontainer).
pub fn compile(profile: &LinuxSeccomp) -> Result<Vec<libc::sock_filter>, SeccompError> {
    use libseccomp::{ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall};
    let default = scmp_action(profile.default_action(), profile.default_errno_ret());
    let mut ctx = ScmpFilterContext::new(default).map_err(compile_err)?;
    for &arch in profile.architectures().as_deref().unwrap_or_default() {
        ctx.add_arch(scmp_arch(arch)).map_err(compile_err)?;
    }
    // A binary tree of syscall numbers rather than one long chain: the kernel walks the filter for
    // every syscall of every arch when it is installed (its allow-cache) and the process walks it
    // at every syscall, so a ~1,000-instruction chain cost ≈ 1 ms per container start. Needs
    // libseccomp ≥ 2.5; an older one keeps the chain (same verdicts, only slower).
    let _ = ctx.set_ctl_optimize(2);
    for rule in profile.syscalls().as_deref().unwrap_or_default() {
        let action = scmp_action(rule.action(), rule.errno_ret());
        let compares: Vec<ScmpArgCompare> = rule
            .args()
            .as_deref()
            .unwrap_or_default()
            .iter()
            .map(|a| {
                let op = match a.op() {
                    LinuxSeccompOperator::ScmpCmpEq => ScmpCompareOp::Equal,
                    LinuxSeccompOperator::ScmpCmpNe => ScmpCompareOp::NotEqual,
                    LinuxSeccompOperator::ScmpCmpLt => ScmpCompareOp::Less,
                    LinuxSeccompOperator::ScmpCmpLe => ScmpCompareOp::LessOrEqual,
                    LinuxSeccompOperator::ScmpCmpGt => ScmpCompareOp::Greater,
                    LinuxSeccompOperator::ScmpCmpGe => ScmpCompareOp::GreaterEqual,
                    LinuxSeccompOperator::ScmpCmpMaskedEq => {
                        ScmpCompareOp::MaskedEqual(a.value_two().unwrap_or(0))
                    }
                };
                ScmpArgCompare::new(a.index() as u32, op, a.value())
            })
            .collect();
        for name in rule.names() {
            // A name this libseccomp does not know is a syscall the kernel lacks too (libcontainer
            // and runc skip those the same way).
            let Ok(syscall) = ScmpSyscall::from_name(name) else {
                continue;
            };
            if compares.is_empty() {
                ctx.add_rule(action, syscall)
            } else {
                ctx.add_rule_conditional(action, syscall, &compares)
            }
            .map_err(|e| SeccompError::Compile(format!("rule for {name}: {e}")))?;
        }
    }
    // export_bpf writes to a descriptor: a memfd keeps it off the disk.
    let name = c"hoist-seccomp";
    // SAFETY: memfd_create with a valid C string; the descriptor is owned below.
    let fd = unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(compile_err(std::io::Error::last_os_error()));
    }
    // SAFETY: fd was just created and is owned only here.
    let mut file = unsafe { <std::fs::File as std::os::fd::FromRawFd>::from_raw_fd(fd) };
    ctx.export_bpf(&file).map_err(compile_err)?;
    let mut bytes = Vec::new();
    std::io::Seek::rewind(&mut file).map_err(compile_err)?;
    std::io::Read::read_to_end(&mut file, &mut bytes).map_err(compile_err)?;
    program_from_bytes(&bytes).ok_or_else(|| compile_err("libseccomp exported no program"))
}

const INSN: usize = std::mem::size_of::<libc::sock_filter>();

/// `struct sock_filter` records in native byte order, as the kernel (and libseccomp) has them.
fn program_from_bytes(bytes: &[u8]) -> Option<Vec<libc::sock_filter>> {
    if bytes.is_empty()
        || !bytes.len().is_multiple_of(INSN)
        || bytes.len() / INSN > u16::MAX as usize
    {
        return None;
    }
    Some(
        bytes
            .chunks_exact(INSN)
            .map(|c| libc::sock_filter {
                code: u16::from_ne_bytes([c[0], c[1]]),
                jt: c[2],
                jf: c[3],
                k: u32::from_ne_bytes([c[4], c[5], c[6], c[7]]),
            })
            .collect(),
    )
}

fn program_to_bytes(program: &[libc::sock_filter]) -> Vec<u8> {
    let mut out = Vec::with_capacity(program.len() * INSN);
    for i in program {
        out.extend_from_slice(&i.code.to_ne_bytes());
        out.extend_from_slice(&[i.jt, i.jf]);
        out.extend_from_slice(&i.k.to_ne_bytes());
    }
    out
}

/// Docker's default profile for processes with `caps`, compiled — from `cache_dir` when it was
/// compiled before (keyed by the profile and the libseccomp version), else compiled and kept there.
pub fn docker_default_program(
    caps: &Capabilities,
    cache_dir: Option<&Path>,
) -> Result<Program, SeccompError> {
    use sha2::Digest;
    let profile = docker_default(caps)?;
    let Some(dir) = cache_dir else {
        return Ok(compile(&profile)?.into());
    };
    let version = libseccomp::ScmpVersion::current()
        .map(|v| format!("{}.{}.{}", v.major, v.minor, v.micro))
        .unwrap_or_default();
    let mut hash = sha2::Sha256::new();
    hash.update(format!(
        "hoist-seccomp-2 libseccomp-{version} {}\n",
        std::env::consts::ARCH
    ));
    hash.update(serde_json::to_vec(&profile).unwrap_or_default());
    let path = dir.join(format!("{}.bpf", &hex::encode(hash.finalize())[..32]));
    // A missing, unreadable or damaged (torn, truncated) file is compiled again and replaced.
    if let Some(program) = std::fs::read(&path)
        .ok()
        .and_then(|b| program_from_bytes(&b))
    {
        return Ok(program.into());
    }
    let program = compile(&profile)?;
    // A cache that cannot be written only costs time on the next start.
    if std::fs::create_dir_all(dir).is_ok() {
        let _ = super::state::write_atomic(&path, &program_to_bytes(&program));
    }
    Ok(program.into())
}

/// CAP_SYS_ADMIN is capability 21: bit 21 of the first capability word.
const CAP_SYS_ADMIN_BIT: u32 = 1 << 21;

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: libc::c_int,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

const CAP_VERSION_3: u32 = 0x2008_0522;

fn capget() -> std::io::Result<[CapData; 2]> {
    let mut header = CapHeader {
        version: CAP_VERSION_3,
        pid: 0,
    };
    let mut data = [CapData::default(); 2];
    // SAFETY: capget with a v3 header and room for two data records, as the kernel expects.
    let r = unsafe { libc::syscall(libc::SYS_capget, &mut header, data.as_mut_ptr()) };
    if r != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(data)
}

fn capset(data: &[CapData; 2]) -> std::io::Result<()> {
    let mut header = CapHeader {
        version: CAP_VERSION_3,
        pid: 0,
    };
    // SAFETY: capset with a v3 header and two data records for this thread.
    let r = unsafe { libc::syscall(libc::SYS_capset, &mut header, data.as_ptr()) };
    if r != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Load `program` into this (single-threaded) process — the container's init, right before the
/// command runs. CAP_SYS_ADMIN, kept in the permitted set for this, is raised for the load and,
/// with `drop_sys_admin`, removed from every set afterwards. Any failure leaves the process
/// unfit to run the command: the caller must fail the container.
pub fn load(program: &[libc::sock_filter], drop_sys_admin: bool) -> std::io::Result<()> {
    let mut caps = capget()?;
    if caps[0].permitted & CAP_SYS_ADMIN_BIT != 0 && caps[0].effective & CAP_SYS_ADMIN_BIT == 0 {
        caps[0].effective |= CAP_SYS_ADMIN_BIT;
        capset(&caps)?;
    }
    let prog = libc::sock_fprog {
        len: program.len() as u16,
        filter: program.as_ptr() as *mut libc::sock_filter,
    };
    // SAFETY: seccomp(2) reads `len` instructions from `filter`, which `program` keeps alive.
    let r = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            0,
            &prog as *const libc::sock_fprog,
        )
    };
    if r != 0 {
        return Err(std::io::Error::last_os_error());
    }
    if drop_sys_admin {
        caps[0].effective &= !CAP_SYS_ADMIN_BIT;
        caps[0].permitted &= !CAP_SYS_ADMIN_BIT;
        caps[0].inheritable &= !CAP_SYS_ADMIN_BIT;
        capset(&caps)?;
        if capget()?[0].permitted & CAP_SYS_ADMIN_BIT != 0 {
            return Err(std::io::Error::other("CAP_SYS_ADMIN is still permitted"));
        }
    }
    Ok(())
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
    fn compiles_caches_and_reads_back() {
        let caps: Capabilities = [Capability::Chown].into_iter().collect();
        let dir = tempfile::tempdir().unwrap();
        let first = docker_default_program(&caps, Some(dir.path())).unwrap();
        assert!(first.len() > 100, "{} instructions", first.len());
        let cached: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(cached.len(), 1);
        let again = docker_default_program(&caps, Some(dir.path())).unwrap();
        assert_eq!(program_to_bytes(&first), program_to_bytes(&again));
        // Another capability set is another program.
        let admin: Capabilities = [Capability::SysAdmin].into_iter().collect();
        let other = docker_default_program(&admin, Some(dir.path())).unwrap();
        assert_ne!(program_to_bytes(&first), program_to_bytes(&other));
        // A damaged file is compiled again and replaced.
        let path = cached[0].as_ref().unwrap().path();
        std::fs::write(&path, b"short").unwrap();
        let repaired = docker_default_program(&caps, Some(dir.path())).unwrap();
        assert_eq!(program_to_bytes(&first), program_to_bytes(&repaired));
        assert_eq!(std::fs::read(&path).unwrap(), program_to_bytes(&first));
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
