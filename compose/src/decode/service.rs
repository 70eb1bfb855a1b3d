//! One service's mapping → [`Service`].
use crate::error::{Error, Result};
use crate::model::{
    Build, DependsOn, Deploy, Healthcheck, Limits, Resources, Service, ServiceNetwork, CONDITIONS,
};
use crate::yaml::{Node, Value};

use super::*;

/// Service keys of the Compose Specification that hoist does not implement (a warning, not "unknown").
const UNSUPPORTED: &[&str] = &[
    "annotations",
    "attach",
    "blkio_config",
    "cgroup",
    "cgroup_parent",
    "configs",
    "cpu_count",
    "cpu_percent",
    "cpu_period",
    "cpu_quota",
    "cpu_rt_period",
    "cpu_rt_runtime",
    "cpu_shares",
    "cpuset",
    "credential_spec",
    "develop",
    "device_cgroup_rules",
    "devices",
    "dns_opt",
    "dns_search",
    "domainname",
    "external_links",
    "extends",
    "group_add",
    "ipc",
    "isolation",
    "links",
    "logging",
    "mac_address",
    "mem_reservation",
    "mem_swappiness",
    "memswap_limit",
    "network_mode",
    "oom_kill_disable",
    "oom_score_adj",
    "pid",
    "pids_limit",
    "platform",
    "profiles",
    "pull_policy",
    "runtime",
    "scale",
    "secrets",
    "security_opt",
    "shm_size",
    "stdin_open",
    "storage_opt",
    "sysctls",
    "tty",
    "ulimits",
    "userns_mode",
    "uts",
    "volumes_from",
];

