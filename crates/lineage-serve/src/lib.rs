//! `lineage serve`: an OpenAI-compatible HTTP server (axum/tokio) in front of lineage's
//! engine. Routes: `POST /v1/chat/completions`, `POST /v1/completions`, `GET /v1/models`,
//! `GET /health`, `GET /metrics` (Prometheus text) and the chat page at `/`.
//!
//! The async side only parses, queues and streams; the model runs on the scheduler's
//! own thread (`scheduler.rs`).

mod app;
mod error;
mod handlers;
mod harmony;
mod logprobs;
mod metrics;
mod request;
mod response;
mod scheduler;
mod stream;
mod structured;
mod tools;

use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use lineage::config::ChatFormat;
use lineage::runtime::backend::Backend;
use lineage::text::Tokenizer;

pub use app::router;
pub use scheduler::Scheduler;

/// How the server runs.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub addr: SocketAddr,
    pub api_key: Option<String>,
    /// Sequences decoded at once.
    pub parallel: usize,
    /// Requests waiting beyond those; more get 429.
    pub queue: usize,
    /// Context per sequence (at most the model's).
    pub ctx_size: Option<usize>,
    /// Largest request body in bytes; larger gets 413.
    pub max_body: usize,
    /// Positions of earlier prompts the prefix cache keeps (`None`: one context's worth).
    pub prefix_cache: Option<usize>,
    pub model_name: String,
}

/// What every handler reads.
pub struct AppState {
    pub sched: Scheduler,
    pub tok: Arc<Tokenizer>,
    /// The model's chat format (`ModelConfig::chat`): how prompts are rendered and replies read.
    pub chat: ChatFormat,
    pub ctx: usize,
    pub api_key: Option<String>,
    pub max_body: usize,
    pub model_name: String,
    pub next_id: AtomicU64,
    /// `response_format` compilers, built on first use.
    structured: structured::Structured,
}

impl AppState {
    pub fn new(cfg: &ServeConfig, model: Backend, tok: Tokenizer) -> Arc<Self> {
        let chat = model.config().chat;
        let ctx = cfg.ctx_size.map_or(model.config().context_len, |c| {
            c.min(model.config().context_len)
        });
        let tok = Arc::new(tok);
        let cache = cfg.prefix_cache.unwrap_or(ctx);
        let sched = Scheduler::start(model, Arc::clone(&tok), cfg.parallel, cfg.queue, cache);
        Arc::new(Self {
            sched,
            tok,
            chat,
            ctx,
            api_key: cfg.api_key.clone(),
            max_body: cfg.max_body,
            model_name: cfg.model_name.clone(),
            next_id: AtomicU64::new(1),
            structured: structured::Structured::default(),
        })
    }
}

/// Serves until SIGTERM or Ctrl-C, then stops accepting and lets the streams in flight end.
pub async fn serve(cfg: ServeConfig, model: Backend, tok: Tokenizer) -> anyhow::Result<()> {
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .try_init();
    let state = AppState::new(&cfg, model, tok);
    let listener = tokio::net::TcpListener::bind(cfg.addr).await?;
    // Printed, not only logged: scripts and tests wait for this line.
    eprintln!(
        "lineage serve: listening on http://{} (model {})",
        listener.local_addr()?,
        cfg.model_name
    );
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down: finishing the streams in flight");
}
