//! GGUF metadata -> [`ModelConfig`], per `general.architecture`. Every `{arch}.*` key is
//! read through [`Hp`], and the ones no adapter read are audited (see `keys.rs`).

use super::keys::{Hp, KeyReport};
use super::swa::{apply_pattern, local_rope, pattern};
use crate::config::*;
use crate::weights::gguf::GgufFile;
use crate::{Error, Result};

const ARCHS: &[&str] = &[
    "llama",
    "qwen2",
    "qwen3",
    "qwen3moe",
    "gemma2",
    "gemma3",
    "gpt2",
    "gptneox",
    "falcon",
    "bloom",
    "olmo2",
    "phi3",
    "gpt-oss",
    "deepseek2",
];

pub fn supported() -> Vec<&'static str> {
    ARCHS.to_vec()
}

pub fn config(file: &GgufFile) -> Result<ModelConfig> {
    config_with_keys(file).map(|(c, _)| c)
}

/// The config and which `{arch}.*` keys built it.
pub fn config_with_keys(file: &GgufFile) -> Result<(ModelConfig, KeyReport)> {
    let m = file.metadata();
    let arch = m.get_str("general.architecture")?.to_string();
    if !ARCHS.contains(&arch.as_str()) {
        return Err(Error::UnknownArchitecture {
            model_type: format!("{arch} (GGUF general.architecture)"),
            supported: supported().into_iter().map(String::from).collect(),
        });
    }
    let hp = Hp::new(m, &arch);
    let mut c = base(&hp, file)?;
    match arch.as_str() {
        "qwen3" | "qwen3moe" => c.attention.qk_norm = Some(QkNormScope::PerHead),
        "gemma2" | "gemma3" => super::arch_gemma::gemma(&hp, &mut c)?,
        "gpt2" => gpt2(&mut c),
        "gptneox" => super::arch_classic::gptneox(&hp, &mut c)?,
        "falcon" => super::arch_classic::falcon(file, &mut c),
        "bloom" => super::arch_classic::bloom(&mut c),
        "olmo2" => olmo2(&hp, &mut c)?,
        "phi3" => phi3(&hp)?,
        _ => {}
    }
    // MoE is whatever carries `expert_count` (qwen3moe; llama for Mixtral).
    if hp.opt_usize("expert_count")?.is_some() {
        moe(&hp, &mut c)?;
    }
    match arch.as_str() {
        "gpt-oss" => gpt_oss(&hp, &mut c)?,
        "deepseek2" => super::arch_mla::deepseek2(&hp, &mut c, file)?,
        _ => {}
    }
    value_length(&hp, &c)?;
    detect_biases(file, &mut c);
    let report = hp.audit()?;
    Ok((c, report))
}

