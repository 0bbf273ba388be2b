//! The plan's canonical tensors in a stable order: name, shape and role. This is what
//! the executors load, what training initialises and what a test checks against every
//! fixture checkpoint, name for name and shape for shape.

use super::*;
use crate::config::{NormKind, TensorSpec};

impl ModelPlan {
    pub fn tensors(&self) -> Vec<TensorSpec> {
        let mut t = Specs(Vec::new());
        let (v, d) = (self.vocab, self.d_model);
        let e = &self.embedding;
        t.push(&e.token, &[v, d], TensorRole::Embedding);
        if let Some(p) = &e.position {
            t.push(p, &[self.context_len, d], TensorRole::Embedding);
        }
        if let Some(n) = &e.norm {
            t.norm(n);
        }
        for l in &self.layers {
            t.layer(l);
        }
        t.norm(&self.final_norm);
        if let Some(h) = &self.head {
            t.linear(h);
        }
        t.0
    }
}

struct Specs(Vec<TensorSpec>);

impl Specs {
    fn push(&mut self, name: &str, shape: &[usize], role: TensorRole) {
        self.0.push(TensorSpec {
            name: name.to_string(),
            shape: shape.to_vec(),
            role,
        });
    }

    fn norm(&mut self, n: &NormSlot) {
        let offset_one = matches!(n.cfg.kind, NormKind::RmsNorm { offset_one: true });
        let gain = TensorRole::NormGain { offset_one };
        self.push(&format!("{}.weight", n.name), &[n.dim], gain);
        if n.has_bias() {
            self.push(&format!("{}.bias", n.name), &[n.dim], TensorRole::Bias);
        }
    }

    fn linear(&mut self, l: &LinearSlot) {
        self.push(&format!("{}.weight", l.name), &[l.out, l.inp], l.role);
        if l.bias {
            self.push(&format!("{}.bias", l.name), &[l.out], TensorRole::Bias);
        }
    }

    fn stack(&mut self, s: &StackSlot) {
        self.push(
            &format!("{}.weight", s.name),
            &[s.experts, s.out, s.inp],
            s.role,
        );
        if s.bias {
            self.push(
                &format!("{}.bias", s.name),
                &[s.experts, s.out],
                TensorRole::Bias,
            );
        }
    }

    fn layer(&mut self, l: &LayerPlan) {
        let n = &l.norms;
        for slot in [&n.attn, &n.attn_post, &n.ffn, &n.ffn_post]
            .into_iter()
            .flatten()
        {
            self.norm(slot);
        }
        match &l.mixer {
            Mixer::Attention(a) => self.attention(a),
            Mixer::Latent(m) => self.latent(m),
        }
        match &l.ffn {
            Ffn::Dense(f) => self.dense(f),
            Ffn::Moe(m) => self.moe(m),
        }
    }

    fn attention(&mut self, a: &AttentionPlan) {
        if let Some(qk) = &a.qk_norm {
            self.norm(&qk.q);
            self.norm(&qk.k);
        }
        if let Some(s) = &a.sinks {
            self.push(s, &[a.n_heads], TensorRole::Bias);
        }
        [&a.q, &a.k, &a.v, &a.o]
            .into_iter()
            .for_each(|l| self.linear(l));
    }

    fn latent(&mut self, m: &LatentPlan) {
        match &m.query {
            LatentQuery::Direct(q) => self.linear(q),
            LatentQuery::LoRa { down, norm, up } => {
                self.linear(down);
                self.norm(norm);
                self.linear(up);
            }
        }
        self.linear(&m.kv_a);
        self.norm(&m.kv_norm);
        self.linear(&m.kv_b);
        self.linear(&m.o);
    }

    fn dense(&mut self, f: &DensePlan) {
        if let Some(g) = &f.gate {
            self.linear(g);
        }
        self.linear(&f.up);
        self.linear(&f.down);
    }

    fn moe(&mut self, m: &MoePlan) {
        self.linear(&m.router);
        if let Some(c) = &m.correction {
            self.push(c, &[m.cfg.n_experts], TensorRole::Bias);
        }
        if let Some(g) = &m.gate {
            self.stack(g);
        }
        self.stack(&m.up);
        self.stack(&m.down);
        if let Some(s) = &m.shared {
            self.dense(s);
        }
    }
}
