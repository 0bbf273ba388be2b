//! Bad requests get OpenAI-style errors with the right status; disconnects cancel and
//! free their sequence; many concurrent streams each get the tokens they get alone.

mod common;

use common::{config, post, request, start};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn error_of(r: &common::Reply) -> String {
    r.json()["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_openai_errors_with_their_status() {
    let mut cfg = config();
    cfg.ctx_size = Some(64);
    let Some(addr) = start(cfg, "bad_requests_get_openai_errors_with_their_status").await else {
        return;
    };
    let path = "/v1/chat/completions";
    let msgs = json!([{"role": "user", "content": "hi"}]);
    let cases: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        (
            "malformed JSON",
            b"{\"messages\": [".to_vec(),
            400,
            "invalid request body",
        ),
        (
            "invalid UTF-8",
            b"{\"messages\": \"\xff\xfe\"}".to_vec(),
            400,
            "invalid request body",
        ),
        (
            "no messages",
            json!({"messages": []}).to_string().into_bytes(),
            400,
            "empty",
        ),
        (
            "negative max_tokens",
            json!({"messages": msgs, "max_tokens": -5})
                .to_string()
                .into_bytes(),
            400,
            "max_tokens",
        ),
        (
            "n = 1000",
            json!({"messages": msgs, "n": 1000})
                .to_string()
                .into_bytes(),
            400,
            "n = 1000",
        ),
        (
            "bad temperature",
            json!({"messages": msgs, "temperature": -1})
                .to_string()
                .into_bytes(),
            400,
            "temperature",
        ),
        (
            "context overflow",
            json!({"messages": [{"role": "user", "content": "word ".repeat(200)}]})
                .to_string()
                .into_bytes(),
            400,
            "context holds 64",
        ),
        (
            "unknown response_format type",
            json!({"messages": msgs, "response_format": {"type": "yaml"}})
                .to_string()
                .into_bytes(),
            400,
            "response_format",
        ),
        ("10 MB body", vec![b' '; 10 << 20], 413, "body"),
    ];
    for (name, body, status, needle) in cases {
        let r = request(
            addr,
            "POST",
            path,
            &["Content-Type: application/json"],
            &body,
        )
        .await;
        assert_eq!(r.status, status, "{name}: {}", r.body);
        assert!(error_of(&r).contains(needle), "{name}: {}", r.body);
        assert_eq!(r.json()["error"]["type"].as_str().is_some(), true, "{name}");
    }
    // A huge max_tokens is clamped to the context, not an error.
    let r = post(
        addr,
        path,
        &json!({"messages": msgs, "max_tokens": 1u64 << 40, "temperature": 0}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_key_guards_v1_only() {
    let mut cfg = config();
    cfg.api_key = Some("s3cret".into());
    let Some(addr) = start(cfg, "the_api_key_guards_v1_only").await else {
        return;
    };
    let body = json!({"prompt": "Hi", "max_tokens": 2}).to_string();
    for (auth, status) in [
        (None, 401),
        (Some("Bearer nope"), 401),
        (Some("Bearer s3cret"), 200),
    ] {
        let mut h = vec!["Content-Type: application/json".to_string()];
        h.extend(auth.map(|a| format!("Authorization: {a}")));
        let h: Vec<&str> = h.iter().map(String::as_str).collect();
        let r = request(addr, "POST", "/v1/completions", &h, body.as_bytes()).await;
        assert_eq!(r.status, status, "{auth:?}: {}", r.body);
    }
    assert_eq!(request(addr, "GET", "/health", &[], b"").await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_answers_429() {
    let mut cfg = config();
    cfg.parallel = 1;
    cfg.queue = 1;
    let Some(addr) = start(cfg, "a_full_queue_answers_429").await else {
        return;
    };
    let long =
        json!({"prompt": "Count: 1, 2, 3,", "max_tokens": 200, "temperature": 0, "stop": ["@@"]});
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let b = long.clone();
        tasks.push(tokio::spawn(async move {
            post(addr, "/v1/completions", &b).await.status
        }));
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    assert!(statuses.contains(&429), "{statuses:?}");
    assert!(statuses.contains(&200), "{statuses:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_disconnects_mid_stream_is_cancelled_and_freed() {
    let Some(addr) = start(
        config(),
        "a_client_that_disconnects_mid_stream_is_cancelled_and_freed",
    )
    .await
    else {
        return;
    };
    let body = json!({"prompt": "Tell me a long story.", "max_tokens": 1000, "stream": true, "stop": ["@@"]}).to_string();
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!("POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n", body.len());
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(body.as_bytes()).await.unwrap();
    let mut buf = [0u8; 2048];
    let n = s.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).contains("200 OK"));
    drop(s);
    let mut metrics = String::new();
    for _ in 0..100 {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        metrics = request(addr, "GET", "/metrics", &[], b"").await.body;
        if metrics.contains("lineage_requests_cancelled_total 1")
            && metrics.contains("lineage_active_sequences 0")
        {
            return;
        }
    }
    panic!("the stream was not cancelled:\n{metrics}");
}

/// Batch invariance: a seeded request gives the same tokens and bit-identical
/// log-probabilities alone and among 15 others.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixteen_concurrent_streams_give_the_tokens_each_gives_alone() {
    let mut cfg = config();
    cfg.parallel = 16;
    let Some(addr) = start(
        cfg,
        "sixteen_concurrent_streams_give_the_tokens_each_gives_alone",
    )
    .await
    else {
        return;
    };
    // A shared opening (prefix-cache hits after the first request), then a per-request
    // part; every fourth prompt is long enough to be prefilled in several chunks.
    const OPENING: &str = "The following is a collection of short stories written for children, each one about an animal who learns something new about the world. ";
    let prompt = move |i: u64| {
        let tail = if i.is_multiple_of(4) {
            "and then it went on and on, ".repeat(30)
        } else {
            String::new()
        };
        format!("{OPENING}Story {i}: once upon a time {tail}")
    };
    let body = move |i: u64| json!({"prompt": prompt(i), "max_tokens": 12, "temperature": 0.9, "seed": i, "stop": ["@@"], "logprobs": 2});
    let mut alone = Vec::new();
    for i in 0..16 {
        alone.push(post(addr, "/v1/completions", &body(i)).await.json()["choices"][0].clone());
    }
    let before = metrics(addr).await;
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            tokio::spawn(async move {
                post(addr, "/v1/completions", &body(i)).await.json()["choices"][0].clone()
            })
        })
        .collect();
    for (i, t) in tasks.into_iter().enumerate() {
        assert_eq!(
            t.await.unwrap(),
            alone[i],
            "request {i} differs when run among 15 others"
        );
    }
    // They really ran together, and the shared opening came from the prefix cache.
    let after = metrics(addr).await;
    let d = |k: &str| after[k] - before[k];
    let rows_per_batch = d("lineage_batch_rows_total") / d("lineage_batches_total");
    assert!(rows_per_batch > 4.0, "mean batch {rows_per_batch:.1} rows");
    assert!(
        d("lineage_prefix_cache_hit_tokens_total") >= 16.0 * 16.0,
        "{after:?}"
    );
}

/// The numeric lines of /metrics by name.
async fn metrics(addr: std::net::SocketAddr) -> std::collections::HashMap<String, f64> {
    let body = request(addr, "GET", "/metrics", &[], b"").await.body;
    body.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (k, v) = l.split_once(' ')?;
            Some((k.to_string(), v.parse().ok()?))
        })
        .collect()
}
