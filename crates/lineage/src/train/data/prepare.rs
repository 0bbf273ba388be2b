//! `lineage data prepare`: text files -> a data folder (`train.bin`, `val.bin`,
//! `meta.json`, `tokenizer.json`; layout in `train::data`).
//!
//! Every document becomes `<|endoftext|>` followed by its tokens (GPT-2's separator used
//! as BOS), and each split ends with one more `<|endoftext|>` so its last document's end
//! is a target too. Documents are encoded in parallel with `tokenizers`' batch encoder.
//!
//! The split is a tail split, as nanoGPT's: the last whole documents (in input order)
//! holding at least `val_fraction` of all tokens go to validation, the rest to train. It
//! never cuts a document and never interleaves neighbouring paragraphs of one source
//! between the splits, so validation text is unseen text, not a near-copy.

use std::path::PathBuf;

use super::bpe::{load_tokenizer, ENDOFTEXT};
use super::docs::{Corpus, DocSplit};
use super::meta::{DataMeta, TokenDtype, FORMAT_VERSION, TOKENIZER_FILE, TRAIN_FILE, VAL_FILE};
use super::token_file::write_token_file;
use crate::{Error, Result};

/// Documents per batch-encode call: bounds the memory of the intermediate encodings.
const ENCODE_CHUNK: usize = 4096;

/// What to prepare.
#[derive(Debug, Clone)]
pub struct PrepareConfig {
    /// UTF-8 text files, read in this order.
    pub inputs: Vec<PathBuf>,
    /// `tokenizer.json` with an `<|endoftext|>` token.
    pub tokenizer: PathBuf,
    /// Output folder (created).
    pub out: PathBuf,
    /// Share of tokens for validation, in (0, 1).
    pub val_fraction: f64,
    pub docs: DocSplit,
}

/// Per-document token ids (BOS included) and byte counts, in input order.
struct Encoded {
    ids: Vec<u32>,
    /// Exclusive end of each document in `ids`.
    ends: Vec<usize>,
    bytes: Vec<u64>,
}

/// Tokenizes `cfg.inputs` and writes the data folder; returns what `meta.json` records.
pub fn prepare(cfg: &PrepareConfig) -> Result<DataMeta> {
    if !(cfg.val_fraction > 0.0 && cfg.val_fraction < 1.0) {
        return Err(Error::invalid(
            "val_fraction",
            format!("is {}; it must be in (0, 1), e.g. 0.05", cfg.val_fraction),
        ));
    }
    let tok = load_tokenizer(&cfg.tokenizer)?;
    let bos = tok.token_to_id(ENDOFTEXT).ok_or_else(|| {
        Error::bad_file(
            &cfg.tokenizer,
            format!("has no {ENDOFTEXT} token; train one with `lineage tokenizer train`"),
        )
    })?;
    let vocab_size = tok.get_vocab_size(true);
    let corpus = Corpus::read(&cfg.inputs)?;
    let docs = corpus.documents(cfg.docs);
    if docs.len() < 2 {
        return Err(Error::BadInput(format!(
            "the input has {} document(s); a train/validation split needs at least 2 ({})",
            docs.len(),
            cfg.docs.describe()
        )));
    }
    let enc = encode(&tok, &docs, bos)?;
    let cut = tail_split(&enc.ends, cfg.val_fraction);
    let at = enc.ends[cut - 1];
    let mut train = enc.ids[..at].to_vec();
    let mut val = enc.ids[at..].to_vec();
    train.push(bos);
    val.push(bos);

    let dtype = TokenDtype::for_vocab(vocab_size);
    std::fs::create_dir_all(&cfg.out).map_err(|source| Error::Io {
        path: cfg.out.clone(),
        source,
    })?;
    write_token_file(&cfg.out.join(TRAIN_FILE), dtype, &train)?;
    write_token_file(&cfg.out.join(VAL_FILE), dtype, &val)?;
    copy_tokenizer(cfg)?;
    let meta = DataMeta {
        train_tokens: train.len() as u64,
        val_tokens: val.len() as u64,
        train_bytes: Some(enc.bytes[..cut].iter().sum()),
        val_bytes: Some(enc.bytes[cut..].iter().sum()),
        train_documents: cut as u64,
        val_documents: (docs.len() - cut) as u64,
        sources: corpus.paths().map(|p| p.display().to_string()).collect(),
        ..text_meta(cfg, vocab_size, dtype, bos)
    };
    // meta.json last: a folder killed half-way has none and is refused on open.
    meta.write(&cfg.out)?;
    Ok(meta)
}

