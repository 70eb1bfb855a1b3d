mod debug;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "hoist", version, about = "Build and run container images from Dockerfiles, without a daemon")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    #[command(hide = true)]
    Debug(debug::DebugArgs),
}

fn main() {
    let cli = Cli::parse();
    let code = match cli.command {
        Command::Debug(a) => debug::run(a),
    };
    match code {
        Ok(c) => std::process::exit(c),
        Err(e) => {
            eprintln!("hoist: {e:#}");
            std::process::exit(1)
        }
    }
}
