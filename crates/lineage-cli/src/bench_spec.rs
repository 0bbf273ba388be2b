//! `lineage bench --speculative`: plain greedy decoding against speculative decoding
//! (prompt lookup or a draft model) on the same prompt, in one run. The prompt repeats
//! its first half, the kind of text (code edits, quoting, summaries) prompt lookup is
//! for. The two outputs must be equal token for token; a difference is an error.

use std::time::Instant;

use anyhow::{bail, Result};
use lineage::runtime::backend::Backend;
use lineage::runtime::speculative::{greedy, greedy_speculative, DraftModel, PromptLookup};

pub fn run(
    model: &Backend,
    draft: Option<&Backend>,
    k: usize,
    prompt: usize,
    gen: usize,
) -> Result<serde_json::Value> {
    let e = model.engine();
    let vocab = e.vocab_size() as u32;
    let half: Vec<u32> = (0..(prompt / 2).max(1) as u32)
        .map(|i| (i * 7919 + 13) % vocab)
        .collect();
    let ids: Vec<u32> = half.iter().cycle().take(prompt.max(2)).copied().collect();
    let t = Instant::now();
    let want = greedy(e, &ids, gen)?;
    let plain_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let (got, st) = match draft {
        None => greedy_speculative(e, &ids, gen, k, &mut PromptLookup::default())?,
        Some(d) => {
            let mut dm = DraftModel::new(d.engine(), e.vocab_size())?;
            greedy_speculative(e, &ids, gen, k, &mut dm)?
        }
    };
    let spec_s = t.elapsed().as_secs_f64();
    if let Some(i) = got.iter().zip(&want).position(|(a, b)| a != b) {
        bail!("speculative decoding differs from greedy at token {i}");
    }
    Ok(serde_json::json!({
        "drafter": if draft.is_some() { "draft model" } else { "prompt lookup" },
        "draft_k": k,
        "drafted": st.drafted,
        "accepted": st.accepted,
        "acceptance": st.acceptance(),
        "target_forwards": st.forwards,
        "plain_tok_s": gen as f64 / plain_s,
        "speculative_tok_s": gen as f64 / spec_s,
        "speedup": plain_s / spec_s,
        "identical": true,
    }))
}
