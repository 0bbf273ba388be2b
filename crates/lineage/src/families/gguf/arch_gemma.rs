//! GGUF `gemma2` / `gemma3`: GeGLU, sandwich norms (the converter folded Gemma's `1+w`
//! into the gains), sqrt(d) embedding scale, sliding layers. Reference: llama.cpp
//! `src/models/gemma2.cpp`, `gemma3.cpp`.
//!
//! Three values the file cannot state are hard-coded by llama.cpp, and lineage computes
//! what llama.cpp computes (`--set` overrides them):
//! - the attention scale is `1/sqrt(head_dim)`, or `1/sqrt(d_model/n_heads)` for the 27B
//!   layer counts (46 for Gemma 2, 62 for Gemma 3); HF's `query_pre_attn_scalar` is not
//!   written;
//! - which layers slide follows a period (2 for Gemma 2, 6 for Gemma 3) unless the file
//!   has `attention.sliding_window_pattern`; HF's irregular `layer_types` are not written;
//! - Gemma 2 always soft-caps (attention 50, final 30 when the keys are absent).

use super::keys::Hp;
use super::swa::{apply_pattern, local_rope, pattern};
use crate::config::*;
use crate::Result;

pub(super) fn gemma(hp: &Hp, c: &mut ModelConfig) -> Result<()> {
    let gemma2 = hp.arch == "gemma2";
    c.ffn.kind = FfnKind::Glu(Activation::GeluTanh);
    c.block.placement = NormPlacement::Sandwich;
    c.embedding.scale = Some(((c.d_model as f64).sqrt() as f32) as f64);
    let n = c.n_layers();
    if n == if gemma2 { 46 } else { 62 } {
        let per_head = (c.d_model / c.attention.n_heads) as f64;
        c.attention.scale = Some(per_head.powf(-0.5));
    }
    let final_cap = hp.opt_f64("final_logit_softcapping")?;
    if gemma2 {
        c.attention.softcap = Some(hp.opt_f64("attn_logit_softcapping")?.unwrap_or(50.0));
        c.final_logit_softcap = Some(final_cap.unwrap_or(30.0));
        let window = hp.opt_usize("attention.sliding_window")?.unwrap_or(4096);
        let local = local_rope(hp, c, None, true)?;
        apply_pattern(c, &pattern(hp, n, 2)?, window, local);
        return Ok(());
    }
    c.final_logit_softcap = final_cap.filter(|&f| f != 0.0);
    c.attention.qk_norm = Some(QkNormScope::PerHead);
    if let Some(w) = hp.opt_usize("attention.sliding_window")?.filter(|&w| w > 0) {
        // Gemma 3's sliding layers: llama.cpp's default base 10000, no scaling.
        let local = local_rope(hp, c, Some(10000.0), false)?;
        apply_pattern(c, &pattern(hp, n, 6)?, w, local);
    }
    Ok(())
}
