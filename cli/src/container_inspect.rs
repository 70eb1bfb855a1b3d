//! A container as `docker container inspect` shows it: Docker's fields in Docker's order, with the
//! zero values Docker prints for what hoist does not have. One function per top-level section
//! ([`state`], [`host_config`], [`graph_driver`], [`mounts`], [`config`], [`network_settings`]), so a
//! feature that adds to one (health, restarts, networks) changes one function.
use hoist_executor::runtime::config::ImageDefaults;
use hoist_executor::runtime::state::ContainerDir;
use hoist_executor::runtime::{self, ContainerRecord, ContainerState, MountRecord, Status};
use serde_json::{json, Value};

use crate::ordered_json::Json;

/// Docker's time for "never": Go's zero `time.Time`.
const ZERO_TIME: &str = "0001-01-01T00:00:00Z";
/// Docker's default size of /dev/shm.
const DEFAULT_SHM_SIZE: u64 = 64 * 1024 * 1024;

/// Everything `inspect` knows of one container.
pub struct Inspected<'a> {
    pub dir: &'a ContainerDir,
    pub record: &'a ContainerRecord,
    pub state: &'a ContainerState,
    /// The image's config JSON (the whole document), when the image is still in the store.
    pub image_config: Option<&'a Value>,
}

fn null() -> Json {
    Json::Value(Value::Null)
}

/// `list` as a JSON array of strings, or Docker's `null` when empty.
fn strings_or_null(list: &[String]) -> Json {
    if list.is_empty() {
        null()
    } else {
        Json::from(list.to_vec())
    }
}

/// The whole document, as Docker orders it.
pub fn container_json(c: &Inspected) -> Json {
    let r = c.record;
    let run_files = c.dir.runc_root().join(format!(
        "hoist-run-{}.bundle",
        r.id.get(..16).unwrap_or(&r.id)
    ));
    let path = |name: &str| Json::from(run_files.join(name).to_string_lossy().into_owned());
    Json::object(vec![
        ("Id", Json::from(r.id.clone())),
        ("Created", Json::from(r.created.clone())),
        (
            "Path",
            Json::from(r.args.first().cloned().unwrap_or_default()),
        ),
        (
            "Args",
            Json::from(r.args.get(1..).unwrap_or_default().to_vec()),
        ),
        ("State", state(c)),
        ("Image", Json::from(r.image_id.clone())),
        ("ResolvConfPath", path("resolv.conf")),
        ("HostnamePath", path("hostname")),
        ("HostsPath", path("hosts")),
        (
            "LogPath",
            Json::from(c.dir.log_path().to_string_lossy().into_owned()),
        ),
        ("Name", Json::from(format!("/{}", r.name))),
        ("RestartCount", Json::from(c.state.restart_count)),
        ("Driver", Json::from("overlay2")),
        ("Platform", Json::from("linux")),
        ("MountLabel", Json::from("")),
        ("ProcessLabel", Json::from("")),
        ("AppArmorProfile", Json::from("")),
        ("ExecIDs", null()),
        ("HostConfig", host_config(c)),
        ("GraphDriver", graph_driver(c)),
        ("Mounts", mounts(c)),
        ("Config", config(c)),
        ("NetworkSettings", network_settings(c)),
    ])
}

/// `State`: status, pid, exit code and times, as Docker's `ContainerState`.
pub fn state(c: &Inspected) -> Json {
    let st = c.state;
    let running = st.status == Status::Running;
    let mut fields: Vec<(&str, Json)> = vec![
        ("Status", Json::from(st.docker_status())),
        ("Running", Json::from(running)),
        ("Paused", Json::from(st.paused)),
        ("Restarting", Json::from(st.restarting)),
        ("OOMKilled", Json::from(st.oom_killed)),
        ("Dead", Json::from(false)),
        (
            "Pid",
            Json::from(if running { st.pid.unwrap_or(0) } else { 0 }),
        ),
        ("ExitCode", Json::from(st.exit_code.unwrap_or(0))),
        ("Error", Json::from(st.error.clone().unwrap_or_default())),
        (
            "StartedAt",
            Json::from(st.started_at.clone().unwrap_or_else(|| ZERO_TIME.into())),
        ),
        (
            "FinishedAt",
            Json::from(st.finished_at.clone().unwrap_or_else(|| ZERO_TIME.into())),
        ),
    ];
    // As Docker: State.Health only for a container with a health check ("starting" before the first).
    if c.record.options.monitor.healthcheck.is_some() {
        let health = runtime::health::inspect_json(st.health.as_ref())
            .unwrap_or_else(|| json!({"Status": "starting", "FailingStreak": 0, "Log": []}));
        fields.push(("Health", health.into()));
    }
    Json::object(fields)
}

