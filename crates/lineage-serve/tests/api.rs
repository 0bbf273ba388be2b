//! The OpenAI API on the real default model: answers equal `lineage run`'s tokens,
//! streams are shaped as OpenAI's, n > 1, stop strings, seeds, and the endpoints around.

mod common;

use std::sync::atomic::AtomicBool;

use common::{config, post, request, start};
use lineage::runtime::sampler::SamplerConfig;
use lineage::runtime::session::{generate, GenerateOptions};
use lineage::text::ChatMessage;
use serde_json::json;

fn chat(content: &str, extra: serde_json::Value) -> serde_json::Value {
    let mut v = json!({"model": "smollm2", "messages": [{"role": "user", "content": content}]});
    v.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    v
}

/// The same prompt through `session::generate`, as `lineage run` does it.
fn direct(content: &str, max_tokens: usize) -> String {
    let (model, tok) = common::model("direct").unwrap();
    let text = lineage::text::render_chat(
        &tok,
        model.config().chat,
        &[ChatMessage::new("user", content)],
    )
    .unwrap();
    let ids = lineage::text::encode_rendered(&tok, &text).unwrap();
    let opts = GenerateOptions {
        max_tokens,
        sampler: SamplerConfig::greedy(),
        stop: vec![],
        logprobs: None,
        constraint: None,
        keep_special: false,
    };
    generate(
        &model,
        &tok,
        &ids,
        &opts,
        &AtomicBool::new(false),
        &mut |_| {},
    )
    .unwrap()
    .text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_answer_equals_lineage_run_and_streams_like_openai() {
    let Some(addr) = start(
        config(),
        "chat_answer_equals_lineage_run_and_streams_like_openai",
    )
    .await
    else {
        return;
    };
    let q = "What is the capital of France?";
    let whole = post(
        addr,
        "/v1/chat/completions",
        &chat(q, json!({"max_tokens": 24, "temperature": 0})),
    )
    .await;
    assert_eq!(whole.status, 200, "{}", whole.body);
    let v = whole.json();
    let text = v["choices"][0]["message"]["content"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        text,
        direct(q, 24),
        "served text differs from session::generate"
    );
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(
        v["usage"]["total_tokens"],
        v["usage"]["prompt_tokens"].as_u64().unwrap()
            + v["usage"]["completion_tokens"].as_u64().unwrap()
    );

    let s = post(addr, "/v1/chat/completions", &chat(q, json!({"max_tokens": 24, "temperature": 0, "stream": true, "stream_options": {"include_usage": true}}))).await;
    assert_eq!(s.status, 200);
    assert!(
        s.headers.to_ascii_lowercase().contains("text/event-stream"),
        "{}",
        s.headers
    );
    let ev = s.events();
    assert_eq!(ev.last().unwrap(), "[DONE]");
    let chunks: Vec<serde_json::Value> = ev[..ev.len() - 1]
        .iter()
        .map(|e| serde_json::from_str(e).unwrap())
        .collect();
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let streamed: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(streamed, text);
    let usage = chunks.last().unwrap();
    assert_eq!(usage["choices"].as_array().unwrap().len(), 0);
    assert_eq!(usage["usage"], v["usage"]);
    let finish = &chunks[chunks.len() - 2]["choices"][0];
    assert!(
        finish["finish_reason"].is_string() && finish["delta"] == json!({}),
        "{finish}"
    );
    assert!(chunks
        .iter()
        .all(|c| c["object"] == "chat.completion.chunk" && c["id"] == chunks[0]["id"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn completions_n_stop_and_seed() {
    let Some(addr) = start(config(), "completions_n_stop_and_seed").await else {
        return;
    };
    let body = json!({"prompt": "The capital of France is", "max_tokens": 12, "temperature": 0, "stop": ["."]});
    let v = post(addr, "/v1/completions", &body).await.json();
    let text = v["choices"][0]["text"].as_str().unwrap();
    assert!(
        !text.contains('.') && v["choices"][0]["finish_reason"] == "stop",
        "{v}"
    );
    let sampled = json!({"prompt": "Once upon a time", "max_tokens": 16, "temperature": 1.0, "seed": 7, "n": 2});
    let a = post(addr, "/v1/completions", &sampled).await.json();
    let b = post(addr, "/v1/completions", &sampled).await.json();
    assert_eq!(
        a["choices"], b["choices"],
        "the same seed gave other tokens"
    );
    assert_eq!(a["choices"].as_array().unwrap().len(), 2);
    assert_ne!(
        a["choices"][0]["text"], a["choices"][1]["text"],
        "n = 2 gave one draw twice"
    );
    assert_eq!(a["object"], "text_completion");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn models_health_metrics_and_the_chat_page() {
    let Some(addr) = start(config(), "models_health_metrics_and_the_chat_page").await else {
        return;
    };
    let models = request(addr, "GET", "/v1/models", &[], b"").await;
    assert!(
        models
            .headers
            .to_ascii_lowercase()
            .contains("x-request-id: "),
        "{}",
        models.headers
    );
    let m = models.json();
    assert_eq!(m["data"][0]["id"], "smollm2");
    assert_eq!(
        request(addr, "GET", "/health", &[], b"").await.json()["status"],
        "ok"
    );
    let page = request(addr, "GET", "/", &[], b"").await;
    assert!(page.status == 200 && page.body.contains("v1/chat/completions"));
    assert!(
        !page.body.contains("src=\"http") && !page.body.contains("href=\"http"),
        "the page loads something external"
    );
    post(
        addr,
        "/v1/completions",
        &json!({"prompt": "Hi", "max_tokens": 3}),
    )
    .await;
    let metrics = request(addr, "GET", "/metrics", &[], b"").await.body;
    for name in [
        "lineage_requests_total 1",
        "lineage_generated_tokens_total 3",
        "lineage_queue_depth 0",
        "lineage_kv_cache_tokens",
        "lineage_decode_tokens_per_second",
    ] {
        assert!(metrics.contains(name), "{name} missing from\n{metrics}");
    }
}

/// Log-probabilities: the first token's equal a log-softmax of the model's own logits,
/// greedy picks the top alternative, and the completions API gets its list shape.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logprobs_match_the_model_and_both_shapes() {
    let Some(addr) = start(config(), "logprobs_match_the_model_and_both_shapes").await else {
        return;
    };
    let q = "Name a colour.";
    let body = chat(
        q,
        json!({"max_tokens": 6, "temperature": 0, "logprobs": true, "top_logprobs": 3}),
    );
    let v = post(addr, "/v1/chat/completions", &body).await.json();
    let content = v["choices"][0]["logprobs"]["content"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(
        content.len() as u64,
        v["usage"]["completion_tokens"].as_u64().unwrap()
    );
    for e in &content {
        let top = e["top_logprobs"].as_array().unwrap();
        assert_eq!(top.len(), 3);
        assert_eq!(
            top[0]["token"], e["token"],
            "greedy took another token than the top one"
        );
        assert_eq!(top[0]["logprob"], e["logprob"]);
        assert!(top
            .windows(2)
            .all(|w| w[0]["logprob"].as_f64() >= w[1]["logprob"].as_f64()));
    }
    // The model's own distribution at the first position.
    let (model, tok) = common::model("logprobs_reference").unwrap();
    let text =
        lineage::text::render_chat(&tok, model.config().chat, &[ChatMessage::new("user", q)])
            .unwrap();
    let ids = lineage::text::encode_rendered(&tok, &text).unwrap();
    let logits = model.start().forward(&ids).unwrap().to_vec();
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
    let lse = max
        + logits
            .iter()
            .map(|&l| (l as f64 - max).exp())
            .sum::<f64>()
            .ln();
    let best = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64 - lse;
    let got = content[0]["logprob"].as_f64().unwrap();
    assert!(
        (got - best).abs() < 1e-5,
        "first token logprob {got} vs the model's {best}"
    );

    let c = post(
        addr,
        "/v1/completions",
        &json!({"prompt": "Red, green and", "max_tokens": 4, "temperature": 0, "logprobs": 2}),
    )
    .await
    .json();
    let lp = &c["choices"][0]["logprobs"];
    let n = lp["tokens"].as_array().unwrap().len();
    assert!(
        n > 0 && lp["token_logprobs"].as_array().unwrap().len() == n,
        "{lp}"
    );
    assert!(lp["top_logprobs"]
        .as_array()
        .unwrap()
        .iter()
        .all(|m| m.as_object().unwrap().len() <= 2));
    let offsets: Vec<u64> = lp["text_offset"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o.as_u64().unwrap())
        .collect();
    assert!(offsets.windows(2).all(|w| w[0] <= w[1]) && offsets[0] == 0);

    let streamed = post(addr, "/v1/chat/completions", &chat(q, json!({"max_tokens": 6, "temperature": 0, "logprobs": true, "top_logprobs": 3, "stream": true}))).await;
    let entries: Vec<serde_json::Value> = streamed
        .events()
        .iter()
        .filter(|e| e.starts_with('{'))
        .flat_map(|e| {
            serde_json::from_str::<serde_json::Value>(e).unwrap()["choices"][0]["logprobs"]
                ["content"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .collect();
    assert_eq!(
        entries, content,
        "streamed log-probabilities differ from the whole answer's"
    );
    let r = post(
        addr,
        "/v1/chat/completions",
        &chat(q, json!({"logprobs": true, "top_logprobs": 50})),
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.body);
}
