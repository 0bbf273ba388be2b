//! `lineage data prepare` (text -> token files with a train/validation split) and
//! `lineage data synthetic` (associative recall / copy tasks in the same folder format).

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use lineage::train::data::{
    prepare, write_synthetic, DataMeta, DocSplit, PrepareConfig, SyntheticConfig, SyntheticTask,
};

#[derive(clap::Args)]
pub struct DataArgs {
    #[command(subcommand)]
    command: DataCommand,
}

#[derive(clap::Subcommand)]
enum DataCommand {
    /// Tokenize text files into DIR/{train.bin,val.bin,meta.json,tokenizer.json}.
    Prepare(PrepareArgs),
    /// Write a synthetic task (recall or copy) as a data folder.
    Synthetic(SyntheticArgs),
}

/// How input files are cut into documents.
#[derive(Clone, Copy, clap::ValueEnum)]
pub enum DocsArg {
    /// Blank lines separate documents.
    BlankLines,
    /// Each file is one document.
    Files,
}

impl From<DocsArg> for DocSplit {
    fn from(d: DocsArg) -> Self {
        match d {
            DocsArg::BlankLines => DocSplit::BlankLines,
            DocsArg::Files => DocSplit::Files,
        }
    }
}

#[derive(clap::Args)]
struct PrepareArgs {
    /// UTF-8 text files, read in the order given.
    #[arg(long, num_args = 1.., required = true)]
    input: Vec<PathBuf>,
    /// tokenizer.json with an <|endoftext|> token (from `lineage tokenizer train`).
    #[arg(long)]
    tokenizer: PathBuf,
    /// Output folder.
    #[arg(long)]
    out: PathBuf,
    /// Share of tokens for validation: the last whole documents holding at least this much.
    #[arg(long, default_value_t = 0.05)]
    val_fraction: f64,
    #[arg(long, value_enum, default_value_t = DocsArg::BlankLines)]
    docs: DocsArg,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum TaskArg {
    /// Key-value pairs, then queried keys whose values must be recalled.
    Recall,
    /// A random segment, a separator, then the segment again.
    Copy,
}

#[derive(clap::Args)]
struct SyntheticArgs {
    #[arg(long, value_enum)]
    task: TaskArg,
    /// Vocabulary size (ids 0 = BOS and 1 = separator included).
    #[arg(long)]
    vocab: usize,
    /// Tokens per sequence; train with the same --seq-len.
    #[arg(long)]
    seq_len: usize,
    /// Train tokens (rounded up to whole sequences).
    #[arg(long)]
    train_tokens: u64,
    /// Validation tokens (default: train tokens / 20, at least one sequence).
    #[arg(long)]
    val_tokens: Option<u64>,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Output folder.
    #[arg(long)]
    out: PathBuf,
}

pub fn run(a: DataArgs) -> Result<()> {
    match a.command {
        DataCommand::Prepare(p) => run_prepare(p),
        DataCommand::Synthetic(s) => run_synthetic(s),
    }
}

fn run_prepare(a: PrepareArgs) -> Result<()> {
    let t0 = Instant::now();
    let cfg = PrepareConfig {
        inputs: a.input,
        tokenizer: a.tokenizer,
        out: a.out,
        val_fraction: a.val_fraction,
        docs: a.docs.into(),
    };
    let meta = prepare(&cfg).with_context(|| format!("preparing {}", cfg.out.display()))?;
    print_summary(&cfg.out, &meta, t0.elapsed().as_secs_f64());
    Ok(())
}

fn run_synthetic(a: SyntheticArgs) -> Result<()> {
    let t0 = Instant::now();
    let cfg = SyntheticConfig {
        task: match a.task {
            TaskArg::Recall => SyntheticTask::Recall,
            TaskArg::Copy => SyntheticTask::Copy,
        },
        vocab_size: a.vocab,
        seq_len: a.seq_len,
        train_tokens: a.train_tokens,
        val_tokens: a.val_tokens,
        seed: a.seed,
        out: a.out,
    };
    let meta = write_synthetic(&cfg).with_context(|| format!("writing {}", cfg.out.display()))?;
    print_summary(&cfg.out, &meta, t0.elapsed().as_secs_f64());
    Ok(())
}

fn print_summary(dir: &std::path::Path, m: &DataMeta, secs: f64) {
    println!(
        "{}: vocab {} ({}), {:.3}s",
        dir.display(),
        m.vocab_size,
        m.dtype.name(),
        secs
    );
    let split = |name: &str, docs: u64, tokens: u64, bytes: Option<u64>| {
        let per = bytes
            .map(|b| format!(", {b} bytes, {:.3} bytes/token", b as f64 / tokens as f64))
            .unwrap_or_default();
        println!("  {name}: {docs} documents, {tokens} tokens{per}");
    };
    split("train", m.train_documents, m.train_tokens, m.train_bytes);
    split("val", m.val_documents, m.val_tokens, m.val_bytes);
}
