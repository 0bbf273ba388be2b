//! Pieces shared by adapters: the Llama-style config keys and tensor names most
//! families reuse, activations, and per-layer window patterns.

use super::hf_config::HfConfig;
use super::rope_params::RopeParams;
use super::tensor_map::TensorMap;
use crate::config::*;
use crate::Result;

/// HF `hidden_act` / `activation_function` -> activation.
pub fn activation(hf: &HfConfig, key: &str, value: &str) -> Result<Activation> {
    Ok(match value {
        "silu" | "swish" => Activation::Silu,
        "gelu" => Activation::Gelu,
        "gelu_new" | "gelu_pytorch_tanh" | "gelu_fast" | "gelu_tanh" => Activation::GeluTanh,
        "relu" => Activation::Relu,
        other => return Err(hf.unsupported(key, format!("\"{other}\""))),
    })
}

/// Per-layer sliding windows from `layer_types` + `sliding_window`, or a window on every
/// layer when only `sliding_window` is set (Mistral).
pub fn layer_windows(hf: &HfConfig, n_layers: usize) -> Result<Vec<Option<usize>>> {
    let n_layers = crate::limits::layer_count(n_layers)?;
    let window = hf.opt_usize("sliding_window")?;
    if let Some(types) = hf.value("layer_types") {
        let types = types
            .as_array()
            .ok_or_else(|| hf.bad("layer_types", types))?;
        if types.len() != n_layers {
            let msg = format!("has {} entries for {n_layers} layers", types.len());
            return Err(crate::Error::invalid("layer_types", msg));
        }
        return types
            .iter()
            .map(|t| match t.as_str() {
                Some("full_attention") => Ok(None),
                Some("sliding_attention") => {
                    window.map(Some).ok_or_else(|| hf.missing("sliding_window"))
                }
                _ => Err(hf.bad("layer_types", t)),
            })
            .collect();
    }
    let enabled = hf.bool_or("use_sliding_window", true)?;
    Ok(vec![window.filter(|_| enabled); n_layers])
}

/// The dimensions every family states, under its own key names.
pub struct Dims {
    pub vocab_size: usize,
    pub d_model: usize,
    pub n_layers: usize,
    pub n_heads: usize,
    pub n_kv_heads: usize,
    pub head_dim: usize,
    pub d_ff: usize,
    pub context_len: usize,
}

/// A pre-norm, sequential, untied, bias-free model; adapters override what differs.
pub fn skeleton(
    hf: &HfConfig,
    d: Dims,
    norm: NormConfig,
    position: Position,
    ffn: FfnKind,
) -> Result<ModelConfig> {
    crate::limits::layer_count(d.n_layers)?;
    Ok(ModelConfig {
        family: hf.family.clone(),
        vocab_size: d.vocab_size,
        d_model: d.d_model,
        context_len: d.context_len,
        embedding: EmbeddingConfig {
            scale: None,
            norm: None,
            tied_lm_head: false,
        },
        position,
        attention: AttentionConfig {
            kind: AttentionKind::Standard,
            n_heads: d.n_heads,
            n_kv_heads: d.n_kv_heads,
            head_dim: d.head_dim,
            bias: ProjBias::default(),
            scale: None,
            softcap: None,
            qk_norm: None,
            sinks: false,
        },
        ffn: FfnConfig {
            kind: ffn,
            d_ff: d.d_ff,
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
            d.n_layers
        ],
        final_logit_softcap: None,
        dropout: 0.0,
        precision: precision(hf)?,
        chat: ChatFormat::Template,
        unknown_keys: Vec::new(),
    })
}

/// The Llama config keys: RMSNorm pre-norm, RoPE, GQA, SwiGLU.
pub fn llama_like(hf: &HfConfig) -> Result<ModelConfig> {
    let d_model = hf.usize("hidden_size")?;
    let n_heads = hf.usize("num_attention_heads")?;
    let head_dim = hf
        .opt_usize("head_dim")?
        .unwrap_or(d_model / n_heads.max(1));
    let dims = Dims {
        vocab_size: hf.usize("vocab_size")?,
        d_model,
        n_layers: hf.usize("num_hidden_layers")?,
        n_heads,
        n_kv_heads: hf.opt_usize("num_key_value_heads")?.unwrap_or(n_heads),
        head_dim,
        d_ff: hf.usize("intermediate_size")?,
        context_len: hf.usize("max_position_embeddings")?,
    };
    let norm = NormConfig {
        kind: NormKind::RmsNorm { offset_one: false },
        eps: hf.f64("rms_norm_eps")?,
    };
    let act = activation(
        hf,
        "hidden_act",
        hf.opt_str("hidden_act")?.unwrap_or("silu"),
    )?;
    let rope =
        RopeParams::from_config(hf)?.rope(head_dim, dims.context_len, RopePairing::RotateHalf)?;
    let windows = layer_windows(hf, dims.n_layers)?;
    let mut c = skeleton(hf, dims, norm, Position::Rope(rope), FfnKind::Glu(act))?;
    c.embedding.tied_lm_head = tied(hf, false)?;
    c.attention.bias = ProjBias::all(hf.bool_or("attention_bias", false)?);
    c.ffn.bias = hf.bool_or("mlp_bias", false)?;
    for (l, w) in c.layers.iter_mut().zip(windows) {
        l.window = w;
    }
    Ok(c)
}

/// `tie_word_embeddings` with the family's default.
pub fn tied(hf: &HfConfig, default: bool) -> Result<bool> {
    hf.bool_or("tie_word_embeddings", default)
}

/// Storage precision from `dtype` / `torch_dtype`.
pub fn precision(hf: &HfConfig) -> Result<Precision> {
    let d = match hf.opt_str("dtype")? {
        Some(d) => Some(d),
        None => hf.opt_str("torch_dtype")?,
    };
    Ok(match d {
        Some("bfloat16") => Precision::Bf16,
        Some("float16") => Precision::F16,
        _ => Precision::F32,
    })
}

/// Llama-style per-layer tensor names.
pub const LLAMA_LAYER: &[(&str, &str)] = &[
    ("self_attn.q_proj", "attn_q"),
    ("self_attn.k_proj", "attn_k"),
    ("self_attn.v_proj", "attn_v"),
    ("self_attn.o_proj", "attn_output"),
    ("self_attn.q_norm", "attn_q_norm"),
    ("self_attn.k_norm", "attn_k_norm"),
    ("mlp.gate_proj", "ffn_gate"),
    ("mlp.up_proj", "ffn_up"),
    ("mlp.down_proj", "ffn_down"),
    ("input_layernorm", "attn_norm"),
];

/// Embeddings, final norm and LM head under Llama names, plus `table` for every layer.
pub fn llama_tensors(cfg: &ModelConfig, m: &mut TensorMap, table: &[(&str, &str)]) -> Result<()> {
    m.rename_wb("model.embed_tokens", "token_embd")?;
    m.rename_wb("model.norm", "output_norm")?;
    m.rename_wb("lm_head", "output")?;
    m.rename_layers(cfg.n_layers(), "model.layers", LLAMA_LAYER)?;
    m.rename_layers(cfg.n_layers(), "model.layers", table)
}
