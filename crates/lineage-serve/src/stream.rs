//! Server-sent events as OpenAI streams them: for chat a role chunk per choice, then one
//! chunk per text piece, a final chunk per choice with its finish reason, the usage
//! chunk when asked for, and `data: [DONE]`. Choices of `n > 1` interleave.

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

use crate::response::{Head, Kind};
use crate::scheduler::{Event, Usage};

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
}

pub fn respond(
    head: Head,
    rxs: Vec<UnboundedReceiver<Event>>,
    include_usage: bool,
    tok: Option<Arc<Tokenizer>>,
) -> Response {
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
        include_usage,
        done: false,
        tok,
        pending: vec![Vec::new(); n],
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
        Some((i, Event::Text(t))) => {
            let lp = take_logprobs(st, i);
            st.out
                .push_back(st.head.chunk(i, Some(&t), None, lp).to_string())
        }
        Some((i, Event::Done(u))) => {
            st.usages[i] = Some(u);
            let text = (st.head.kind == Kind::Completion).then_some("");
            let lp = take_logprobs(st, i);
            st.out.push_back(
                st.head
                    .chunk(i, text, Some(u.finish_reason), lp)
                    .to_string(),
            );
        }
        Some((_, Event::Failed(msg))) => {
            let err = crate::error::ApiError::internal(msg);
            st.out.push_back(err.body().to_string());
            finish(st, false);
        }
        None => finish(st, st.include_usage),
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
