//! GGUF metadata -> [`ModelConfig`], per `general.architecture`.

use crate::config::*;
use crate::weights::gguf::{GgufFile, Metadata};
use crate::{Error, Result};

const ARCHS: &[&str] = &[
    "llama",
    "qwen2",
    "qwen3",
    "qwen3moe",
    "gemma3",
    "gpt2",
    "phi3",
    "gpt-oss",
    "deepseek2",
];

pub fn supported() -> Vec<&'static str> {
    ARCHS.to_vec()
}

/// Typed access to `{arch}.{key}`.
pub(super) struct Hp<'a> {
    m: &'a Metadata,
    pub(super) arch: String,
}

impl Hp<'_> {
    pub(super) fn key(&self, k: &str) -> String {
        format!("{}.{k}", self.arch)
    }
    pub(super) fn usize(&self, k: &str) -> Result<usize> {
        self.m.get_usize(&self.key(k))
    }
    pub(super) fn opt_usize(&self, k: &str) -> Result<Option<usize>> {
        if self.m.get(&self.key(k)).is_some() {
            self.usize(k).map(Some)
        } else {
            Ok(None)
        }
    }
    pub(super) fn opt_f64(&self, k: &str) -> Result<Option<f64>> {
        if self.m.get(&self.key(k)).is_some() {
            self.m.get_f64(&self.key(k)).map(Some)
        } else {
            Ok(None)
        }
    }
    pub(super) fn opt_str(&self, k: &str) -> Result<Option<&str>> {
        if self.m.get(&self.key(k)).is_some() {
            self.m.get_str(&self.key(k)).map(Some)
        } else {
            Ok(None)
        }
    }
    pub(super) fn opt_bool(&self, k: &str) -> Result<Option<bool>> {
        if self.m.get(&self.key(k)).is_some() {
            self.m.get_bool(&self.key(k)).map(Some)
        } else {
            Ok(None)
        }
    }
}

pub fn config(file: &GgufFile) -> Result<ModelConfig> {
    let m = file.metadata();
    let arch = m.get_str("general.architecture")?.to_string();
    if !ARCHS.contains(&arch.as_str()) {
        return Err(Error::UnknownArchitecture {
            model_type: format!("{arch} (GGUF general.architecture)"),
            supported: supported().into_iter().map(String::from).collect(),
        });
    }
    let hp = Hp {
        m,
        arch: arch.clone(),
    };
    let mut c = base(&hp, file)?;
    match arch.as_str() {
        "qwen3" | "qwen3moe" => c.attention.qk_norm = Some(QkNormScope::PerHead),
        "gemma3" => gemma3(&hp, &mut c)?,
        "gpt2" => gpt2(&mut c),
        _ => {}
    }
    // MoE is whatever carries `expert_count` (qwen3moe; llama for Mixtral).
    if hp.opt_usize("expert_count")?.is_some() {
        moe(&hp, &mut c)?;
    }
    match arch.as_str() {
        "gpt-oss" => gpt_oss(&hp, &mut c)?,
        "deepseek2" => super::arch_mla::deepseek2(&hp, &mut c)?,
        _ => {}
    }
    detect_biases(file, &mut c);
    Ok(c)
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
    let mut scaling = scaling(hp, context_len)?;
    if let Some(factors) = rope_freqs(file)? {
        scaling = RopeScaling::FreqFactors { factors };
    }
    let rope = Rope {
        theta: hp.opt_f64("rope.freq_base")?.unwrap_or(10000.0),
        rotary_dim,
        pairing,
        scaling,
    };
    let n_layers = hp.usize("block_count")?;
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
            n_kv_heads: hp.opt_usize("attention.head_count_kv")?.unwrap_or(n_heads),
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
        unknown_keys: Vec::new(),
    })
}

