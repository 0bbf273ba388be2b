//! The `/v1` endpoints: parse, render the prompt, queue one job per choice, then answer
//! whole or as a stream.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver};

use crate::error::ApiError;
use crate::request::{self, ChatRequest, CompletionRequest, Sampling};
use crate::response::{Answer, Head, Kind, Reading};
use crate::scheduler::{Event, Job, Usage};
use crate::tools::{self, Tools};
use crate::AppState;
use lineage::runtime::decoder::TokenLogprob;
use lineage::text::grammar::Structure;

/// The body, or the error that reading it gave (413 past the size limit).
fn body(b: Result<Bytes, BytesRejection>) -> Result<Bytes, ApiError> {
    b.map_err(|r| ApiError {
        status: r.status(),
        kind: "invalid_request_error",
        message: format!("could not read the request body: {}", r.body_text()),
        param: None,
    })
}

pub async fn chat(
    State(s): State<Arc<AppState>>,
    b: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let req: ChatRequest = request::parse(&body(b)?)?;
    let format = tools::detect(s.chat, s.tok.chat_template());
    let tools = Tools::new(req.tools.as_ref(), req.tool_choice.as_ref(), format)?;
    let msgs = request::messages(req.messages)?;
    let text = lineage::text::render_chat_with_tools(&s.tok, s.chat, &msgs, tools.prompt_tools())?;
    let prompt = lineage::text::encode_rendered(&s.tok, &text)?;
    let reading = match tools.parser() {
        _ if s.chat.is_harmony() => Reading::Harmony {
            tools: tools.parser().is_some(),
        },
        Some(f) => Reading::Tools(f),
        None => Reading::Text,
    };
    let forced = tools.forced();
    run(&s, Kind::Chat, prompt, req.sampling, reading, forced).await
}

pub async fn completions(
    State(s): State<Arc<AppState>>,
    b: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let req: CompletionRequest = request::parse(&body(b)?)?;
    if req.tools.as_ref().is_some_and(|t| !t.is_null()) {
        return Err(ApiError::bad_request(
            "`tools` is for /v1/chat/completions; plain completions have none",
            Some("tools"),
        ));
    }
    let prompts = req.prompt.to_vec();
    let [text] = prompts.as_slice() else {
        return Err(ApiError::bad_request(
            "send one prompt per request (a list of several is not supported)",
            Some("prompt"),
        ));
    };
    let prompt = s.tok.encode(text, true)?;
    // A completion is the raw text: for harmony, its special tokens included.
    run(
        &s,
        Kind::Completion,
        prompt,
        req.sampling,
        Reading::Text,
        None,
    )
    .await
}

pub async fn models(State(s): State<Arc<AppState>>) -> Json<serde_json::Value> {
    Json(json!({"object": "list", "data": [{
        "id": s.model_name, "object": "model", "created": 0, "owned_by": "lineage",
    }]}))
}

async fn run(
    s: &AppState,
    kind: Kind,
    prompt: Vec<u32>,
    sampling: Sampling,
    reading: Reading,
    forced_call: Option<Structure>,
) -> Result<Response, ApiError> {
    if prompt.len() >= s.ctx {
        return Err(lineage::Error::ContextOverflow {
            len: prompt.len(),
            context_len: s.ctx,
        }
        .into());
    }
    let n = sampling.n()?;
    let logprobs = sampling.logprobs(kind == Kind::Chat)?;
    let structure = match (sampling.structure()?, forced_call) {
        (Some(_), Some(_)) => {
            return Err(ApiError::bad_request(
                "response_format and a forced tool call (tool_choice \"required\" or a named function) cannot both hold",
                Some("tool_choice"),
            ))
        }
        (format, call) => format.or(call),
    };
    let constraint = match structure {
        Some(st) => Some(s.constraint(st).await?),
        None => None,
    };
    let mut rxs = Vec::with_capacity(n);
    for i in 0..n {
        let mut opts = sampling.options(i, prompt.len(), s.ctx, logprobs)?;
        // Each choice starts its own parser from the compiled schema.
        opts.constraint = constraint.clone();
        // Harmony's channels and calls are read from its special tokens (`<|channel|>`, ...).
        opts.keep_special = s.chat.is_harmony();
        let (tx, rx) = unbounded_channel();
        let job = Job {
            prompt: prompt.clone(),
            opts,
            events: tx,
        };
        if !s.sched.submit(job) {
            // The choices already queued see their receivers dropped and are cancelled.
            return Err(ApiError::queue_full(s.sched.queue));
        }
        rxs.push(rx);
    }
    let head = Head::new(
        kind,
        s.next_id.fetch_add(1, Ordering::Relaxed),
        &s.model_name,
    );
    if sampling.stream {
        let opts = crate::stream::Options {
            include_usage: sampling.include_usage(),
            tok: logprobs.map(|_| Arc::clone(&s.tok)),
            reading,
        };
        return Ok(crate::stream::respond(head, rxs, opts));
    }
    let mut choices = Vec::with_capacity(n);
    for rx in rxs {
        let (text, usage, lps) = collect(rx).await?;
        let lp = logprobs.map(|_| crate::logprobs::field(kind, &s.tok, &lps));
        choices.push(Answer::new(text, usage, lp, reading));
    }
    Ok(Json(head.body(&choices)).into_response())
}

/// The whole text of one choice, its usage and its tokens' log-probabilities.
async fn collect(
    mut rx: UnboundedReceiver<Event>,
) -> Result<(String, Usage, Vec<TokenLogprob>), ApiError> {
    let (mut text, mut lps) = (String::new(), Vec::new());
    while let Some(e) = rx.recv().await {
        match e {
            Event::Logprob(lp) => lps.push(lp),
            Event::Text(t) => text.push_str(&t),
            Event::Done(u) => return Ok((text, u, lps)),
            // A schema can pass compiling and exceed the parser's limits a few tokens on.
            Event::Failed(msg) if lineage::text::grammar::is_constraint_error(&msg) => {
                return Err(ApiError::bad_request(
                    format!("response_format: {msg}"),
                    Some("response_format"),
                ))
            }
            Event::Failed(msg) => return Err(ApiError::internal(msg)),
        }
    }
    Err(ApiError::internal(
        "the scheduler stopped before the answer was complete",
    ))
}
