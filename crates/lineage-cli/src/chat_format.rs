//! Turning messages into prompt ids with the model's own chat template
//! (`lineage::text::render_chat`); raw text goes straight to the tokenizer.

use anyhow::Result;
use lineage::config::ChatFormat;
use lineage::text::{ChatMessage, Tokenizer};

/// Renders `messages` (ending with the user's turn) with the generation prompt, in the
/// model's chat format (`ModelConfig::chat`).
pub fn render(tok: &Tokenizer, chat: ChatFormat, messages: &[ChatMessage]) -> Result<String> {
    if tok.chat_template().is_none() && !chat.is_harmony() {
        anyhow::bail!("this model has no chat template; use --raw");
    }
    Ok(lineage::text::render_chat(tok, chat, messages)?)
}

pub use lineage::text::encode_rendered;
