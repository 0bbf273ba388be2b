//! 1,000 mixed requests (valid, malformed, oversized, streamed, abandoned mid-stream):
//! the server's resident memory after them is within 10% of what it was after the first
//! 100. Alone in its test binary, so the process's RSS is this server's. The prefix
//! cache is bounded (16 blocks here, full within the first 100 requests: the abandoned
//! streams' 50 tokens publish new blocks), and the test checks that bound too.

mod common;

use std::time::Duration;

use common::{post, request, start};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn rss_mib() -> f64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    let kb: f64 = s
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kb / 1024.0
}

/// Valid, malformed, oversized, streamed and abandoned requests in turn.
async fn mixed(addr: std::net::SocketAddr, i: usize) {
    match i % 5 {
        0 => drop(post(addr, "/v1/completions", &json!({"prompt": format!("Item {i}"), "max_tokens": 2})).await),
        1 => drop(request(addr, "POST", "/v1/chat/completions", &[], b"{not json").await),
        2 => drop(post(addr, "/v1/chat/completions", &json!({"messages": [{"role": "user", "content": "hi"}], "max_tokens": 2, "stream": true})).await),
        3 => drop(request(addr, "POST", "/v1/completions", &[], &vec![b'x'; 3 << 20]).await),
        _ => {
            let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
            let body = json!({"prompt": "Go on", "max_tokens": 50, "stream": true}).to_string();
            let head = format!("POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{body}", body.len());
            s.write_all(head.as_bytes()).await.unwrap();
            let mut buf = [0u8; 256];
            let _ = s.read(&mut buf).await;
        } // dropped mid-stream
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_mixed_requests_leak_nothing() {
    let mut cfg = common::config();
    cfg.prefix_cache = Some(16 * 16);
    let Some(addr) = start(cfg, "a_thousand_mixed_requests_leak_nothing").await else {
        return;
    };
    for i in 0..100 {
        mixed(addr, i).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after_100 = rss_mib();
    for i in 100..1000 {
        mixed(addr, i).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after_1000 = rss_mib();
    eprintln!("RSS after 100 requests {after_100:.1} MiB, after 1000 {after_1000:.1} MiB");
    assert!(
        after_1000 <= after_100 * 1.10,
        "RSS grew from {after_100:.1} to {after_1000:.1} MiB"
    );
    let m = request(addr, "GET", "/metrics", &[], b"").await.body;
    assert!(m.contains("lineage_active_sequences 0"), "{m}");
    let gauge = |name: &str| -> f64 {
        let line = m
            .lines()
            .find(|l| l.starts_with(&format!("{name} ")))
            .unwrap();
        line[name.len() + 1..].parse().unwrap()
    };
    assert_eq!(gauge("lineage_prefix_cache_blocks"), 16.0, "{m}");
    // Nothing but the cache holds blocks once every sequence has ended.
    assert_eq!(gauge("lineage_kv_blocks_used"), 16.0, "{m}");
}
