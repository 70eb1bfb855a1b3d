//! `hoist debug …`: hidden subcommands that expose the parser for conformance testing.
use clap::Args;

#[derive(Debug, Args)]
pub struct DebugArgs {}

pub fn run(_args: DebugArgs) -> anyhow::Result<i32> {
    anyhow::bail!("hoist debug: not built yet")
}
