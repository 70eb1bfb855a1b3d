//! `--ulimit` and `--shm-size` in the spec: Docker's names for the process's resource limits, and the
//! size of `/dev/shm`.

use super::error::{spec_err, ContainerError, Result};
use super::request::{RuntimeOptions, Ulimit};

/// Docker's `--ulimit` names and the kernel's resources they set.
const NAMES: [(&str, oci_spec::runtime::PosixRlimitType); 15] = {
    use oci_spec::runtime::PosixRlimitType::*;
    [
        ("core", RlimitCore),
        ("cpu", RlimitCpu),
        ("data", RlimitData),
        ("fsize", RlimitFsize),
        ("locks", RlimitLocks),
        ("memlock", RlimitMemlock),
        ("msgqueue", RlimitMsgqueue),
        ("nice", RlimitNice),
        ("nofile", RlimitNofile),
        ("nproc", RlimitNproc),
        ("rss", RlimitRss),
        ("rtprio", RlimitRtprio),
        ("rttime", RlimitRttime),
        ("sigpending", RlimitSigpending),
        ("stack", RlimitStack),
    ]
};

/// Whether Docker's `--ulimit` knows `name`.
pub fn is_ulimit_name(name: &str) -> bool {
    NAMES.iter().any(|(n, _)| *n == name)
}

/// The spec's rlimits for `--ulimit`s; empty (inherit hoist's) without any.
pub(super) fn rlimits(ulimits: &[Ulimit]) -> Result<Vec<oci_spec::runtime::PosixRlimit>> {
    ulimits
        .iter()
        .map(|u| {
            let typ = NAMES
                .iter()
                .find(|(n, _)| *n == u.name)
                .map(|(_, t)| *t)
                .ok_or_else(|| {
                    ContainerError::InvalidSpec(format!("unknown ulimit {:?}", u.name))
                })?;
            oci_spec::runtime::PosixRlimitBuilder::default()
                .typ(typ)
                .soft(u.soft)
                .hard(u.hard)
                .build()
                .map_err(spec_err)
        })
        .collect()
}

/// The `size=` option of `/dev/shm`: `--shm-size` or Docker's 64 MiB.
pub(super) fn shm_size_option(options: &RuntimeOptions) -> String {
    match options.shm_size {
        Some(bytes) => format!("size={}k", bytes.div_ceil(1024).max(1)),
        None => "size=65536k".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ulimits_become_rlimits() {
        let limits = rlimits(&[Ulimit {
            name: "nofile".into(),
            soft: 1024,
            hard: 2048,
        }])
        .unwrap();
        assert_eq!(
            limits[0].typ(),
            oci_spec::runtime::PosixRlimitType::RlimitNofile
        );
        assert_eq!((limits[0].soft(), limits[0].hard()), (1024, 2048));
        assert!(rlimits(&[Ulimit {
            name: "files".into(),
            soft: 1,
            hard: 1
        }])
        .is_err());
    }

    #[test]
    fn shm_size_in_kibibytes() {
        let mut options = RuntimeOptions::default();
        assert_eq!(shm_size_option(&options), "size=65536k");
        options.shm_size = Some(128 << 20);
        assert_eq!(shm_size_option(&options), "size=131072k");
    }
}
