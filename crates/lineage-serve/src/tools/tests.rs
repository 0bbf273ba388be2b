//! Request checks of `tools`, `tool_choice` and the tool-call turns of `messages`.

use serde_json::json;

use super::*;

fn weather() -> Value {
    json!({"type": "function", "function": {"name": "get_weather", "description": "Weather.",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}})
}

fn refused(tools: Value, choice: Option<Value>) -> String {
    match Tools::new(Some(&tools), choice.as_ref(), Some(ToolFormat::Hermes)) {
        Ok(t) => panic!("accepted {tools} / {choice:?}: {t:?}"),
        Err(e) => {
            assert_eq!(e.status.as_u16(), 400);
            e.message
        }
    }
}

#[test]
fn tools_valid_list_with_each_choice_is_accepted() {
    let tools = json!([weather(), {"type": "function", "function": {"name": "ping-2"}}]);
    for (choice, parses) in [
        (None, true),
        (Some(json!("auto")), true),
        (Some(json!("required")), true),
        (
            Some(json!({"type": "function", "function": {"name": "ping-2"}})),
            true,
        ),
        (Some(json!("none")), false),
    ] {
        let t = Tools::new(Some(&tools), choice.as_ref(), Some(ToolFormat::Hermes)).unwrap();
        assert_eq!(t.parser().is_some(), parses, "{choice:?}");
        assert_eq!(
            t.prompt_tools().len(),
            if parses { 2 } else { 0 },
            "{choice:?}"
        );
    }
}

#[test]
fn tools_absent_give_no_prompt_tools_and_no_parser() {
    for tools in [None, Some(json!(null)), Some(json!([]))] {
        let t = Tools::new(tools.as_ref(), None, Some(ToolFormat::Hermes)).unwrap();
        assert!(t.prompt_tools().is_empty() && t.parser().is_none());
    }
    // A model whose template defines no call format: tools rendered, reply not parsed.
    let t = Tools::new(Some(&json!([weather()])), None, None).unwrap();
    assert_eq!(t.prompt_tools().len(), 1);
    assert_eq!(t.parser(), None);
}

#[test]
fn tools_malformed_are_refused_naming_the_problem() {
    let many: Vec<Value> = (0..129)
        .map(|i| json!({"type": "function", "function": {"name": format!("f{i}")}}))
        .collect();
    let cases = [
        (json!({"name": "f"}), "must be an array"),
        (json!([{"type": "retrieval"}]), "tools[0].type"),
        (
            json!([{"type": "function"}]),
            "tools[0].function must be an object",
        ),
        (
            json!([{"type": "function", "function": {"description": "x"}}]),
            "function.name",
        ),
        (
            json!([{"type": "function", "function": {"name": "get weather"}}]),
            "function.name",
        ),
        (
            json!([{"type": "function", "function": {"name": "x".repeat(65)}}]),
            "1-64",
        ),
        (
            json!([weather(), {"type": "function", "function": {"name": "f", "parameters": "x"}}]),
            "tools[1].function.parameters",
        ),
        (
            json!([weather(), {"type": "function", "function": {"name": "f", "description": 3}}]),
            "description",
        ),
        (
            json!([weather(), weather()]),
            "second function named `get_weather`",
        ),
        (Value::Array(many), "129 tools"),
    ];
    for (tools, needle) in cases {
        let msg = refused(tools.clone(), None);
        assert!(msg.contains(needle), "{tools}: {msg}");
    }
}

#[test]
fn tool_choice_malformed_or_unknown_is_refused() {
    let tools = json!([weather()]);
    let cases = [
        (json!("always"), "tool_choice \"always\""),
        (
            json!({"type": "function", "function": {"name": "nope"}}),
            "`nope`, which is not in `tools`",
        ),
        (json!({"type": "function"}), "tool_choice must be"),
        (json!(3), "tool_choice must be"),
    ];
    for (choice, needle) in cases {
        let msg = refused(tools.clone(), Some(choice.clone()));
        assert!(msg.contains(needle), "{choice}: {msg}");
    }
    let msg = refused(json!(null), Some(json!("required")));
    assert!(msg.contains("needs `tools`"), "{msg}");
}

#[test]
fn message_calls_take_string_or_object_arguments_and_refuse_bad_ones() {
    let calls = json!([
        {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{\"x\": 1}"}},
        {"type": "function", "function": {"name": "g", "arguments": {"y": 2}}},
    ]);
    let got = message_calls(Some(&calls), "assistant", 1).unwrap();
    assert_eq!(
        got[0],
        ToolCall::function(Some("call_1".into()), "f", "{\"x\": 1}")
    );
    assert_eq!(got[1], ToolCall::function(None, "g", "{\"y\":2}"));
    let bad_json = json!([{"function": {"name": "f", "arguments": "{x"}}]);
    let e = message_calls(Some(&bad_json), "assistant", 2).unwrap_err();
    assert!(
        e.message
            .contains("messages[2].tool_calls[0].function.arguments is not valid JSON"),
        "{}",
        e.message
    );
    let e = message_calls(Some(&calls), "user", 0).unwrap_err();
    assert!(
        e.message.contains("only assistant messages"),
        "{}",
        e.message
    );
    let e = message_calls(Some(&json!([{"function": {}}])), "assistant", 0).unwrap_err();
    assert!(e.message.contains("function.name"), "{}", e.message);
}
