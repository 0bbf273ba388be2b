//! Harmony replies through the server's response and stream builders, from token ids: a
//! byte-level BPE vocabulary with gpt-oss's special tokens (control tokens, as in
//! o200k_harmony) encodes model-shaped completions; the ids are decoded one at a time
//! with special tokens kept, as the decoder hands them to the scheduler, and sent as its
//! events. No gpt-oss tokenizer is in the fixtures or the model cache, so the ids are not
//! gpt-oss's; the text and the token boundaries around the special tokens are.

use lineage::text::{TokenStream, Tokenizer, VocabSpec};
use serde_json::Value;
use tokio::sync::mpsc::unbounded_channel;

use super::*;
use crate::response::{Answer, Head, Kind, Reading};
use crate::scheduler::{Event, Usage};

const SPECIAL: [&str; 8] = [
    "<|start|>",
    "<|end|>",
    "<|message|>",
    "<|channel|>",
    "<|constrain|>",
    "<|return|>",
    "<|call|>",
    "<|endoftext|>",
];

/// GPT-2's byte-to-unicode map: the 256 base tokens of a byte-level BPE.
fn byte_chars() -> Vec<char> {
    let printable = |b: u32| (33..=126).contains(&b) || (161..=172).contains(&b) || b >= 174;
    let mut extra = 0;
    (0..256u32)
        .map(|b| {
            if printable(b) {
                char::from_u32(b).unwrap()
            } else {
                extra += 1;
                char::from_u32(255 + extra).unwrap()
            }
        })
        .collect()
}

fn tokenizer() -> Tokenizer {
    let mut tokens: Vec<String> = byte_chars().into_iter().map(String::from).collect();
    let merges = [
        "P a", "Pa r", "Par i", "Pari s", "Ġ i", "Ġi s", "a n", "an a",
    ];
    tokens.extend(merges.iter().map(|m| m.replace(' ', "")));
    tokens.extend(SPECIAL.iter().map(|s| s.to_string()));
    let mut types = vec![1; tokens.len()];
    types[tokens.len() - SPECIAL.len()..].fill(3);
    let eos = tokens.iter().position(|t| t == "<|return|>").unwrap() as u32;
    Tokenizer::from_vocab(&VocabSpec {
        model: "gpt2".into(),
        tokens,
        token_types: Some(types),
        merges: merges.iter().map(|m| m.to_string()).collect(),
        eos_id: Some(eos),
        ..VocabSpec::default()
    })
    .unwrap()
}

/// What the decoder sends for `completion`: each token's new text, special tokens kept,
/// up to the first end-of-generation token (whose text is never sent).
fn decoded_pieces(tok: &Tokenizer, completion: &str) -> Vec<String> {
    let ids = tok.encode(completion, false).unwrap();
    for s in ["<|channel|>", "<|message|>"] {
        let id = tok.token_to_id(s).unwrap();
        assert!(ids.contains(&id), "{s} is one token");
    }
    let mut stream = TokenStream::new(tok, false);
    let mut pieces = Vec::new();
    for id in ids {
        if tok.eos_ids().contains(&id) {
            break;
        }
        pieces.push(stream.push(id).unwrap());
    }
    pieces.push(stream.finish().unwrap());
    pieces
}

const USAGE: Usage = Usage {
    finish_reason: "stop",
    prompt_tokens: 20,
    completion_tokens: 30,
};

/// The SSE payloads of one streamed choice.
async fn stream_events(pieces: &[String], reading: Reading) -> Vec<Value> {
    let (tx, rx) = unbounded_channel();
    for p in pieces {
        tx.send(Event::Text(p.clone())).unwrap();
    }
    tx.send(Event::Done(USAGE)).unwrap();
    drop(tx);
    let opts = crate::stream::Options {
        include_usage: false,
        tok: None,
        reading,
    };
    let head = Head::new(Kind::Chat, 9, "gpt-oss");
    let resp = crate::stream::respond(head, vec![rx], opts);
    let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap();
    let body = String::from_utf8(body.to_vec()).unwrap();
    let data: Vec<&str> = body
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .collect();
    assert_eq!(data.last(), Some(&"[DONE]"), "{body}");
    data[..data.len() - 1]
        .iter()
        .map(|d| serde_json::from_str(d).unwrap())
        .collect()
}

/// The concatenated `field` of the stream's deltas, and how many chunks carried it.
fn deltas(events: &[Value], field: &str) -> (String, usize) {
    let texts: Vec<&str> = events
        .iter()
        .filter_map(|e| e["choices"][0]["delta"][field].as_str())
        .filter(|t| !t.is_empty())
        .collect();
    (texts.concat(), texts.len())
}

fn whole(text: &str, reading: Reading) -> Value {
    let a = Answer::new(text.to_string(), USAGE, None, reading);
    Head::new(Kind::Chat, 9, "gpt-oss").body(&[a])["choices"][0].clone()
}

