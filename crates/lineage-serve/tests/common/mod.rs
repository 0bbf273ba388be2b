//! A server on an ephemeral loopback port with the real default model, and a minimal
//! HTTP/1.1 client (no client library: the tests see the exact bytes sent back).
#![allow(dead_code)]

use std::net::SocketAddr;

use lineage::runtime::backend::Backend;
use lineage::text::Tokenizer;
use lineage_serve::{router, AppState, ServeConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// `true` if a peer the test needs (a client, a browser) is there; otherwise the skip is
/// recorded like a missing model's (`lineage::cache::test_needs`).
pub fn peer_present(present: bool, why: &str) -> bool {
    lineage::cache::test_needs(present, why)
}

pub fn config() -> ServeConfig {
    ServeConfig {
        addr: "127.0.0.1:0".parse().unwrap(),
        api_key: None,
        parallel: 4,
        queue: 64,
        ctx_size: Some(2048),
        max_body: 2 << 20,
        prefix_cache: None,
        model_name: "smollm2".into(),
    }
}

/// The default model and its tokenizer, or `None` (skip recorded) when not fetched.
pub fn model(test: &str) -> Option<(Backend, Tokenizer)> {
    let path = lineage::cache::test_model(lineage::cache::SMOLLM2_Q4_1, test)?;
    let (cfg, w) = lineage::load(&path).unwrap();
    let tok = lineage::load_tokenizer(&path).unwrap();
    Some((Backend::new(&cfg, &w).unwrap(), tok))
}

pub async fn start(cfg: ServeConfig, test: &str) -> Option<SocketAddr> {
    let (model, tok) = model(test)?;
    let state = AppState::new(&cfg, model, tok);
    let listener = TcpListener::bind(cfg.addr).await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router(state)).await.unwrap() });
    Some(addr)
}

pub struct Reply {
    pub status: u16,
    pub headers: String,
    pub body: String,
}

impl Reply {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
    /// The `data:` payloads of an SSE body, in order.
    pub fn events(&self) -> Vec<String> {
        self.body
            .split("\n\n")
            .filter_map(|e| e.lines().find_map(|l| l.strip_prefix("data: ")))
            .map(String::from)
            .collect()
    }
}

pub async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[&str],
    body: &[u8],
) -> Reply {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for h in headers {
        head += &format!("{h}\r\n");
    }
    head += "\r\n";
    s.write_all(head.as_bytes()).await.unwrap();
    let _ = s.write_all(body).await; // a refused body may be cut short by the server
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw).await;
    parse(&raw)
}

pub async fn post(addr: SocketAddr, path: &str, body: &serde_json::Value) -> Reply {
    request(
        addr,
        "POST",
        path,
        &["Content-Type: application/json"],
        body.to_string().as_bytes(),
    )
    .await
}

fn parse(raw: &[u8]) -> Reply {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(raw.len());
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let body = raw.get(split + 4..).unwrap_or_default();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let chunked = head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked");
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_vec()
    };
    Reply {
        status,
        headers: head,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

fn dechunk(mut s: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = s.windows(2).position(|w| w == b"\r\n") {
        let size = String::from_utf8_lossy(&s[..eol]);
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        let rest = &s[eol + 2..];
        if n == 0 || rest.len() < n {
            break;
        }
        out.extend_from_slice(&rest[..n]);
        s = rest.get(n + 2..).unwrap_or_default();
    }
    out
}
