//! `StopChecker`: ends generation on an EOS id, a stop string or a token budget, and
//! while streaming holds back text that may be the start of a stop string, so a stop
//! string split across tokens is never shown.
//!
//! Reference: OpenAI API `stop` semantics (the stop string is not returned); HF TGI
//! `StopSequenceCriteria`; llama.cpp server `find_stopping_strings` (partial matches held).

/// Why generation ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StopReason {
    /// An end-of-generation token was produced (its text is not emitted).
    Eos(u32),
    /// A stop string appeared; text from it on is dropped.
    StopString(String),
    /// The token budget was reached.
    MaxTokens,
    /// The output constraint (a JSON schema) is complete: nothing but the end may follow.
    Complete,
}

/// What to show after one token, and whether to stop.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StopStep {
    pub text: String,
    pub stop: Option<StopReason>,
}

#[derive(Debug, Clone)]
pub struct StopChecker {
    stops: Vec<String>,
    eos_ids: Vec<u32>,
    max_tokens: Option<usize>,
    n_tokens: usize,
    held: String,
    stopped: Option<StopReason>,
}

impl StopChecker {
    /// Empty stop strings are ignored.
    pub fn new(stops: Vec<String>, eos_ids: Vec<u32>, max_tokens: Option<usize>) -> Self {
        let stops = stops.into_iter().filter(|s| !s.is_empty()).collect();
        Self {
            stops,
            eos_ids,
            max_tokens,
            n_tokens: 0,
            held: String::new(),
            stopped: None,
        }
    }

    /// Feeds one generated token and the text it completed (from `TokenStream::push`).
    pub fn push(&mut self, id: u32, text: &str) -> StopStep {
        if let Some(reason) = &self.stopped {
            return StopStep {
                text: String::new(),
                stop: Some(reason.clone()),
            };
        }
        self.n_tokens += 1;
        if self.eos_ids.contains(&id) {
            return self.stop(StopReason::Eos(id));
        }
        self.held.push_str(text);
        if let Some((at, stop)) = self.first_stop() {
            self.held.truncate(at);
            return self.stop(StopReason::StopString(stop));
        }
        if self.max_tokens.is_some_and(|m| self.n_tokens >= m) {
            return self.stop(StopReason::MaxTokens);
        }
        let keep = self.partial_stop_len();
        let text = self.held[..self.held.len() - keep].to_string();
        self.held.drain(..self.held.len() - keep);
        StopStep { text, stop: None }
    }

    /// Releases held text when generation ends for a reason outside the checker.
    pub fn finish(&mut self) -> String {
        std::mem::take(&mut self.held)
    }

    /// Tokens pushed so far.
    pub fn n_tokens(&self) -> usize {
        self.n_tokens
    }

    fn stop(&mut self, reason: StopReason) -> StopStep {
        self.stopped = Some(reason.clone());
        StopStep {
            text: std::mem::take(&mut self.held),
            stop: Some(reason),
        }
    }

    /// Earliest stop string in the held text (longest first at the same position).
    fn first_stop(&self) -> Option<(usize, String)> {
        self.stops
            .iter()
            .filter_map(|s| self.held.find(s.as_str()).map(|at| (at, s)))
            .min_by(|a, b| a.0.cmp(&b.0).then(b.1.len().cmp(&a.1.len())))
            .map(|(at, s)| (at, s.clone()))
    }

    /// Length of the longest held suffix that is a proper prefix of some stop string.
    fn partial_stop_len(&self) -> usize {
        let h = &self.held;
        let mut best = 0;
        for s in &self.stops {
            for len in (best + 1..s.len().min(h.len() + 1)).rev() {
                let start = h.len() - len;
                if h.is_char_boundary(start) && s.starts_with(&h[start..]) {
                    best = len;
                    break;
                }
            }
        }
        best
    }
}