const REASONING: &str = "User asks the capital of France. Easy: Paris. Größe ≈ 😀.";
const ANSWER: &str = "Paris is the capital of France.";

#[tokio::test]
async fn harmony_reply_streams_reasoning_then_content_and_whole_agrees() {
    let tok = tokenizer();
    let completion = format!(
        "<|channel|>analysis<|message|>{REASONING}<|end|><|start|>assistant\
         <|channel|>final<|message|>{ANSWER}<|return|>"
    );
    let pieces = decoded_pieces(&tok, &completion);
    let reading = Reading::Harmony { tools: false };
    let events = stream_events(&pieces, reading).await;
    let (reasoning, n_reasoning) = deltas(&events, "reasoning_content");
    let (content, n_content) = deltas(&events, "content");
    assert_eq!(reasoning, REASONING);
    assert_eq!(content, ANSWER);
    // Streamed as the tokens come, not in one piece at the end.
    assert!(
        n_reasoning > 10 && n_content > 10,
        "{n_reasoning} {n_content}"
    );
    let first_content = events.iter().position(|e| {
        e["choices"][0]["delta"]["content"]
            .as_str()
            .is_some_and(|t| !t.is_empty())
    });
    let last_reasoning = events
        .iter()
        .rposition(|e| e["choices"][0]["delta"]["reasoning_content"].is_string());
    assert!(last_reasoning < first_content);
    let last = &events[events.len() - 1]["choices"][0];
    assert_eq!(last["finish_reason"], "stop");

    let c = whole(&pieces.concat(), reading);
    assert_eq!(c["message"]["content"], ANSWER);
    assert_eq!(c["message"]["reasoning_content"], REASONING);
    assert_eq!(c["finish_reason"], "stop");
}

#[tokio::test]
async fn harmony_reply_with_tools_streams_reasoning_and_sends_the_call_whole() {
    let tok = tokenizer();
    let completion = format!(
        "<|channel|>analysis<|message|>{REASONING}<|end|><|start|>assistant\
         <|channel|>commentary to=functions.get_weather <|constrain|>json\
         <|message|>{{\"city\":\"Paris\"}}<|call|>"
    );
    let pieces = decoded_pieces(&tok, &completion);
    let reading = Reading::Harmony { tools: true };
    let events = stream_events(&pieces, reading).await;
    assert_eq!(deltas(&events, "reasoning_content").0, REASONING);
    assert_eq!(deltas(&events, "content").0, "");
    let calls: Vec<&Value> = events
        .iter()
        .filter_map(|e| e["choices"][0]["delta"]["tool_calls"].get(0))
        .collect();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0]["function"]["name"], "get_weather");
    assert_eq!(calls[0]["function"]["arguments"], "{\"city\":\"Paris\"}");
    let last = &events[events.len() - 1]["choices"][0];
    assert_eq!(last["finish_reason"], "tool_calls");

    let c = whole(&pieces.concat(), reading);
    assert_eq!(c["message"]["content"], Value::Null);
    assert_eq!(c["message"]["reasoning_content"], REASONING);
    assert_eq!(
        c["message"]["tool_calls"][0]["function"]["name"],
        "get_weather"
    );
    assert_eq!(c["finish_reason"], "tool_calls");
    // Without tools the same message is not a call: its arguments are text.
    let c = whole(&pieces.concat(), Reading::Harmony { tools: false });
    assert_eq!(c["message"]["content"], "{\"city\":\"Paris\"}");
    assert!(c["message"].get("tool_calls").is_none());
}

#[tokio::test]
async fn harmony_reading_of_text_that_is_not_harmony_is_the_text() {
    let text = "Paris is nice <|start|> and so on";
    let pieces: Vec<String> = text.split(' ').map(|w| format!("{w} ")).collect();
    let reading = Reading::Harmony { tools: false };
    let events = stream_events(&pieces, reading).await;
    assert_eq!(deltas(&events, "content").0, pieces.concat());
    assert_eq!(deltas(&events, "reasoning_content").1, 0);
    let c = whole(&pieces.concat(), reading);
    assert_eq!(c["message"]["content"], pieces.concat());
    assert!(c["message"].get("reasoning_content").is_none());
}

#[test]
fn reply_call_with_bad_arguments_or_another_recipient_stays_content() {
    let text = "<|channel|>commentary to=browser.search <|constrain|>json<|message|>{\"q\":1}";
    assert_eq!(whole_of(text).content, "{\"q\":1}");
    let text = "<|channel|>commentary to=functions.f json<|message|>{\"x\": ";
    assert_eq!(whole_of(text).content, "{\"x\": ");
    assert!(whole_of(text).calls.is_empty());
}

fn whole_of(text: &str) -> Whole {
    super::whole(text, true)
}
