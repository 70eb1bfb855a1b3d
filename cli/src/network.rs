//! `hoist network create|ls|inspect|rm|prune`, printed as docker prints them, and the network flags
//! of `hoist run` (flattened into its arguments).
use std::path::Path;

use anyhow::bail;
use clap::{Args, Subcommand};
use hoist_executor::runtime::networks::{self, hosts, join::NetOptions, NetworkRecord};
use serde_json::{json, Value};

#[derive(Debug, Args)]
pub struct NetworkArgs {
    #[command(subcommand)]
    command: NetworkCommand,
}

#[derive(Debug, Subcommand)]
enum NetworkCommand {
    /// Create a network: a bridge of its own, a subnet of its own.
    Create(CreateArgs),
    /// List networks.
    #[command(alias = "list")]
    Ls(LsArgs),
    /// Show networks as JSON.
    Inspect(InspectArgs),
    /// Remove networks (not while a running container is on one).
    #[command(alias = "remove")]
    Rm(RmArgs),
    /// Remove every user-defined network no running container is on.
    Prune(PruneArgs),
    /// Put a running container on a network too.
    Connect(ConnectArgs),
    /// Take a running container off a network.
    Disconnect(DisconnectArgs),
}

#[derive(Debug, Args)]
struct ConnectArgs {
    /// A fixed IPv4 address on the network.
    #[arg(long)]
    ip: Option<String>,
    /// Another name the other members reach it by.
    #[arg(long = "alias")]
    aliases: Vec<String>,
    network: String,
    container: String,
}

#[derive(Debug, Args)]
struct DisconnectArgs {
    /// Accepted for docker's sake.
    #[arg(short = 'f', long)]
    force: bool,
    network: String,
    container: String,
}

#[derive(Debug, Args)]
struct CreateArgs {
    /// Only `bridge`.
    #[arg(short = 'd', long)]
    driver: Option<String>,
    /// The subnet, CIDR (default: the next free 172.x.0.0/16, then 10.x.0.0/16).
    #[arg(long)]
    subnet: Option<String>,
    /// The gateway (the bridge's address; default: the subnet's first address).
    #[arg(long)]
    gateway: Option<String>,
    /// Set a label (`KEY=VALUE`); may repeat.
    #[arg(long = "label")]
    labels: Vec<String>,
    name: String,
}

#[derive(Debug, Args)]
struct LsArgs {
    /// Only the IDs.
    #[arg(short = 'q', long)]
    quiet: bool,
    /// Full IDs.
    #[arg(long = "no-trunc")]
    no_trunc: bool,
    /// name=PART, driver=D, label=KEY[=VALUE], type=builtin|custom.
    #[arg(short = 'f', long = "filter")]
    filters: Vec<String>,
    /// A Go template, `table …` or `json`.
    #[arg(long)]
    format: Option<String>,
}

#[derive(Debug, Args)]
struct InspectArgs {
    /// A Go template applied to each network.
    #[arg(short = 'f', long)]
    format: Option<String>,
    #[arg(required = true)]
    names: Vec<String>,
}

#[derive(Debug, Args)]
struct RmArgs {
    #[arg(required = true)]
    names: Vec<String>,
}

#[derive(Debug, Args)]
struct PruneArgs {
    /// Do not ask for confirmation.
    #[arg(short = 'f', long)]
    force: bool,
}

/// `hoist run`'s network flags besides `--network` and `-p`.
#[derive(Debug, Clone, Args)]
pub struct RunNetworkArgs {
    /// A fixed IPv4 address on the (user-defined) network.
    #[arg(long)]
    ip: Option<String>,
    /// Another name the other containers of the network reach this one by.
    #[arg(long = "network-alias")]
    network_alias: Vec<String>,
    /// A DNS server for the container's resolv.conf.
    #[arg(long)]
    dns: Vec<String>,
    /// A DNS search domain for the container's resolv.conf.
    #[arg(long = "dns-search")]
    dns_search: Vec<String>,
    /// A resolv.conf option (`ndots:2`).
    #[arg(long = "dns-option", alias = "dns-opt")]
    dns_option: Vec<String>,
    /// Add `NAME:IP` to the container's /etc/hosts (IP may be `host-gateway`).
    #[arg(long = "add-host")]
    add_host: Vec<String>,
    /// Publish every EXPOSEd port of the image to a free host port.
    #[arg(short = 'P', long = "publish-all")]
    pub publish_all: bool,
    /// Expose a port or a range (`80`, `53/udp`, `8000-8010`) besides the image's EXPOSE (`-P` publishes it).
    #[arg(long = "expose", value_name = "PORT[/PROTO]")]
    pub expose: Vec<String>,
}

