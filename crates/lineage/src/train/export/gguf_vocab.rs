//! `tokenizer.ggml.*` pairs for a byte-level BPE tokenizer, as llama.cpp reads them
//! (`llama_vocab::impl::load`): model `gpt2`, pre-tokenizer name, tokens, token types,
//! merges, special ids and whether BOS/EOS are added. Without a tokenizer the model is
//! `none` (convert_hf_to_gguf `_set_vocab_none`).

use super::tokenizer_json::TokenizerInfo;
use crate::weights::gguf::{MetaArray, MetaValue};
use crate::Result;

fn strings(v: &[String]) -> MetaValue {
    MetaValue::Array(MetaArray::strings(v))
}

/// The tokenizer pairs for a model of `vocab_size` rows.
pub fn vocab_kvs(
    tok: Option<&TokenizerInfo>,
    vocab_size: usize,
) -> Result<Vec<(String, MetaValue)>> {
    let key = |k: &str| format!("tokenizer.ggml.{k}");
    let Some(tok) = tok else {
        return Ok(vec![(key("model"), MetaValue::String("none".into()))]);
    };
    let v = tok.bpe_vocab(vocab_size)?;
    let mut kv = vec![
        (key("model"), MetaValue::String("gpt2".into())),
        (key("pre"), MetaValue::String(v.pre.clone())),
        (key("tokens"), strings(&v.tokens)),
        (
            key("token_type"),
            MetaValue::Array(MetaArray::i32s(v.token_types.iter().copied())),
        ),
        (key("merges"), strings(&v.merges)),
    ];
    for (name, id) in [
        ("bos_token_id", tok.bos),
        ("eos_token_id", tok.eos),
        ("unknown_token_id", tok.unk),
        ("padding_token_id", tok.pad),
    ] {
        if let Some(id) = id {
            kv.push((key(name), MetaValue::U32(id)));
        }
    }
    kv.push((key("add_bos_token"), MetaValue::Bool(tok.add_bos)));
    kv.push((key("add_eos_token"), MetaValue::Bool(tok.add_eos)));
    if let Some(t) = &tok.chat_template {
        kv.push((
            "tokenizer.chat_template".into(),
            MetaValue::String(t.clone()),
        ));
    }
    Ok(kv)
}
