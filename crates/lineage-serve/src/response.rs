//! Response bodies and stream chunks, field for field as OpenAI sends them.

use serde_json::{json, Value};

use crate::scheduler::Usage;

/// Chat or plain completion: they differ in object names and where the text goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Chat,
    Completion,
}

/// What every body and chunk of one response shares.
#[derive(Debug, Clone)]
pub struct Head {
    pub kind: Kind,
    pub id: String,
    pub created: u64,
    pub model: String,
}

impl Head {
    pub fn new(kind: Kind, seq: u64, model: &str) -> Self {
        let prefix = match kind {
            Kind::Chat => "chatcmpl",
            Kind::Completion => "cmpl",
        };
        let created = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        Self {
            kind,
            id: format!("{prefix}-{seq}"),
            created,
            model: model.to_string(),
        }
    }

    fn object(&self, chunk: bool) -> &'static str {
        match (self.kind, chunk) {
            (Kind::Chat, false) => "chat.completion",
            (Kind::Chat, true) => "chat.completion.chunk",
            (Kind::Completion, _) => "text_completion",
        }
    }

    fn wrap(&self, chunk: bool, choices: Vec<Value>, usage: Option<Value>) -> Value {
        let mut v = json!({
            "id": self.id,
            "object": self.object(chunk),
            "created": self.created,
            "model": self.model,
            "choices": choices,
        });
        if let Some(u) = usage {
            v["usage"] = u;
        }
        v
    }

    /// The whole answer: one choice per `(text, usage, logprobs)`.
    pub fn body(&self, choices: &[(String, Usage, Option<Value>)]) -> Value {
        let list = choices
            .iter()
            .enumerate()
            .map(|(i, (text, u, lp))| {
                let mut c = self.choice(i, Some(text), Some(u.finish_reason), false);
                c["logprobs"] = lp.clone().unwrap_or(Value::Null);
                c
            })
            .collect();
        self.wrap(false, list, Some(usage_json(choices.iter().map(|c| c.1))))
    }

    /// A stream chunk of choice `index`: new text (and its tokens' log-probabilities),
    /// and the finish reason on the last.
    pub fn chunk(
        &self,
        index: usize,
        text: Option<&str>,
        finish: Option<&str>,
        logprobs: Option<Value>,
    ) -> Value {
        let mut c = self.choice(index, text, finish, true);
        c["logprobs"] = logprobs.unwrap_or(Value::Null);
        self.wrap(true, vec![c], None)
    }

    /// The chat stream's first chunk of a choice, which names the role.
    pub fn role_chunk(&self, index: usize) -> Value {
        let choice = json!({"index": index, "delta": {"role": "assistant", "content": ""},
                            "logprobs": null, "finish_reason": null});
        self.wrap(true, vec![choice], None)
    }

    /// The last chunk when `stream_options.include_usage` is set: no choices, the usage.
    pub fn usage_chunk(&self, usages: impl Iterator<Item = Usage>) -> Value {
        self.wrap(true, Vec::new(), Some(usage_json(usages)))
    }

    fn choice(&self, index: usize, text: Option<&str>, finish: Option<&str>, delta: bool) -> Value {
        let body = match (self.kind, delta) {
            (Kind::Completion, _) => json!({"text": text.unwrap_or("")}),
            (Kind::Chat, false) => {
                json!({"message": {"role": "assistant", "content": text.unwrap_or("")}})
            }
            (Kind::Chat, true) => match text {
                Some(t) => json!({"delta": {"content": t}}),
                None => json!({"delta": {}}),
            },
        };
        let mut c = body;
        c["index"] = json!(index);
        c["logprobs"] = Value::Null;
        c["finish_reason"] = json!(finish);
        c
    }
}

fn usage_json(usages: impl Iterator<Item = Usage>) -> Value {
    let mut prompt = 0;
    let mut completion = 0;
    for u in usages {
        prompt = u.prompt_tokens; // every choice shares the prompt
        completion += u.completion_tokens;
    }
    json!({"prompt_tokens": prompt, "completion_tokens": completion,
           "total_tokens": prompt + completion})
}
