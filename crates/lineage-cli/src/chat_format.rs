//! Turning messages into prompt ids with the model's own chat template (Jinja with HF
//! semantics, or harmony for gpt-oss); raw text goes straight to the tokenizer.

use anyhow::{Context, Result};
use lineage::text::{ChatMessage, ChatTemplate, HarmonyRenderer, Tokenizer};

/// Renders `messages` (ending with the user's turn) with the generation prompt.
pub fn render(tok: &Tokenizer, family: &str, messages: &[ChatMessage]) -> Result<String> {
    if family.starts_with("gpt_oss") || family.starts_with("gpt-oss") {
        return Ok(HarmonyRenderer::default().render(messages, true)?);
    }
    let src = tok
        .chat_template()
        .context("this model has no chat template; use --raw")?;
    let t = ChatTemplate::new(src, tok.bos_text(), tok.eos_text())?;
    Ok(t.render(messages, true)?)
}

/// Token ids of a rendered chat prompt: BOS is added only when the template did not
/// already write it.
pub fn encode_rendered(tok: &Tokenizer, text: &str) -> Result<Vec<u32>> {
    let bos = tok.bos_text();
    let add_special = tok.add_bos() && !(bos.is_empty() || text.starts_with(&bos));
    let mut ids = tok.encode(text, false)?;
    if add_special {
        if let Some(b) = tok.bos_id() {
            ids.insert(0, b);
        }
    }
    Ok(ids)
}
