//! The decoder's constraint hook and special-token option on the real SmolLM2: a
//! constraint that forces a token sequence is obeyed at any temperature and ends the
//! generation as a stop; log-probabilities stay those of the raw logits; control tokens
//! reach the text only with `keep_special`.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use lineage::runtime::backend::Backend;
use lineage::runtime::constraint::{Constraint, ConstraintFactory};
use lineage::runtime::decoder::Decoder;
use lineage::runtime::sampler::{SamplerConfig, StopReason};
use lineage::runtime::session::{generate, Finish, GenerateOptions};
use lineage::text::Tokenizer;

/// Allows only the next token of `ids`, then is done.
#[derive(Debug)]
struct Force(Vec<u32>);

struct Forced {
    ids: Vec<u32>,
    at: usize,
}

impl ConstraintFactory for Force {
    fn start(&self) -> lineage::Result<Box<dyn Constraint>> {
        Ok(Box::new(Forced {
            ids: self.0.clone(),
            at: 0,
        }))
    }
}

impl Constraint for Forced {
    fn mask(&mut self, logits: &mut [f32]) -> lineage::Result<()> {
        let next = self.ids[self.at] as usize;
        for (i, l) in logits.iter_mut().enumerate() {
            if i != next {
                *l = f32::NEG_INFINITY;
            }
        }
        Ok(())
    }
    fn commit(&mut self, id: u32) -> lineage::Result<()> {
        assert_eq!(id, self.ids[self.at], "sampled a masked token");
        self.at += 1;
        Ok(())
    }
    fn done(&self) -> bool {
        self.at == self.ids.len()
    }
}

fn model(test: &str) -> Option<(Backend, Tokenizer)> {
    let path = lineage::cache::test_model(lineage::cache::SMOLLM2_Q4_1, test)?;
    let (cfg, w) = lineage::load(&path).unwrap();
    let tok = lineage::load_tokenizer(&path).unwrap();
    Some((Backend::new(&cfg, &w).unwrap(), tok))
}

fn opts(seed: u64, force: &[u32], keep_special: bool) -> GenerateOptions {
    GenerateOptions {
        max_tokens: 64,
        sampler: SamplerConfig {
            temperature: 1.5,
            seed,
            ..SamplerConfig::default()
        },
        stop: vec![],
        logprobs: Some(3),
        constraint: Some(Arc::new(Force(force.to_vec()))),
        keep_special,
    }
}

#[test]
fn decoder_forced_constraint_is_obeyed_and_ends_as_a_stop_with_raw_logprobs() {
    let Some((model, tok)) = model("decoder_forced_constraint") else {
        return;
    };
    let prompt = tok
        .encode(
            "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n",
            false,
        )
        .unwrap();
    let force = tok.encode("{\"unlikely\": [7, 7, 7]}", false).unwrap();
    for seed in 1..=3 {
        let g = generate(
            &model,
            &tok,
            &prompt,
            &opts(seed, &force, false),
            &AtomicBool::new(false),
            &mut |_| {},
        )
        .unwrap();
        assert_eq!(g.generated_ids, force, "seed {seed}");
        assert_eq!(g.text, "{\"unlikely\": [7, 7, 7]}");
        assert_eq!(g.finish, Finish::Stop(StopReason::Complete));
    }
    // The first token's log-probabilities: the model's, not the masked distribution's
    // (where the forced token would have probability 1).
    let mut free = opts(1, &force, false);
    free.constraint = None;
    let mut a = Decoder::new(&model, &tok, &prompt, &opts(1, &force, false)).unwrap();
    let mut b = Decoder::new(&model, &tok, &prompt, &free).unwrap();
    let (la, lb) = (
        a.step(usize::MAX).unwrap().logprob.unwrap(),
        b.step(usize::MAX).unwrap().logprob.unwrap(),
    );
    assert_eq!(la.top, lb.top, "top alternatives differ");
    assert!(
        la.logprob < -0.5,
        "forced token logprob {} looks masked",
        la.logprob
    );
}

#[test]
fn decoder_keep_special_puts_control_tokens_in_the_text() {
    let Some((model, tok)) = model("decoder_keep_special") else {
        return;
    };
    let prompt = tok
        .encode("<|im_start|>user\nHi<|im_end|>\n", false)
        .unwrap();
    let force = tok.encode("<|im_start|>assistant\nHello", false).unwrap();
    assert_eq!(force[0], tok.token_to_id("<|im_start|>").unwrap());
    let text = |keep| {
        generate(
            &model,
            &tok,
            &prompt,
            &opts(1, &force, keep),
            &AtomicBool::new(false),
            &mut |_| {},
        )
        .unwrap()
        .text
    };
    assert_eq!(text(true), "<|im_start|>assistant\nHello");
    assert_eq!(text(false), "assistant\nHello");
}
