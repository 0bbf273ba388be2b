//! Which tool-call format a model writes, decided once from its chat format and chat
//! template: the one place that maps a template to a parser (`parse.rs`).

use lineage::config::ChatFormat;

/// How a model's reply carries function calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ToolFormat {
    /// Qwen2.5 / Hermes: `<tool_call>\n{"name": ..., "arguments": {...}}\n</tool_call>`.
    Hermes,
    /// Llama 3.1+: the reply is `{"name": ..., "parameters": {...}}`, maybe after `<|python_tag|>`.
    LlamaJson,
    /// gpt-oss harmony: a `commentary` message to `functions.NAME` whose content is the arguments.
    Harmony,
}

/// The format a harmony model or a template teaches, or `None` when the template defines
/// no calls (the tools are still rendered if it prints them; the reply stays text).
pub fn detect(chat: ChatFormat, template: Option<&str>) -> Option<ToolFormat> {
    if chat.is_harmony() {
        return Some(ToolFormat::Harmony);
    }
    let t = template?;
    // The markers are those the templates print in their tool instructions and past calls.
    if t.contains("<tool_call>") {
        Some(ToolFormat::Hermes)
    } else if t.contains("<|python_tag|>") || t.contains("\"parameters\": ") {
        Some(ToolFormat::LlamaJson)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detect_each_template_family_picks_its_format() {
        let qwen = r#"{{- '\n<tool_call>\n{"name": "' }}"#;
        let llama31 = "{{- '<|python_tag|>' + tool_call.name + '.call(' }}";
        let llama32 = r#"{{- '"parameters": ' }}"#;
        let t = ChatFormat::Template;
        assert_eq!(detect(t, Some(qwen)), Some(ToolFormat::Hermes));
        assert_eq!(detect(t, Some(llama31)), Some(ToolFormat::LlamaJson));
        assert_eq!(detect(t, Some(llama32)), Some(ToolFormat::LlamaJson));
        assert_eq!(detect(ChatFormat::Harmony, None), Some(ToolFormat::Harmony));
        assert_eq!(detect(t, Some("{{ messages[0].content }}")), None);
        assert_eq!(detect(t, None), None);
    }
}
