//! Batched forwards and the prefix cache against each sequence run on its own: the
//! logits must be bit-identical (not close), on the HF fixtures (dense f32 weights),
//! the quantized GGUF fixtures and the real SmolLM2-135M Q4_1. This is the server's
//! batch-invariance guarantee (crates/lineage-serve/src/scheduler.rs) at engine level.

mod common;

use std::path::PathBuf;

use common::fixture_dir;
use lineage::engine::prefix::PrefixCache;
use lineage::engine::{Engine, State};
use lineage::model::ops;

/// Deterministic prompts of different lengths (ids in the vocabulary).
fn prompts(vocab: usize, lens: &[usize], seed: u64) -> Vec<Vec<u32>> {
    let mut x = seed | 1;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x % vocab as u64) as u32
    };
    lens.iter()
        .map(|&n| (0..n).map(|_| next()).collect())
        .collect()
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// Greedy continuation of each prompt on its own: the last-position logits after the
/// prompt and after each of `steps` tokens.
fn alone(eng: &Engine, prompt: &[u32], steps: usize) -> Vec<Vec<u32>> {
    let mut st = eng.new_state();
    let mut l = eng.forward(&mut st, prompt).unwrap().to_vec();
    let mut out = vec![bits(&l)];
    for _ in 0..steps {
        let next = ops::argmax(&l) as u32;
        l = eng.forward(&mut st, &[next]).unwrap().to_vec();
        out.push(bits(&l));
    }
    out
}

/// The same continuations run together: each step one batched forward holding every
/// unfinished prompt's next chunk (chunk sizes differ per sequence: 3, 5, 7, ...) and
/// every decoding sequence's token.
fn together(eng: &Engine, prompts: &[Vec<u32>], steps: usize) -> Vec<Vec<Vec<u32>>> {
    let mut b = eng.new_batch();
    let mut states: Vec<State> = prompts.iter().map(|_| eng.new_state()).collect();
    let mut fed = vec![0usize; prompts.len()];
    let mut next: Vec<Option<u32>> = vec![None; prompts.len()];
    let mut out: Vec<Vec<Vec<u32>>> = vec![Vec::new(); prompts.len()];
    while out.iter().any(|o| o.len() <= steps) {
        let mut chunks: Vec<(usize, Vec<u32>)> = Vec::new();
        for (i, p) in prompts.iter().enumerate() {
            if out[i].len() > steps {
                continue;
            }
            if fed[i] < p.len() {
                let n = (3 + 2 * i).min(p.len() - fed[i]);
                chunks.push((i, p[fed[i]..fed[i] + n].to_vec()));
            } else if let Some(t) = next[i] {
                chunks.push((i, vec![t]));
            }
        }
        let mut items: Vec<(&mut State, &[u32])> = Vec::new();
        let mut it = chunks.iter().peekable();
        for (i, st) in states.iter_mut().enumerate() {
            if let Some((_, ids)) = it.next_if(|(j, _)| *j == i) {
                items.push((st, ids));
            }
        }
        let logits = eng.forward_batch(&mut b, &mut items).unwrap().to_vec();
        let v = eng.vocab_size();
        for (k, (i, ids)) in chunks.iter().enumerate() {
            fed[*i] += ids.len();
            if fed[*i] >= prompts[*i].len() {
                let row = &logits[k * v..(k + 1) * v];
                out[*i].push(bits(row));
                next[*i] = Some(ops::argmax(row) as u32);
            }
        }
    }
    out
}

fn check_batch(eng: &Engine, what: &str) {
    let ps = prompts(eng.vocab_size(), &[1, 9, 23, 40, 17, 4], 0x5eed);
    let steps = 5;
    let batched = together(eng, &ps, steps);
    for (i, p) in ps.iter().enumerate() {
        let want = alone(eng, p, steps);
        for (s, (g, w)) in batched[i].iter().zip(&want).enumerate() {
            let bad = g.iter().zip(w).position(|(a, b)| a != b);
            assert!(
                bad.is_none(),
                "{what}: sequence {i} (prompt of {}) step {s}: batched logits differ from \
                 its own forward at token {bad:?}",
                p.len()
            );
        }
    }
}

