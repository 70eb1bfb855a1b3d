//! `hoist build`'s options for how RUN steps run (`--network`, `--allow`, `--add-host`, `--shm-size`,
//! `--ulimit`, `--ssh`), and `--provenance`/`--sbom`, accepted as buildx takes them.
use std::net::IpAddr;

use clap::Args;
use hoist_solver::run_options::{NetworkMode, RunStepOptions, Ulimit};

#[derive(Debug, Args)]
pub struct RunStepArgs {
    /// The network of RUN steps (`RUN --network=` wins): default = a network namespace of their own on the
    /// hoist0 bridge, NATed to the host's network (as BuildKit's sandbox); none = only lo; host = the host's
    /// network (implies --allow network.host, as buildx).
    #[arg(long, default_value = "default")]
    network: String,
    /// Grant an entitlement (may repeat or be comma-separated): network.host (`RUN --network=host`),
    /// security.insecure (`RUN --security=insecure`: every capability, no seccomp, as --privileged).
    #[arg(long = "allow", value_delimiter = ',')]
    allow: Vec<String>,
    /// Add `NAME:IP` to the RUN steps' /etc/hosts (not to the image); IP `host-gateway` is the host as the
    /// hoist0 bridge reaches it. May repeat.
    #[arg(long = "add-host")]
    add_hosts: Vec<String>,
    /// The size of /dev/shm in RUN steps (`128m`, `1g`; default 64m).
    #[arg(long = "shm-size")]
    shm_size: Option<String>,
    /// A resource limit of RUN steps, as docker's: `nofile=1024:2048` (NAME=SOFT[:HARD]). May repeat.
    #[arg(long = "ulimit")]
    ulimits: Vec<String>,
    /// An SSH agent for `RUN --mount=type=ssh[,id=ID]`: `default` ($SSH_AUTH_SOCK), `ID` ($SSH_AUTH_SOCK as ID),
    /// `ID=SOCKET`, or `ID=KEYFILE[,KEYFILE]` (loaded into an ssh-agent hoist starts for the build). May repeat.
    #[arg(long = "ssh")]
    ssh: Vec<String>,
    /// Accepted for buildx compatibility (`false`, `true`, `mode=min|max`); hoist attaches no provenance.
    #[arg(long)]
    provenance: Option<String>,
    /// Accepted for buildx compatibility (`false`, `true`, `generator=…`); hoist attaches no SBOM.
    #[arg(long)]
    sbom: Option<String>,
}

impl RunStepArgs {
    /// The solver's options; the agents started for key files live as long as the returned guard.
    pub fn resolve(&self) -> anyhow::Result<(RunStepOptions, crate::build_ssh::Agents)> {
        let network = NetworkMode::parse(&self.network).ok_or_else(|| {
            anyhow::anyhow!(
                "--network {}: unknown network mode; use default, none or host",
                self.network
            )
        })?;
        let mut options = RunStepOptions {
            network,
            allow_network_host: network == NetworkMode::Host,
            ..Default::default()
        };
        for entitlement in self.allow.iter().map(|a| a.trim()) {
            match entitlement {
                "network.host" => options.allow_network_host = true,
                "security.insecure" => options.allow_security_insecure = true,
                other => anyhow::bail!(
                    "--allow {other}: unknown entitlement; use network.host or security.insecure"
                ),
            }
        }
        for spec in &self.add_hosts {
            options.extra_hosts.push(parse_add_host(spec)?);
        }
        if let Some(size) = &self.shm_size {
            let bytes = hoist_executor::runtime::config::parse_size(size)
                .map_err(|e| anyhow::anyhow!("--shm-size {size}: {e}"))?;
            options.shm_size = Some(bytes as u64);
        }
        for spec in &self.ulimits {
            options.ulimits.push(parse_ulimit(spec)?);
        }
        for (flag, value) in [("--provenance", &self.provenance), ("--sbom", &self.sbom)] {
            if let Some(value) = value {
                check_attestation(flag, value)?;
            }
        }
        let agents = crate::build_ssh::Agents::start(&self.ssh)?;
        options.ssh_agents = agents.sockets();
        Ok((options, agents))
    }
}

