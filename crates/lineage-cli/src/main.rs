//! The `lineage` command line: one file per subcommand.

mod bench;
mod forward;
mod generate;
mod io;
mod model_source;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "lineage", version, about = "One engine for the lineage of decoder-only language models")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a forward pass on input ids and write logits (and hidden states).
    Forward(forward::ForwardArgs),
    /// Greedy generation with the KV cache from input ids.
    Generate(generate::GenerateArgs),
    /// Measure load, prefill and decode speed.
    Bench(bench::BenchArgs),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Forward(a) => forward::run(a),
        Command::Generate(a) => generate::run(a),
        Command::Bench(a) => bench::run(a),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
