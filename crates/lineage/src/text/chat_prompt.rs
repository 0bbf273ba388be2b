//! Messages to prompt ids in the model's chat format (`ModelConfig::chat`): its own
//! chat template (Jinja with HF semantics), or harmony, rendered directly: what
//! `lineage run`/`chat` and `lineage serve` feed the model.

use super::{ChatMessage, ChatTemplate, HarmonyRenderer, Tokenizer};
use crate::config::ChatFormat;
use crate::{Error, Result};

/// Renders `messages` (ending with the user's turn) with the generation prompt.
pub fn render_chat(tok: &Tokenizer, chat: ChatFormat, messages: &[ChatMessage]) -> Result<String> {
    render_chat_with_tools(tok, chat, messages, &[])
}

/// As `render_chat`, with function `tools` (OpenAI's `{"type": "function", ...}` each)
/// given to the template as its `tools` variable, or to harmony's developer message.
pub fn render_chat_with_tools(
    tok: &Tokenizer,
    chat: ChatFormat,
    messages: &[ChatMessage],
    tools: &[serde_json::Value],
) -> Result<String> {
    if chat.is_harmony() {
        return HarmonyRenderer::default().render_with_tools(messages, tools, true);
    }
    let src = tok.chat_template().ok_or_else(|| {
        Error::BadInput("this model has no chat template: send raw text instead".into())
    })?;
    ChatTemplate::new(src, tok.bos_text(), tok.eos_text())?.render_with_tools(messages, tools, true)
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
