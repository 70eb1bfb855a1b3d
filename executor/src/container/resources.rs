//! The cgroup side of the spec: Docker's device rules and the `--memory`, `--cpus` and
//! `--pids-limit` limits.

use std::path::Path;

use super::error::{spec_err, Result};
use super::request::RuntimeOptions;

/// Docker's device cgroup: every device may be made (`mknod`), only the usual ones opened
/// (runc's `AllowedDevices`); all of them with `--privileged`.
fn device_rules(privileged: bool) -> Result<Vec<oci_spec::runtime::LinuxDeviceCgroup>> {
    use oci_spec::runtime::{LinuxDeviceCgroupBuilder, LinuxDeviceType};
    let rule = |allow: bool,
                typ: LinuxDeviceType,
                major: Option<i64>,
                minor: Option<i64>,
                access: &str| {
        let mut b = LinuxDeviceCgroupBuilder::default()
            .allow(allow)
            .typ(typ)
            .access(access);
        if let Some(major) = major {
            b = b.major(major);
        }
        if let Some(minor) = minor {
            b = b.minor(minor);
        }
        b.build().map_err(spec_err)
    };
    use LinuxDeviceType::{A, B, C};
    if privileged {
        return Ok(vec![rule(true, A, None, None, "rwm")?]);
    }
    let mut rules = vec![
        rule(false, A, None, None, "rwm")?,
        rule(true, C, None, None, "m")?,
        rule(true, B, None, None, "m")?,
    ];
    for (major, minor) in [
        (1, Some(3)),    // null
        (1, Some(5)),    // zero
        (1, Some(7)),    // full
        (1, Some(8)),    // random
        (1, Some(9)),    // urandom
        (5, Some(0)),    // tty
        (5, Some(1)),    // console
        (5, Some(2)),    // ptmx
        (136, None),     // pts/*
        (10, Some(200)), // net/tun
    ] {
        rules.push(rule(true, C, Some(major), minor, "rwm")?);
    }
    Ok(rules)
}

/// cgroup limits; `--memory` also caps swap (memory + swap = memory), so the limit is hard.
pub(super) fn resources(options: &RuntimeOptions) -> Result<oci_spec::runtime::LinuxResources> {
    use oci_spec::runtime::*;
    let mut builder = LinuxResourcesBuilder::default();
    builder = builder.devices(device_rules(options.privileged)?);
    if let Some(limit) = options.memory {
        let mut memory = LinuxMemoryBuilder::default().limit(limit);
        if swap_accounting_enabled() {
            memory = memory.swap(limit);
        }
        builder = builder.memory(memory.build().map_err(spec_err)?);
    }
    if let Some(millis) = options.cpu_millis {
        let period: u64 = 100_000;
        builder = builder.cpu(
            LinuxCpuBuilder::default()
                .period(period)
                .quota(millis * period as i64 / 1000)
                .build()
                .map_err(spec_err)?,
        );
    }
    if let Some(limit) = options.pids_limit {
        builder = builder.pids(
            LinuxPidsBuilder::default()
                .limit(limit)
                .build()
                .map_err(spec_err)?,
        );
    }
    let mut resources = builder.build().map_err(spec_err)?;
    super::tuning::tune_resources(&mut resources, &options.tuning)?;
    Ok(resources)
}

/// cgroup v1 has `memory.memsw.*` only with swap accounting on; v2 always has `memory.swap.max`.
pub(crate) fn swap_accounting_enabled() -> bool {
    Path::new("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes").exists()
        || Path::new("/sys/fs/cgroup/cgroup.controllers").exists()
}
