//! Merging files given with several `-f` (or a file and its override), with compose's rules: mappings merged
//! key by key, scalars replaced, `ports`/`expose`/`dns`/`cap_add`/… appended without duplicates,
//! `environment`/`labels`/`build.args`/`extra_hosts` merged by key, `volumes` merged by mount target,
//! `command`/`entrypoint` replaced.
use std::collections::BTreeMap;

use crate::model::{Build, ComposeFile, Deploy, Healthcheck, Network, Service, Volume};

/// `over` merged on top of `base`.
pub fn merge_files(mut base: ComposeFile, over: ComposeFile) -> ComposeFile {
    if over.name.is_some() {
        base.name = over.name;
    }
    for (name, service) in over.services {
        match base.services.remove(&name) {
            Some(earlier) => base.services.insert(name, merge_service(earlier, service)),
            None => base.services.insert(name, service),
        };
    }
    for (name, network) in over.networks {
        let merged = match base.networks.remove(&name) {
            Some(earlier) => merge_network(earlier, network),
            None => network,
        };
        base.networks.insert(name, merged);
    }
    for (name, volume) in over.volumes {
        let merged = match base.volumes.remove(&name) {
            Some(earlier) => merge_volume(earlier, volume),
            None => volume,
        };
        base.volumes.insert(name, merged);
    }
    base
}

fn replace<T>(base: &mut Option<T>, over: Option<T>) {
    if over.is_some() {
        *base = over;
    }
}

fn append_unique<T: PartialEq>(base: &mut Vec<T>, over: Vec<T>) {
    for item in over {
        if !base.contains(&item) {
            base.push(item);
        }
    }
}

fn merge_map<V>(base: &mut BTreeMap<String, V>, over: BTreeMap<String, V>) {
    base.extend(over);
}

/// `HOST:IP` entries merged by host.
fn merge_hosts(base: &mut Vec<String>, over: Vec<String>) {
    for entry in over {
        let host = entry.split(':').next().unwrap_or_default().to_string();
        base.retain(|e| e.split(':').next() != Some(host.as_str()));
        base.push(entry);
    }
}

pub fn merge_service(mut base: Service, over: Service) -> Service {
    replace(&mut base.pos, over.pos);
    base.key_pos.extend(over.key_pos);
    base.build = match (base.build.take(), over.build) {
        (Some(b), Some(o)) => Some(merge_build(b, o)),
        (b, o) => o.or(b),
    };
    append_unique(&mut base.cap_add, over.cap_add);
    append_unique(&mut base.cap_drop, over.cap_drop);
    replace(&mut base.command, over.command);
    replace(&mut base.container_name, over.container_name);
    replace(&mut base.cpus, over.cpus);
    merge_map(&mut base.depends_on, over.depends_on);
    base.deploy = match (base.deploy.take(), over.deploy) {
        (Some(b), Some(o)) => Some(merge_deploy(b, o)),
        (b, o) => o.or(b),
    };
    append_unique(&mut base.dns, over.dns);
    replace(&mut base.entrypoint, over.entrypoint);
    merge_map(&mut base.environment, over.environment);
    append_unique(&mut base.env_file, over.env_file);
    append_unique(&mut base.expose, over.expose);
    merge_hosts(&mut base.extra_hosts, over.extra_hosts);
    base.healthcheck = match (base.healthcheck.take(), over.healthcheck) {
        (Some(b), Some(o)) => Some(merge_healthcheck(b, o)),
        (b, o) => o.or(b),
    };
    replace(&mut base.hostname, over.hostname);
    replace(&mut base.image, over.image);
    replace(&mut base.init, over.init);
    merge_map(&mut base.labels, over.labels);
    replace(&mut base.mem_limit, over.mem_limit);
    merge_map(&mut base.networks, over.networks);
    append_unique(&mut base.ports, over.ports);
    replace(&mut base.privileged, over.privileged);
    replace(&mut base.read_only, over.read_only);
    replace(&mut base.restart, over.restart);
    replace(&mut base.stop_grace_period, over.stop_grace_period);
    replace(&mut base.stop_signal, over.stop_signal);
    append_unique(&mut base.tmpfs, over.tmpfs);
    replace(&mut base.user, over.user);
    for volume in over.volumes {
        match base.volumes.iter_mut().find(|v| v.target == volume.target) {
            Some(existing) => *existing = volume,
            None => base.volumes.push(volume),
        }
    }
    replace(&mut base.working_dir, over.working_dir);
    base
}