/// A prompt that shares a 40-token prefix with an earlier one: the cache gives the 32
/// positions of its two full blocks (a block is 16), and the logits after the prompt and
/// after each greedy token are those of a full prefill, bit for bit.
fn check_prefix(eng: &Engine, what: &str) {
    let ps = prompts(eng.vocab_size(), &[40, 12, 7], 0xcafe);
    let (shared, a_tail, b_tail) = (&ps[0], &ps[1], &ps[2]);
    let a: Vec<u32> = shared.iter().chain(a_tail).copied().collect();
    let b: Vec<u32> = shared.iter().chain(b_tail).copied().collect();
    let mut cache = PrefixCache::new(64);
    let mut st = eng.new_state();
    eng.forward(&mut st, &a).unwrap();
    cache.publish(&st, &a);
    assert_eq!(cache.len(), a.len() / 16, "{what}: full blocks published");
    let mut hit = eng.new_state();
    let reused = cache.attach(&mut hit, &b);
    assert_eq!(reused, 32, "{what}: positions reused");
    let mut l = eng.forward(&mut hit, &b[reused..]).unwrap().to_vec();
    for (s, want) in alone(eng, &b, 4).iter().enumerate() {
        assert_eq!(&bits(&l), want, "{what}: prefix-cache hit step {s} differs");
        let next = ops::argmax(&l) as u32;
        l = eng.forward(&mut hit, &[next]).unwrap().to_vec();
    }
    // Writing past the shared blocks never changes them: `a` still decodes as before.
    let next = ops::argmax(eng.forward(&mut st, &[1]).unwrap());
    let mut again = eng.new_state();
    eng.forward(&mut again, &a).unwrap();
    assert_eq!(
        next,
        ops::argmax(eng.forward(&mut again, &[1]).unwrap()),
        "{what}"
    );
}

fn hf(case: &str) -> Engine {
    let (cfg, w) = lineage::families::load_hf_dir(&fixture_dir(case)).unwrap();
    Engine::new(&cfg, &w, cfg.context_len).unwrap()
}

fn gguf(file: &str) -> Engine {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/gguf")
        .join(format!("{file}.gguf"));
    let (cfg, w) = lineage::load(&path).unwrap();
    Engine::new(&cfg, &w, cfg.context_len).unwrap()
}

macro_rules! cases {
    ($($name:ident => $make:ident($arg:literal);)*) => {
        mod batched_equals_alone {
            $( #[test] fn $name() { super::check_batch(&super::$make($arg), $arg); } )*
        }
        mod prefix_hit_equals_prefill {
            $( #[test] fn $name() { super::check_prefix(&super::$make($arg), $arg); } )*
        }
    };
}

// Families with different layer plans (learned positions, parallel residual, QK-norm,
// sandwich norms with soft-caps and windows, dual RoPE) and every quantized GGUF type
// the fixtures hold.
cases! {
    gpt2 => hf("gpt2");
    llama => hf("llama");
    qwen3 => hf("qwen3");
    falcon => hf("falcon");
    gemma2 => hf("gemma2");
    gemma3_text => hf("gemma3_text");
    llama_q4_0 => gguf("llama.q4_0");
    qwen2_q8_0 => gguf("qwen2.q8_0");
    qwen3_f16 => gguf("qwen3.f16");
    gemma3_text_q8_0 => gguf("gemma3_text.q8_0");
}

#[test]
fn smollm2_q4_1_batched_and_prefix_hits_equal_alone() {
    let test = "smollm2_q4_1_batched_and_prefix_hits_equal_alone";
    let Some(path) = lineage::cache::test_model(lineage::cache::SMOLLM2_Q4_1, test) else {
        return;
    };
    let (cfg, w) = lineage::load(&path).unwrap();
    let eng = Engine::new(&cfg, &w, 2048).unwrap();
    check_batch(&eng, "smollm2 q4_1");
    check_prefix(&eng, "smollm2 q4_1");
}

#[test]
fn length_dependent_rope_turns_prefix_reuse_off() {
    // phi3_longrope's frequencies follow the forward's length: a cached block would not
    // be what a prefill writes, so the engine says it is not cacheable.
    assert!(!hf("phi3_longrope").prefix_cacheable());
    assert!(hf("llama").prefix_cacheable());
}

#[test]
fn a_batch_over_the_row_budget_is_an_error_not_a_panic() {
    let eng = hf("llama");
    let mut b = eng.new_batch();
    let (mut s1, mut s2) = (eng.new_state(), eng.new_state());
    let big = vec![1u32; lineage::engine::MAX_BATCH];
    let mut items = [(&mut s1, &big[..]), (&mut s2, &[1u32][..])];
    let e = eng.forward_batch(&mut b, &mut items).unwrap_err();
    assert!(e.to_string().contains("at most"), "{e}");
    assert!(eng.forward_batch(&mut b, &mut []).is_err());
}
