//! The canonical tensors a [`ModelConfig`] needs: name, shape and role, in llama.cpp's
//! vocabulary. This is what `crate::model` loads and what training initialises; a test
//! checks it against every fixture checkpoint, name for name and shape for shape.

use super::*;

/// What a tensor is for; initialisation and weight-decay groups are chosen by role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TensorRole {
    /// Token or learned position table (a lookup, not a matmul).
    Embedding,
    /// A projection matrix (or expert stack) feeding the residual stream's branches.
    Matrix,
    /// A projection writing back into the residual stream (attn_output, ffn_down):
    /// GPT-2 scales its init by 1/sqrt(2 * n_layers).
    ResidualOut,
    /// Norm gain: ones (zeros for `1 + w` gains).
    NormGain { offset_one: bool },
    /// Bias, norm shift, attention sink, router correction: zeros.
    Bias,
}

/// One canonical tensor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorSpec {
    pub name: String,
    pub shape: Vec<usize>,
    pub role: TensorRole,
}

/// Every tensor of `c`, in a stable order.
pub fn tensors(c: &ModelConfig) -> Vec<TensorSpec> {
    let mut t = Specs(Vec::new());
    let (v, d) = (c.vocab_size, c.d_model);
    t.push("token_embd.weight", &[v, d], TensorRole::Embedding);
    if c.position == Position::Learned {
        t.push(
            "position_embd.weight",
            &[c.context_len, d],
            TensorRole::Embedding,
        );
    }
    if let Some(n) = &c.embedding.norm {
        t.norm("token_embd_norm", n, d);
    }
    for i in 0..c.n_layers() {
        block(c, i, &mut t);
    }
    t.norm("output_norm", &c.final_norm, d);
    if !c.embedding.tied_lm_head {
        t.push("output.weight", &[v, d], TensorRole::Matrix);
    }
    t.0
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

    fn norm(&mut self, name: &str, n: &NormConfig, dim: usize) {
        let offset_one = matches!(n.kind, NormKind::RmsNorm { offset_one: true });
        self.push(
            &format!("{name}.weight"),
            &[dim],
            TensorRole::NormGain { offset_one },
        );
        if matches!(n.kind, NormKind::LayerNorm { bias: true }) {
            self.push(&format!("{name}.bias"), &[dim], TensorRole::Bias);
        }
    }

    /// `{name}.weight` `[out, inp]` and optionally `{name}.bias` `[out]`.
    fn linear(&mut self, name: &str, out: usize, inp: usize, bias: bool, role: TensorRole) {
        self.push(&format!("{name}.weight"), &[out, inp], role);
        if bias {
            self.push(&format!("{name}.bias"), &[out], TensorRole::Bias);
        }
    }
}

/// Norms, mixer and FFN of layer `i`, as `model::block::Block::load` reads them.
fn block(c: &ModelConfig, i: usize, t: &mut Specs) {
    let (n, d, p) = (c.block.norm, c.d_model, format!("blk.{i}"));
    let pl = c.block.placement;
    let pre = pl.has_pre() || pl == NormPlacement::Post;
    let two_norms = !matches!(c.block.residual, Residual::Parallel { shared_norm: true });
    if pre {
        t.norm(&format!("{p}.attn_norm"), &n, d);
    }
    if pl.has_post_sublayer() {
        t.norm(&format!("{p}.attn_post_norm"), &n, d);
    }
    if pre && two_norms {
        t.norm(&format!("{p}.ffn_norm"), &n, d);
    }
    if pl.has_post_sublayer() {
        t.norm(&format!("{p}.ffn_post_norm"), &n, d);
    }
    match &c.attention.kind {
        AttentionKind::Standard => attention(c, &p, t),
        AttentionKind::Latent(m) => latent(c, m, &p, t),
    }
    match (&c.ffn.moe, c.layers[i].moe) {
        (Some(m), true) => moe(c, m, &p, t),
        _ => ffn(c, &p, "", c.ffn.d_ff, t),
    }
}