/// Published ports as Docker's port map, `{"80/tcp": [{"HostIp": …, "HostPort": "8080"}]}`. `HostConfig`
/// shows the flags (`""` for every interface); `NetworkSettings` the sockets (`0.0.0.0` and `::`).
fn port_bindings(r: &ContainerRecord, as_sockets: bool) -> Json {
    let mut by_port: Vec<(String, Json)> = Vec::new();
    let mut add = |key: String, host_ip: &str, host_port: u16| {
        let binding = json!({"HostIp": host_ip, "HostPort": host_port.to_string()});
        match by_port.iter_mut().find(|(k, _)| *k == key) {
            Some((_, Json::Array(list))) => list.push(binding.into()),
            _ => by_port.push((key, Json::Array(vec![binding.into()]))),
        }
    };
    // Records made before `-p` took addresses: published on 127.0.0.1.
    for (host, ctr) in &r.ports {
        add(format!("{ctr}/tcp"), "127.0.0.1", *host);
    }
    for b in &r.port_bindings {
        let key = format!("{}/{}", b.container_port, b.proto);
        match (b.host_ip.is_empty(), as_sockets) {
            (true, true) => {
                add(key.clone(), "0.0.0.0", b.host_port);
                add(key, "::", b.host_port);
            }
            _ => add(key, &b.host_ip, b.host_port),
        }
    }
    Json::object(by_port)
}

/// `--device-read-bps` and co. as Docker's `[{"Path": "/dev/vda", "Rate": 1048576}]`.
fn throttles(specs: &[String], rates: &[hoist_executor::container::DeviceRate]) -> Json {
    Json::Array(
        specs
            .iter()
            .zip(rates)
            .map(|(spec, rate)| {
                let path = spec.split(':').next().unwrap_or_default();
                json!({"Path": path, "Rate": rate.rate}).into()
            })
            .collect(),
    )
}

