//! Log-probabilities in OpenAI's two shapes: chat's `{"content": [{token, logprob, bytes,
//! top_logprobs}]}` and the completions API's parallel lists (`tokens`,
//! `token_logprobs`, `top_logprobs` as maps, `text_offset`).

use lineage::runtime::decoder::TokenLogprob;
use lineage::text::Tokenizer;
use serde_json::{json, Map, Value};

use crate::response::Kind;

fn text(tok: &Tokenizer, id: u32) -> String {
    tok.decode(&[id]).unwrap_or_default()
}

fn chat_entry(tok: &Tokenizer, id: u32, logprob: f32) -> Value {
    let t = text(tok, id);
    json!({"token": t, "logprob": logprob, "bytes": t.as_bytes()})
}

/// The `logprobs` field of a choice (or a chunk's choice) for these tokens.
pub fn field(kind: Kind, tok: &Tokenizer, lps: &[TokenLogprob]) -> Value {
    match kind {
        Kind::Chat => {
            let content: Vec<Value> = lps
                .iter()
                .map(|lp| {
                    let mut e = chat_entry(tok, lp.id, lp.logprob);
                    e["top_logprobs"] =
                        lp.top.iter().map(|&(i, l)| chat_entry(tok, i, l)).collect();
                    e
                })
                .collect();
            json!({"content": content})
        }
        Kind::Completion => {
            let mut offset = 0;
            let (mut tokens, mut lp, mut top, mut offsets) = (vec![], vec![], vec![], vec![]);
            for t in lps {
                let s = text(tok, t.id);
                offsets.push(offset);
                offset += s.len();
                tokens.push(Value::from(s));
                lp.push(Value::from(t.logprob));
                let m: Map<String, Value> = t
                    .top
                    .iter()
                    .map(|&(i, l)| (text(tok, i), Value::from(l)))
                    .collect();
                top.push(Value::Object(m));
            }
            json!({"tokens": tokens, "token_logprobs": lp, "top_logprobs": top, "text_offset": offsets})
        }
    }
}
