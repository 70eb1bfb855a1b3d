//! The OCI runtime spec of one container, as BuildKit builds it for a `RUN` (and Docker for
//! `hoist run`): process, user, capabilities, mounts, namespaces, masked paths, resources.

use std::path::Path;

use super::capabilities::effective_capabilities;
use super::cgroups::cgroup_path;
use super::error::{spec_err, Result};
use super::request::{ExtraMount, InitRequest, Network};
use super::resources::resources;
use super::rootfs::mount_destination;
use super::seccomp::uses_seccomp;
use super::step_limits::{rlimits, shm_size_option};

/// Docker's masked paths: unreadable in the container.
pub const MASKED_PATHS: [&str; 12] = [
    "/proc/asound",
    "/proc/acpi",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

/// Docker's read-only paths.
pub const READONLY_PATHS: [&str; 5] = [
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

fn mount(
    destination: &str,
    typ: &str,
    source: &str,
    options: &[&str],
) -> Result<oci_spec::runtime::Mount> {
    oci_spec::runtime::MountBuilder::default()
        .destination(destination)
        .typ(typ)
        .source(source)
        .options(options.iter().map(|o| o.to_string()).collect::<Vec<_>>())
        .build()
        .map_err(spec_err)
}

/// `/dev/shm`: a tmpfs of its own (`--shm-size`), or the one of the IPC namespace joined.
fn shm_mount(request: &InitRequest) -> Result<oci_spec::runtime::Mount> {
    match &request.options.tuning.shm_source {
        Some(source) => mount(
            "/dev/shm",
            "bind",
            &source.to_string_lossy(),
            &["rbind", "rw"],
        ),
        None => mount(
            "/dev/shm",
            "tmpfs",
            "shm",
            &[
                "nosuid",
                "noexec",
                "nodev",
                "mode=1777",
                &shm_size_option(&request.options),
            ],
        ),
    }
}

/// The OCI runtime spec for one `RUN`, as BuildKit builds it.
pub(super) fn oci_spec(request: &InitRequest, bundle: &Path) -> Result<oci_spec::runtime::Spec> {
    use oci_spec::runtime::*;

    let caps = effective_capabilities(&request.options)?;
    // The seccomp filter is loaded by the init itself ([`Workload`]), which needs CAP_SYS_ADMIN
    // for it: permitted (never effective nor bounding) until then.
    let mut permitted = caps.clone();
    if uses_seccomp(&request.options) {
        permitted.insert(Capability::SysAdmin);
    }
    let capabilities = LinuxCapabilitiesBuilder::default()
        .bounding(caps.clone())
        .effective(caps)
        .permitted(permitted)
        .inheritable(Capabilities::new())
        .ambient(Capabilities::new())
        .build()
        .map_err(spec_err)?;
    let user = UserBuilder::default()
        .uid(request.uid)
        .gid(request.gid)
        .additional_gids(request.additional_gids.clone())
        .umask(0o022u32)
        .build()
        .map_err(spec_err)?;
    let process = ProcessBuilder::default()
        .terminal(request.options.terminal)
        .args(request.args.clone())
        .env(request.env.clone())
        .cwd(&request.cwd)
        .user(user)
        .capabilities(capabilities)
        // Without `--ulimit` the process inherits ours, as Docker containers inherit the daemon's.
        .rlimits(rlimits(&request.options.ulimits)?)
        // oci-spec's default is true; Docker's is false (setuid programs work).
        .no_new_privileges(request.options.no_new_privileges)
        .build()
        .map_err(spec_err)?;

    let mut mounts = vec![
        mount("/proc", "proc", "proc", &["nosuid", "noexec", "nodev"])?,
        mount(
            "/dev",
            "tmpfs",
            "tmpfs",
            &["nosuid", "strictatime", "mode=755", "size=65536k"],
        )?,
        mount(
            "/dev/pts",
            "devpts",
            "devpts",
            &[
                "nosuid",
                "noexec",
                "newinstance",
                "ptmxmode=0666",
                "mode=0620",
                "gid=5",
            ],
        )?,
        shm_mount(request)?,
        mount(
            "/dev/mqueue",
            "mqueue",
            "mqueue",
            &["nosuid", "noexec", "nodev"],
        )?,
        mount(
            "/sys",
            "sysfs",
            "sysfs",
            &["nosuid", "noexec", "nodev", "ro"],
        )?,
    ];
    for name in ["resolv.conf", "hosts", "hostname"] {
        let source = bundle.join(name);
        // An image whose `/etc/resolv.conf` is a symlink (systemd-resolved installs one) gets the file where the
        // link points inside its root, as BuildKit mounts it; the runtime refuses a symlink as a destination.
        let destination = mount_destination(&request.rootfs, Path::new(&format!("/etc/{name}")))?;
        mounts.push(mount(
            &destination,
            "bind",
            &source.to_string_lossy(),
            &["rbind", "ro", "nosuid", "nodev", "noexec"],
        )?);
    }
    for extra in &request.mounts {
        let destination = &mount_destination(&request.rootfs, extra.destination())?;
        mounts.push(match extra {
            ExtraMount::Bind {
                source, readonly, ..
            } => mount(
                destination,
                "bind",
                &source.to_string_lossy(),
                &["rbind", if *readonly { "ro" } else { "rw" }],
            )?,
            ExtraMount::Tmpfs { .. } => mount(
                destination,
                "tmpfs",
                "tmpfs",
                &["nosuid", "nodev", "mode=1777"],
            )?,
            ExtraMount::TmpfsWith { options, .. } => {
                let mut all = vec!["nosuid", "nodev"];
                if !options.iter().any(|o| o.starts_with("mode=")) {
                    all.push("mode=1777");
                }
                all.extend(options.iter().map(String::as_str));
                mount(destination, "tmpfs", "tmpfs", &all)?
            }
        });
    }

    let namespaces = super::tuning::spec_namespaces(
        &request.options.tuning.namespaces,
        request.network != Network::Host,
    )?;
    let (masked, readonly): (&[&str], &[&str]) = if request.options.privileged {
        (&[], &[])
    } else {
        (&MASKED_PATHS, &READONLY_PATHS)
    };
    let linux = LinuxBuilder::default()
        .namespaces(namespaces)
        .masked_paths(masked.iter().map(|p| p.to_string()).collect::<Vec<_>>())
        .readonly_paths(readonly.iter().map(|p| p.to_string()).collect::<Vec<_>>())
        .cgroups_path(cgroup_path(&request.id))
        .resources(resources(&request.options)?)
        .devices(super::tuning::spec_devices(
            &request.options.tuning,
            request.options.privileged,
        )?)
        .sysctl(
            request
                .options
                .tuning
                .sysctls
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect::<std::collections::HashMap<_, _>>(),
        )
        .build()
        .map_err(spec_err)?;
    let root = RootBuilder::default()
        .path(&request.rootfs)
        .readonly(request.readonly_rootfs)
        .build()
        .map_err(spec_err)?;

    let mut spec = SpecBuilder::default()
        .version("1.0.2")
        .root(root)
        .hostname(&request.hostname)
        .process(process)
        .mounts(mounts)
        .linux(linux)
        .build()
        .map_err(spec_err)?;
    if request.options.tuning.namespaces.uts == super::tuning::NamespaceMode::Host {
        // The host's UTS namespace keeps the host's name (`--uts host`).
        spec.set_hostname(None);
    }
    Ok(spec)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    use super::super::capabilities::parse_capability;
    use super::super::request::RuntimeOptions;
    use super::super::seccomp::seccomp_program;

    fn request() -> InitRequest {
        InitRequest {
            id: "t".into(),
            state_dir: "/state".into(),
            rootfs: "/rootfs".into(),
            args: vec!["true".into()],
            env: vec!["PATH=/bin".into()],
            cwd: "/".into(),
            uid: 1000,
            gid: 1000,
            additional_gids: vec![27],
            hostname: "buildkitsandbox".into(),
            network: Network::None,
            mounts: vec![ExtraMount::Tmpfs {
                destination: "/run/cache".into(),
            }],
            readonly_rootfs: false,
            options: RuntimeOptions::default(),
            seccomp_cache: None,
        }
    }

    #[test]
    fn spec_has_docker_defaults() {
        let spec = oci_spec(&request(), Path::new("/bundle")).unwrap();
        let process = spec.process().as_ref().unwrap();
        assert_eq!(process.user().uid(), 1000);
        assert_eq!(process.user().additional_gids().as_deref(), Some(&[27][..]));
        let caps = process.capabilities().as_ref().unwrap();
        assert_eq!(caps.bounding().as_ref().unwrap().len(), 14);
        assert!(caps.inheritable().as_ref().unwrap().is_empty());
        let linux = spec.linux().as_ref().unwrap();
        let ns: Vec<_> = linux
            .namespaces()
            .as_ref()
            .unwrap()
            .iter()
            .map(|n| n.typ())
            .collect();
        assert!(ns.contains(&oci_spec::runtime::LinuxNamespaceType::Network));
        assert!(linux
            .masked_paths()
            .as_ref()
            .unwrap()
            .iter()
            .any(|p| p == "/proc/kcore"));
        let dests: Vec<_> = spec
            .mounts()
            .as_ref()
            .unwrap()
            .iter()
            .map(|m| m.destination().clone())
            .collect();
        for d in [
            "/proc",
            "/dev",
            "/dev/pts",
            "/dev/shm",
            "/dev/mqueue",
            "/sys",
            "/etc/hosts",
            "/run/cache",
        ] {
            assert!(
                dests.contains(&PathBuf::from(d)),
                "{d} missing from {dests:?}"
            );
        }
    }

    #[test]
    fn runtime_options_shape_the_spec() {
        let mut r = request();
        r.options = RuntimeOptions {
            cap_drop: vec!["ALL".into()],
            cap_add: vec!["net_admin".into(), "CAP_CHOWN".into()],
            memory: Some(64 << 20),
            cpu_millis: Some(1500),
            pids_limit: Some(10),
            terminal: true,
            ..RuntimeOptions::default()
        };
        r.mounts.push(ExtraMount::TmpfsWith {
            destination: "/t".into(),
            options: vec!["size=1m".into(), "mode=700".into()],
        });
        let spec = oci_spec(&r, Path::new("/bundle")).unwrap();
        let process = spec.process().as_ref().unwrap();
        assert_eq!(process.terminal(), Some(true));
        let caps = process.capabilities().as_ref().unwrap();
        let bounding = caps.bounding().as_ref().unwrap();
        assert_eq!(bounding.len(), 2);
        assert!(bounding.contains(&oci_spec::runtime::Capability::NetAdmin));
        let resources = spec.linux().as_ref().unwrap().resources().as_ref().unwrap();
        assert_eq!(resources.memory().as_ref().unwrap().limit(), Some(64 << 20));
        assert_eq!(resources.cpu().as_ref().unwrap().quota(), Some(150_000));
        assert_eq!(resources.pids().as_ref().unwrap().limit(), 10);
        let tmpfs = spec
            .mounts()
            .as_ref()
            .unwrap()
            .iter()
            .find(|m| m.destination() == Path::new("/t"))
            .unwrap();
        let options = tmpfs.options().as_ref().unwrap();
        assert!(options.contains(&"mode=700".to_string()));
        assert!(!options.contains(&"mode=1777".to_string()));

        r.options = RuntimeOptions {
            privileged: true,
            ..RuntimeOptions::default()
        };
        let spec = oci_spec(&r, Path::new("/bundle")).unwrap();
        let linux = spec.linux().as_ref().unwrap();
        assert!(linux.masked_paths().as_ref().unwrap().is_empty());
        assert!(parse_capability("BOGUS").is_err());

        // With Docker's seccomp profile the init keeps CAP_SYS_ADMIN permitted (to load the filter
        // itself), never in the bounding set; never with --privileged; build steps have none.
        let sys_admin = |spec: &oci_spec::runtime::Spec, set: &str| {
            let caps = spec
                .process()
                .as_ref()
                .unwrap()
                .capabilities()
                .clone()
                .unwrap();
            let set = match set {
                "bounding" => caps.bounding().clone(),
                "effective" => caps.effective().clone(),
                _ => caps.permitted().clone(),
            };
            set.unwrap()
                .contains(&oci_spec::runtime::Capability::SysAdmin)
        };
        let spec = oci_spec(&request(), Path::new("/b")).unwrap();
        assert!(!sys_admin(&spec, "permitted"));
        assert!(seccomp_program(&request().options, None).unwrap().is_none());
        r.options.seccomp = true;
        assert!(
            seccomp_program(&r.options, None).unwrap().is_none(),
            "--privileged runs unconfined"
        );
        r.options.privileged = false;
        let spec = oci_spec(&r, Path::new("/b")).unwrap();
        assert!(sys_admin(&spec, "permitted"));
        assert!(!sys_admin(&spec, "bounding") && !sys_admin(&spec, "effective"));
        let (program, drop_sys_admin) = seccomp_program(&r.options, None).unwrap().unwrap();
        assert!(program.len() > 100 && drop_sys_admin);
        assert_eq!(
            spec.process().as_ref().unwrap().no_new_privileges(),
            Some(false)
        );
        r.options.no_new_privileges = true;
        let spec = oci_spec(&r, Path::new("/b")).unwrap();
        assert_eq!(
            spec.process().as_ref().unwrap().no_new_privileges(),
            Some(true)
        );
    }

    #[test]
    fn host_network_keeps_the_host_namespace() {
        let mut r = request();
        r.network = Network::Host;
        let spec = oci_spec(&r, Path::new("/bundle")).unwrap();
        let linux = spec.linux().as_ref().unwrap();
        assert!(!linux
            .namespaces()
            .as_ref()
            .unwrap()
            .iter()
            .any(|n| n.typ() == oci_spec::runtime::LinuxNamespaceType::Network));
    }
}
