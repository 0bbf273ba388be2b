//! Speculative greedy decoding gives exactly plain greedy decoding's tokens, with prompt
//! lookup, with the target as its own draft (every draft accepted) and with another
//! model of the same vocabulary as the draft, on dense, windowed, MoE and MLA fixtures.

mod common;

use common::fixture_dir;
use lineage::engine::Engine;
use lineage::runtime::speculative::{
    greedy, greedy_speculative, DraftModel, PromptLookup, MAX_DRAFT,
};

fn engine(case: &str) -> Engine {
    let (cfg, w) = lineage::families::load_hf_dir(&fixture_dir(case)).unwrap();
    Engine::new(&cfg, &w, cfg.context_len).unwrap()
}

/// A prompt that repeats itself (prompt lookup finds drafts in it) and one that does not.
fn prompts(vocab: usize) -> [Vec<u32>; 2] {
    let motif: Vec<u32> = (0..11u32).map(|i| (i * 37 + 5) % vocab as u32).collect();
    let repeated = motif.iter().cycle().take(40).copied().collect();
    let plain = (0..23u32)
        .map(|i| (i * i * 13 + 7) % vocab as u32)
        .collect();
    [repeated, plain]
}

#[test]
fn speculative_decoding_equals_greedy_token_for_token() {
    // Draft pairs share a vocabulary of 256 (the fixtures' own random weights).
    let cases = [
        ("llama_yarn", "gpt2"),
        ("gemma3_text", "llama_linear"),
        ("mixtral", "qwen3_moe"),
        ("deepseek_v3", "gpt_oss"),
        ("bloom", "falcon"),
    ];
    let n = 40;
    for (target, other) in cases {
        let (e, d) = (engine(target), engine(other));
        for prompt in prompts(e.vocab_size()) {
            let want = greedy(&e, &prompt, n).unwrap();
            for k in [1, 4, MAX_DRAFT] {
                let (got, st) =
                    greedy_speculative(&e, &prompt, n, k, &mut PromptLookup::default()).unwrap();
                assert_eq!(got, want, "{target}: prompt lookup, k = {k}");
                assert!(
                    st.accepted <= st.drafted && st.forwards < n,
                    "{target}: {st:?}"
                );
                let mut own = DraftModel::new(&e, e.vocab_size()).unwrap();
                let (got, st) = greedy_speculative(&e, &prompt, n, k, &mut own).unwrap();
                assert_eq!(got, want, "{target}: self-draft, k = {k}");
                assert_eq!(st.accepted, st.drafted, "{target}: its own drafts all pass");
                assert_eq!(
                    st.forwards,
                    (n - 1).div_ceil(k + 1),
                    "{target} k = {k}: {st:?}"
                );
                let mut draft = DraftModel::new(&d, e.vocab_size()).unwrap();
                let (got, st) = greedy_speculative(&e, &prompt, n, k, &mut draft).unwrap();
                assert_eq!(got, want, "{target} drafted by {other}, k = {k}: {st:?}");
            }
        }
    }
}

#[test]
fn prompt_lookup_proposes_what_followed_the_last_ngram() {
    let mut l = PromptLookup::default();
    let h = [1, 2, 3, 9, 9, 1, 2, 3, 7, 1, 2, 3];
    // The trailing 3-gram 1 2 3 last occurred at 5..8, followed by 7 1 2 3.
    assert_eq!(
        lineage::runtime::speculative::Drafter::draft(&mut l, &h, 3).unwrap(),
        [7, 1, 2]
    );
    let none = [4, 5, 6];
    assert!(
        lineage::runtime::speculative::Drafter::draft(&mut l, &none, 3)
            .unwrap()
            .is_empty()
    );
}

#[test]
fn a_draft_of_another_vocabulary_and_a_long_rewind_are_errors() {
    let (e, d) = (engine("llama"), engine("gpt2"));
    assert!(DraftModel::new(&d, e.vocab_size()).is_err());
    let mut st = e.new_state();
    e.forward(&mut st, &[1; 40]).unwrap();
    assert!(e.rewind(&mut st, 20).is_err(), "more than one block back");
    assert!(e.rewind(&mut st, 41).is_err(), "forward");
    e.rewind(&mut st, 30).unwrap();
    assert_eq!(st.pos(), 30);
}