impl RunNetworkArgs {
    /// The runtime's settings; `network` is `--network`'s value when it names a user-defined network.
    pub fn options(self, network: Option<String>) -> NetOptions {
        NetOptions {
            network,
            ip: self.ip,
            aliases: self.network_alias,
            dns: self.dns,
            dns_search: self.dns_search,
            dns_options: self.dns_option,
            add_hosts: self.add_host,
            publish_all: self.publish_all,
            expose: self.expose,
            more: Vec::new(),
        }
    }
}

pub fn run(root: &Path, args: NetworkArgs) -> anyhow::Result<i32> {
    let root = std::path::absolute(root).unwrap_or_else(|_| root.to_path_buf());
    match args.command {
        NetworkCommand::Create(a) => create(&root, a),
        NetworkCommand::Ls(a) => ls(&root, a),
        NetworkCommand::Inspect(a) => inspect(&root, a),
        NetworkCommand::Rm(a) => rm(&root, a),
        NetworkCommand::Prune(a) => prune(&root, a),
        NetworkCommand::Connect(a) => {
            networks::connect::connect(
                &root,
                &a.network,
                &a.container,
                a.ip.as_deref(),
                &a.aliases,
            )?;
            Ok(0)
        }
        NetworkCommand::Disconnect(a) => {
            let _ = a.force;
            networks::connect::disconnect(&root, &a.network, &a.container)?;
            Ok(0)
        }
    }
}

fn create(root: &Path, args: CreateArgs) -> anyhow::Result<i32> {
    let record = networks::create(
        root,
        &networks::CreateOptions {
            name: args.name,
            driver: args.driver,
            subnet: args.subnet,
            gateway: args.gateway,
            labels: crate::volume::parse_labels(&args.labels),
        },
    )?;
    outln!("{}", record.id);
    Ok(0)
}

/// A stable id for a predefined network of this state root (docker's are random per daemon).
fn predefined_id(root: &Path, name: &str) -> String {
    use std::hash::{Hash, Hasher};
    (0u8..4)
        .map(|round| {
            // DefaultHasher::new() has fixed keys: the same id in every process.
            let mut hash = std::collections::hash_map::DefaultHasher::new();
            (round, root, name).hash(&mut hash);
            format!("{:016x}", hash.finish())
        })
        .collect()
}

/// One row of `network ls`: (id, name, driver, labels, builtin).
type Row = (String, String, String, String, bool);

fn rows(root: &Path) -> anyhow::Result<Vec<Row>> {
    let mut out: Vec<_> = networks::PREDEFINED
        .iter()
        .map(|(name, driver)| {
            (
                predefined_id(root, name),
                name.to_string(),
                driver.to_string(),
                String::new(),
                true,
            )
        })
        .collect();
    for n in networks::list(root)? {
        let labels: Vec<String> = n.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        out.push((n.id, n.name, n.driver, labels.join(","), false));
    }
    out.sort_by(|a, b| a.1.cmp(&b.1));
    Ok(out)
}

fn ls(root: &Path, args: LsArgs) -> anyhow::Result<i32> {
    let mut rows = rows(root)?;
    for filter in &args.filters {
        let Some((key, value)) = filter.split_once('=') else {
            bail!("bad format of filter (expected name=value): {filter}");
        };
        match key {
            "name" => rows.retain(|r| r.1.contains(value)),
            "driver" => rows.retain(|r| r.2 == value),
            "id" => rows.retain(|r| r.0.starts_with(value)),
            "label" => rows.retain(|r| {
                r.3.split(',').any(|l| {
                    l == value || (!value.contains('=') && l.split('=').next() == Some(value))
                })
            }),
            "type" => match value {
                "builtin" => rows.retain(|r| r.4),
                "custom" => rows.retain(|r| !r.4),
                _ => bail!("invalid filter 'type={value}' (builtin or custom)"),
            },
            other => bail!("invalid filter '{other}' (name, driver, id, label or type)"),
        }
    }
    let id = |full: &str| {
        if args.no_trunc {
            full.to_string()
        } else {
            full[..12].to_string()
        }
    };
    if args.quiet {
        for r in &rows {
            outln!("{}", id(&r.0));
        }
        return Ok(0);
    }
    let listing = crate::listing::Listing::new(
        args.format.as_deref(),
        "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}",
    )?;
    let values: Vec<Value> = rows
        .iter()
        .map(|r| {
            json!({"ID": id(&r.0), "Name": r.1, "Driver": r.2, "Scope": "local", "Labels": r.3,
                   "IPv6": "false", "Internal": "false"})
        })
        .collect();
    crate::output::write_stdout(format_args!(
        "{}",
        listing.render(
            &values,
            &[
                ("ID", "NETWORK ID"),
                ("Name", "NAME"),
                ("Driver", "DRIVER"),
                ("Scope", "SCOPE")
            ]
        )?
    ));
    Ok(0)
}

