//! `hoist compose config`: the resolved project, as `docker compose config` prints it.
use clap::{Args, ValueEnum};
use hoist_compose::Loaded;

#[derive(Debug, Args)]
pub struct ConfigArgs {
    /// Print the service names, one per line.
    #[arg(long)]
    services: bool,
    /// Print the volume names, one per line.
    #[arg(long)]
    volumes: bool,
    /// Print the network names, one per line.
    #[arg(long)]
    networks: bool,
    /// Only validate the configuration, print nothing.
    #[arg(short, long)]
    quiet: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Yaml)]
    format: Format,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Format {
    Yaml,
    Json,
}

pub fn config(loaded: &Loaded, args: ConfigArgs) -> anyhow::Result<i32> {
    let project = &loaded.project;
    if args.quiet {
        return Ok(0);
    }
    if args.services || args.volumes || args.networks {
        let mut names: Vec<&String> = Vec::new();
        if args.services {
            names.extend(project.services.keys());
        }
        if args.volumes {
            names.extend(project.volumes.keys());
        }
        if args.networks {
            names.extend(project.networks.keys());
        }
        for name in names {
            outln!("{name}");
        }
        return Ok(0);
    }
    match args.format {
        Format::Yaml => crate::output::write_stdout(format_args!("{}", project.to_yaml())),
        Format::Json => outln!("{}", project.to_json()),
    }
    Ok(0)
}
