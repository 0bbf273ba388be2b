//! Hostile load on loopback, bounded in count and time: 200 concurrent connections and a
//! client that sends its headers a byte at a time (the leak check is leak.rs).

mod common;

use std::time::{Duration, Instant};

use common::{config, post, request, start};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_concurrent_connections_are_answered_or_refused() {
    let mut cfg = config();
    cfg.parallel = 16;
    cfg.queue = 64;
    let Some(addr) = start(
        cfg,
        "two_hundred_concurrent_connections_are_answered_or_refused",
    )
    .await
    else {
        return;
    };
    let body = json!({"prompt": "Hello", "max_tokens": 2, "temperature": 0});
    let tasks: Vec<_> = (0..200)
        .map(|_| {
            let b = body.clone();
            tokio::spawn(async move { post(addr, "/v1/completions", &b).await.status })
        })
        .collect();
    let mut ok = 0;
    for t in tasks {
        let status = tokio::time::timeout(Duration::from_secs(120), t)
            .await
            .expect("a connection hung")
            .unwrap();
        assert!(status == 200 || status == 429, "status {status}");
        ok += (status == 200) as usize;
    }
    assert!(ok >= 64, "only {ok} of 200 answered");
    assert_eq!(request(addr, "GET", "/health", &[], b"").await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_sending_headers_a_byte_at_a_time_does_not_stall_others() {
    let Some(addr) = start(
        config(),
        "a_client_sending_headers_a_byte_at_a_time_does_not_stall_others",
    )
    .await
    else {
        return;
    };
    let slow = tokio::spawn(async move {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        for b in b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" {
            s.write_all(&[*b]).await.unwrap();
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        out
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let t = Instant::now();
    let r = post(
        addr,
        "/v1/completions",
        &json!({"prompt": "Hi", "max_tokens": 2}),
    )
    .await;
    assert_eq!(r.status, 200);
    assert!(
        !slow.is_finished(),
        "the slow client should still be sending"
    );
    assert!(t.elapsed() < Duration::from_secs(30));
    assert!(
        slow.await.unwrap().contains("200 OK"),
        "the slow client got no answer"
    );
}
