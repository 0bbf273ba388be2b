//! A data folder as the trainer's [`TokenSource`]: seeded training batches, the fixed
//! validation walk, bytes per token and the unigram baseline. `default` names the
//! built-in corpus (the Python documentation, `scripts/fetch-corpus.sh`), tokenized on
//! first use with a 4096-token BPE into the lineage cache.

use std::path::{Path, PathBuf};

use super::data::{self, Batcher, BpeConfig, Corpus, Dataset, DocSplit, PrepareConfig};
use super::source::TokenSource;
use crate::{Error, Result};

/// Vocabulary of the default corpus's BPE.
pub const DEFAULT_VOCAB: usize = 4096;

pub struct DataSource {
    pub dataset: Dataset,
    train: Batcher,
    val: Batcher,
    unigram: Option<f64>,
}

impl DataSource {
    /// Opens `data` (a folder, or `default`) for windows of `seq_len + 1` tokens.
    pub fn open(
        data: &str,
        seq_len: usize,
        batch: usize,
        grad_accum: usize,
        seed: u64,
    ) -> Result<Self> {
        let dir = if data == "default" {
            default_data()?
        } else {
            PathBuf::from(data)
        };
        let dataset = Dataset::open(&dir)?;
        let train =
            Batcher::new(&dataset.train, seq_len, batch, seed)?.with_micro_steps(grad_accum as u32);
        let val = Batcher::new(&dataset.val, seq_len, batch, seed)?;
        let unigram = unigram_loss(&dataset);
        Ok(Self {
            dataset,
            train,
            val,
            unigram,
        })
    }

    pub fn tokenizer_path(&self) -> Option<PathBuf> {
        self.dataset.tokenizer_path()
    }
}

impl TokenSource for DataSource {
    fn vocab_size(&self) -> usize {
        self.dataset.meta.vocab_size
    }
    fn train_batch(&self, step: u64, micro: u32) -> Result<Vec<u32>> {
        Ok(self.train.batch(step, micro))
    }
    fn val_windows(&self, max: usize) -> Result<Vec<Vec<u32>>> {
        Ok(self.val.eval_windows(max).collect())
    }
    fn val_bytes_per_token(&self) -> Option<f64> {
        self.dataset.val_bytes_per_token()
    }
    fn unigram_loss(&self) -> Option<f64> {
        self.unigram
    }
}

/// Validation cross-entropy under add-one-smoothed training unigram frequencies.
fn unigram_loss(d: &Dataset) -> Option<f64> {
    let v = d.meta.vocab_size;
    let mut counts = vec![1f64; v];
    for id in d.train.to_vec() {
        counts[(id as usize).min(v - 1)] += 1.0;
    }
    let total: f64 = counts.iter().sum();
    let val = d.val.to_vec();
    if val.len() < 2 {
        return None;
    }
    // Targets are every token after the first, as in training windows.
    let nll: f64 = val[1..]
        .iter()
        .map(|&id| -(counts[(id as usize).min(v - 1)] / total).ln())
        .sum();
    Some(nll / (val.len() - 1) as f64)
}

use crate::cache::cache_dir;

/// The prepared default data folder, made from the fetched corpus on first use.
pub fn default_data() -> Result<PathBuf> {
    default_data_with(DEFAULT_VOCAB)
}

/// The default corpus tokenized with a BPE of `vocab` tokens (made on first use).
pub fn default_data_with(vocab: usize) -> Result<PathBuf> {
    let cache = cache_dir();
    let dir = cache.join(format!("data/python-docs-bpe{vocab}"));
    if dir.join("meta.json").is_file() {
        return Ok(dir);
    }
    let corpus = cache.join("corpus/python-docs.txt");
    if !corpus.is_file() {
        return Err(Error::bad_file(
            &corpus,
            "the default corpus is not fetched; run scripts/fetch-corpus.sh (Debian's \
             python3.11-doc), or pass --data DIR from `lineage data prepare`",
        ));
    }
    prepare_default(&corpus, &dir, vocab)?;
    Ok(dir)
}

/// Trains the BPE on the training documents and writes the data folder atomically.
fn prepare_default(corpus: &Path, dir: &Path, vocab: usize) -> Result<()> {
    let tmp = dir.with_extension("tmp");
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).map_err(|e| super::run_files::io(&tmp, e))?;
    let text = Corpus::read(&[corpus.to_path_buf()])?;
    let cfg = BpeConfig {
        vocab_size: vocab,
        ..Default::default()
    };
    let tok = data::train_bpe(&text, &cfg)?;
    let tok_path = tmp.join("bpe.json");
    data::bpe::save_tokenizer(&tok, &tok_path)?;
    data::prepare(&PrepareConfig {
        inputs: vec![corpus.to_path_buf()],
        tokenizer: tok_path.clone(),
        out: tmp.clone(),
        val_fraction: 0.05,
        docs: DocSplit::BlankLines,
    })?;
    let _ = std::fs::remove_file(&tok_path);
    std::fs::rename(&tmp, dir).map_err(|e| super::run_files::io(dir, e))
}
