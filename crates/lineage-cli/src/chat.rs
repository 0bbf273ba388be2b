//! `lineage chat [--model M]`: an interactive session with history and the model's chat
//! template. Ctrl-C stops the current answer, not the program; `/exit` or Ctrl-D quits,
//! `/reset` clears the history. A gpt-oss (harmony) answer goes to stdout and its
//! reasoning to stderr (`reply_out.rs`); the history keeps the answer.

use std::io::{BufRead, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::Result;
use lineage::runtime::session::generate;
use lineage::text::ChatMessage;

use crate::chat_format;
use crate::gen_args::GenArgs;
use crate::reply_out::ReplyOut;

#[derive(clap::Args)]
pub struct ChatArgs {
    #[command(flatten)]
    gen: GenArgs,
}

pub fn run(a: ChatArgs) -> Result<()> {
    let (model, tok) = a.gen.load()?;
    let cancel = Arc::new(AtomicBool::new(false));
    let flag = cancel.clone();
    ctrlc::set_handler(move || flag.store(true, Ordering::Relaxed))?;
    let mut history: Vec<ChatMessage> = a
        .gen
        .system
        .iter()
        .map(|s| ChatMessage::new("system", s))
        .collect();
    let stdin = std::io::stdin();
    let mut out = std::io::stdout();
    eprintln!(
        "chat with {} — /exit or Ctrl-D to quit, /reset to clear, Ctrl-C stops an answer",
        model.config().family
    );
    loop {
        print!("> ");
        out.flush()?;
        let mut raw = Vec::new();
        if stdin.lock().read_until(b'\n', &mut raw)? == 0 {
            break;
        }
        let Ok(line) = String::from_utf8(raw) else {
            eprintln!("error: the input is not valid UTF-8; please retype it");
            continue;
        };
        let line = line.trim();
        match line {
            "" => continue,
            "/exit" | "/quit" => break,
            "/reset" => {
                history.retain(|m| m.role == "system");
                continue;
            }
            _ => {}
        }
        history.push(ChatMessage::new("user", line));
        let chat = model.config().chat;
        let text = chat_format::render(&tok, chat, &history)?;
        let ids = chat_format::encode_rendered(&tok, &text)?;
        cancel.store(false, Ordering::Relaxed);
        let mut reply = ReplyOut::new(chat.is_harmony(), !a.gen.hide_reasoning);
        let opts = a.gen.options(chat);
        let result = generate(&model, &tok, &ids, &opts, &cancel, &mut |p| {
            reply.piece(p, true)
        });
        reply.finish(true);
        println!();
        match result {
            Ok(_) => history.push(ChatMessage::new("assistant", &reply.answer)),
            Err(e) => {
                eprintln!("error: {e}");
                history.pop();
            }
        }
    }
    Ok(())
}