/// `--add-host NAME:IP` (or `NAME=IP`, as docker 25 also takes it); `host-gateway` becomes the bridge's address.
fn parse_add_host(spec: &str) -> anyhow::Result<(String, String)> {
    let bad = || {
        anyhow::anyhow!(
            "--add-host {spec}: expected NAME:IP, with IP an IPv4 or IPv6 address or host-gateway (e.g. --add-host db:10.0.0.5)"
        )
    };
    let (name, ip) = spec
        .split_once('=')
        .or_else(|| spec.split_once(':'))
        .ok_or_else(bad)?;
    let (name, ip) = (
        name.trim(),
        ip.trim().trim_start_matches('[').trim_end_matches(']'),
    );
    if name.is_empty() || name.contains(char::is_whitespace) {
        return Err(bad());
    }
    if ip == "host-gateway" {
        return Ok((
            name.to_string(),
            hoist_executor::bridge::GATEWAY.to_string(),
        ));
    }
    let ip: IpAddr = ip.parse().map_err(|_| bad())?;
    Ok((name.to_string(), ip.to_string()))
}

/// `--ulimit NAME=SOFT[:HARD]` as docker's (-1: unlimited).
fn parse_ulimit(spec: &str) -> anyhow::Result<Ulimit> {
    let bad = |why: &str| {
        anyhow::anyhow!("--ulimit {spec}: {why}; expected NAME=SOFT[:HARD], e.g. nofile=1024:2048")
    };
    let (name, values) = spec.split_once('=').ok_or_else(|| bad("no ="))?;
    if !hoist_executor::container::is_ulimit_name(name) {
        return Err(bad(&format!("unknown limit {name:?}")));
    }
    let number = |v: &str| -> anyhow::Result<u64> {
        match v.trim() {
            "-1" => Ok(u64::MAX),
            v => v
                .parse()
                .map_err(|_| bad(&format!("{v:?} is not a number"))),
        }
    };
    let (soft, hard) = match values.split_once(':') {
        Some((soft, hard)) => (number(soft)?, number(hard)?),
        None => (number(values)?, number(values)?),
    };
    if soft > hard {
        return Err(bad("the soft limit is above the hard limit"));
    }
    Ok(Ulimit {
        name: name.to_string(),
        soft,
        hard,
    })
}

/// `--provenance`/`--sbom`: a boolean or buildx's `key=value` list; hoist attaches neither either way.
fn check_attestation(flag: &str, value: &str) -> anyhow::Result<()> {
    let boolean = matches!(value, "true" | "false" | "1" | "0");
    let pairs = value
        .split(',')
        .all(|f| f.split_once('=').is_some_and(|(k, _)| !k.trim().is_empty()));
    anyhow::ensure!(
        boolean || pairs,
        "{flag} {value}: expected true, false or KEY=VALUE[,KEY=VALUE] (e.g. mode=max); hoist attaches no attestations either way"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_host_forms() {
        assert_eq!(
            parse_add_host("db:10.0.0.5").unwrap(),
            ("db".to_string(), "10.0.0.5".to_string())
        );
        assert_eq!(parse_add_host("v6:::1").unwrap().1, "::1");
        assert_eq!(parse_add_host("gw:host-gateway").unwrap().1, "10.89.0.1");
        assert!(parse_add_host("db").is_err());
        assert!(parse_add_host("db:999.1.1.1").is_err());
    }

    #[test]
    fn ulimit_forms() {
        let u = parse_ulimit("nofile=1024:2048").unwrap();
        assert_eq!((u.name.as_str(), u.soft, u.hard), ("nofile", 1024, 2048));
        assert_eq!(parse_ulimit("nproc=50").unwrap().hard, 50);
        assert!(parse_ulimit("nofile=2048:1024").is_err());
        assert!(parse_ulimit("files=1").is_err());
    }

    #[test]
    fn attestation_values() {
        assert!(check_attestation("--sbom", "false").is_ok());
        assert!(check_attestation("--provenance", "mode=max").is_ok());
        assert!(check_attestation("--provenance", "maximal").is_err());
    }
}
