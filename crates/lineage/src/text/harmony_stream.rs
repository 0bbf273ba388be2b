//! Harmony output read as it streams: [`HarmonyStream`] turns text pieces (decoded with
//! special tokens kept) into message starts, content and ends, holding back only what may
//! still become a special token or is an unfinished header; [`HarmonyReply`] routes them
//! to what a reader is shown: reasoning (`analysis`), the answer, and messages to a tool.
//!
//! On well-formed harmony the messages equal [`super::parse_completion`]'s for any split
//! of the text. Where that parser refuses text, this one goes on: whitespace between
//! messages is skipped, text outside a message opens a message with no channel, and a
//! completion that does not start like a harmony header (`<|channel|>`, `<|message|>`,
//! `to=`) is plain text, all answer (a model that is not speaking harmony).
//! Reference: OpenAI's harmony format description (`openai/harmony`, docs/format.md).

use super::harmony_parse::{header, HarmonyEnd, HarmonyMessage, ENDS, MESSAGE, START};

/// What the first header of a completion may start with.
const FIRST: [&str; 3] = ["<|channel|>", MESSAGE, "to="];

/// One step of a streamed reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HarmonyEvent {
    /// A header is complete: its fields, with empty content.
    Start(HarmonyMessage),
    /// More content of the message last started.
    Content(String),
    /// The message last started has ended.
    End(HarmonyEnd),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// A header; `implied` for the completion's first, whose role is `assistant`.
    Header {
        implied: bool,
    },
    Body,
    /// After an end token: whitespace, then `<|start|>`.
    Between,
    /// Not harmony: everything is content.
    Plain,
    Done,
}

/// Incremental parser of a completion (the text after the prompt's `<|start|>assistant`).
#[derive(Debug, Clone)]
pub struct HarmonyStream {
    state: State,
    buf: String,
}

impl Default for HarmonyStream {
    fn default() -> Self {
        Self {
            state: State::Header { implied: true },
            buf: String::new(),
        }
    }
}

impl HarmonyStream {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a piece of the completion; returns the events it completes.
    pub fn push(&mut self, text: &str) -> Vec<HarmonyEvent> {
        self.buf.push_str(text);
        let mut out = Vec::new();
        while self.step(&mut out, false) {}
        out
    }

    /// The completion has ended: releases what was held and closes the last message.
    pub fn finish(&mut self) -> Vec<HarmonyEvent> {
        let mut out = Vec::new();
        while self.step(&mut out, true) {}
        out
    }

    /// Consumes what the buffer allows; `true` if another step may consume more.
    fn step(&mut self, out: &mut Vec<HarmonyEvent>, at_end: bool) -> bool {
        match self.state {
            State::Header { implied } => self.header(out, implied, at_end),
            State::Body => self.body(out, at_end),
            State::Between => self.between(out, at_end),
            State::Plain => {
                content(out, std::mem::take(&mut self.buf));
                if at_end {
                    out.push(HarmonyEvent::End(HarmonyEnd::Truncated));
                    self.state = State::Done;
                }
                false
            }
            State::Done => {
                self.buf.clear();
                false
            }
        }
    }

    fn header(&mut self, out: &mut Vec<HarmonyEvent>, implied: bool, at_end: bool) -> bool {
        let role = implied.then_some("assistant");
        if implied && !may_start_header(self.buf.trim_start()) {
            out.push(HarmonyEvent::Start(plain_header()));
            self.state = State::Plain;
            return true;
        }
        if let Some(i) = self.buf.find(MESSAGE) {
            out.push(HarmonyEvent::Start(start(&self.buf[..i], role)));
            self.buf.drain(..i + MESSAGE.len());
            self.state = State::Body;
            return true;
        }
        if at_end {
            // Cut inside the header: keep what it says, with no content.
            out.push(HarmonyEvent::Start(start(&self.buf, role)));
            out.push(HarmonyEvent::End(HarmonyEnd::Truncated));
            self.state = State::Done;
        }
        false
    }

    /// Content up to the first end token, or to a `<|start|>` that cuts the message.
    fn body(&mut self, out: &mut Vec<HarmonyEvent>, at_end: bool) -> bool {
        let first_end = ENDS
            .iter()
            .filter_map(|&(tok, kind)| self.buf.find(tok).map(|i| (i, tok.len(), kind)))
            .min_by_key(|&(i, _, _)| i);
        let start = self.buf.find(START);
        let (at, len, end, next) = match (first_end, start) {
            (Some((i, len, kind)), s) if s.is_none_or(|s| i < s) => (i, len, kind, State::Between),
            (_, Some(s)) => (
                s,
                START.len(),
                HarmonyEnd::Truncated,
                State::Header { implied: false },
            ),
            _ if at_end => {
                content(out, std::mem::take(&mut self.buf));
                out.push(HarmonyEvent::End(HarmonyEnd::Truncated));
                self.state = State::Done;
                return false;
            }
            _ => {
                let keep = partial_marker_len(&self.buf);
                let ready = self.buf.len() - keep;
                content(out, self.buf.drain(..ready).collect());
                return false;
            }
        };
        content(out, self.buf[..at].to_string());
        out.push(HarmonyEvent::End(end));
        self.buf.drain(..at + len);
        self.state = next;
        true
    }

