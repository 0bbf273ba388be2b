//! Text: tokenizers (HF `tokenizer.json` or GGUF vocabulary metadata), streaming
//! detokenization and chat templates (Jinja, plus the gpt-oss harmony format, rendered and parsed),
//! and constrained decoding over the vocabulary (`grammar`: JSON schemas via llguidance).

mod chat_prompt;
mod gguf;
pub mod grammar;
pub mod harmony;
mod harmony_parse;
mod harmony_stream;
mod harmony_tools;
mod hf_config;
mod message;
mod pieces;
mod special;
mod spm;
mod stream;
mod strftime;
mod template;
mod tokenizer;
mod vocab;

pub use chat_prompt::{encode_rendered, render_chat, render_chat_with_tools};
pub use harmony::{HarmonyRenderer, ReasoningEffort};
pub use harmony_parse::{parse_completion, parse_conversation, HarmonyEnd, HarmonyMessage};
pub use harmony_stream::{messages_of, HarmonyEvent, HarmonyPart, HarmonyReply, HarmonyStream};
pub use hf_config::HfTokenizerConfig;
pub use message::{ChatMessage, FunctionCall, ToolCall};
pub use pieces::TokenPiece;
pub use stream::TokenStream;
pub use template::ChatTemplate;
pub use tokenizer::Tokenizer;
pub use vocab::{PreSplit, TokenKind, VocabSpec};
