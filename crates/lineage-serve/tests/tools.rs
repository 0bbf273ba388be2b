//! `tools` / `tool_choice` over HTTP on the real default model. SmolLM2 speaks ChatML, as
//! Qwen2.5 does, so it is served here with Qwen2.5's real chat template as well as its
//! own: the tools must reach the prompt (the prompt's token count equals the template's
//! own render of them), whole and streamed answers must be well-formed and agree, and
//! malformed tools get 400s naming the field. The tiny model writes no real calls; the
//! parsing of calls is tested on model-shaped text in `src/tools/parse_tests.rs` and
//! `src/response.rs`.

mod common;

use std::net::SocketAddr;
use std::path::PathBuf;

use common::{config, post};
use lineage::runtime::backend::Backend;
use lineage::text::{ChatMessage, ChatTemplate, Tokenizer, ToolCall};
use lineage_serve::{router, AppState};
use serde_json::{json, Value};
use tokio::net::TcpListener;

const PATH: &str = "/v1/chat/completions";

/// Qwen2.5-7B-Instruct's chat template (from llama.cpp's models/templates/, a copy of HF's).
fn qwen_template() -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../lineage/tests/fixtures/text/chat_template_refs.json");
    let refs: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let case = refs["cases"].as_array().unwrap().iter();
    let qwen = case
        .clone()
        .find(|c| c["name"].as_str().unwrap().starts_with("qwen2.5/"));
    qwen.unwrap()["template"].as_str().unwrap().to_string()
}

/// The default model's tokenizer, its chat template replaced when `template` is given.
fn tokenizer(path: &std::path::Path, template: Option<&str>) -> Tokenizer {
    let file = lineage::weights::gguf::GgufFile::open(path).unwrap();
    let mut spec = lineage::families::gguf_vocab_spec(&file).unwrap();
    if let Some(t) = template {
        spec.chat_template = Some(t.to_string());
    }
    Tokenizer::from_vocab(&spec).unwrap()
}

/// A server on the default model with `template`; its tokenizer for checking prompts.
async fn start(template: Option<&str>, test: &str) -> Option<(SocketAddr, Tokenizer)> {
    let path = lineage::cache::test_model(lineage::cache::SMOLLM2_Q4_1, test)?;
    let (cfg, w) = lineage::load(&path).unwrap();
    let state = AppState::new(
        &config(),
        Backend::new(&cfg, &w).unwrap(),
        tokenizer(&path, template),
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router(state)).await.unwrap() });
    Some((addr, tokenizer(&path, template)))
}