/// `HostConfig`: every field Docker prints, from the record's flags.
pub fn host_config(c: &Inspected) -> Json {
    let r = c.record;
    let o = &r.options;
    let flags = &o.tuning;
    let rt = &r.runtime;
    let tuning = &rt.tuning;
    let binds: Vec<String> = o
        .volumes
        .iter()
        .filter(|v| v.contains(':'))
        .cloned()
        .collect();
    let mut fields: Vec<(&str, Json)> = vec![
        ("Binds", strings_or_null(&binds)),
        ("ContainerIDFile", Json::from("")),
        (
            "LogConfig",
            json!({
                "Type": o.monitor.log_driver(),
                "Config": runtime::monitor_options::log_opts_json(&o.monitor),
            })
            .into(),
        ),
        (
            "NetworkMode",
            match (&flags.network_container, &o.net.network) {
                (Some(name), _) => Json::from(format!("container:{name}")),
                (None, Some(network)) => Json::from(network.clone()),
                (None, None) => Json::from(json!(r.network)),
            },
        ),
        ("PortBindings", port_bindings(r, false)),
        (
            "RestartPolicy",
            Json::object(vec![
                ("Name", Json::from(o.monitor.restart_policy().name())),
                (
                    "MaximumRetryCount",
                    Json::from(o.monitor.restart_policy().maximum_retry_count()),
                ),
            ]),
        ),
        ("AutoRemove", Json::from(o.auto_remove)),
        ("VolumeDriver", Json::from("")),
        ("VolumesFrom", strings_or_null(&flags.volumes_from)),
        ("CapAdd", strings_or_null(&o.cap_add)),
        ("CapDrop", strings_or_null(&o.cap_drop)),
        (
            "CgroupnsMode",
            Json::from(flags.cgroupns.clone().unwrap_or_else(|| "host".into())),
        ),
        ("Dns", Json::from(o.net.dns.clone())),
        ("DnsOptions", Json::from(o.net.dns_options.clone())),
        ("DnsSearch", Json::from(o.net.dns_search.clone())),
        ("ExtraHosts", strings_or_null(&o.net.add_hosts)),
        ("GroupAdd", strings_or_null(&flags.group_add)),
        (
            "IpcMode",
            Json::from(flags.ipc.clone().unwrap_or_else(|| "private".into())),
        ),
        ("Cgroup", Json::from("")),
        ("Links", null()),
        ("OomScoreAdj", Json::from(0)),
        ("PidMode", Json::from(flags.pid.clone().unwrap_or_default())),
        ("Privileged", Json::from(o.privileged)),
        ("PublishAllPorts", Json::from(o.net.publish_all)),
        ("ReadonlyRootfs", Json::from(o.read_only)),
        ("SecurityOpt", strings_or_null(&o.security_opt)),
    ];
    let tmpfs: Vec<(String, Json)> = r
        .mounts
        .iter()
        .filter_map(|m| match m {
            MountRecord::Tmpfs {
                destination,
                options,
            } => Some((destination.clone(), Json::from(options.join(",")))),
            _ => None,
        })
        .collect();
    if !tmpfs.is_empty() {
        fields.push(("Tmpfs", Json::Object(tmpfs)));
    }
    fields.extend([
        ("UTSMode", Json::from(flags.uts.clone().unwrap_or_default())),
        ("UsernsMode", Json::from("")),
        (
            "ShmSize",
            Json::from(rt.shm_size.unwrap_or(DEFAULT_SHM_SIZE)),
        ),
    ]);
    if !tuning.sysctls.is_empty() {
        fields.push((
            "Sysctls",
            Json::object(
                tuning
                    .sysctls
                    .iter()
                    .map(|(k, v)| (k.clone(), Json::from(v.clone())))
                    .collect(),
            ),
        ));
    }
    let memory = rt.memory.unwrap_or(0);
    // What is applied: hoist's --memory alone caps swap at the same value.
    let memory_swap = tuning.memory_swap.unwrap_or(memory);
    fields.extend([
        ("Runtime", Json::from("runc")),
        ("ConsoleSize", Json::from(vec![0, 0])),
        ("Isolation", Json::from("")),
        ("CpuShares", Json::from(tuning.cpu_shares.unwrap_or(0))),
        ("Memory", Json::from(memory)),
        (
            "NanoCpus",
            Json::from(rt.cpu_millis.unwrap_or(0) * 1_000_000),
        ),
        ("CgroupParent", Json::from("")),
        ("BlkioWeight", Json::from(tuning.blkio_weight.unwrap_or(0))),
        ("BlkioWeightDevice", Json::Array(vec![])),
        (
            "BlkioDeviceReadBps",
            throttles(&flags.device_read_bps, &tuning.device_read_bps),
        ),
        (
            "BlkioDeviceWriteBps",
            throttles(&flags.device_write_bps, &tuning.device_write_bps),
        ),
        ("BlkioDeviceReadIOps", Json::Array(vec![])),
        ("BlkioDeviceWriteIOps", Json::Array(vec![])),
        ("CpuPeriod", Json::from(0)),
        ("CpuQuota", Json::from(0)),
        ("CpuRealtimePeriod", Json::from(0)),
        ("CpuRealtimeRuntime", Json::from(0)),
        (
            "CpusetCpus",
            Json::from(tuning.cpuset_cpus.clone().unwrap_or_default()),
        ),
        (
            "CpusetMems",
            Json::from(tuning.cpuset_mems.clone().unwrap_or_default()),
        ),
        (
            "Devices",
            Json::Array(
                flags
                    .devices
                    .iter()
                    .zip(&tuning.devices)
                    .map(|(spec, node)| {
                        let host = spec.split(':').next().unwrap_or_default();
                        json!({
                            "PathOnHost": host,
                            "PathInContainer": node.path,
                            "CgroupPermissions": node.access,
                        })
                        .into()
                    })
                    .collect(),
            ),
        ),
        ("DeviceCgroupRules", null()),
        ("DeviceRequests", null()),
        ("KernelMemory", Json::from(0)),
        ("KernelMemoryTCP", Json::from(0)),
        (
            "MemoryReservation",
            Json::from(tuning.memory_reservation.unwrap_or(0)),
        ),
        ("MemorySwap", Json::from(memory_swap)),
        ("MemorySwappiness", null()),
        ("OomKillDisable", Json::from(tuning.oom_kill_disable)),
        ("PidsLimit", rt.pids_limit.map_or_else(null, Json::from)),
        (
            "Ulimits",
            Json::Array(
                rt.ulimits
                    .iter()
                    .map(|u| json!({"Name": u.name, "Hard": u.hard, "Soft": u.soft}).into())
                    .collect(),
            ),
        ),
        ("CpuCount", Json::from(0)),
        ("CpuPercent", Json::from(0)),
        ("IOMaximumIOps", Json::from(0)),
        ("IOMaximumBandwidth", Json::from(0)),
    ]);
    let paths = |list: &[&str]| -> Json {
        if o.privileged {
            null()
        } else {
            Json::from(list.iter().map(|s| s.to_string()).collect::<Vec<_>>())
        }
    };
    fields.push((
        "MaskedPaths",
        paths(&hoist_executor::container::MASKED_PATHS),
    ));
    fields.push((
        "ReadonlyPaths",
        paths(&hoist_executor::container::READONLY_PATHS),
    ));
    if o.init {
        fields.push(("Init", Json::from(true)));
    }
    Json::object(fields)
}