fn base(hp: &Hp, file: &GgufFile) -> Result<ModelConfig> {
    let d = hp.usize("embedding_length")?;
    let n_heads = hp.usize("attention.head_count")?;
    let head_dim = hp
        .opt_usize("attention.key_length")?
        .unwrap_or(d / n_heads.max(1));
    let vocab = file
        .tensor("token_embd.weight")?
        .dims
        .get(1)
        .copied()
        .unwrap_or(0) as usize;
    if let Some(v) = hp.opt_usize("vocab_size")? {
        if v != vocab {
            let msg = format!("{v}, but token_embd.weight has {vocab} rows");
            return Err(hp.unsupported("vocab_size", msg));
        }
    }
    hp.expect_bool("attention.causal", true)?;
    if let Some(p) = hp.opt_usize("pooling_type")?.filter(|&p| p != 0) {
        return Err(hp.unsupported("pooling_type", format!("{p} (an embedding model)")));
    }
    let eps = hp.opt_f64("attention.layer_norm_rms_epsilon")?;
    let norm = match eps {
        Some(eps) => NormConfig {
            kind: NormKind::RmsNorm { offset_one: false },
            eps,
        },
        None => NormConfig {
            kind: NormKind::LayerNorm { bias: true },
            eps: hp.opt_f64("attention.layer_norm_epsilon")?.unwrap_or(1e-5),
        },
    };
    let context_len = hp.usize("context_length")?;
    let rotary_dim = hp.opt_usize("rope.dimension_count")?.unwrap_or(head_dim);
    // llama.cpp's converter permutes llama's Q/K rows into interleaved pairs ("normal"
    // RoPE); DeepSeek's rope dims are interleaved in the checkpoint already (HF
    // `rope_interleave`), and llama.cpp runs deepseek2 with normal RoPE unpermuted. The
    // other families keep HF's rotate-half ("NeoX") layout.
    let pairing = if matches!(hp.arch.as_str(), "llama" | "deepseek2") {
        RopePairing::Interleaved
    } else {
        RopePairing::RotateHalf
    };
    let rope = Rope {
        theta: hp.opt_f64("rope.freq_base")?.unwrap_or(10000.0),
        rotary_dim,
        pairing,
        scaling: super::rope::scaling(hp, file, context_len)?,
    };
    let n_layers = crate::limits::layer_count(hp.usize("block_count")?)?;
    let n_kv_heads = hp.opt_usize("attention.head_count_kv")?.unwrap_or(n_heads);
    Ok(ModelConfig {
        family: format!("{} (gguf)", hp.arch),
        vocab_size: vocab,
        d_model: d,
        context_len,
        embedding: EmbeddingConfig {
            scale: None,
            norm: None,
            tied_lm_head: file.tensor("output.weight").is_err(),
        },
        position: Position::Rope(rope),
        attention: AttentionConfig {
            kind: AttentionKind::Standard,
            n_heads,
            n_kv_heads,
            head_dim,
            bias: ProjBias::default(),
            scale: None,
            softcap: None,
            qk_norm: None,
            sinks: false,
        },
        ffn: FfnConfig {
            kind: FfnKind::Glu(Activation::Silu),
            d_ff: hp.usize("feed_forward_length")?,
            bias: false,
            moe: None,
        },
        block: BlockConfig {
            norm,
            placement: NormPlacement::Pre,
            residual: Residual::Sequential,
        },
        final_norm: norm,
        layers: vec![
            LayerSpec {
                window: None,
                rope: None,
                moe: false
            };
            n_layers
        ],
        final_logit_softcap: None,
        dropout: 0.0,
        precision: Precision::Quantized,
        chat: ChatFormat::Template,
        unknown_keys: Vec::new(),
    })
}

/// Standard attention has one head width for keys and values; MLA reads its own.
fn value_length(hp: &Hp, c: &ModelConfig) -> Result<()> {
    if c.attention.kind != AttentionKind::Standard {
        return Ok(());
    }
    let k = c.attention.head_dim;
    match hp.opt_usize("attention.value_length")? {
        Some(v) if v != k => Err(hp.unsupported(
            "attention.value_length",
            format!("{v} (differs from key length {k})"),
        )),
        _ => Ok(()),
    }
}

/// OLMo 2: norms after each sublayer (before the residual add) and q/k norms over the
/// full projection width; optional sliding layers (llama.cpp pattern 4, local layers
/// without rope scaling).
fn olmo2(hp: &Hp, c: &mut ModelConfig) -> Result<()> {
    c.block.placement = NormPlacement::PostSublayer;
    c.attention.qk_norm = Some(QkNormScope::FullWidth);
    if let Some(w) = hp.opt_usize("attention.sliding_window")?.filter(|&w| w > 0) {
        let sliding = pattern(hp, c.n_layers(), 4)?;
        let local = local_rope(hp, c, None, false)?;
        apply_pattern(c, &sliding, w, local);
    }
    Ok(())
}

