//! Chat templates against Python jinja2 rendering as transformers' `apply_chat_template`
//! (SmolLM2, Llama 3.2, Gemma 2, Qwen 2.5 templates) and the harmony renderer against the
//! gpt-oss Jinja template. Fixture: tools/text_fixtures/make_template_refs.py.

use std::path::PathBuf;

use lineage::text::{
    ChatMessage, ChatTemplate, HarmonyRenderer, ReasoningEffort, Tokenizer, VocabSpec,
};
use lineage::Error;
use serde_json::Value;

fn refs() -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/text/chat_template_refs.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn messages(v: &Value) -> Vec<ChatMessage> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|m| ChatMessage::new(m["role"].as_str().unwrap(), m["content"].as_str().unwrap()))
        .collect()
}

/// Index and context of the first differing byte, for readable failures.
fn first_diff(got: &str, want: &str) -> String {
    let at = got
        .bytes()
        .zip(want.bytes())
        .position(|(a, b)| a != b)
        .unwrap_or(got.len().min(want.len()));
    let ctx = |s: &str| {
        s.get(at.saturating_sub(20)..(at + 20).min(s.len()))
            .unwrap_or("")
            .to_string()
    };
    format!("at byte {at}: got {:?} want {:?}", ctx(got), ctx(want))
}

#[test]
fn chat_template_hf_templates_match_jinja2() {
    for case in refs()["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let s = |k: &str| case[k].as_str().unwrap();
        let mut tmpl = ChatTemplate::new(s("template"), s("bos_token"), s("eos_token")).unwrap();
        tmpl.set_now(refs()["strftime_now_unix_secs"].as_i64().unwrap());
        let got = tmpl.render(
            &messages(&case["messages"]),
            case["add_generation_prompt"].as_bool().unwrap(),
        );
        match (got, case.get("expected").and_then(Value::as_str)) {
            (Ok(text), Some(want)) => assert_eq!(text, want, "{name}: {}", first_diff(&text, want)),
            (Err(Error::TemplateException(msg)), None) => {
                assert_eq!(msg, s("expected_error"), "{name}")
            }
            (other, _) => panic!("{name}: unexpected {other:?}"),
        }
    }
}

#[test]
fn chat_template_smollm2_prompt_tokenizes_to_anchor_ids() {
    // The anchor's chat prompt: SmolLM2's template with the default system turn.
    let tok = Tokenizer::from_vocab(&VocabSpec {
        model: "gpt2".into(),
        ..smollm2_spec()
    })
    .unwrap();
    let tmpl =
        ChatTemplate::new(tok.chat_template().unwrap(), tok.bos_text(), tok.eos_text()).unwrap();
    let text = tmpl
        .render(
            &[ChatMessage::new(
                "user",
                "Write a short poem about the ocean at night.",
            )],
            true,
        )
        .unwrap();
    let ids = tok.encode(&text, true).unwrap();
    let want: Vec<u32> = vec![
        1, 9690, 198, 2683, 359, 253, 5356, 5646, 11173, 3365, 3511, 308, 34519, 28, 7018, 411,
        407, 19712, 8182, 2, 198, 1, 4093, 198, 19161, 253, 1890, 8216, 563, 260, 5065, 418, 3163,
        30, 2, 198, 1, 520, 9531, 198,
    ];
    assert_eq!(ids, want);
}

fn smollm2_spec() -> VocabSpec {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/text/smollm2_vocab.json");
    let m: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let strings = |k: &str| {
        m[k].as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect()
    };
    VocabSpec {
        pre: Some("smollm".into()),
        tokens: strings("ggml.tokens"),
        token_types: Some(
            m["ggml.token_type"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_i64().unwrap() as i32)
                .collect(),
        ),
        merges: strings("ggml.merges"),
        bos_id: Some(1),
        eos_id: Some(2),
        add_bos: Some(false),
        chat_template: m["chat_template"].as_str().map(Into::into),
        ..VocabSpec::default()
    }
}

