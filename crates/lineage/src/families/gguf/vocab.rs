//! GGUF `tokenizer.*` metadata -> [`VocabSpec`], the plain description the tokenizer
//! is built from.

use crate::limits::{self, MAX_VOCAB};
use crate::text::VocabSpec;
use crate::weights::gguf::{GgufFile, MetaValue, Metadata};
use crate::Result;

pub fn vocab_spec(file: &GgufFile) -> Result<VocabSpec> {
    let m = file.metadata();
    let key = |k: &str| format!("tokenizer.ggml.{k}");
    for k in ["tokens", "merges", "scores", "token_type"] {
        if let Some(MetaValue::Array(a)) = m.get(&key(k)) {
            let what = format!("`tokenizer.ggml.{k}` entries");
            limits::check_count(file.path(), &what, a.len() as u64, MAX_VOCAB as u64)?;
        }
    }
    Ok(VocabSpec {
        model: m.get_str(&key("model"))?.to_string(),
        pre: opt(m, &key("pre"), |m, k| m.get_str(k).map(String::from))?,
        tokens: m
            .get_string_array(&key("tokens"))?
            .into_iter()
            .map(String::from)
            .collect(),
        scores: opt(m, &key("scores"), |m, k| m.get_f32_array(k))?,
        token_types: opt(m, &key("token_type"), |m, k| m.get_i32_array(k))?,
        merges: opt(m, &key("merges"), |m, k| {
            m.get_string_array(k)
                .map(|v| v.into_iter().map(String::from).collect())
        })?
        .unwrap_or_default(),
        bos_id: opt(m, &key("bos_token_id"), |m, k| m.get_u32(k))?,
        eos_id: opt(m, &key("eos_token_id"), |m, k| m.get_u32(k))?,
        eot_id: opt(m, &key("eot_token_id"), |m, k| m.get_u32(k))?,
        unknown_id: opt(m, &key("unknown_token_id"), |m, k| m.get_u32(k))?,
        add_bos: opt(m, &key("add_bos_token"), |m, k| m.get_bool(k))?,
        add_eos: opt(m, &key("add_eos_token"), |m, k| m.get_bool(k))?,
        add_space_prefix: opt(m, &key("add_space_prefix"), |m, k| m.get_bool(k))?,
        chat_template: opt(m, "tokenizer.chat_template", |m, k| {
            m.get_str(k).map(String::from)
        })?,
    })
}

fn opt<T>(m: &Metadata, key: &str, f: impl Fn(&Metadata, &str) -> Result<T>) -> Result<Option<T>> {
    if m.get(key).is_some() {
        f(m, key).map(Some)
    } else {
        Ok(None)
    }
}
