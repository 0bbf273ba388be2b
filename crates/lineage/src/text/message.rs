//! One chat turn as chat templates see it: role, text, and for tool use the assistant's
//! `tool_calls` and a tool result's `tool_call_id` (OpenAI's message fields).
//!
//! Templates read `message.tool_calls[i].function.arguments` as a mapping (transformers'
//! callers and vLLM pass a dict; Qwen2.5 writes it with `| tojson`), while OpenAI sends
//! the arguments as a JSON string: the string is kept and serialized as the parsed JSON.
//! Optional fields are left out when empty, because templates test `'tool_calls' in message`.

use serde::{Serialize, Serializer};

/// One chat turn.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChatMessage {
    /// "system", "developer", "user", "assistant" or "tool".
    pub role: String,
    pub content: String,
    /// The functions an assistant turn called (OpenAI `tool_calls`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    /// The call a `tool` turn answers (OpenAI `tool_call_id`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
}

impl ChatMessage {
    pub fn new(role: impl Into<String>, content: impl Into<String>) -> Self {
        Self {
            role: role.into(),
            content: content.into(),
            tool_calls: Vec::new(),
            tool_call_id: None,
        }
    }

    /// Bytes of text this turn brings to a render (for the template's work budget).
    pub fn text_len(&self) -> usize {
        let calls: usize = self
            .tool_calls
            .iter()
            .map(|c| c.function.name.len() + c.function.arguments.len())
            .sum();
        self.role.len() + self.content.len() + calls
    }
}

/// One function call of an assistant turn.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ToolCall {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Always "function" (the only kind OpenAI defines for chat).
    #[serde(rename = "type")]
    pub kind: String,
    pub function: FunctionCall,
}

impl ToolCall {
    pub fn function(
        id: Option<String>,
        name: impl Into<String>,
        arguments: impl Into<String>,
    ) -> Self {
        Self {
            id,
            kind: "function".into(),
            function: FunctionCall {
                name: name.into(),
                arguments: arguments.into(),
            },
        }
    }
}

/// A function's name and its arguments as JSON text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FunctionCall {
    pub name: String,
    /// JSON text, as OpenAI sends it; templates see the parsed value.
    #[serde(serialize_with = "as_parsed_json")]
    pub arguments: String,
}

impl FunctionCall {
    /// The arguments as JSON, or the raw text as a JSON string when it does not parse.
    pub fn arguments_value(&self) -> serde_json::Value {
        serde_json::from_str(&self.arguments)
            .unwrap_or_else(|_| serde_json::Value::String(self.arguments.clone()))
    }
}

fn as_parsed_json<S: Serializer>(text: &str, s: S) -> Result<S::Ok, S::Error> {
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(v) => v.serialize(s),
        Err(_) => s.serialize_str(text),
    }
}