/// Docker's JSON for a user-defined network, with its running containers.
pub fn network_json(root: &Path, n: &NetworkRecord) -> anyhow::Result<Value> {
    let mut containers = serde_json::Map::new();
    for m in hosts::members(root, n)? {
        containers.insert(
            m.id.clone(),
            json!({
                "Name": m.name,
                "EndpointID": "",
                "MacAddress": "",
                "IPv4Address": format!("{}/{}", m.ip, n.subnet.prefix),
                "IPv6Address": "",
            }),
        );
    }
    let mut ipam = json!({"Subnet": n.subnet.to_string()});
    if !n.subnet_given || n.gateway_given {
        ipam["Gateway"] = json!(n.gateway.to_string());
    }
    Ok(json!({
        "Name": n.name,
        "Id": n.id,
        "Created": n.created,
        "Scope": "local",
        "Driver": n.driver,
        "EnableIPv6": false,
        "IPAM": {"Driver": "default", "Options": {}, "Config": [ipam]},
        "Internal": false,
        "Attachable": false,
        "Ingress": false,
        "ConfigFrom": {"Network": ""},
        "ConfigOnly": false,
        "Containers": containers,
        "Options": {"com.docker.network.bridge.name": n.bridge},
        "Labels": n.labels,
    }))
}

/// Docker's JSON for `bridge`, `host` and `none`.
fn predefined_json(root: &Path, name: &str, driver: &str) -> Value {
    let config = if name == "bridge" {
        json!([{"Subnet": "10.89.0.0/16", "Gateway": hoist_executor::bridge::GATEWAY.to_string()}])
    } else {
        json!([])
    };
    json!({
        "Name": name,
        "Id": predefined_id(root, name),
        "Created": "0001-01-01T00:00:00Z",
        "Scope": "local",
        "Driver": driver,
        "EnableIPv6": false,
        "IPAM": {"Driver": "default", "Options": null, "Config": config},
        "Internal": false,
        "Attachable": false,
        "Ingress": false,
        "ConfigFrom": {"Network": ""},
        "ConfigOnly": false,
        "Containers": {},
        "Options": {},
        "Labels": {},
    })
}

fn inspect(root: &Path, args: InspectArgs) -> anyhow::Result<i32> {
    let mut found = Vec::new();
    let mut code = 0;
    for name in &args.names {
        if let Some((n, d)) = networks::PREDEFINED.iter().find(|(n, _)| n == name) {
            found.push(predefined_json(root, n, d));
            continue;
        }
        match networks::find(root, name) {
            Ok(n) => found.push(network_json(root, &n)?),
            Err(e) => {
                errln!("Error: {e}");
                code = 1;
            }
        }
    }
    match args.format {
        Some(format) => {
            let template = crate::gotemplate::Template::parse(&format)
                .map_err(|e| anyhow::anyhow!("invalid --format template: {e}"))?;
            for v in &found {
                let text = template
                    .render(v, crate::gotemplate::Missing::NoValue)
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
                outln!("{text}");
            }
        }
        None => outln!("{}", crate::volume::docker_json(&Value::Array(found))?),
    }
    Ok(code)
}

fn rm(root: &Path, args: RmArgs) -> anyhow::Result<i32> {
    let mut code = 0;
    for name in &args.names {
        match networks::remove(root, name) {
            Ok(_) => outln!("{name}"),
            Err(e) => {
                errln!("Error: {e}");
                code = 1;
            }
        }
    }
    Ok(code)
}

fn prune(root: &Path, args: PruneArgs) -> anyhow::Result<i32> {
    if !args.force
        && !crate::image_prune::confirm(
            "WARNING! This will remove all custom networks not used by at least one container.",
        )
    {
        return Ok(0);
    }
    let removed = networks::prune(root)?;
    if !removed.is_empty() {
        outln!("Deleted Networks:");
        for name in &removed {
            outln!("{name}");
        }
    }
    Ok(0)
}
