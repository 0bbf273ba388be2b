//! The three call parsers on replies shaped as the models write them.

use super::*;

fn call(name: &str, arguments: &str) -> Call {
    Call {
        name: name.into(),
        arguments: arguments.into(),
    }
}

#[test]
fn hermes_two_calls_with_text_around_give_both_calls_and_the_text() {
    let text = "Let me check both.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\", \"unit\": \"celsius\"}}\n</tool_call>\n<tool_call>\n{\"name\": \"get_time\", \"arguments\": {}}\n</tool_call>";
    let p = parse(ToolFormat::Hermes, text);
    assert_eq!(
        p.calls,
        vec![
            call("get_weather", r#"{"city":"Paris","unit":"celsius"}"#),
            call("get_time", "{}")
        ]
    );
    assert_eq!(p.content.as_deref(), Some("Let me check both."));
}

#[test]
fn hermes_call_alone_has_no_content() {
    let text = "<tool_call>\n{\"name\": \"get_time\"}\n</tool_call>";
    let p = parse(ToolFormat::Hermes, text);
    assert_eq!(p.calls, vec![call("get_time", "{}")]);
    assert_eq!(p.content, None);
}

#[test]
fn hermes_malformed_block_stays_content_next_to_a_good_call() {
    let bad = "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": }\n</tool_call>";
    let good = "<tool_call>\n{\"name\": \"get_time\", \"arguments\": {}}\n</tool_call>";
    let p = parse(ToolFormat::Hermes, &format!("{bad}\n{good}"));
    assert_eq!(p.calls, vec![call("get_time", "{}")]);
    assert_eq!(p.content.as_deref(), Some(bad));
}

#[test]
fn hermes_only_malformed_calls_return_the_text_unchanged() {
    for text in [
        "<tool_call>\n{not json}\n</tool_call>",
        "<tool_call>\n{\"arguments\": {}}\n</tool_call>", // no name
        "<tool_call>\n{\"name\": \"f\", \"arguments\": [1, 2]}\n</tool_call>", // not an object
        "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"ci", // cut by max_tokens
        "  plain answer, no calls  ",
    ] {
        let p = parse(ToolFormat::Hermes, text);
        assert_eq!(p, Parsed::text(text), "{text:?}");
    }
}

#[test]
fn hermes_unclosed_but_complete_last_call_counts() {
    let p = parse(
        ToolFormat::Hermes,
        "<tool_call>\n{\"name\": \"f\", \"arguments\": {\"x\": 1}}\n",
    );
    assert_eq!(p.calls, vec![call("f", r#"{"x":1}"#)]);
}

#[test]
fn hermes_arguments_written_as_a_json_string_are_unquoted() {
    let text = r#"<tool_call>{"name": "f", "arguments": "{\"x\": [1, 2]}"}</tool_call>"#;
    assert_eq!(
        parse(ToolFormat::Hermes, text).calls,
        vec![call("f", r#"{"x":[1,2]}"#)]
    );
}

#[test]
fn llama_json_reply_with_python_tag_and_parameters_is_a_call() {
    let text = "<|python_tag|>{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Paris\"}}";
    let p = parse(ToolFormat::LlamaJson, text);
    assert_eq!(p.calls, vec![call("get_weather", r#"{"city":"Paris"}"#)]);
    assert_eq!(p.content, None);
    let bare = " {\"type\": \"function\", \"name\": \"get_time\", \"arguments\": {}}\n";
    assert_eq!(
        parse(ToolFormat::LlamaJson, bare).calls,
        vec![call("get_time", "{}")]
    );
}

#[test]
fn llama_json_several_calls_separated_by_semicolons() {
    let text = r#"{"name": "a", "parameters": {"x": 1}}; {"name": "b", "parameters": {}}"#;
    assert_eq!(
        parse(ToolFormat::LlamaJson, text).calls,
        vec![call("a", r#"{"x":1}"#), call("b", "{}")]
    );
}

#[test]
fn llama_json_prose_or_partial_json_stays_text() {
    for text in [
        "The weather in Paris is sunny.",
        r#"{"name": "a", "parameters": {"x": 1}} and then some prose"#,
        r#"{"name": "a", "parameters": {"x": "#,
        r#"{"answer": 42}"#, // JSON, but not a call
        "<|python_tag|>brave_search.call(query=\"paris\")",
    ] {
        assert_eq!(
            parse(ToolFormat::LlamaJson, text),
            Parsed::text(text),
            "{text:?}"
        );
    }
}

#[test]
fn harmony_commentary_call_after_analysis_is_a_call_without_the_reasoning() {
    // What gpt-oss writes after the prompt's `<|start|>assistant`.
    let text = "<|channel|>analysis<|message|>User wants the weather; call the tool.<|end|>\
                <|start|>assistant<|channel|>commentary to=functions.get_weather <|constrain|>json\
                <|message|>{\"city\":\"Paris\"}<|call|>";
    let p = parse(ToolFormat::Harmony, text);
    assert_eq!(p.calls, vec![call("get_weather", r#"{"city":"Paris"}"#)]);
    assert_eq!(p.content, None);
}

#[test]
fn harmony_recipient_in_the_role_part_and_a_final_answer() {
    let text = " to=functions.get_time<|channel|>commentary json<|message|>{}<|call|>\
                <|start|>assistant<|channel|>final<|message|>Checking the time.<|return|>";
    let p = parse(ToolFormat::Harmony, text);
    assert_eq!(p.calls, vec![call("get_time", "{}")]);
    assert_eq!(p.content.as_deref(), Some("Checking the time."));
}

#[test]
fn harmony_without_a_call_gives_the_final_channel_without_the_reasoning() {
    let text = "<|channel|>analysis<|message|>User asks the weather.<|end|>\
                <|start|>assistant<|channel|>final<|message|>Paris is sunny."; // EOS dropped
    let p = parse(ToolFormat::Harmony, text);
    assert_eq!(p.calls, vec![]);
    assert_eq!(p.content.as_deref(), Some("Paris is sunny."));
    // Bad arguments: not a call; the message stays content.
    let text = "<|channel|>commentary to=functions.f <|constrain|>json<|message|>{\"x\": <|call|>";
    let p = parse(ToolFormat::Harmony, text);
    assert_eq!((p.calls, p.content.as_deref()), (vec![], Some("{\"x\":")));
}

#[test]
fn harmony_text_that_is_not_harmony_is_returned_unchanged() {
    for text in [
        "analysisUser asks.assistantfinalParis.", // special tokens stripped by the decoder
        "stray text <|start|>",
    ] {
        assert_eq!(
            parse(ToolFormat::Harmony, text),
            Parsed::text(text),
            "{text:?}"
        );
    }
}
