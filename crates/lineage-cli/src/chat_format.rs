//! Turning messages into prompt ids with the model's own chat template
//! (`lineage::text::render_chat`); raw text goes straight to the tokenizer.

use anyhow::Result;
use lineage::text::{ChatMessage, Tokenizer};

/// Renders `messages` (ending with the user's turn) with the generation prompt.
pub fn render(tok: &Tokenizer, family: &str, messages: &[ChatMessage]) -> Result<String> {
    if tok.chat_template().is_none() && !lineage::text::uses_harmony(family) {
        anyhow::bail!("this model has no chat template; use --raw");
    }
    Ok(lineage::text::render_chat(tok, family, messages)?)
}

pub use lineage::text::encode_rendered;
