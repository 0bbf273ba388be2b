//! The harmony prompt format of gpt-oss, rendered directly (no Jinja):
//! `<|start|>{role}<|message|>{content}<|end|>` blocks, assistant turns in the `final`
//! channel, tool calls as `commentary` messages to `functions.{name}` ended by `<|call|>`,
//! tool results from `functions.{name}`, and `<|start|>assistant` as the generation prompt.
//!
//! Reference: OpenAI cookbook "OpenAI Harmony Response Format" and the gpt-oss chat
//! template (openai/gpt-oss-120b `chat_template.jinja`), which this mirrors: a first
//! system/developer message becomes the developer `# Instructions`, tools its `# Tools`
//! (`harmony_tools`), earlier reasoning (`analysis`) is never re-sent except the text of a
//! tool-call turn no final answer has followed yet, and a final assistant turn without a
//! generation prompt ends in `<|return|>`. Unlike the template, which writes only the first
//! call of a turn, every call is written (one message each).

use serde_json::Value;

use super::template::python_json;
use super::{harmony_tools, ChatMessage, ToolCall};
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
    /// Renders `messages` without tools.
    pub fn render(&self, messages: &[ChatMessage], add_generation_prompt: bool) -> Result<String> {
        self.render_with_tools(messages, &[], add_generation_prompt)
    }

    /// Renders `messages` with the function `tools` (OpenAI's `{"type": "function", ...}`)
    /// in the developer message. A system/developer message is taken only first; a tool
    /// result must follow an assistant turn with tool calls.
    pub fn render_with_tools(
        &self,
        messages: &[ChatMessage],
        tools: &[Value],
        add_generation_prompt: bool,
    ) -> Result<String> {
        let mut out = format!(
            "<|start|>system<|message|>{}<|end|>",
            self.system_text(!tools.is_empty())
        );
        let (instructions, rest) = match messages.first() {
            Some(m) if m.role == "system" || m.role == "developer" => {
                (m.content.as_str(), &messages[1..])
            }
            _ => ("", messages),
        };
        out.push_str(&developer_message(instructions, tools));
        let skipped = messages.len() - rest.len();
        let mut calls: Vec<&ToolCall> = Vec::new();
        for (i, m) in rest.iter().enumerate() {
            let last = i + 1 == rest.len() && !add_generation_prompt;
            match m.role.as_str() {
                "user" => out.push_str(&format!("<|start|>user<|message|>{}<|end|>", m.content)),
                "assistant" if !m.tool_calls.is_empty() => {
                    out.push_str(&call_turn(m, final_follows(&rest[i + 1..])));
                    calls = m.tool_calls.iter().collect();
                }
                "assistant" => {
                    let end = if last { "<|return|>" } else { "<|end|>" };
                    out.push_str(&format!(
                        "<|start|>assistant<|channel|>final<|message|>{}{end}",
                        m.content
                    ));
                    calls.clear();
                }
                "tool" => out.push_str(&tool_result(m, &calls, i + skipped)?),
                role => {
                    return Err(Error::BadInput(format!(
                        "harmony: message {} has role `{role}`; expected user, assistant or tool \
                         (system/developer only first)",
                        i + skipped
                    )))
                }
            }
        }
        if add_generation_prompt {
            out.push_str("<|start|>assistant");
        }
        Ok(out)
    }

    fn system_text(&self, tools: bool) -> String {
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
        if tools {
            s.push_str("\nCalls to these tools must go to the commentary channel: 'functions'.");
        }
        s
    }
}

/// `# Instructions` from the first system/developer message and `# Tools`; none if both are empty.
fn developer_message(instructions: &str, tools: &[Value]) -> String {
    if instructions.is_empty() && tools.is_empty() {
        return String::new();
    }
    let mut out = String::from("<|start|>developer<|message|>");
    if !instructions.is_empty() {
        out.push_str(&format!("# Instructions\n\n{instructions}\n\n"));
    }
    if !tools.is_empty() {
        out.push_str("# Tools\n\n");
        out.push_str(&harmony_tools::namespace(tools));
    }
    out.push_str("<|end|>");
    out
}

/// Whether a later assistant turn answers without tools: then the reasoning that led to
/// this call is dropped, as the gpt-oss template drops all earlier analysis.
fn final_follows(later: &[ChatMessage]) -> bool {
    later
        .iter()
        .any(|m| m.role == "assistant" && m.tool_calls.is_empty())
}

/// An assistant turn's calls, one commentary message each, after its text as analysis.
fn call_turn(m: &ChatMessage, final_follows: bool) -> String {
    let mut out = String::new();
    if !m.content.is_empty() && !final_follows {
        out.push_str(&format!(
            "<|start|>assistant<|channel|>analysis<|message|>{}<|end|>",
            m.content
        ));
    }
    for c in &m.tool_calls {
        out.push_str(&format!(
            "<|start|>assistant to=functions.{}<|channel|>commentary json<|message|>{}<|call|>",
            c.function.name,
            python_json(&c.function.arguments_value())
        ));
    }
    out
}

/// A tool's answer, from the function its `tool_call_id` names (else the last one called).
fn tool_result(m: &ChatMessage, calls: &[&ToolCall], index: usize) -> Result<String> {
    let by_id = calls
        .iter()
        .find(|c| c.id.is_some() && c.id == m.tool_call_id);
    let Some(call) = by_id.or(calls.last()) else {
        return Err(Error::BadInput(format!(
            "harmony: message {index} is a tool result, but no assistant tool call precedes it"
        )));
    };
    let content = python_json(&Value::String(m.content.clone()));
    Ok(format!(
        "<|start|>functions.{} to=assistant<|channel|>commentary<|message|>{content}<|end|>",
        call.function.name
    ))
}
