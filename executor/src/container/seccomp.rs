//! The seccomp filter of a container: Docker's profile ([`super::seccomp_profile`]) compiled to BPF,
//! cached, and loaded by the container's init.
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
    Arch, Capabilities, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompOperator,
};

use super::capabilities::effective_capabilities;
use super::error::{Result, SeccompError};
use super::request::RuntimeOptions;
use super::seccomp_profile::docker_default;

/// Whether a container with `options` runs under Docker's default seccomp profile.
pub(crate) fn uses_seccomp(options: &RuntimeOptions) -> bool {
    options.seccomp && !options.privileged
}

/// The compiled seccomp filter for processes with `options`' capabilities, if they get one.
pub(crate) fn seccomp_program(
    options: &RuntimeOptions,
    cache: Option<&Path>,
) -> Result<Option<(Program, bool)>> {
    if !uses_seccomp(options) {
        return Ok(None);
    }
    seccomp_program_for(&effective_capabilities(options)?, cache).map(Some)
}

/// Docker's profile compiled for processes with `caps`, and whether they must drop CAP_SYS_ADMIN
/// after loading it.
pub(crate) fn seccomp_program_for(
    caps: &oci_spec::runtime::Capabilities,
    cache: Option<&Path>,
) -> Result<(Program, bool)> {
    let program = docker_default_program(caps, cache)?;
    Ok((
        program,
        !caps.contains(&oci_spec::runtime::Capability::SysAdmin),
    ))
}

/// A compiled filter, shared (cheaply cloned) between the spec and the executor.
pub type Program = Arc<[libc::sock_filter]>;

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
        write_atomic(&path, &program_to_bytes(&program));
    }
    Ok(program.into())
}

/// Write `bytes` to `path` through a temporary file and a rename, as the runtime writes its state
/// files, so a reader never sees a torn program; a failure is ignored (see the caller).
fn write_atomic(path: &Path, bytes: &[u8]) {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    if std::fs::write(&tmp, bytes).is_ok() {
        let _ = std::fs::rename(&tmp, path);
    }
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
    use oci_spec::runtime::Capability;

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
}