/// The fields of a text folder's meta that do not depend on the counts.
fn text_meta(cfg: &PrepareConfig, vocab_size: usize, dtype: TokenDtype, bos: u32) -> DataMeta {
    DataMeta {
        format_version: FORMAT_VERSION,
        vocab_size,
        dtype,
        train_tokens: 0,
        val_tokens: 0,
        train_bytes: None,
        val_bytes: None,
        train_documents: 0,
        val_documents: 0,
        tokenizer: Some(TOKENIZER_FILE.into()),
        sources: Vec::new(),
        val_fraction: cfg.val_fraction,
        docs: Some(cfg.docs),
        split: SPLIT_RULE.into(),
        bos_id: Some(bos),
        synthetic: None,
    }
}

const SPLIT_RULE: &str = "tail: the last whole documents (input order) holding at least \
    val_fraction of the tokens are validation, the rest train; each document is \
    <|endoftext|> + its tokens and each split ends with one more <|endoftext|>";

fn encode(tok: &tokenizers::Tokenizer, docs: &[&str], bos: u32) -> Result<Encoded> {
    let mut out = Encoded {
        ids: Vec::new(),
        ends: Vec::with_capacity(docs.len()),
        bytes: Vec::with_capacity(docs.len()),
    };
    for chunk in docs.chunks(ENCODE_CHUNK) {
        let encodings = tok
            .encode_batch_fast(chunk.to_vec(), false)
            .map_err(|e| Error::Tokenizer(format!("encoding the corpus: {e}")))?;
        for (doc, e) in chunk.iter().zip(&encodings) {
            out.ids.push(bos);
            out.ids.extend_from_slice(e.get_ids());
            out.ends.push(out.ids.len());
            out.bytes.push(doc.len() as u64);
        }
    }
    Ok(out)
}

/// Index of the first validation document: the fewest trailing documents whose tokens
/// reach `fraction` of the total, leaving at least one document on each side.
fn tail_split(ends: &[usize], fraction: f64) -> usize {
    let total = *ends.last().unwrap_or(&0);
    let want = (fraction * total as f64).ceil() as usize;
    let mut cut = ends.len() - 1;
    while cut > 1 && total - ends[cut - 1] < want {
        cut -= 1;
    }
    cut
}

fn copy_tokenizer(cfg: &PrepareConfig) -> Result<()> {
    let dst = cfg.out.join(TOKENIZER_FILE);
    let same = match (cfg.tokenizer.canonicalize(), dst.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    if same {
        return Ok(());
    }
    let bytes = std::fs::read(&cfg.tokenizer).map_err(|source| Error::Io {
        path: cfg.tokenizer.clone(),
        source,
    })?;
    crate::train::run_files::write_atomic(&dst, &bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_split_fraction_takes_fewest_trailing_documents() {
        // Documents of 10, 10, 10, 10 tokens: 25% is exactly the last one.
        assert_eq!(tail_split(&[10, 20, 30, 40], 0.25), 3);
        // 26% needs two.
        assert_eq!(tail_split(&[10, 20, 30, 40], 0.26), 2);
    }

    #[test]
    fn tail_split_extreme_fraction_keeps_one_document_each_side() {
        assert_eq!(tail_split(&[10, 20], 0.99), 1);
        assert_eq!(tail_split(&[10, 20, 30], 0.001), 2);
    }
}