/// llama.cpp's `rope_freqs.weight`: one divisor per rotated pair (the converter writes it
/// for llama3 scaling instead of metadata; `ggml_rope_ext`'s freq_factors).
fn rope_freqs(file: &GgufFile) -> Result<Option<Vec<f64>>> {
    let Ok(t) = file.tensor("rope_freqs.weight") else {
        return Ok(None);
    };
    let mut f = vec![0f32; t.n_elements() as usize];
    crate::kernels::quant::dequantize_row(
        "rope_freqs.weight",
        t.ggml_type,
        file.tensor_bytes("rope_freqs.weight")?,
        &mut f,
    )?;
    Ok(Some(f.into_iter().map(f64::from).collect()))
}

fn scaling(hp: &Hp, context_len: usize) -> Result<RopeScaling> {
    let factor = hp.opt_f64("rope.scaling.factor")?.unwrap_or(1.0);
    let orig = hp
        .opt_usize("rope.scaling.original_context_length")?
        .unwrap_or(context_len);
    Ok(match hp.opt_str("rope.scaling.type")? {
        None | Some("none") => RopeScaling::None,
        Some("linear") => RopeScaling::Linear { factor },
        Some("yarn") => RopeScaling::Yarn {
            factor,
            original_max: orig,
            beta_fast: 32.0,
            beta_slow: 1.0,
            attention_factor: if factor <= 1.0 {
                1.0
            } else {
                0.1 * factor.ln() + 1.0
            },
            truncate: true,
        },
        Some(other) => {
            return Err(Error::UnsupportedValue {
                family: hp.arch.clone(),
                key: hp.key("rope.scaling.type"),
                value: other.into(),
            })
        }
    })
}

/// Gemma 3: GeGLU, sandwich norms (the converter folded `1+w` into the weights),
/// sqrt(d) embedding scale, every 6th layer global (llama.cpp `set_swa_pattern(6)`),
/// local layers with theta 10000.
fn gemma3(hp: &Hp, c: &mut ModelConfig) -> Result<()> {
    c.ffn.kind = FfnKind::Glu(Activation::GeluTanh);
    c.block.placement = NormPlacement::Sandwich;
    c.embedding.scale = Some(((c.d_model as f64).sqrt() as f32) as f64);
    c.attention.qk_norm = Some(QkNormScope::PerHead);
    let window = hp.opt_usize("attention.sliding_window")?;
    let Position::Rope(global) = c.position.clone() else {
        unreachable!("set in base")
    };
    // llama.cpp: `rope_freq_base_train_swa` is 10000 unless `rope.freq_base_swa` says otherwise.
    let local = Rope {
        theta: hp.opt_f64("rope.freq_base_swa")?.unwrap_or(10000.0),
        scaling: RopeScaling::None,
        ..global
    };
    for (i, l) in c.layers.iter_mut().enumerate() {
        if is_swa(i, 6) {
            l.window = window;
            l.rope = Some(local.clone());
        }
    }
    Ok(())
}

/// llama.cpp `set_swa_pattern(period)`: layer `i` is sliding iff `i % period < period - 1`
/// (the last layer of each period is global).
fn is_swa(i: usize, period: usize) -> bool {
    i % period < period - 1
}

/// gpt-oss (llama.cpp `LLM_ARCH_OPENAI_MOE`): attention sinks, every other layer sliding
/// from layer 0 (`set_swa_pattern(2)`), top-k-then-softmax routing
/// (`SOFTMAX_WEIGHT`), and the clamped SwiGLU whose alpha 1.702 and limit 7.0 llama.cpp
/// hard-codes (`ggml_swiglu_oai`; HF's `swiglu_limit` is not written to the file).
/// YaRN keeps llama.cpp's floor/ceil'd correction range (HF gpt-oss: `truncate: false`).
fn gpt_oss(hp: &Hp, c: &mut ModelConfig) -> Result<()> {
    c.attention.sinks = true;
    c.ffn.kind = FfnKind::ClampedSwiGlu {
        alpha: 1.702,
        limit: 7.0,
    };
    let window = Some(hp.usize("attention.sliding_window")?);
    for (i, l) in c.layers.iter_mut().enumerate() {
        l.window = if is_swa(i, 2) { window } else { None };
    }
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
