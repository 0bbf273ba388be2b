//! How a model's conversations are written as prompt text: part of what a checkpoint
//! was trained on, so the adapter that reads the checkpoint decides it, and the chat
//! front ends (`lineage run`/`chat`, `lineage serve`) ask the config, never the family.

/// The prompt format of a conversation.
#[derive(serde::Serialize, serde::Deserialize, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ChatFormat {
    /// The checkpoint's own Jinja chat template (HF `chat_template`, GGUF
    /// `tokenizer.chat_template`); a model without one takes raw text only.
    #[default]
    Template,
    /// OpenAI's harmony format (channels, `<|start|>role<|message|>...`), rendered and
    /// parsed directly (`text::HarmonyRenderer`); its special tokens stay in the reply
    /// text so the reply can be split into reasoning, answer and tool calls.
    Harmony,
}

impl ChatFormat {
    pub fn is_harmony(self) -> bool {
        self == Self::Harmony
    }
}
