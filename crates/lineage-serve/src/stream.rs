//! Server-sent events as OpenAI streams them: for chat a role chunk per choice, then one
//! chunk per text piece, a final chunk per choice with its finish reason, the usage
//! chunk when asked for, and `data: [DONE]`. Choices of `n > 1` interleave.
//! When the reply may hold tool calls, each choice's text is held back until it ends
//! (a call is only known whole), then sent as one content chunk and one chunk per call,
//! with `finish_reason: "tool_calls"`. A harmony (gpt-oss) reply is read as it comes:
//! `delta.reasoning_content` chunks for the analysis channel, `delta.content` for the
//! answer, and each call as one chunk once its message ends (`crate::harmony`).

use std::collections::VecDeque;
use std::convert::Infallible;

use axum::response::sse::{Event as Sse, KeepAlive};
use axum::response::{IntoResponse, Response};
use futures_util::stream::{self, select_all, BoxStream, StreamExt};
use tokio::sync::mpsc::UnboundedReceiver;
use tokio_stream::wrappers::UnboundedReceiverStream;

use std::sync::Arc;

use lineage::runtime::decoder::TokenLogprob;
use lineage::text::Tokenizer;

use crate::harmony::{self, Piece};
use crate::response::{Answer, Head, Kind, Reading};
use crate::scheduler::{Event, Usage};
use crate::tools::ToolFormat;

struct State {
    head: Head,
    events: BoxStream<'static, (usize, Event)>,
    out: VecDeque<String>,
    usages: Vec<Option<Usage>>,
    include_usage: bool,
    done: bool,
    /// Set when log-probabilities were asked for: each choice's not yet sent.
    tok: Option<Arc<Tokenizer>>,
    pending: Vec<Vec<TokenLogprob>>,
    /// How the text is read: with a tool format, each choice's text is held back until
    /// it ends; with harmony, each choice's reply is read as it comes.
    reading: Reading,
    held: Vec<String>,
    replies: Vec<harmony::Reply>,
    /// Calls sent per choice (harmony), for their `index` and the finish reason.
    calls: Vec<usize>,
}

/// What a stream sends besides the events: usage at the end, log-probabilities, tools.
pub struct Options {
    pub include_usage: bool,
    /// Set when log-probabilities were asked for.
    pub tok: Option<Arc<Tokenizer>>,
    pub reading: Reading,
}

pub fn respond(head: Head, rxs: Vec<UnboundedReceiver<Event>>, opts: Options) -> Response {
    let n = rxs.len();
    let merged = select_all(rxs.into_iter().enumerate().map(|(i, rx)| {
        UnboundedReceiverStream::new(rx)
            .map(move |e| (i, e))
            .boxed()
    }));
    let mut out = VecDeque::new();
    if head.kind == Kind::Chat {
        out.extend((0..n).map(|i| head.role_chunk(i).to_string()));
    }
    let state = State {
        head,
        events: merged.boxed(),
        out,
        usages: vec![None; n],
        include_usage: opts.include_usage,
        done: false,
        tok: opts.tok,
        pending: vec![Vec::new(); n],
        reading: opts.reading,
        held: vec![String::new(); n],
        replies: match opts.reading {
            Reading::Harmony { tools } => vec![harmony::Reply::new(tools); n],
            _ => Vec::new(),
        },
        calls: vec![0; n],
    };
    let body = stream::unfold(state, |mut st| async move {
        loop {
            if let Some(data) = st.out.pop_front() {
                return Some((Ok::<_, Infallible>(Sse::default().data(data)), st));
            }
            if st.done {
                return None;
            }
            next_events(&mut st).await;
        }
    });
    axum::response::Sse::new(body)
        .keep_alive(KeepAlive::default())
        .into_response()
}

/// Turns the next scheduler event into chunks, or ends the stream.
async fn next_events(st: &mut State) {
    match st.events.next().await {
        Some((i, Event::Logprob(lp))) => st.pending[i].push(lp),
        Some((i, Event::Text(t))) => match st.reading {
            Reading::Text => {
                let lp = take_logprobs(st, i);
                st.out
                    .push_back(st.head.chunk(i, Some(&t), None, lp).to_string())
            }
            Reading::Tools(_) => st.held[i].push_str(&t),
            Reading::Harmony { .. } => {
                let pieces = st.replies[i].push(&t);
                send(st, i, pieces);
            }
        },
        Some((i, Event::Done(u))) => {
            st.usages[i] = Some(u);
            let finish = match st.reading {
                Reading::Text => u.finish_reason,
                Reading::Tools(f) => release(st, i, u, f),
                Reading::Harmony { .. } => {
                    let pieces = st.replies[i].finish();
                    send(st, i, pieces);
                    match st.calls[i] {
                        0 => u.finish_reason,
                        _ => "tool_calls",
                    }
                }
            };
            let text = (st.head.kind == Kind::Completion).then_some("");
            let lp = take_logprobs(st, i);
            st.out
                .push_back(st.head.chunk(i, text, Some(finish), lp).to_string());
        }
        Some((_, Event::Failed(msg))) => {
            let err = crate::error::ApiError::internal(msg);
            st.out.push_back(err.body().to_string());
            finish(st, false);
        }
        None => finish(st, st.include_usage),
    }
}

/// Sends choice `i`'s held text as its content and calls; its finish reason.
fn release(st: &mut State, i: usize, u: Usage, f: ToolFormat) -> &'static str {
    let answer = Answer::new(std::mem::take(&mut st.held[i]), u, None, Reading::Tools(f));
    if let Some(text) = answer.content.as_deref().filter(|t| !t.is_empty()) {
        let lp = take_logprobs(st, i);
        st.out
            .push_back(st.head.chunk(i, Some(text), None, lp).to_string());
    }
    for (k, call) in answer.calls.iter().enumerate() {
        st.out
            .push_back(st.head.tool_call_chunk(i, k, call).to_string());
    }
    answer.finish_reason()
}

/// Sends pieces of choice `i`'s harmony reply as they arrived.
fn send(st: &mut State, i: usize, pieces: Vec<Piece>) {
    for p in pieces {
        let chunk = match p {
            Piece::Reasoning(t) => {
                let lp = take_logprobs(st, i);
                st.head.reasoning_chunk(i, &t, lp)
            }
            Piece::Content(t) if t.is_empty() => continue,
            Piece::Content(t) => {
                let lp = take_logprobs(st, i);
                st.head.chunk(i, Some(&t), None, lp)
            }
            Piece::Call(c) => {
                st.calls[i] += 1;
                st.head.tool_call_chunk(i, st.calls[i] - 1, &c)
            }
        };
        st.out.push_back(chunk.to_string());
    }
}

/// The log-probabilities of choice `i` not yet sent, for its next chunk.
fn take_logprobs(st: &mut State, i: usize) -> Option<serde_json::Value> {
    let tok = st.tok.as_ref()?;
    let lps = std::mem::take(&mut st.pending[i]);
    Some(crate::logprobs::field(st.head.kind, tok, &lps))
}

fn finish(st: &mut State, usage: bool) {
    if usage {
        let chunk = st.head.usage_chunk(st.usages.iter().flatten().copied());
        st.out.push_back(chunk.to_string());
    }
    st.out.push_back("[DONE]".into());
    st.done = true;
}
