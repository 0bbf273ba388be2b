//! `lineage`: the command-line front end, one file per subcommand.

mod inspect;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "lineage", version, about = "One engine for the lineage of decoder-only language models")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Parameter, KV-cache, FLOP and memory accounting of a model, preset or config.
    Inspect(inspect::InspectArgs),
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Inspect(args) => inspect::run(args),
    }
}