#[test]
fn chat_template_python_methods_and_tojson_work() {
    // Python prints booleans as True/False; jinja2 does the same.
    let src =
        "{% for m in messages %}{{ m.content.strip().upper() }}|{{ m.role.startswith('us') }}|\
               {{ {'a': [1, 'é'], 'b': none} | tojson }}{% endfor %}";
    let tmpl = ChatTemplate::new(src, "", "").unwrap();
    let got = tmpl
        .render(&[ChatMessage::new("user", "  hi  ")], false)
        .unwrap();
    assert_eq!(got, "HI|True|{\"a\": [1, \"é\"], \"b\": null}");
}

#[test]
fn chat_template_raise_exception_is_typed_error() {
    let tmpl = ChatTemplate::new("{{ raise_exception('no system role') }}", "", "").unwrap();
    match tmpl.render(&[], false) {
        Err(Error::TemplateException(msg)) => assert_eq!(msg, "no system role"),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn chat_template_syntax_error_is_template_error() {
    assert!(matches!(
        ChatTemplate::new("{% for m in messages %}", "", ""),
        Err(Error::Template(_))
    ));
}

#[test]
fn harmony_renderer_matches_gpt_oss_template() {
    for case in refs()["harmony"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let r = HarmonyRenderer {
            current_date: Some(case["current_date"].as_str().unwrap().into()),
            ..Default::default()
        };
        let got = r
            .render(
                &messages(&case["messages"]),
                case["add_generation_prompt"].as_bool().unwrap(),
            )
            .unwrap();
        let want = case["expected"].as_str().unwrap();
        assert_eq!(got, want, "{name}: {}", first_diff(&got, want));
    }
}

#[test]
fn harmony_renderer_reasoning_and_bad_roles() {
    let r = HarmonyRenderer {
        reasoning_effort: ReasoningEffort::High,
        ..Default::default()
    };
    let text = r.render(&[ChatMessage::new("user", "hi")], true).unwrap();
    assert!(text.contains("Reasoning: high\n\n") && !text.contains("Current date"));
    assert!(text.ends_with("<|start|>user<|message|>hi<|end|><|start|>assistant"));
    let bad = r.render(
        &[ChatMessage::new("user", "a"), ChatMessage::new("tool", "b")],
        true,
    );
    assert!(matches!(bad, Err(Error::BadInput(_))));
}

#[test]
fn chat_template_gpt_oss_jinja_with_fixed_date_matches_harmony() {
    // The gpt-oss Jinja template calls strftime_now; with the date fixed it must agree with
    // both jinja2 and the direct harmony renderer.
    let src = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/text/gpt_oss_chat_template.jinja"),
    )
    .unwrap();
    let mut tmpl = ChatTemplate::new(&src, "<|startoftext|>", "<|return|>").unwrap();
    tmpl.set_now(refs()["strftime_now_unix_secs"].as_i64().unwrap()); // 2025-06-28
    for case in refs()["harmony"].as_array().unwrap() {
        let got = tmpl
            .render(
                &messages(&case["messages"]),
                case["add_generation_prompt"].as_bool().unwrap(),
            )
            .unwrap();
        let want = case["expected"].as_str().unwrap();
        assert_eq!(got, want, "{}: {}", case["name"], first_diff(&got, want));
    }
}

#[test]
fn chat_template_tojson_keeps_python_key_order_and_indent() {
    let tmpl = ChatTemplate::new(
        "{{ messages | tojson }}|{{ messages[0] | tojson(indent=2) }}",
        "",
        "",
    )
    .unwrap();
    let got = tmpl
        .render(&[ChatMessage::new("user", "<b>\"hi\"</b>")], false)
        .unwrap();
    // json.dumps(messages, ensure_ascii=False) / json.dumps(messages[0], indent=2)
    let want = "[{\"role\": \"user\", \"content\": \"<b>\\\"hi\\\"</b>\"}]|\
                {\n  \"role\": \"user\",\n  \"content\": \"<b>\\\"hi\\\"</b>\"\n}";
    assert_eq!(got, want);
}
