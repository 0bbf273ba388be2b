//! A reply on the terminal. Text is printed as it comes; a gpt-oss (harmony) reply is
//! split as it streams (`lineage::text::HarmonyReply`): the answer goes to stdout, the
//! reasoning (the `analysis` channel) to stderr, dimmed where stderr is a terminal and
//! prefixed `reasoning:` elsewhere, or not at all with `--hide-reasoning`. So a pipe or a
//! file gets only the answer, as from any other model.

use std::io::{IsTerminal, Write};

use lineage::text::{HarmonyPart, HarmonyReply};

const DIM: &str = "\x1b[2m";
const RESET: &str = "\x1b[0m";

pub struct ReplyOut {
    /// `None`: not harmony, the text is the answer.
    harmony: Option<HarmonyReply>,
    show_reasoning: bool,
    dim: bool,
    /// Reasoning is being printed (its style is open on stderr).
    reasoning_open: bool,
    /// The answer so far (for the chat history and `--json`).
    pub answer: String,
    pub reasoning: String,
}

impl ReplyOut {
    pub fn new(harmony: bool, show_reasoning: bool) -> Self {
        Self {
            harmony: harmony.then(HarmonyReply::new),
            show_reasoning,
            dim: std::io::stderr().is_terminal(),
            reasoning_open: false,
            answer: String::new(),
            reasoning: String::new(),
        }
    }

    /// Takes a decoded piece; prints what is ready when `print`.
    pub fn piece(&mut self, text: &str, print: bool) {
        let parts = match &mut self.harmony {
            Some(h) => h.push(text),
            None => vec![HarmonyPart::Answer(text.to_string())],
        };
        self.parts(parts, print);
    }

    /// The reply has ended: what was held back.
    pub fn finish(&mut self, print: bool) {
        let parts = self
            .harmony
            .as_mut()
            .map(|h| h.finish())
            .unwrap_or_default();
        self.parts(parts, print);
        if print {
            self.close_reasoning();
        }
    }

    fn parts(&mut self, parts: Vec<HarmonyPart>, print: bool) {
        for p in parts {
            match p {
                HarmonyPart::Reasoning(t) => {
                    if print && self.show_reasoning {
                        self.print_reasoning(&t);
                    }
                    self.reasoning += &t;
                }
                // No tools on the command line: a message to one is shown as text.
                HarmonyPart::Answer(t) | HarmonyPart::ToTool { content: t, .. } => {
                    if print {
                        self.close_reasoning();
                        let mut out = std::io::stdout();
                        let _ = out.write_all(t.as_bytes());
                        let _ = out.flush();
                    }
                    self.answer += &t;
                }
            }
        }
    }

    fn print_reasoning(&mut self, t: &str) {
        let mut err = std::io::stderr();
        let open = match (self.reasoning_open, self.dim) {
            (true, _) => "",
            (false, true) => DIM,
            (false, false) => "reasoning: ",
        };
        let _ = write!(err, "{open}{t}");
        let _ = err.flush();
        self.reasoning_open = true;
    }

    fn close_reasoning(&mut self) {
        if std::mem::take(&mut self.reasoning_open) {
            let reset = if self.dim { RESET } else { "" };
            eprintln!("{reset}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REPLY: &str = "<|channel|>analysis<|message|>User greets.<|end|>\
                         <|start|>assistant<|channel|>final<|message|>Hello!";

    fn read(harmony: bool, text: &str) -> (String, String) {
        let mut r = ReplyOut::new(harmony, true);
        for c in text.chars() {
            r.piece(&c.to_string(), false);
        }
        r.finish(false);
        (r.answer, r.reasoning)
    }

    #[test]
    fn reply_out_harmony_splits_answer_and_reasoning_other_text_is_all_answer() {
        assert_eq!(read(true, REPLY), ("Hello!".into(), "User greets.".into()));
        assert_eq!(read(false, REPLY), (REPLY.into(), String::new()));
    }
}
