//! `tool_choice: "required"` or a named function: the reply is constrained to a call in
//! the model's own format, through the same llguidance constraint as `response_format`,
//! so it always parses into `tool_calls`. Hermes (Qwen2.5) gets a grammar,
//! `<tool_call>\n{json}\n</tool_call>`, with the JSON held to the call's schema; Llama's
//! JSON calls are one JSON document (`{"name": ..., "parameters": {...}}`). Harmony
//! (gpt-oss) would need its reasoning channel before the call and is not constrained.

use lineage::text::grammar::Structure;
use serde_json::{json, Value};

use super::{ToolChoice, ToolFormat};

/// The structure that forces a call, or `None` when nothing is forced (or the format
/// cannot be forced).
pub fn structure(
    list: &[Value],
    choice: Option<&ToolChoice>,
    format: Option<ToolFormat>,
) -> Option<Structure> {
    let fns: Vec<&Value> = match choice? {
        ToolChoice::Required => list.iter().map(|t| &t["function"]).collect(),
        ToolChoice::Function(name) => list
            .iter()
            .map(|t| &t["function"])
            .filter(|f| f["name"] == name.as_str())
            .collect(),
        ToolChoice::None | ToolChoice::Auto => return None,
    };
    match format? {
        ToolFormat::Hermes => Some(Structure::Lark(hermes_grammar(&calls(&fns, "arguments")))),
        ToolFormat::LlamaJson => Some(Structure::JsonSchema(calls(&fns, "parameters"))),
        ToolFormat::Harmony => None,
    }
}

/// One call of any of `fns`: `{"name": <its name>, <args_key>: <its parameters>}`.
fn calls(fns: &[&Value], args_key: &str) -> Value {
    let one = |f: &Value| {
        let params = match &f["parameters"] {
            Value::Object(p) if !p.is_empty() => Value::Object(p.clone()),
            _ => json!({"type": "object"}),
        };
        json!({
            "type": "object",
            "properties": {"name": {"const": f["name"]}, args_key: params},
            "required": ["name", args_key],
            "additionalProperties": false,
        })
    };
    let mut schema = match fns {
        [f] => one(f),
        _ => json!({"anyOf": fns.iter().map(|f| one(f)).collect::<Vec<_>>()}),
    };
    // Compact JSON, as for response_format (lineage::text::grammar).
    schema["x-guidance"] =
        json!({"whitespace_flexible": false, "item_separator": ", ", "key_separator": ": "});
    schema
}

/// Qwen2.5's call block around a JSON document of `schema`.
fn hermes_grammar(schema: &Value) -> String {
    format!("start: \"<tool_call>\\n\" call \"\\n</tool_call>\"\ncall: %json {schema}\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tools() -> Vec<Value> {
        ["get_weather", "get_time"]
            .map(|n| json!({"type": "function", "function": {"name": n, "parameters": {
                "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}))
            .to_vec()
    }

    #[test]
    fn required_and_named_choices_force_calls_in_the_models_format() {
        let t = tools();
        let named = ToolChoice::Function("get_time".into());
        let Some(Structure::Lark(g)) = structure(&t, Some(&named), Some(ToolFormat::Hermes)) else {
            panic!("hermes: a grammar")
        };
        assert!(g.starts_with("start: \"<tool_call>\\n\" call"), "{g}");
        assert!(
            g.contains(r#""const":"get_time""#) && !g.contains("get_weather"),
            "{g}"
        );
        let Some(Structure::JsonSchema(s)) =
            structure(&t, Some(&ToolChoice::Required), Some(ToolFormat::LlamaJson))
        else {
            panic!("llama: a schema")
        };
        assert_eq!(s["anyOf"].as_array().unwrap().len(), 2);
        assert_eq!(s["anyOf"][0]["required"], json!(["name", "parameters"]));
        for (choice, format) in [
            (ToolChoice::Auto, Some(ToolFormat::Hermes)),
            (ToolChoice::None, Some(ToolFormat::Hermes)),
            (ToolChoice::Required, Some(ToolFormat::Harmony)),
            (ToolChoice::Required, None),
        ] {
            assert!(
                structure(&t, Some(&choice), format).is_none(),
                "{choice:?} {format:?}"
            );
        }
    }
}