fn weather_tool() -> Value {
    json!({"type": "function", "function": {
        "name": "get_weather", "description": "Get the current weather in a city.",
        "parameters": {"type": "object", "properties": {
            "city": {"type": "string", "description": "The city name"},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
            "required": ["city"]}}})
}

fn ask(extra: Value) -> Value {
    let mut v = json!({"messages": [{"role": "user", "content": "Weather in Paris?"}],
                       "temperature": 0, "max_tokens": 12});
    v.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    v
}

/// Prompt tokens of `messages` with `tools` as the template itself renders them.
fn prompt_len(tok: &Tokenizer, messages: &[ChatMessage], tools: &[Value]) -> u64 {
    let tmpl =
        ChatTemplate::new(tok.chat_template().unwrap(), tok.bos_text(), tok.eos_text()).unwrap();
    let text = tmpl.render_with_tools(messages, tools, true).unwrap();
    lineage::text::encode_rendered(tok, &text).unwrap().len() as u64
}

/// An answer's message is OpenAI-shaped: text content, or calls with JSON arguments.
fn assert_well_formed(body: &Value) -> (String, &'static str) {
    let c = &body["choices"][0];
    assert_eq!(c["message"]["role"], "assistant", "{body}");
    let finish = match c["finish_reason"].as_str() {
        Some("stop") => "stop",
        Some("length") => "length",
        Some("tool_calls") => "tool_calls",
        other => panic!("finish_reason {other:?}: {body}"),
    };
    for call in c["message"]["tool_calls"].as_array().into_iter().flatten() {
        assert!(
            call["id"]
                .as_str()
                .is_some_and(|id| id.starts_with("call_")),
            "{body}"
        );
        assert_eq!(call["type"], "function", "{body}");
        let args = call["function"]["arguments"].as_str().unwrap();
        serde_json::from_str::<Value>(args).unwrap_or_else(|e| panic!("{e}: {body}"));
    }
    let content = c["message"]["content"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    (content, finish)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tools_reach_a_qwen_prompt_and_whole_and_streamed_answers_agree() {
    let qwen = qwen_template();
    let test = "tools_reach_a_qwen_prompt_and_whole_and_streamed_answers_agree";
    let Some((addr, tok)) = start(Some(&qwen), test).await else {
        return;
    };
    let user = [ChatMessage::new("user", "Weather in Paris?")];
    let tools = [weather_tool()];
    let r = post(addr, PATH, &ask(json!({"tools": tools}))).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let whole = r.json();
    let (content, finish) = assert_well_formed(&whole);
    let with_tools = prompt_len(&tok, &user, &tools);
    assert_eq!(
        whole["usage"]["prompt_tokens"], with_tools,
        "the tools are not in the prompt"
    );
    assert!(with_tools > prompt_len(&tok, &user, &[]) + 50);

    // Streamed with tools, the text is held back and sent once, then the finish chunk.
    let r = post(addr, PATH, &ask(json!({"tools": tools, "stream": true}))).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let events = r.events();
    assert_eq!(
        events.last().map(String::as_str),
        Some("[DONE]"),
        "{}",
        r.body
    );
    let chunks: Vec<Value> = events[..events.len() - 1]
        .iter()
        .map(|e| serde_json::from_str(e).unwrap())
        .collect();
    let deltas: Vec<&Value> = chunks.iter().map(|c| &c["choices"][0]["delta"]).collect();
    assert_eq!(deltas[0]["role"], "assistant");
    let texts: Vec<&str> = deltas[1..]
        .iter()
        .filter_map(|d| d["content"].as_str())
        .collect();
    assert!(texts.len() <= 1, "text was not held back: {texts:?}");
    assert_eq!(texts.concat(), content, "streamed and whole answers differ");
    let last = &chunks.last().unwrap()["choices"][0];
    assert_eq!(last["finish_reason"], finish, "{}", r.body);

    // tool_choice "none": the tools are left out of the prompt.
    let r = post(
        addr,
        PATH,
        &ask(json!({"tools": tools, "tool_choice": "none"})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.json()["usage"]["prompt_tokens"],
        prompt_len(&tok, &user, &[])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tool_call_turns_and_results_are_rendered_into_the_prompt() {
    let qwen = qwen_template();
    let Some((addr, tok)) = start(
        Some(&qwen),
        "tool_call_turns_and_results_are_rendered_into_the_prompt",
    )
    .await
    else {
        return;
    };
    let args = "{\"city\": \"Paris\"}";
    let body = json!({"temperature": 0, "max_tokens": 4, "tools": [weather_tool()],
        "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
        "messages": [
            {"role": "user", "content": "Weather in Paris?"},
            {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function",
                "function": {"name": "get_weather", "arguments": args}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": "{\"temp\": 21}"}]});
    let r = post(addr, PATH, &body).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_well_formed(&r.json());
    let mut call = ChatMessage::new("assistant", "");
    call.tool_calls = vec![ToolCall::function(
        Some("call_1".into()),
        "get_weather",
        args,
    )];
    let mut result = ChatMessage::new("tool", "{\"temp\": 21}");
    result.tool_call_id = Some("call_1".into());
    let msgs = [ChatMessage::new("user", "Weather in Paris?"), call, result];
    assert_eq!(
        r.json()["usage"]["prompt_tokens"],
        prompt_len(&tok, &msgs, &[weather_tool()])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tools_on_a_template_without_calls_are_accepted_and_answered_as_text() {
    let Some((addr, _)) = start(
        None,
        "tools_on_a_template_without_calls_are_accepted_and_answered_as_text",
    )
    .await
    else {
        return;
    };
    for stream in [false, true] {
        let r = post(
            addr,
            PATH,
            &ask(json!({"tools": [weather_tool()], "stream": stream})),
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.body);
        if !stream {
            let (_, finish) = assert_well_formed(&r.json());
            assert_ne!(finish, "tool_calls");
        } else {
            assert_eq!(r.events().last().map(String::as_str), Some("[DONE]"));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_tools_get_400s_naming_the_field() {
    let Some((addr, _)) = start(None, "malformed_tools_get_400s_naming_the_field").await else {
        return;
    };
    let bad_args = json!({"messages": [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "tool_calls": [{"type": "function", "function": {"name": "f", "arguments": "{oops"}}]}]});
    let cases = [
        (
            PATH,
            ask(json!({"tools": {"type": "function"}})),
            "tools",
            "must be an array",
        ),
        (
            PATH,
            ask(json!({"tools": [{"type": "function", "function": {"name": "bad name"}}]})),
            "tools",
            "function.name",
        ),
        (
            PATH,
            ask(
                json!({"tools": [weather_tool()], "tool_choice": {"type": "function", "function": {"name": "nope"}}}),
            ),
            "tool_choice",
            "not in `tools`",
        ),
        (
            PATH,
            ask(json!({"tool_choice": "required"})),
            "tool_choice",
            "needs `tools`",
        ),
        (PATH, bad_args, "messages", "arguments is not valid JSON"),
        (
            "/v1/completions",
            json!({"prompt": "hi", "tools": [weather_tool()]}),
            "tools",
            "/v1/chat/completions",
        ),
    ];
    for (path, body, param, needle) in cases {
        let r = post(addr, path, &body).await;
        assert_eq!(r.status, 400, "{body}: {}", r.body);
        let err = &r.json()["error"];
        assert_eq!(err["param"], param, "{body}: {}", r.body);
        assert_eq!(err["type"], "invalid_request_error");
        assert!(
            err["message"].as_str().unwrap().contains(needle),
            "{body}: {}",
            r.body
        );
    }
}

/// `tool_choice` "required" and a named function constrain the reply to a call in the
/// template's format: at temperature 1 over several seeds, every reply is parsed into a
/// call of an offered function (the named one when named) whose arguments are a JSON
/// object with the required `city`, and finishes with `tool_calls`. Streamed, the call
/// arrives as a `delta.tool_calls` chunk. A forced call with `response_format` is a 400.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn required_and_named_tool_choices_force_a_call() {
    let qwen = qwen_template();
    let test = "required_and_named_tool_choices_force_a_call";
    let Some((addr, _)) = start(Some(&qwen), test).await else {
        return;
    };
    let tool = |name: &str| {
        json!({"type": "function", "function": {"name": name, "parameters": {
            "type": "object", "properties": {
                "city": {"type": "string", "maxLength": 24},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
            "required": ["city"]}}})
    };
    let tools = [tool("get_weather"), tool("get_time")];
    let named = json!({"type": "function", "function": {"name": "get_time"}});
    for (choice, want) in [(json!("required"), None), (named, Some("get_time"))] {
        for seed in 0..3 {
            let body = ask(
                json!({"tools": tools, "tool_choice": choice, "temperature": 1.0,
                                  "seed": seed, "max_tokens": 80}),
            );
            let r = post(addr, PATH, &body).await;
            assert_eq!(r.status, 200, "{}", r.body);
            let v = r.json();
            let c = &v["choices"][0];
            assert_eq!(
                c["finish_reason"], "tool_calls",
                "{choice} seed {seed}: {v}"
            );
            let call = &c["message"]["tool_calls"][0]["function"];
            let name = call["name"].as_str().unwrap();
            assert!(["get_weather", "get_time"].contains(&name), "{v}");
            if let Some(w) = want {
                assert_eq!(name, w, "{v}");
            }
            let args: Value = serde_json::from_str(call["arguments"].as_str().unwrap()).unwrap();
            assert!(args["city"].is_string(), "{v}");
        }
    }
    let body = ask(
        json!({"tools": tools, "tool_choice": "required", "stream": true,
                          "temperature": 1.0, "seed": 7, "max_tokens": 80}),
    );
    let r = post(addr, PATH, &body).await;
    let chunks: Vec<Value> = r.events()[..r.events().len() - 1]
        .iter()
        .map(|e| serde_json::from_str(e).unwrap())
        .collect();
    let calls: Vec<&Value> = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["tool_calls"].get(0))
        .collect();
    assert_eq!(calls.len(), 1, "{}", r.body);
    assert_eq!(
        chunks.last().unwrap()["choices"][0]["finish_reason"],
        "tool_calls"
    );
    let both = ask(json!({"tools": tools, "tool_choice": "required",
                          "response_format": {"type": "json_object"}}));
    let r = post(addr, PATH, &both).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.json()["error"]["param"], "tool_choice");
}