fn attention(c: &ModelConfig, p: &str, t: &mut Specs) {
    let a = &c.attention;
    let (d, hd) = (c.d_model, a.head_dim);
    let (qw, kvw) = (a.n_heads * hd, a.n_kv_heads * hd);
    if let Some(scope) = a.qk_norm {
        let (qn, kn) = match scope {
            QkNormScope::PerHead => (hd, hd),
            QkNormScope::FullWidth => (qw, kvw),
        };
        t.norm(&format!("{p}.attn_q_norm"), &c.block.norm, qn);
        t.norm(&format!("{p}.attn_k_norm"), &c.block.norm, kn);
    }
    if a.sinks {
        t.push(
            &format!("{p}.attn_sinks.weight"),
            &[a.n_heads],
            TensorRole::Bias,
        );
    }
    let m = TensorRole::Matrix;
    t.linear(&format!("{p}.attn_q"), qw, d, a.bias.q, m);
    t.linear(&format!("{p}.attn_k"), kvw, d, a.bias.k, m);
    t.linear(&format!("{p}.attn_v"), kvw, d, a.bias.v, m);
    let o = TensorRole::ResidualOut;
    t.linear(&format!("{p}.attn_output"), d, qw, a.bias.o, o);
}

fn latent(c: &ModelConfig, m: &MlaConfig, p: &str, t: &mut Specs) {
    let (d, h, n) = (c.d_model, c.attention.n_heads, c.block.norm);
    let qk = m.qk_nope_head_dim + m.qk_rope_head_dim;
    let mx = TensorRole::Matrix;
    match m.q_lora_rank {
        None => t.linear(&format!("{p}.attn_q"), h * qk, d, false, mx),
        Some(r) => {
            t.linear(&format!("{p}.attn_q_a"), r, d, false, mx);
            t.norm(&format!("{p}.attn_q_a_norm"), &n, r);
            t.linear(&format!("{p}.attn_q_b"), h * qk, r, false, mx);
        }
    }
    let kv_a = m.kv_lora_rank + m.qk_rope_head_dim;
    t.linear(&format!("{p}.attn_kv_a_mqa"), kv_a, d, false, mx);
    t.norm(&format!("{p}.attn_kv_a_norm"), &n, m.kv_lora_rank);
    let kv_b = h * (m.qk_nope_head_dim + m.v_head_dim);
    t.linear(&format!("{p}.attn_kv_b"), kv_b, m.kv_lora_rank, false, mx);
    let o = TensorRole::ResidualOut;
    t.linear(&format!("{p}.attn_output"), d, h * m.v_head_dim, false, o);
}

/// Dense FFN (`suffix` "") or the fused shared experts (`suffix` "_shexp").
fn ffn(c: &ModelConfig, p: &str, suffix: &str, d_ff: usize, t: &mut Specs) {
    let (d, bias) = (c.d_model, c.ffn.bias);
    if !matches!(c.ffn.kind, FfnKind::Mlp(_)) {
        t.linear(
            &format!("{p}.ffn_gate{suffix}"),
            d_ff,
            d,
            bias,
            TensorRole::Matrix,
        );
    }
    t.linear(
        &format!("{p}.ffn_up{suffix}"),
        d_ff,
        d,
        bias,
        TensorRole::Matrix,
    );
    let o = TensorRole::ResidualOut;
    t.linear(&format!("{p}.ffn_down{suffix}"), d, d_ff, bias, o);
}

fn moe(c: &ModelConfig, m: &MoeConfig, p: &str, t: &mut Specs) {
    let (d, e, f) = (c.d_model, m.n_experts, m.d_expert);
    let mx = TensorRole::Matrix;
    t.linear(&format!("{p}.ffn_gate_inp"), e, d, m.router_bias, mx);
    if m.router.has_correction_bias() {
        t.push(&format!("{p}.exp_probs_b.bias"), &[e], TensorRole::Bias);
    }
    let stack = |t: &mut Specs, name: &str, shape: [usize; 3], role| {
        t.push(&format!("{p}.{name}.weight"), &shape, role);
        if m.expert_bias {
            t.push(&format!("{p}.{name}.bias"), &shape[..2], TensorRole::Bias);
        }
    };
    if !matches!(c.ffn.kind, FfnKind::Mlp(_)) {
        stack(t, "ffn_gate_exps", [e, f, d], mx);
    }
    stack(t, "ffn_up_exps", [e, f, d], mx);
    stack(t, "ffn_down_exps", [e, d, f], TensorRole::ResidualOut);
    if m.n_shared_experts > 0 {
        ffn(c, p, "_shexp", m.n_shared_experts * f, t);
    }
}