/// Phi-3: llama.cpp disables Phi's sliding window ("Phi SWA is currently disabled"), so
/// a file that states one still runs with full attention; so does lineage.
fn phi3(hp: &Hp) -> Result<()> {
    hp.opt_usize("attention.sliding_window")?;
    Ok(())
}

/// gpt-oss (llama.cpp `LLM_ARCH_OPENAI_MOE`): attention sinks, every other layer sliding
/// from layer 0 (`set_swa_pattern(2)`), top-k-then-softmax routing
/// (`SOFTMAX_WEIGHT`), and the clamped SwiGLU whose alpha 1.702 and limit 7.0 llama.cpp
/// hard-codes (`ggml_swiglu_oai`; HF's `swiglu_limit` is not written to the file).
/// YaRN keeps llama.cpp's floor/ceil'd correction range (HF gpt-oss: `truncate: false`).
/// Conversations are harmony, the format gpt-oss was trained on.
fn gpt_oss(hp: &Hp, c: &mut ModelConfig) -> Result<()> {
    c.attention.sinks = true;
    c.chat = ChatFormat::Harmony;
    c.ffn.kind = FfnKind::ClampedSwiGlu {
        alpha: 1.702,
        limit: 7.0,
    };
    let window = hp.usize("attention.sliding_window")?;
    let sliding = pattern(hp, c.n_layers(), 2)?;
    let local = local_rope(hp, c, None, true)?;
    apply_pattern(c, &sliding, window, local);
    let Some(moe) = c.ffn.moe.as_mut() else {
        return Err(Error::BadInput(format!(
            "{}: gpt-oss GGUF without `{}`",
            hp.arch,
            hp.key("expert_count")
        )));
    };
    moe.router = Router::TopKSoftmax;
    Ok(())
}

fn gpt2(c: &mut ModelConfig) {
    c.position = Position::Learned;
    c.ffn.kind = FfnKind::Mlp(Activation::GeluTanh);
}

fn moe(hp: &Hp, c: &mut ModelConfig) -> Result<()> {
    c.ffn.moe = Some(MoeConfig {
        n_experts: hp.usize("expert_count")?,
        top_k: hp.usize("expert_used_count")?,
        // llama (Mixtral) has no expert length key: its experts use feed_forward_length.
        d_expert: match hp.opt_usize("expert_feed_forward_length")? {
            Some(f) => f,
            None => hp.usize("feed_forward_length")?,
        },
        router: Router::SoftmaxTopK { renormalize: true },
        router_bias: false,
        expert_bias: false,
        n_shared_experts: 0,
    });
    c.layers.iter_mut().for_each(|l| l.moe = true);
    Ok(())
}

/// Biases are whatever the file carries (GGUF has no flags for them).
fn detect_biases(file: &GgufFile, c: &mut ModelConfig) {
    if let (Some(moe), Some(i)) = (c.ffn.moe.as_mut(), c.layers.iter().position(|l| l.moe)) {
        moe.router_bias = file.tensor(&format!("blk.{i}.ffn_gate_inp.bias")).is_ok();
        moe.expert_bias = file.tensor(&format!("blk.{i}.ffn_up_exps.bias")).is_ok();
    }
    // A fused `attn_qkv.bias` (GPT-2, Phi-3) is split into q/k/v biases at load.
    let fused = file.tensor("blk.0.attn_qkv.bias").is_ok();
    let has = |n: &str| fused || file.tensor(&format!("blk.0.{n}.bias")).is_ok();
    c.attention.bias = ProjBias {
        q: has("attn_q"),
        k: has("attn_k"),
        v: has("attn_v"),
        o: file.tensor("blk.0.attn_output.bias").is_ok(),
    };
    c.ffn.bias = file.tensor("blk.0.ffn_up.bias").is_ok();
    if let NormKind::LayerNorm { bias } = &mut c.block.norm.kind {
        *bias = file.tensor("blk.0.attn_norm.bias").is_ok();
        c.final_norm = c.block.norm;
    }
}
