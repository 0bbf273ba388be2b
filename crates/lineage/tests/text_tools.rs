//! Tools in chat prompts against Python jinja2 rendering as transformers'
//! `apply_chat_template(tools=...)`: the real Qwen2.5 and Llama 3.2 templates, and the
//! harmony renderer against the gpt-oss Jinja template (tool namespace, call turns, tool
//! results). Fixture: tools/text_fixtures/make_tool_template_refs.py.

use std::path::PathBuf;

use lineage::text::{ChatMessage, ChatTemplate, HarmonyRenderer, ToolCall};
use lineage::Error;
use serde_json::Value;

fn fixture(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/text")
        .join(name);
    std::fs::read_to_string(path).unwrap()
}

fn refs() -> Value {
    serde_json::from_str(&fixture("tool_template_refs.json")).unwrap()
}

/// Messages in OpenAI's wire form (arguments as a JSON string), as the server builds them.
fn messages(v: &Value) -> Vec<ChatMessage> {
    let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
    v.as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let mut msg = ChatMessage::new(text(&m["role"]), text(&m["content"]));
            msg.tool_call_id = m["tool_call_id"].as_str().map(String::from);
            for c in m["tool_calls"].as_array().into_iter().flatten() {
                let f = &c["function"];
                let id = c["id"].as_str().map(String::from);
                msg.tool_calls.push(ToolCall::function(
                    id,
                    text(&f["name"]),
                    text(&f["arguments"]),
                ));
            }
            msg
        })
        .collect()
}

fn first_diff(got: &str, want: &str) -> String {
    let at = got
        .bytes()
        .zip(want.bytes())
        .position(|(a, b)| a != b)
        .unwrap_or(got.len().min(want.len()));
    let ctx = |s: &str| {
        s.get(at.saturating_sub(30)..(at + 30).min(s.len()))
            .unwrap_or("")
            .to_string()
    };
    format!("at byte {at}: got {:?} want {:?}", ctx(got), ctx(want))
}

fn template_of(case: &Value) -> String {
    let name = case["template"].as_str().unwrap();
    let refs: Value = serde_json::from_str(&fixture("chat_template_refs.json")).unwrap();
    refs["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"].as_str().unwrap().starts_with(&format!("{name}/")))
        .map(|c| c["template"].as_str().unwrap().to_string())
        .unwrap_or_else(|| panic!("no template {name} in chat_template_refs.json"))
}

fn cases(prefix: &str) -> Vec<Value> {
    let all = refs()["cases"].as_array().unwrap().clone();
    let picked: Vec<Value> = all
        .into_iter()
        .filter(|c| c["name"].as_str().unwrap().starts_with(prefix))
        .collect();
    assert!(!picked.is_empty(), "no {prefix} cases in the fixture");
    picked
}

#[test]
fn chat_template_qwen25_and_llama32_with_tools_match_jinja2() {
    let now = refs()["strftime_now_unix_secs"].as_i64().unwrap();
    for prefix in ["qwen2.5/", "llama3.2/"] {
        for case in cases(prefix) {
            let name = case["name"].as_str().unwrap();
            let s = |k: &str| case[k].as_str().unwrap();
            let mut tmpl =
                ChatTemplate::new(&template_of(&case), s("bos_token"), s("eos_token")).unwrap();
            tmpl.set_now(now);
            let tools = case["tools"].as_array().unwrap();
            let got = tmpl
                .render_with_tools(&messages(&case["messages"]), tools, true)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            let want = s("expected");
            assert_eq!(got, want, "{name}: {}", first_diff(&got, want));
        }
    }
}

#[test]
fn harmony_renderer_with_tools_matches_the_gpt_oss_template_in_jinja2() {
    let r = HarmonyRenderer {
        current_date: Some(refs()["current_date"].as_str().unwrap().into()),
        ..Default::default()
    };
    for case in cases("gpt-oss/") {
        let name = case["name"].as_str().unwrap();
        let tools = case["tools"].as_array().unwrap();
        let got = r
            .render_with_tools(&messages(&case["messages"]), tools, true)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let want = case["expected"].as_str().unwrap();
        assert_eq!(got, want, "{name}: {}", first_diff(&got, want));
    }
}

#[test]
fn chat_template_gpt_oss_jinja_with_tools_matches_jinja2() {
    // Our minijinja run of the real gpt-oss template agrees with jinja2 too, so both
    // harmony paths (direct and Jinja) give the same prompt.
    let mut tmpl = ChatTemplate::new(
        &fixture("gpt_oss_chat_template.jinja"),
        "<|startoftext|>",
        "<|return|>",
    )
    .unwrap();
    tmpl.set_now(refs()["strftime_now_unix_secs"].as_i64().unwrap());
    for case in cases("gpt-oss/") {
        let name = case["name"].as_str().unwrap();
        let tools = case["tools"].as_array().unwrap();
        let got = tmpl
            .render_with_tools(&messages(&case["messages"]), tools, true)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let want = case["expected"].as_str().unwrap();
        assert_eq!(got, want, "{name}: {}", first_diff(&got, want));
    }
}

#[test]
fn harmony_renderer_tool_result_without_a_call_is_refused() {
    let msgs = [
        ChatMessage::new("user", "hi"),
        ChatMessage::new("tool", "42"),
    ];
    match HarmonyRenderer::default().render_with_tools(&msgs, &[], true) {
        Err(Error::BadInput(m)) => {
            assert!(m.contains("message 1") && m.contains("tool call"), "{m}")
        }
        other => panic!("expected BadInput, got {other:?}"),
    }
}

#[test]
fn harmony_renderer_tool_without_description_or_parameters_renders_a_bare_type() {
    let tools = [serde_json::json!({"type": "function", "function": {"name": "ping"}})];
    let text = HarmonyRenderer::default()
        .render_with_tools(&[ChatMessage::new("user", "hi")], &tools, true)
        .unwrap();
    assert!(
        text.contains(
            "namespace functions {\n\ntype ping = () => any;\n\n} // namespace functions<|end|>"
        ),
        "{text}"
    );
}

#[test]
fn harmony_renderer_answers_each_call_by_its_id() {
    let mut call = ChatMessage::new("assistant", "");
    call.tool_calls = vec![
        ToolCall::function(Some("a".into()), "f", "{}"),
        ToolCall::function(Some("b".into()), "g", "{\"x\": 1}"),
    ];
    let mut answer_a = ChatMessage::new("tool", "A");
    answer_a.tool_call_id = Some("a".into());
    let msgs = [ChatMessage::new("user", "hi"), call, answer_a];
    let text = HarmonyRenderer::default()
        .render_with_tools(&msgs, &[], true)
        .unwrap();
    assert!(text.contains("<|start|>assistant to=functions.g<|channel|>commentary json<|message|>{\"x\": 1}<|call|>"), "{text}");
    assert!(
        text.contains(
            "<|start|>functions.f to=assistant<|channel|>commentary<|message|>\"A\"<|end|>"
        ),
        "{text}"
    );
}