/// `GraphDriver`: the overlay's dirs.
pub fn graph_driver(c: &Inspected) -> Json {
    let lowers: Vec<String> = c
        .record
        .lowers
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let dir = |p: std::path::PathBuf| Json::from(p.to_string_lossy().into_owned());
    Json::object(vec![
        (
            "Data",
            Json::object(vec![
                ("LowerDir", Json::from(lowers.join(":"))),
                ("MergedDir", dir(c.dir.merged())),
                ("UpperDir", dir(c.dir.upper())),
                ("WorkDir", dir(c.dir.work())),
            ]),
        ),
        ("Name", Json::from("overlay2")),
    ])
}

/// `Mounts`: volumes and binds as Docker lists them (a tmpfs is in `HostConfig.Tmpfs` only).
pub fn mounts(c: &Inspected) -> Json {
    Json::Array(
        c.record
            .mounts
            .iter()
            .filter_map(|m| match m {
                MountRecord::Bind {
                    source,
                    destination,
                    readonly,
                } => Some(Json::object(vec![
                    ("Type", Json::from("bind")),
                    ("Source", Json::from(source.to_string_lossy().into_owned())),
                    ("Destination", Json::from(destination.clone())),
                    ("Mode", Json::from(if *readonly { "ro" } else { "" })),
                    ("RW", Json::from(!readonly)),
                    ("Propagation", Json::from("rprivate")),
                ])),
                MountRecord::Volume {
                    name,
                    source,
                    destination,
                    readonly,
                    ..
                } => Some(Json::object(vec![
                    ("Type", Json::from("volume")),
                    ("Name", Json::from(name.clone())),
                    ("Source", Json::from(source.to_string_lossy().into_owned())),
                    ("Destination", Json::from(destination.clone())),
                    ("Driver", Json::from("local")),
                    ("Mode", Json::from(if *readonly { "ro" } else { "" })),
                    ("RW", Json::from(!readonly)),
                    ("Propagation", Json::from("")),
                ])),
                MountRecord::Tmpfs { .. } => None,
            })
            .collect(),
    )
}