impl Decoder<'_> {
    pub fn service(&mut self, node: &Node, path: &str, name_key: &Node) -> Result<Service> {
        let mut s = Service {
            pos: Some(name_key.pos.clone()),
            ..Service::default()
        };
        for (key, value) in entries(node, path)? {
            let name = key.as_str().unwrap_or_default();
            let p = join(path, name);
            s.key_pos.insert(name.to_string(), key.pos.clone());
            match name {
                "image" => s.image = opt_string(value, &p)?,
                "build" => s.build = Some(self.build(value, &p)?),
                "command" => s.command = command(value, &p)?,
                "entrypoint" => s.entrypoint = command(value, &p)?,
                "environment" => {
                    s.environment = list_or_map(value, &p, &['='])?.into_iter().collect()
                }
                "env_file" => s.env_file = self.env_files(value, &p)?,
                "ports" => s.ports = self.ports(value, &p)?,
                "expose" => {
                    s.expose = match &value.value {
                        Value::Seq(_) | Value::Null => string_list(value, &p)?,
                        _ => return Err(wrong(value, &p, "a list")),
                    }
                }
                "volumes" => s.volumes = self.service_volumes(value, &p)?,
                "networks" => s.networks = self.service_networks(value, &p)?,
                "depends_on" => s.depends_on = self.depends_on(value, &p)?,
                "restart" => s.restart = Some(restart(value, &p)?),
                "healthcheck" => s.healthcheck = Some(self.healthcheck(value, &p)?),
                "dns" => s.dns = string_or_list(value, &p)?,
                "extra_hosts" => {
                    s.extra_hosts = list_or_map(value, &p, &['=', ':'])?
                        .into_iter()
                        .map(|(host, ip)| format!("{host}:{}", ip.unwrap_or_default()))
                        .collect()
                }
                "hostname" => s.hostname = opt_string(value, &p)?,
                "user" => s.user = opt_string(value, &p)?,
                "working_dir" => s.working_dir = opt_string(value, &p)?,
                "labels" => {
                    s.labels = list_or_map(value, &p, &['='])?
                        .into_iter()
                        .map(|(k, v)| (k, v.unwrap_or_default()))
                        .collect()
                }
                "deploy" => s.deploy = Some(self.deploy(value, &p)?),
                "mem_limit" => s.mem_limit = Some(bytes(value, &p)?),
                "cpus" => s.cpus = Some(float(value, &p)?),
                "stop_signal" => s.stop_signal = opt_string(value, &p)?,
                "stop_grace_period" => s.stop_grace_period = Some(duration(value, &p)?),
                "tmpfs" => s.tmpfs = string_or_list(value, &p)?,
                "read_only" => s.read_only = Some(boolean(value, &p)?),
                "cap_add" => s.cap_add = string_list(value, &p)?,
                "cap_drop" => s.cap_drop = string_list(value, &p)?,
                "privileged" => s.privileged = Some(boolean(value, &p)?),
                "init" => s.init = Some(boolean(value, &p)?),
                "container_name" => s.container_name = opt_string(value, &p)?,
                _ if UNSUPPORTED.contains(&name) => self.unsupported(path, key),
                _ => self.unknown(path, key),
            }
        }
        Ok(s)
    }

    fn build(&mut self, node: &Node, path: &str) -> Result<Build> {
        if let Value::Scalar(s) = &node.value {
            return Ok(Build {
                context: Some(s.text.clone()),
                ..Build::default()
            });
        }
        if !matches!(node.value, Value::Map(_)) {
            return Err(wrong(node, path, "a string (the context) or a mapping"));
        }
        let mut b = Build::default();
        for (key, value) in entries(node, path)? {
            let name = key.as_str().unwrap_or_default();
            let p = join(path, name);
            match name {
                "context" => b.context = opt_string(value, &p)?,
                "dockerfile" => b.dockerfile = opt_string(value, &p)?,
                "args" => b.args = list_or_map(value, &p, &['='])?.into_iter().collect(),
                "target" => b.target = opt_string(value, &p)?,
                "cache_from"
                | "cache_to"
                | "labels"
                | "network"
                | "no_cache"
                | "platforms"
                | "pull"
                | "secrets"
                | "shm_size"
                | "ssh"
                | "tags"
                | "additional_contexts"
                | "dockerfile_inline"
                | "extra_hosts"
                | "isolation"
                | "privileged" => self.unsupported(path, key),
                _ => self.unknown(path, key),
            }
        }
        Ok(b)
    }

    fn env_files(&mut self, node: &Node, path: &str) -> Result<Vec<String>> {
        match &node.value {
            Value::Seq(items) => {
                let mut files = Vec::new();
                for item in items {
                    match &item.value {
                        // The long form: `- path: x` (`required: false` is not supported: a warning).
                        Value::Map(_) => {
                            for (key, value) in entries(item, path)? {
                                match key.as_str().unwrap_or_default() {
                                    "path" => files.push(string(value, &join(path, "path"))?),
                                    "required" | "format" => self.unsupported(path, key),
                                    _ => self.unknown(path, key),
                                }
                            }
                        }
                        _ => files.push(string(item, path)?),
                    }
                }
                Ok(files)
            }
            _ => string_or_list(node, path),
        }
    }

    fn service_networks(
        &mut self,
        node: &Node,
        path: &str,
    ) -> Result<std::collections::BTreeMap<String, Option<ServiceNetwork>>> {
        let mut out = std::collections::BTreeMap::new();
        match &node.value {
            Value::Seq(_) => {
                for name in string_list(node, path)? {
                    out.insert(name, None);
                }
            }
            Value::Map(entries) => {
                for (key, value) in entries {
                    let name = key.as_str().unwrap_or_default();
                    let p = join(path, name);
                    if value.value == Value::Null {
                        out.insert(name.to_string(), None);
                        continue;
                    }
                    let mut n = ServiceNetwork::default();
                    for (k, v) in super::entries(value, &p)? {
                        let field = k.as_str().unwrap_or_default();
                        let fp = join(&p, field);
                        match field {
                            "aliases" => n.aliases = string_list(v, &fp)?,
                            "ipv4_address" => n.ipv4_address = opt_string(v, &fp)?,
                            "ipv6_address" => n.ipv6_address = opt_string(v, &fp)?,
                            "priority" | "link_local_ips" | "mac_address" | "driver_opts"
                            | "gw_priority" => self.unsupported(&p, k),
                            _ => self.unknown(&p, k),
                        }
                    }
                    out.insert(name.to_string(), Some(n));
                }
            }
            Value::Null => {}
            _ => return Err(wrong(node, path, "a list or a mapping")),
        }
        Ok(out)
    }

    fn depends_on(
        &mut self,
        node: &Node,
        path: &str,
    ) -> Result<std::collections::BTreeMap<String, DependsOn>> {
        let started = || DependsOn {
            condition: "service_started".into(),
            restart: false,
            required: true,
        };
        let mut out = std::collections::BTreeMap::new();
        match &node.value {
            Value::Seq(_) => {
                for name in string_list(node, path)? {
                    out.insert(name, started());
                }
            }
            Value::Map(entries) => {
                for (key, value) in entries {
                    let name = key.as_str().unwrap_or_default();
                    let p = join(path, name);
                    let mut d = started();
                    for (k, v) in super::entries(value, &p)? {
                        let field = k.as_str().unwrap_or_default();
                        let fp = join(&p, field);
                        match field {
                            "condition" => {
                                let condition = string(v, &fp)?;
                                if !CONDITIONS.contains(&condition.as_str()) {
                                    return Err(Error::invalid(
                                        &v.pos,
                                        &fp,
                                        format!(
                                            "{condition:?} is not a condition: use one of {}",
                                            CONDITIONS.join(", ")
                                        ),
                                    ));
                                }
                                d.condition = condition;
                            }
                            "restart" => d.restart = boolean(v, &fp)?,
                            "required" => d.required = boolean(v, &fp)?,
                            _ => self.unknown(&p, k),
                        }
                    }
                    out.insert(name.to_string(), d);
                }
            }
            Value::Null => {}
            _ => return Err(wrong(node, path, "a list or a mapping")),
        }
        Ok(out)
    }

    fn healthcheck(&mut self, node: &Node, path: &str) -> Result<Healthcheck> {
        let mut h = Healthcheck::default();
        for (key, value) in entries(node, path)? {
            let name = key.as_str().unwrap_or_default();
            let p = join(path, name);
            match name {
                "test" => {
                    h.test = match &value.value {
                        Value::Scalar(s) => vec!["CMD-SHELL".into(), s.text.clone()],
                        _ => string_list(value, &p)?,
                    };
                    let first = h.test.first().map(String::as_str);
                    if !h.test.is_empty() && !matches!(first, Some("CMD" | "CMD-SHELL" | "NONE")) {
                        return Err(Error::invalid(
                            &value.pos,
                            &p,
                            "a list must start with CMD, CMD-SHELL or NONE",
                        ));
                    }
                }
                "interval" => h.interval = Some(duration(value, &p)?),
                "timeout" => h.timeout = Some(duration(value, &p)?),
                "start_period" => h.start_period = Some(duration(value, &p)?),
                "start_interval" => h.start_interval = Some(duration(value, &p)?),
                "retries" => h.retries = Some(unsigned(value, &p)?),
                "disable" => h.disable = boolean(value, &p)?,
                _ => self.unknown(path, key),
            }
        }
        Ok(h)
    }

    fn deploy(&mut self, node: &Node, path: &str) -> Result<Deploy> {
        let mut deploy = Deploy::default();
        for (key, value) in entries(node, path)? {
            let name = key.as_str().unwrap_or_default();
            let p = join(path, name);
            match name {
                "resources" => {
                    let mut resources = Resources::default();
                    for (rk, rv) in entries(value, &p)? {
                        let rname = rk.as_str().unwrap_or_default();
                        let rp = join(&p, rname);
                        match rname {
                            "limits" => {
                                let mut limits = Limits::default();
                                for (lk, lv) in entries(rv, &rp)? {
                                    let lname = lk.as_str().unwrap_or_default();
                                    let lp = join(&rp, lname);
                                    match lname {
                                        "cpus" => limits.cpus = Some(float(lv, &lp)?),
                                        "memory" => limits.memory = Some(bytes(lv, &lp)?),
                                        "pids" => limits.pids = Some(unsigned(lv, &lp)? as i64),
                                        "devices" => self.unsupported(&rp, lk),
                                        _ => self.unknown(&rp, lk),
                                    }
                                }
                                resources.limits = Some(limits);
                            }
                            "reservations" => self.unsupported(&p, rk),
                            _ => self.unknown(&p, rk),
                        }
                    }
                    deploy.resources = Some(resources);
                }
                "mode" | "replicas" | "labels" | "update_config" | "rollback_config"
                | "restart_policy" | "placement" | "endpoint_mode" => self.unsupported(path, key),
                _ => self.unknown(path, key),
            }
        }
        Ok(deploy)
    }
}

/// `no`, `always`, `on-failure[:N]`, `unless-stopped`.
fn restart(node: &Node, path: &str) -> Result<String> {
    let text = string(node, path)?;
    let valid = match text.split_once(':') {
        Some(("on-failure", n)) => n.parse::<u32>().is_ok(),
        Some(_) => false,
        None => matches!(
            text.as_str(),
            "no" | "always" | "on-failure" | "unless-stopped"
        ),
    };
    if !valid {
        return Err(Error::invalid(
            &node.pos,
            path,
            format!("{text:?} is not a restart policy: use no, always, on-failure[:N] or unless-stopped"),
        ));
    }
    Ok(text)
}
