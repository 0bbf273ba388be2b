//! Response bodies and stream chunks, field for field as OpenAI sends them, including
//! `tool_calls` (whole in `message`, or one `delta.tool_calls` chunk per call) and, for
//! harmony models, `reasoning_content` (vLLM's and llama-server's name for the reasoning).

use serde_json::{json, Value};

use crate::harmony;
use crate::scheduler::Usage;
use crate::tools::{self, Call, ToolFormat};

/// How a choice's generated text becomes its message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reading {
    /// As generated: completions, and chat on models with no call or reasoning format.
    Text,
    /// Tool calls parsed out of the text in this format.
    Tools(ToolFormat),
    /// Harmony (gpt-oss): reasoning and answer apart, calls when the request has tools.
    Harmony { tools: bool },
}

/// One finished choice: its text, or with tools the calls parsed out of it and the rest.
#[derive(Debug, Clone)]
pub struct Answer {
    /// `None` only when the reply was all calls (sent as `"content": null`).
    pub content: Option<String>,
    /// The reasoning (harmony's `analysis` channel), sent as `reasoning_content`.
    pub reasoning: Option<String>,
    pub calls: Vec<Call>,
    pub usage: Usage,
    pub logprobs: Option<Value>,
}

impl Answer {
    /// `text` read as `reading` says.
    pub fn new(text: String, usage: Usage, logprobs: Option<Value>, reading: Reading) -> Self {
        let (content, reasoning, calls) = match reading {
            Reading::Text => (Some(text), None, Vec::new()),
            Reading::Tools(f) => {
                let p = tools::parse(f, &text);
                (p.content, None, p.calls)
            }
            Reading::Harmony { tools } => {
                let w = harmony::whole(&text, tools);
                let all_calls = w.content.is_empty() && !w.calls.is_empty();
                let reasoning = (!w.reasoning.is_empty()).then_some(w.reasoning);
                ((!all_calls).then_some(w.content), reasoning, w.calls)
            }
        };
        Self {
            content,
            reasoning,
            calls,
            usage,
            logprobs,
        }
    }

    /// `tool_calls` when the model called, else the scheduler's reason.
    pub fn finish_reason(&self) -> &'static str {
        if self.calls.is_empty() {
            self.usage.finish_reason
        } else {
            "tool_calls"
        }
    }
}

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

    /// The whole answer: one choice per `Answer`.
    pub fn body(&self, answers: &[Answer]) -> Value {
        let list = answers
            .iter()
            .enumerate()
            .map(|(i, a)| {
                let mut c = self.choice(i, a.content.as_deref(), Some(a.finish_reason()), false);
                if let Some(r) = &a.reasoning {
                    c["message"]["reasoning_content"] = json!(r);
                }
                if !a.calls.is_empty() {
                    let calls = (0..a.calls.len()).map(|k| self.call_json(i, k, &a.calls[k]));
                    c["message"]["tool_calls"] = calls.collect();
                }
                c["logprobs"] = a.logprobs.clone().unwrap_or(Value::Null);
                c
            })
            .collect();
        self.wrap(
            false,
            list,
            Some(usage_json(answers.iter().map(|a| a.usage))),
        )
    }

    /// Call `k` of choice `index` as OpenAI writes it; its id is unique in this server run.
    fn call_json(&self, index: usize, k: usize, call: &Call) -> Value {
        let seq = self.id.rsplit('-').next().unwrap_or_default();
        json!({"id": format!("call_{seq}_{index}_{k}"), "type": "function",
               "function": {"name": call.name, "arguments": call.arguments}})
    }

    /// A stream chunk carrying call `k` of choice `index` whole (`delta.tool_calls[0]`
    /// with its `index`), as OpenAI's first delta of a call, arguments included.
    pub fn tool_call_chunk(&self, index: usize, k: usize, call: &Call) -> Value {
        let mut delta = self.call_json(index, k, call);
        delta["index"] = json!(k);
        let choice = json!({"index": index, "delta": {"tool_calls": [delta]},
                            "logprobs": null, "finish_reason": null});
        self.wrap(true, vec![choice], None)
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

    /// A chat stream chunk of choice `index` carrying reasoning (`delta.reasoning_content`).
    pub fn reasoning_chunk(&self, index: usize, text: &str, logprobs: Option<Value>) -> Value {
        let choice = json!({"index": index, "delta": {"reasoning_content": text},
                            "logprobs": logprobs, "finish_reason": null});
        self.wrap(true, vec![choice], None)
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
            (Kind::Chat, false) => json!({"message": {"role": "assistant", "content": text}}),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn usage() -> Usage {
        Usage {
            finish_reason: "stop",
            prompt_tokens: 12,
            completion_tokens: 40,
        }
    }

    #[test]
    fn body_qwen_reply_with_two_calls_gives_tool_calls_and_their_finish_reason() {
        let text = "I will look both up.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>\n<tool_call>\n{\"name\": \"get_time\", \"arguments\": {}}\n</tool_call>";
        let head = Head::new(Kind::Chat, 7, "qwen");
        let a = Answer::new(
            text.into(),
            usage(),
            None,
            Reading::Tools(ToolFormat::Hermes),
        );
        let body = head.body(&[a]);
        let c = &body["choices"][0];
        assert_eq!(c["finish_reason"], "tool_calls");
        assert_eq!(c["message"]["role"], "assistant");
        assert_eq!(c["message"]["content"], "I will look both up.");
        assert_eq!(
            c["message"]["tool_calls"],
            json!([
                {"id": "call_7_0_0", "type": "function",
                 "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
                {"id": "call_7_0_1", "type": "function",
                 "function": {"name": "get_time", "arguments": "{}"}},
            ])
        );
        assert_eq!(body["usage"]["total_tokens"], 52);
    }

    #[test]
    fn body_reply_that_is_only_a_call_has_null_content() {
        let text = "<tool_call>\n{\"name\": \"get_time\", \"arguments\": {}}\n</tool_call>";
        let a = Answer::new(
            text.into(),
            usage(),
            None,
            Reading::Tools(ToolFormat::Hermes),
        );
        let body = Head::new(Kind::Chat, 1, "m").body(&[a]);
        assert_eq!(body["choices"][0]["message"]["content"], Value::Null);
        assert_eq!(
            body["choices"][0]["message"]["tool_calls"][0]["function"]["name"],
            "get_time"
        );
    }

    #[test]
    fn body_text_without_a_parser_or_a_call_stays_content() {
        let text = "<tool_call>\n{\"name\": \"get_time\"}\n</tool_call>";
        for parser in [Reading::Text, Reading::Tools(ToolFormat::LlamaJson)] {
            let a = Answer::new(text.into(), usage(), None, parser);
            let body = Head::new(Kind::Chat, 1, "m").body(&[a]);
            let c = &body["choices"][0];
            assert_eq!(c["message"]["content"], text, "{parser:?}");
            assert_eq!(c["finish_reason"], "stop");
            assert!(c["message"].get("tool_calls").is_none());
        }
    }

    #[test]
    fn tool_call_chunk_has_openai_streaming_shape() {
        let call = Call {
            name: "get_time".into(),
            arguments: "{}".into(),
        };
        let chunk = Head::new(Kind::Chat, 3, "m").tool_call_chunk(1, 2, &call);
        assert_eq!(chunk["object"], "chat.completion.chunk");
        assert_eq!(
            chunk["choices"][0],
            json!({"index": 1, "logprobs": null, "finish_reason": null, "delta": {"tool_calls": [
                {"index": 2, "id": "call_3_1_2", "type": "function",
                 "function": {"name": "get_time", "arguments": "{}"}}]}})
        );
    }
}