    fn between(&mut self, out: &mut Vec<HarmonyEvent>, at_end: bool) -> bool {
        let rest = self.buf.trim_start();
        if let Some(after) = rest.strip_prefix(START) {
            let consumed = self.buf.len() - after.len();
            self.buf.drain(..consumed);
            self.state = State::Header { implied: false };
            return true;
        }
        if rest.is_empty() || START.starts_with(rest) {
            if at_end {
                self.state = State::Done;
            }
            return false;
        }
        // Text outside a message: shown as a message of its own.
        out.push(HarmonyEvent::Start(plain_header()));
        self.state = State::Body;
        true
    }
}

fn start(h: &str, role: Option<&str>) -> HarmonyMessage {
    header(h, role, String::new(), HarmonyEnd::Truncated)
}

fn plain_header() -> HarmonyMessage {
    start("", Some("assistant"))
}

fn content(out: &mut Vec<HarmonyEvent>, text: String) {
    if !text.is_empty() {
        out.push(HarmonyEvent::Content(text));
    }
}

/// Whether `t` (a completion's start, leading whitespace removed) can still be a header.
fn may_start_header(t: &str) -> bool {
    FIRST.iter().any(|m| t.starts_with(m) || m.starts_with(t))
}

/// Length of the longest suffix of `s` that is a proper prefix of an end token or
/// `<|start|>` (all begin with `<`, so the cut is on a char boundary).
fn partial_marker_len(s: &str) -> usize {
    let markers = || ENDS.iter().map(|&(t, _)| t).chain([START]);
    let longest = markers().map(str::len).max().unwrap_or(0);
    let from = s.len().saturating_sub(longest);
    s.char_indices()
        .filter(|&(i, c)| i >= from && c == '<')
        .map(|(i, _)| &s[i..])
        .find(|tail| markers().any(|m| m.len() > tail.len() && m.starts_with(tail)))
        .map_or(0, str::len)
}

/// The messages a sequence of events describes (what the whole text parses to).
pub fn messages_of(events: impl IntoIterator<Item = HarmonyEvent>) -> Vec<HarmonyMessage> {
    let mut out: Vec<HarmonyMessage> = Vec::new();
    for e in events {
        match (e, out.last_mut()) {
            (HarmonyEvent::Start(m), _) => out.push(m),
            (HarmonyEvent::Content(t), Some(m)) => m.content.push_str(&t),
            (HarmonyEvent::End(end), Some(m)) => m.end = end,
            (_, None) => {} // events always follow a start
        }
    }
    out
}

/// What a reader of a reply is shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HarmonyPart {
    /// Text of the `analysis` channel, as it arrives.
    Reasoning(String),
    /// Text of the answer (`final`, commentary to no one, text that is not harmony).
    Answer(String),
    /// A whole message to a recipient (`functions.get_weather`): a tool call.
    ToTool { recipient: String, content: String },
}

#[derive(Debug, Clone)]
enum Route {
    Reasoning,
    Answer,
    Tool { recipient: String, content: String },
}

/// A streamed reply split into reasoning, answer and tool messages.
#[derive(Debug, Clone)]
pub struct HarmonyReply {
    stream: HarmonyStream,
    route: Route,
}

impl Default for HarmonyReply {
    fn default() -> Self {
        Self {
            stream: HarmonyStream::new(),
            route: Route::Answer,
        }
    }
}

impl HarmonyReply {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a piece of the completion; returns the parts it completes.
    pub fn push(&mut self, text: &str) -> Vec<HarmonyPart> {
        let events = self.stream.push(text);
        self.route(events)
    }

    /// The completion has ended: the rest, and a tool message cut short (a call's
    /// `<|call|>` ends generation, so a call is never closed in the text).
    pub fn finish(&mut self) -> Vec<HarmonyPart> {
        let events = self.stream.finish();
        self.route(events)
    }

    fn route(&mut self, events: Vec<HarmonyEvent>) -> Vec<HarmonyPart> {
        let mut out = Vec::new();
        for e in events {
            match (e, &mut self.route) {
                (HarmonyEvent::Start(m), _) => {
                    self.route = match (m.recipient, m.channel.as_deref()) {
                        (Some(recipient), _) => Route::Tool {
                            recipient,
                            content: String::new(),
                        },
                        (None, Some("analysis")) => Route::Reasoning,
                        (None, _) => Route::Answer,
                    }
                }
                (HarmonyEvent::Content(t), Route::Reasoning) => out.push(HarmonyPart::Reasoning(t)),
                (HarmonyEvent::Content(t), Route::Answer) => out.push(HarmonyPart::Answer(t)),
                (HarmonyEvent::Content(t), Route::Tool { content, .. }) => content.push_str(&t),
                (HarmonyEvent::End(_), Route::Tool { recipient, content }) => {
                    out.push(HarmonyPart::ToTool {
                        recipient: std::mem::take(recipient),
                        content: std::mem::take(content),
                    });
                    self.route = Route::Answer;
                }
                (HarmonyEvent::End(_), _) => {}
            }
        }
        out
    }
}
