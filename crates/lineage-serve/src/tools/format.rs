//! Which tool-call format a model writes, decided once from its family and chat template:
//! the one place that maps a template to a parser (`parse.rs`).

use lineage::text::uses_harmony;

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

/// The format `family`'s template teaches, or `None` when the template defines no calls
/// (the tools are still rendered if it prints them; the reply stays text).
pub fn detect(family: &str, template: Option<&str>) -> Option<ToolFormat> {
    if uses_harmony(family) {
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
        assert_eq!(detect("qwen2", Some(qwen)), Some(ToolFormat::Hermes));
        assert_eq!(detect("llama", Some(llama31)), Some(ToolFormat::LlamaJson));
        assert_eq!(detect("llama", Some(llama32)), Some(ToolFormat::LlamaJson));
        assert_eq!(detect("gpt_oss", None), Some(ToolFormat::Harmony));
        assert_eq!(detect("llama", Some("{{ messages[0].content }}")), None);
        assert_eq!(detect("llama", None), None);
    }
}