/// The image's ENTRYPOINT as the container uses it, and so its CMD (the rest of the argv).
fn entrypoint_and_cmd(c: &Inspected, image: &ImageDefaults) -> (Json, Json) {
    let r = c.record;
    let entrypoint: Vec<String> = match r.options.entrypoint.as_deref() {
        Some("") => Vec::new(),
        Some(ep) => vec![ep.to_string()],
        None => image.entrypoint.clone(),
    };
    let cmd = r.args.get(entrypoint.len()..).unwrap_or_default().to_vec();
    (strings_or_null(&entrypoint), strings_or_null(&cmd))
}

/// `Config`: what runs and how, as Docker's container config (the image's, with the flags over it).
pub fn config(c: &Inspected) -> Json {
    let r = c.record;
    let o = &r.options;
    let image = c
        .image_config
        .map(ImageDefaults::from_config_json)
        .unwrap_or_default();
    let (entrypoint, cmd) = entrypoint_and_cmd(c, &image);
    let attached = !o.detach;
    // Docker's Config.Env is the image's and the user's: not what the runtime adds (HOSTNAME, a
    // default PATH, TERM).
    let user_keys: Vec<&str> = image
        .env
        .iter()
        .chain(&o.env)
        .map(|e| e.split('=').next().unwrap_or_default())
        .collect();
    let env: Vec<String> = r
        .env
        .iter()
        .filter(|e| {
            let key = e.split('=').next().unwrap_or_default();
            !matches!(key, "HOSTNAME" | "PATH" | "TERM") || user_keys.contains(&key)
        })
        .cloned()
        .collect();
    let mut exposed: Vec<(String, Json)> = c
        .image_config
        .and_then(|v| v.pointer("/config/ExposedPorts"))
        .and_then(Value::as_object)
        .map(|o| {
            o.keys()
                .map(|k| (k.clone(), Json::from(json!({}))))
                .collect()
        })
        .unwrap_or_default();
    let expose_flags = o.net.expose.iter().flat_map(|spec| {
        hoist_executor::runtime::networks::ports::parse_publish(spec)
            .unwrap_or_default()
            .into_iter()
            .map(|b| format!("{}/{}", b.container_port, b.proto))
    });
    let published = r
        .ports
        .iter()
        .map(|(_, ctr)| format!("{ctr}/tcp"))
        .chain(
            r.port_bindings
                .iter()
                .map(|b| format!("{}/{}", b.container_port, b.proto)),
        )
        .chain(expose_flags);
    for key in published {
        if !exposed.iter().any(|(k, _)| *k == key) {
            exposed.push((key, Json::from(json!({}))));
        }
    }
    let mut volumes: Vec<String> = image.volumes.clone();
    for m in &r.mounts {
        if let MountRecord::Volume {
            destination,
            anonymous: true,
            ..
        } = m
        {
            if !volumes.contains(destination) {
                volumes.push(destination.clone());
            }
        }
    }
    let user = match &o.user {
        Some(u) => u.clone(),
        None => image.user.clone(),
    };
    // `create -i` attaches stdin as a foreground `run -i` does.
    let stdin_attached = (attached && o.interactive) || o.stdin.stdin_once;
    let mut fields: Vec<(&str, Json)> = vec![
        ("Hostname", Json::from(r.hostname.clone())),
        ("Domainname", Json::from("")),
        ("User", Json::from(user)),
        ("AttachStdin", Json::from(stdin_attached)),
        ("AttachStdout", Json::from(attached)),
        ("AttachStderr", Json::from(attached)),
    ];
    if !exposed.is_empty() {
        fields.push(("ExposedPorts", Json::Object(exposed)));
    }
    fields.extend([
        ("Tty", Json::from(o.tty)),
        ("OpenStdin", Json::from(o.interactive)),
        ("StdinOnce", Json::from(stdin_attached)),
        ("Env", strings_or_null(&env)),
        ("Cmd", cmd),
    ]);
    if let Some(check) = &o.monitor.healthcheck {
        fields.push((
            "Healthcheck",
            serde_json::to_value(check).unwrap_or_default().into(),
        ));
    }
    fields.extend([
        ("Image", Json::from(r.image.clone())),
        (
            "Volumes",
            if volumes.is_empty() {
                null()
            } else {
                Json::object(
                    volumes
                        .into_iter()
                        .map(|v| (v, Json::from(json!({}))))
                        .collect(),
                )
            },
        ),
        (
            "WorkingDir",
            Json::from(o.workdir.clone().unwrap_or(image.working_dir.clone())),
        ),
        ("Entrypoint", entrypoint),
        ("OnBuild", null()),
        (
            "Labels",
            Json::object(
                r.labels
                    .iter()
                    .map(|(k, v)| (k.clone(), Json::from(v.clone())))
                    .collect(),
            ),
        ),
    ]);
    if let Some(signal) = o.stop_signal.clone().or(image.stop_signal.clone()) {
        fields.push(("StopSignal", Json::from(signal)));
    }
    if let Some(timeout) = o.stop_timeout {
        fields.push(("StopTimeout", Json::from(timeout)));
    }
    Json::object(fields)
}

