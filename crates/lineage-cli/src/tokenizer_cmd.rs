//! `lineage tokenizer train`: a GPT-2-style byte-level BPE with `<|endoftext|>` as id 0,
//! trained on text files and written as `tokenizer.json` (`train::data::bpe`).

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use lineage::train::data::bpe::{save_tokenizer, BpeConfig};
use lineage::train::data::{train_bpe, Corpus};

use crate::data_cmd::DocsArg;

#[derive(clap::Args)]
pub struct TokenizerArgs {
    #[command(subcommand)]
    command: TokenizerCommand,
}

#[derive(clap::Subcommand)]
enum TokenizerCommand {
    /// Train a byte-level BPE on text files.
    Train(TrainArgs),
}

#[derive(clap::Args)]
struct TrainArgs {
    /// UTF-8 text files.
    #[arg(long, num_args = 1.., required = true)]
    input: Vec<PathBuf>,
    /// Vocabulary size, <|endoftext|> and the 256 byte symbols included.
    #[arg(long, default_value_t = 4096)]
    vocab_size: usize,
    /// Pairs seen fewer times are never merged.
    #[arg(long, default_value_t = 2)]
    min_frequency: u64,
    /// How files are cut into documents (no merge crosses two).
    #[arg(long, value_enum, default_value_t = DocsArg::BlankLines)]
    docs: DocsArg,
    /// Output tokenizer.json.
    #[arg(long)]
    out: PathBuf,
}

pub fn run(a: TokenizerArgs) -> Result<()> {
    match a.command {
        TokenizerCommand::Train(t) => train(t),
    }
}

fn train(a: TrainArgs) -> Result<()> {
    let t0 = Instant::now();
    let corpus = Corpus::read(&a.input)?;
    let cfg = BpeConfig {
        vocab_size: a.vocab_size,
        min_frequency: a.min_frequency,
        docs: a.docs.into(),
    };
    let docs = corpus.documents(cfg.docs);
    let bytes: usize = docs.iter().map(|d| d.len()).sum();
    let n_docs = docs.len();
    let tok = train_bpe(&corpus, &cfg).context("training the tokenizer")?;
    save_tokenizer(&tok, &a.out)?;
    println!(
        "{}: byte-level BPE, vocab {} (asked {}), trained on {n_docs} documents ({bytes} bytes) in {:.2}s",
        a.out.display(),
        tok.get_vocab_size(true),
        a.vocab_size,
        t0.elapsed().as_secs_f64()
    );
    Ok(())
}
