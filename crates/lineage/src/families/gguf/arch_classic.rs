//! GGUF `bloom`, `falcon` and `gptneox`: the LayerNorm-and-biases generation. The
//! converter rewrites their per-head fused QKV into `[q; k; v]` rows (`attn_qkv`), which
//! the tensor loader splits. Reference: llama.cpp `src/models/{bloom,falcon,gptneox}.cpp`.
//!
//! GELU: llama.cpp evaluates these MLPs with `ggml_gelu`, its tanh approximation; the
//! checkpoints they come from (HF `gelu`) use the exact erf form, which lineage computes.
//! The two differ by at most ~5e-4 per activation: an approximation in llama.cpp's
//! arithmetic, not a different model, so the file keeps the checkpoint's function.

use super::keys::Hp;
use crate::config::*;
use crate::weights::gguf::GgufFile;
use crate::Result;

/// BLOOM: ALiBi (llama.cpp hard-codes max bias 8, the standard slopes), LayerNorm on the
/// embeddings, tanh-GELU MLP (HF `bloom_gelu_forward` is the tanh form).
pub(super) fn bloom(c: &mut ModelConfig) {
    c.position = Position::Alibi;
    c.embedding.norm = Some(c.block.norm);
    c.ffn.kind = FfnKind::Mlp(Activation::GeluTanh);
}

/// Falcon: attention and MLP in parallel from one norm (7B, multi-query) or from two
/// (`attn_norm_2`: the 40B/180B "new decoder architecture").
pub(super) fn falcon(file: &GgufFile, c: &mut ModelConfig) {
    c.ffn.kind = FfnKind::Mlp(Activation::Gelu);
    let two_norms = file.tensor("blk.0.attn_norm_2.weight").is_ok();
    c.block.residual = Residual::Parallel {
        shared_norm: !two_norms,
    };
}

/// GPT-NeoX: partial rotary (`rope.dimension_count`), GELU MLP, parallel residual with
/// two norms unless `use_parallel_residual` is false.
pub(super) fn gptneox(hp: &Hp, c: &mut ModelConfig) -> Result<()> {
    c.ffn.kind = FfnKind::Mlp(Activation::Gelu);
    if hp.opt_bool("use_parallel_residual")?.unwrap_or(true) {
        c.block.residual = Residual::Parallel { shared_norm: false };
    }
    Ok(())
}
