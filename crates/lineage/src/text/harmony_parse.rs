//! Reads harmony text (gpt-oss's chat format) back into messages: what the model wrote
//! after the prompt's `<|start|>assistant`, or a whole rendered conversation.
//!
//! A message is `<|start|>{header}<|message|>{content}` closed by `<|end|>`, `<|return|>`
//! (the answer is complete) or `<|call|>` (a tool call). The header is the role, then
//! optionally `<|channel|>{channel}`, a recipient `to={name}` (in the role or the channel
//! part) and a content type (`json`, or after `<|constrain|>`).
//! Reference: OpenAI's harmony format description (`openai/harmony`, docs/format.md).
//! Model output is untrusted: text that stops mid-message is returned as truncated, and
//! text outside any message is an error naming its byte offset; nothing panics.

use crate::{Error, Result};

pub(super) const START: &str = "<|start|>";
pub(super) const MESSAGE: &str = "<|message|>";
const CHANNEL: &str = "<|channel|>";
const CONSTRAIN: &str = "<|constrain|>";

/// How a message ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HarmonyEnd {
    /// `<|end|>`: the turn goes on (e.g. analysis before the final answer).
    End,
    /// `<|return|>`: the final answer is complete.
    Return,
    /// `<|call|>`: a tool call; the caller runs the tool and answers.
    Call,
    /// The text stopped before an end token (length limit, stream cut).
    Truncated,
}

pub(super) const ENDS: [(&str, HarmonyEnd); 3] = [
    ("<|end|>", HarmonyEnd::End),
    ("<|return|>", HarmonyEnd::Return),
    ("<|call|>", HarmonyEnd::Call),
];

/// One parsed message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HarmonyMessage {
    pub role: String,
    /// `analysis`, `commentary` or `final` for the assistant.
    pub channel: Option<String>,
    /// The tool a call goes to (`functions.get_weather`).
    pub recipient: Option<String>,
    /// `json` for structured tool arguments.
    pub content_type: Option<String>,
    pub content: String,
    pub end: HarmonyEnd,
}

/// Parses a completion: the text generated after the prompt's `<|start|>assistant`, so
/// its first header has no `<|start|>` and no role.
pub fn parse_completion(text: &str) -> Result<Vec<HarmonyMessage>> {
    parse(text, Some("assistant"))
}

/// Parses a whole conversation, every message opened by `<|start|>`.
pub fn parse_conversation(text: &str) -> Result<Vec<HarmonyMessage>> {
    parse(text, None)
}

fn parse(text: &str, mut implied_role: Option<&str>) -> Result<Vec<HarmonyMessage>> {
    let mut out = Vec::new();
    let mut pos = 0;
    loop {
        let rest = &text[pos..];
        let (role, header_at) = match implied_role.take() {
            Some(role) => (Some(role), pos),
            None if rest.trim().is_empty() => return Ok(out),
            None => match rest.strip_prefix(START) {
                Some(_) => (None, pos + START.len()),
                None => {
                    return Err(Error::BadInput(format!(
                        "harmony: text outside a message at byte {pos}: {:?}",
                        preview(rest)
                    )))
                }
            },
        };
        let (msg, next) = message(text, header_at, role);
        out.push(msg);
        match next {
            Some(n) => pos = n,
            None => return Ok(out),
        }
    }
}

/// The message whose header starts at `at`, and where the next one starts (`None` at the
/// end of the text).
fn message(text: &str, at: usize, role: Option<&str>) -> (HarmonyMessage, Option<usize>) {
    let rest = &text[at..];
    let Some(h) = rest.find(MESSAGE) else {
        // Cut inside the header: keep what it says, with no content.
        let msg = header(rest, role, String::new(), HarmonyEnd::Truncated);
        return (msg, None);
    };
    let body_at = at + h + MESSAGE.len();
    let (content, end, next) = body(text, body_at);
    (header(&rest[..h], role, content, end), next)
}

/// Content from `at` to the first end token; a `<|start|>` before any end token closes
/// the message as truncated (the model began a new one without ending this one).
fn body(text: &str, at: usize) -> (String, HarmonyEnd, Option<usize>) {
    let rest = &text[at..];
    let first_end = ENDS
        .iter()
        .filter_map(|&(tok, kind)| rest.find(tok).map(|i| (i, tok.len(), kind)))
        .min_by_key(|&(i, _, _)| i);
    let start = rest.find(START);
    match (first_end, start) {
        (Some((i, len, kind)), s) if s.is_none_or(|s| i < s) => {
            (rest[..i].to_string(), kind, Some(at + i + len))
        }
        (_, Some(s)) => (rest[..s].to_string(), HarmonyEnd::Truncated, Some(at + s)),
        _ => (rest.to_string(), HarmonyEnd::Truncated, None),
    }
}

/// The message whose header (the text before `<|message|>`) is `h`; `role` when the
/// header has none of its own (a completion's first message).
pub(super) fn header(
    h: &str,
    role: Option<&str>,
    content: String,
    end: HarmonyEnd,
) -> HarmonyMessage {
    let (role_part, channel_part) = match h.find(CHANNEL) {
        Some(i) => (&h[..i], Some(&h[i + CHANNEL.len()..])),
        None => (h, None),
    };
    let mut msg = HarmonyMessage {
        role: role.unwrap_or_default().to_string(),
        channel: None,
        recipient: None,
        content_type: None,
        content,
        end,
    };
    for word in role_part.split_whitespace() {
        match word.strip_prefix("to=") {
            Some(r) => msg.recipient = Some(r.to_string()),
            None if msg.role.is_empty() => msg.role = word.to_string(),
            None => {}
        }
    }
    if let Some(c) = channel_part {
        channel_words(c, &mut msg);
    }
    msg
}

/// `{channel} [to={recipient}] [{type}] [<|constrain|>{type}]`.
fn channel_words(c: &str, msg: &mut HarmonyMessage) {
    let (words, constrained) = match c.find(CONSTRAIN) {
        Some(i) => (&c[..i], Some(c[i + CONSTRAIN.len()..].trim())),
        None => (c, None),
    };
    for word in words.split_whitespace() {
        match word.strip_prefix("to=") {
            Some(r) => msg.recipient = Some(r.to_string()),
            None if msg.channel.is_none() => msg.channel = Some(word.to_string()),
            None => msg.content_type = Some(word.to_string()),
        }
    }
    if let Some(t) = constrained.filter(|t| !t.is_empty()) {
        msg.content_type = Some(t.to_string());
    }
}

/// The first characters of `s`, for error messages.
fn preview(s: &str) -> String {
    s.chars().take(40).collect()
}