/// `NetworkSettings`: the address on the bridge, the published ports, one entry in `Networks`.
pub fn network_settings(c: &Inspected) -> Json {
    let r = c.record;
    let ip = c.state.ip_address.clone().unwrap_or_default();
    let bridged = !ip.is_empty() && c.state.status == Status::Running;
    let net = &r.options.net;
    // The default bridge's gateway is known here; a user-defined network's is in its own record.
    let (ip, gateway, prefix) = match (bridged, &net.network) {
        (true, None) => (ip, hoist_executor::bridge::GATEWAY.to_string(), 16),
        (true, Some(_)) => (ip, String::new(), 0),
        (false, _) => (String::new(), String::new(), 0),
    };
    let mode = net
        .network
        .clone()
        .unwrap_or_else(|| json!(r.network).as_str().unwrap_or("host").to_string());
    let mut aliases = net.aliases.clone();
    if net.network.is_some() {
        aliases.push(r.id.get(..12).unwrap_or(&r.id).to_string());
    }
    // The container's end gets its MAC from its address (`hoist_executor::bridge::mac_of`), as Docker's.
    let mac = ip
        .parse()
        .map(hoist_executor::bridge::mac_of)
        .unwrap_or_default();
    let network = Json::object(vec![
        ("IPAMConfig", null()),
        ("Links", null()),
        ("Aliases", strings_or_null(&aliases)),
        ("NetworkID", Json::from("")),
        ("EndpointID", Json::from("")),
        ("Gateway", Json::from(gateway.clone())),
        ("IPAddress", Json::from(ip.clone())),
        ("IPPrefixLen", Json::from(prefix)),
        ("IPv6Gateway", Json::from("")),
        ("GlobalIPv6Address", Json::from("")),
        ("GlobalIPv6PrefixLen", Json::from(0)),
        ("MacAddress", Json::from(mac.clone())),
        ("DriverOpts", null()),
    ]);
    let ports = if c.state.status == Status::Running {
        port_bindings(r, true)
    } else {
        Json::object(Vec::<(String, Json)>::new())
    };
    Json::object(vec![
        ("Bridge", Json::from("")),
        ("SandboxID", Json::from("")),
        ("HairpinMode", Json::from(false)),
        ("LinkLocalIPv6Address", Json::from("")),
        ("LinkLocalIPv6PrefixLen", Json::from(0)),
        ("Ports", ports),
        ("SandboxKey", Json::from("")),
        ("SecondaryIPAddresses", null()),
        ("SecondaryIPv6Addresses", null()),
        ("EndpointID", Json::from("")),
        ("Gateway", Json::from(gateway)),
        ("GlobalIPv6Address", Json::from("")),
        ("GlobalIPv6PrefixLen", Json::from(0)),
        ("IPAddress", Json::from(ip)),
        ("IPPrefixLen", Json::from(prefix)),
        ("IPv6Gateway", Json::from("")),
        ("MacAddress", Json::from(mac.clone())),
        ("Networks", Json::object(vec![(mode, network)])),
    ])
}
