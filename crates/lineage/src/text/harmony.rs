//! The harmony prompt format of gpt-oss, rendered directly (no Jinja), for conversations
//! without tools: `<|start|>{role}<|message|>{content}<|end|>` blocks, assistant turns in
//! the `final` channel, and `<|start|>assistant` as the generation prompt.
//!
//! Reference: OpenAI cookbook "OpenAI Harmony Response Format" and the gpt-oss chat
//! template (openai/gpt-oss-120b `chat_template.jinja`), whose no-tools path this mirrors:
//! a first system/developer message becomes the developer `# Instructions`, earlier
//! reasoning (`analysis`) is never re-sent, and a final assistant turn without a generation
//! prompt ends in `<|return|>`.

use super::ChatMessage;
use crate::{Error, Result};

/// gpt-oss reasoning effort, written into the system message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReasoningEffort {
    Low,
    #[default]
    Medium,
    High,
}

impl ReasoningEffort {
    fn as_str(self) -> &'static str {
        match self {
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
        }
    }
}

/// The system-message facts of a harmony prompt.
#[derive(Debug, Clone)]
pub struct HarmonyRenderer {
    /// First line of the system message.
    pub model_identity: String,
    /// "Knowledge cutoff: ..." value.
    pub knowledge_cutoff: String,
    /// "Current date: ..." value (YYYY-MM-DD); the line is left out when `None`.
    pub current_date: Option<String>,
    pub reasoning_effort: ReasoningEffort,
}

impl Default for HarmonyRenderer {
    fn default() -> Self {
        Self {
            model_identity: "You are ChatGPT, a large language model trained by OpenAI.".into(),
            knowledge_cutoff: "2024-06".into(),
            current_date: None,
            reasoning_effort: ReasoningEffort::Medium,
        }
    }
}

impl HarmonyRenderer {
    /// Renders `messages`; tool messages and system/developer messages after the first
    /// position are rejected (tools are not supported here).
    pub fn render(&self, messages: &[ChatMessage], add_generation_prompt: bool) -> Result<String> {
        let mut out = format!("<|start|>system<|message|>{}<|end|>", self.system_text());
        let rest = match messages.first() {
            Some(m) if m.role == "system" || m.role == "developer" => {
                if !m.content.is_empty() {
                    out.push_str(&format!(
                        "<|start|>developer<|message|># Instructions\n\n{}\n\n<|end|>",
                        m.content
                    ));
                }
                &messages[1..]
            }
            _ => messages,
        };
        for (i, m) in rest.iter().enumerate() {
            let last = i + 1 == rest.len();
            match m.role.as_str() {
                "user" => out.push_str(&format!("<|start|>user<|message|>{}<|end|>", m.content)),
                "assistant" => {
                    let end = if last && !add_generation_prompt {
                        "<|return|>"
                    } else {
                        "<|end|>"
                    };
                    out.push_str(&format!(
                        "<|start|>assistant<|channel|>final<|message|>{}{end}",
                        m.content
                    ));
                }
                role => {
                    return Err(Error::BadInput(format!(
                        "harmony: message {} has role `{role}`; expected user or assistant \
                         (system/developer only first; tools are not supported)",
                        i + messages.len() - rest.len()
                    )))
                }
            }
        }
        if add_generation_prompt {
            out.push_str("<|start|>assistant");
        }
        Ok(out)
    }

    fn system_text(&self) -> String {
        let mut s = format!(
            "{}\nKnowledge cutoff: {}\n",
            self.model_identity, self.knowledge_cutoff
        );
        if let Some(date) = &self.current_date {
            s.push_str(&format!("Current date: {date}\n\n"));
        }
        s.push_str(&format!(
            "Reasoning: {}\n\n",
            self.reasoning_effort.as_str()
        ));
        s.push_str("# Valid channels: analysis, commentary, final. Channel must be included for every message.");
        s
    }
}
