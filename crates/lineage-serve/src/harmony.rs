//! A gpt-oss (harmony) chat reply as the client gets it: the `analysis` channel as
//! `reasoning_content` (the field vLLM and llama-server use), the answer as `content`,
//! and messages to `functions.NAME` as tool calls when the request has tools. The same
//! [`Reply`] reads a whole answer and a stream, so the two agree.
//! Reference: `lineage::text::HarmonyReply`; vLLM's `reasoning_content`.

use lineage::text::{HarmonyPart, HarmonyReply};

use crate::tools::{call_from_parts, Call};

/// One piece of a reply, in the order it arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    Reasoning(String),
    Content(String),
    Call(Call),
}

/// One choice's reply, read piece by piece.
#[derive(Debug, Clone, Default)]
pub struct Reply {
    parts: HarmonyReply,
    /// Calls are read only when the request has tools.
    tools: bool,
}

impl Reply {
    pub fn new(tools: bool) -> Self {
        Self {
            parts: HarmonyReply::new(),
            tools,
        }
    }

    /// Adds decoded text (special tokens kept); returns what is ready to send.
    pub fn push(&mut self, text: &str) -> Vec<Piece> {
        let parts = self.parts.push(text);
        self.pieces(parts)
    }

    /// Generation has ended: what was held back.
    pub fn finish(&mut self) -> Vec<Piece> {
        let parts = self.parts.finish();
        self.pieces(parts)
    }

    fn pieces(&self, parts: Vec<HarmonyPart>) -> Vec<Piece> {
        parts.into_iter().map(|p| self.piece(p)).collect()
    }

    /// A message to a function is a call when its content is JSON arguments; otherwise
    /// (no tools, another recipient, bad JSON) its text stays content, as with other formats.
    fn piece(&self, part: HarmonyPart) -> Piece {
        match part {
            HarmonyPart::Reasoning(t) => Piece::Reasoning(t),
            HarmonyPart::Answer(t) => Piece::Content(t),
            HarmonyPart::ToTool { recipient, content } => {
                let call = recipient
                    .strip_prefix("functions.")
                    .filter(|_| self.tools)
                    .and_then(|name| call_from_parts(name, content.trim()));
                call.map_or(Piece::Content(content), Piece::Call)
            }
        }
    }
}

/// A whole reply: its content, reasoning and calls.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Whole {
    pub content: String,
    pub reasoning: String,
    pub calls: Vec<Call>,
}

pub fn whole(text: &str, tools: bool) -> Whole {
    let mut r = Reply::new(tools);
    let mut pieces = r.push(text);
    pieces.extend(r.finish());
    let mut w = Whole::default();
    for p in pieces {
        match p {
            Piece::Reasoning(t) => w.reasoning += &t,
            Piece::Content(t) => w.content += &t,
            Piece::Call(c) => w.calls.push(c),
        }
    }
    w
}

#[cfg(test)]
#[path = "harmony_tests.rs"]
mod tests;
