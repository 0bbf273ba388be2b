//! The `lineage` command line: one file per subcommand.

mod ablate;
mod ablate_plots;
mod bench;
mod bench_spec;
mod chart;
mod chat;
mod chat_format;
mod data_cmd;
mod export;
mod forward;
mod gen_args;
mod generate;
mod inspect;
mod io;
mod malloc;
mod model_source;
mod plot;
mod reply_out;
mod roofline;
mod run;
mod serve;
mod tokenizer_cmd;
mod train;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "lineage",
    version,
    about = "One engine for the lineage of decoder-only language models"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// How quantized weights meet activations: `int8` (llama.cpp's 8-bit activation
    /// blocks and accuracy, the fast path: the default of `run`, `chat`, `serve` and
    /// `bench`) or `f32` (exact: the default of every other command, `forward` and
    /// `generate` included). The same as `LINEAGE_QUANT_ACT`.
    #[arg(long, global = true, value_enum)]
    act: Option<Act>,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Act {
    F32,
    Int8,
}

#[derive(Subcommand)]
enum Command {
    /// Run a forward pass on input ids and write logits (and hidden states).
    Forward(forward::ForwardArgs),
    /// Greedy generation with the KV cache from input ids.
    Generate(generate::GenerateArgs),
    /// Answer one prompt with a model (default: SmolLM2-135M-Instruct), streaming tokens.
    Run(run::RunArgs),
    /// Interactive chat with history and the model's chat template.
    Chat(chat::ChatArgs),
    /// Serve the model over an OpenAI-compatible HTTP API, with a chat page at `/`.
    Serve(serve::ServeArgs),
    /// Measure load, prefill and decode speed.
    Bench(bench::BenchArgs),
    /// Parameter, KV-cache, FLOP and memory accounting of a model, preset or config.
    Inspect(inspect::InspectArgs),
    /// Train a tokenizer (byte-level BPE) for `lineage train`.
    Tokenizer(tokenizer_cmd::TokenizerArgs),
    /// Make training data: token files from text, or synthetic tasks.
    Data(data_cmd::DataArgs),
    /// Train a model from scratch (or --resume a run) on a prepared corpus.
    Train(train::TrainArgs),
    /// Draw a run's loss curves to RUN/loss.png.
    Plot(plot::PlotArgs),
    /// Studies made of many training runs: `ablate evolution` (GPT-2 -> today).
    Ablate(ablate::AblateArgs),
    /// Export a trained run as an HF checkpoint folder or a GGUF file.
    Export(export::ExportArgs),
}

/// The precision a command takes when neither `--act` nor `LINEAGE_QUANT_ACT` names one:
/// the commands that serve answers take the fast path (as close to the exact reference
/// as llama.cpp: tests/smollm2_int8_anchors.rs), the checking ones stay exact.
fn default_act(c: &Command) -> Option<Act> {
    if std::env::var_os("LINEAGE_QUANT_ACT").is_some() {
        return None;
    }
    match c {
        Command::Run(_) | Command::Chat(_) | Command::Serve(_) | Command::Bench(_) => {
            Some(Act::Int8)
        }
        _ => None,
    }
}

fn main() -> std::process::ExitCode {
    malloc::keep_freed_memory();
    let cli = Cli::parse();
    // Read once by the kernels (ActPrecision::for_linear); no other thread runs yet.
    if let Some(act) = cli.act.or_else(|| default_act(&cli.command)) {
        let v = match act {
            Act::F32 => "f32",
            Act::Int8 => "int8",
        };
        std::env::set_var("LINEAGE_QUANT_ACT", v);
    }
    let result = match cli.command {
        Command::Forward(a) => forward::run(a),
        Command::Generate(a) => generate::run(a),
        Command::Bench(a) => bench::run(a),
        Command::Run(a) => run::run(a),
        Command::Chat(a) => chat::run(a),
        Command::Serve(a) => serve::run(a),
        Command::Inspect(a) => inspect::run(a),
        Command::Tokenizer(a) => tokenizer_cmd::run(a),
        Command::Data(a) => data_cmd::run(a),
        Command::Train(a) => train::run(a),
        Command::Plot(a) => plot::run(a),
        Command::Ablate(a) => ablate::run(a),
        Command::Export(a) => export::run(a),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
