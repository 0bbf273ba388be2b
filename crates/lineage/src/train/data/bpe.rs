//! Byte-level BPE tokenizer training (GPT-2 style) with the HF `tokenizers` trainer.
//!
//! The pipeline is GPT-2's `tokenizer.json`: no normalizer (the bytes of the text are what
//! is modelled, so bits per byte stay honest), the `ByteLevel` pre-tokenizer with GPT-2's
//! split regex and no added prefix space, byte-level BPE over all 256 byte symbols (so
//! every string encodes, emoji included, and decodes back exactly), and the `ByteLevel`
//! decoder. `<|endoftext|>` is special token id 0: the document separator, and the BOS
//! the post-processor puts before every encoded text (`encode(text, true)`), so inference
//! with the trained model sees what training saw.
//!
//! Determinism: the trainer's alphabet is sorted, pair ties break on the lower pair of
//! ids, and ids are handed out in merge order, so one input gives one `tokenizer.json`
//! (tested by training twice).
//!
//! Reference: Radford et al. 2019 (GPT-2), `openai/gpt-2` `encoder.py`; HF `tokenizers`
//! `models/bpe/trainer.rs` and `pre_tokenizers/byte_level.rs`.

use std::collections::HashSet;
use std::path::Path;

use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
use tokenizers::models::bpe::{BpeTrainer, BPE};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::processors::template::TemplateProcessing;
use tokenizers::{
    AddedToken, DecoderWrapper, NormalizerWrapper, PostProcessorWrapper, PreTokenizerWrapper,
    Tokenizer, TokenizerImpl,
};

use super::docs::{Corpus, DocSplit};
use crate::{Error, Result};

/// The special token: document separator and BOS.
pub const ENDOFTEXT: &str = "<|endoftext|>";
/// Its id in every tokenizer trained here.
pub const ENDOFTEXT_ID: u32 = 0;
/// The smallest vocabulary: 256 byte symbols plus `<|endoftext|>`.
pub const MIN_VOCAB: usize = 257;

/// What to train.
#[derive(Debug, Clone)]
pub struct BpeConfig {
    /// Target vocabulary size, `<|endoftext|>` and the 256 byte symbols included. A small
    /// corpus may run out of pairs first and give fewer.
    pub vocab_size: usize,
    /// A pair seen fewer times than this is never merged.
    pub min_frequency: u64,
    /// How input files are cut into documents (the trainer never merges across two).
    pub docs: DocSplit,
}

impl Default for BpeConfig {
    fn default() -> Self {
        Self {
            vocab_size: 4096,
            min_frequency: 2,
            docs: DocSplit::BlankLines,
        }
    }
}

type BpeTokenizer = TokenizerImpl<
    BPE,
    NormalizerWrapper,
    PreTokenizerWrapper,
    PostProcessorWrapper,
    DecoderWrapper,
>;

/// Trains a byte-level BPE on the documents of `corpus`.
pub fn train_bpe(corpus: &Corpus, cfg: &BpeConfig) -> Result<Tokenizer> {
    train_bpe_on(corpus.documents(cfg.docs), cfg)
}

/// Trains a byte-level BPE on `docs` (one string per document).
pub fn train_bpe_on<S: AsRef<str> + Send>(docs: Vec<S>, cfg: &BpeConfig) -> Result<Tokenizer> {
    if cfg.vocab_size < MIN_VOCAB {
        return Err(Error::invalid(
            "vocab_size",
            format!(
                "is {}; a byte-level BPE needs at least {MIN_VOCAB} (256 bytes + {ENDOFTEXT})",
                cfg.vocab_size
            ),
        ));
    }
    if docs.iter().all(|d| d.as_ref().is_empty()) {
        return Err(Error::BadInput(
            "the tokenizer corpus has no text (every input is empty or blank)".into(),
        ));
    }
    let alphabet: HashSet<char> = ByteLevel::alphabet().into_iter().collect();
    let mut trainer = BpeTrainer::builder()
        .vocab_size(cfg.vocab_size)
        .min_frequency(cfg.min_frequency)
        .show_progress(false)
        .initial_alphabet(alphabet)
        .special_tokens(vec![AddedToken::from(ENDOFTEXT, true)])
        .build();
    let mut tok: BpeTokenizer = TokenizerImpl::new(BPE::default());
    tok.with_pre_tokenizer(Some(ByteLevel::default().add_prefix_space(false)));
    tok.with_decoder(Some(ByteLevelDecoder::default()));
    tok.train(&mut trainer, docs.into_iter())
        .map_err(|e| Error::Tokenizer(format!("BPE training failed: {e}")))?;
    tok.with_post_processor(Some(bos_template()?));
    let tok = Tokenizer::from(tok);
    if tok.token_to_id(ENDOFTEXT) != Some(ENDOFTEXT_ID) {
        return Err(Error::Tokenizer(format!(
            "trained tokenizer put {ENDOFTEXT} at {:?}, expected id {ENDOFTEXT_ID}",
            tok.token_to_id(ENDOFTEXT)
        )));
    }
    Ok(tok)
}

/// `<|endoftext|> $A` for one text (and before each of a pair, as GPT-2 joins documents).
fn bos_template() -> Result<TemplateProcessing> {
    let err = |e: String| Error::Tokenizer(format!("BOS template: {e}"));
    let mut b = TemplateProcessing::builder();
    b.try_single(format!("{ENDOFTEXT} $A")).map_err(err)?;
    b.try_pair(format!("{ENDOFTEXT} $A {ENDOFTEXT} $B:1"))
        .map_err(err)?;
    b.special_tokens(vec![(ENDOFTEXT, ENDOFTEXT_ID)]);
    b.build().map_err(|e| err(e.to_string()))
}

/// Writes `tok` as pretty `tokenizer.json` (temporary name, then rename).
pub fn save_tokenizer(tok: &Tokenizer, path: &Path) -> Result<()> {
    let json = tok
        .to_string(true)
        .map_err(|e| Error::Tokenizer(format!("serialising {}: {e}", path.display())))?;
    crate::train::run_files::write_atomic(path, json.as_bytes())
}

/// Reads a `tokenizer.json`; an unreadable one is an error naming the file.
pub fn load_tokenizer(path: &Path) -> Result<Tokenizer> {
    if !path.is_file() {
        return Err(Error::bad_file(
            path,
            "no such tokenizer file; make one with `lineage tokenizer train`",
        ));
    }
    Tokenizer::from_file(path).map_err(|e| Error::bad_file(path, format!("not a tokenizer: {e}")))
}