fn merge_build(mut base: Build, over: Build) -> Build {
    replace(&mut base.context, over.context);
    replace(&mut base.dockerfile, over.dockerfile);
    merge_map(&mut base.args, over.args);
    replace(&mut base.target, over.target);
    base
}

fn merge_deploy(base: Deploy, over: Deploy) -> Deploy {
    let resources = match (base.resources, over.resources) {
        (Some(mut b), Some(o)) => {
            b.limits = match (b.limits, o.limits) {
                (Some(mut bl), Some(ol)) => {
                    replace(&mut bl.cpus, ol.cpus);
                    replace(&mut bl.memory, ol.memory);
                    replace(&mut bl.pids, ol.pids);
                    Some(bl)
                }
                (bl, ol) => ol.or(bl),
            };
            Some(b)
        }
        (b, o) => o.or(b),
    };
    Deploy { resources }
}

fn merge_healthcheck(mut base: Healthcheck, over: Healthcheck) -> Healthcheck {
    if !over.test.is_empty() {
        base.test = over.test;
    }
    replace(&mut base.interval, over.interval);
    replace(&mut base.timeout, over.timeout);
    replace(&mut base.start_period, over.start_period);
    replace(&mut base.start_interval, over.start_interval);
    replace(&mut base.retries, over.retries);
    base.disable |= over.disable;
    base
}

fn merge_network(mut base: Network, over: Network) -> Network {
    replace(&mut base.name, over.name);
    replace(&mut base.driver, over.driver);
    merge_map(&mut base.driver_opts, over.driver_opts);
    replace(&mut base.ipam, over.ipam);
    replace(&mut base.external, over.external);
    replace(&mut base.internal, over.internal);
    merge_map(&mut base.labels, over.labels);
    base
}

fn merge_volume(mut base: Volume, over: Volume) -> Volume {
    replace(&mut base.name, over.name);
    replace(&mut base.driver, over.driver);
    merge_map(&mut base.driver_opts, over.driver_opts);
    replace(&mut base.external, over.external);
    merge_map(&mut base.labels, over.labels);
    base
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::Decoder;
    use crate::yaml;
    use std::path::Path;

    fn file(text: &str) -> ComposeFile {
        let root = yaml::parse(text, Path::new("f.yaml")).unwrap();
        let mut warnings = Vec::new();
        Decoder {
            warnings: &mut warnings,
        }
        .file(&root)
        .unwrap()
    }

    #[test]
    fn compose_merge_rules() {
        let base = file(
            "services:
  web:
    image: a
    command: [one, two]
    ports: ['8080:80']
    dns: 1.1.1.1
    environment: {A: '1', B: '2'}
    labels: [x=1]
    volumes: ['./a:/data', 'cache:/cache']
    healthcheck: {test: 'true', retries: 3}
",
        );
        let over = file(
            "services:
  web:
    image: b
    command: three
    ports: ['8080:80', '9090:90']
    dns: [8.8.8.8]
    environment: [B=3, C=4]
    labels: {y: '2'}
    volumes: ['./b:/data:ro']
    healthcheck: {interval: 5s}
  db:
    image: db
",
        );
        let merged = merge_files(base, over);
        let web = &merged.services["web"];
        assert_eq!(web.image.as_deref(), Some("b"));
        assert_eq!(web.command, Some(vec!["three".to_string()]));
        let published: Vec<_> = web
            .ports
            .iter()
            .map(|p| p.published.clone().unwrap())
            .collect();
        assert_eq!(published, vec!["8080", "9090"]);
        assert_eq!(web.dns, vec!["1.1.1.1", "8.8.8.8"]);
        let env: Vec<_> = web
            .environment
            .iter()
            .map(|(k, v)| format!("{k}={}", v.clone().unwrap()))
            .collect();
        assert_eq!(env, vec!["A=1", "B=3", "C=4"]);
        assert_eq!(web.labels.len(), 2);
        assert_eq!(web.volumes.len(), 2);
        let data = web.volumes.iter().find(|v| v.target == "/data").unwrap();
        assert_eq!(
            (data.source.as_deref(), data.read_only),
            (Some("./b"), true)
        );
        let h = web.healthcheck.as_ref().unwrap();
        assert_eq!(
            (h.retries, h.interval),
            (Some(3), Some(std::time::Duration::from_secs(5)))
        );
        assert!(merged.services.contains_key("db"));
    }
}
