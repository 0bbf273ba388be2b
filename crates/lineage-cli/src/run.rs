//! `lineage run [--model M] "prompt"`: one answer, streamed to the terminal, with the
//! model's chat template unless `--raw`; `--json` prints one object instead. A gpt-oss
//! (harmony) answer goes to stdout and its reasoning to stderr (`reply_out.rs`); `--raw`
//! prints its raw text, special tokens included.

use std::sync::atomic::AtomicBool;

use anyhow::Result;
use lineage::runtime::session::{generate, Finish};
use lineage::text::ChatMessage;

use crate::chat_format;
use crate::gen_args::GenArgs;
use crate::reply_out::ReplyOut;

#[derive(clap::Args)]
pub struct RunArgs {
    #[command(flatten)]
    gen: GenArgs,
    /// Feed the prompt as is, without the chat template.
    #[arg(long)]
    raw: bool,
    /// Print one JSON object (prompt_ids, generated_ids, text, prefill_tok_s, decode_tok_s;
    /// for gpt-oss also content and reasoning_content).
    #[arg(long)]
    json: bool,
    /// The prompt.
    prompt: String,
}

pub fn run(a: RunArgs) -> Result<()> {
    let (model, tok) = a.gen.load()?;
    let ids = if a.raw {
        tok.encode(&a.prompt, true)?
    } else {
        let mut msgs = Vec::new();
        if let Some(s) = &a.gen.system {
            msgs.push(ChatMessage::new("system", s));
        }
        msgs.push(ChatMessage::new("user", &a.prompt));
        let text = chat_format::render(&tok, model.config().chat, &msgs)?;
        chat_format::encode_rendered(&tok, &text)?
    };
    let never = AtomicBool::new(false);
    let stream = !a.json;
    let chat = model.config().chat;
    let harmony = chat.is_harmony() && !a.raw;
    let mut reply = ReplyOut::new(harmony, !a.gen.hide_reasoning);
    let opts = a.gen.options(chat);
    let g = generate(&model, &tok, &ids, &opts, &never, &mut |piece| {
        reply.piece(piece, stream)
    })?;
    reply.finish(stream);
    if a.json {
        let mut v = serde_json::json!({
            "prompt_ids": g.prompt_ids,
            "generated_ids": g.generated_ids,
            "text": g.text,
            "finish_reason": finish_name(&g.finish),
            "prefill_tok_s": g.prefill_tok_s,
            "decode_tok_s": g.decode_tok_s,
        });
        if harmony {
            v["content"] = reply.answer.into();
            v["reasoning_content"] = reply.reasoning.into();
        }
        println!("{v}");
    } else {
        println!();
        eprintln!(
            "[{} prompt tokens, {:.1} tok/s prefill; {} generated, {:.1} tok/s decode; {}]",
            g.prompt_ids.len(),
            g.prefill_tok_s,
            g.generated_ids.len(),
            g.decode_tok_s,
            finish_name(&g.finish)
        );
    }
    Ok(())
}

pub fn finish_name(f: &Finish) -> &'static str {
    use lineage::runtime::sampler::StopReason;
    match f {
        Finish::Stop(StopReason::Eos(_) | StopReason::StopString(_) | StopReason::Complete) => {
            "stop"
        }
        Finish::Stop(StopReason::MaxTokens) => "length",
        Finish::Context => "context",
        Finish::Cancelled => "cancelled",
    }
}
