//! config.json for the chosen HF family, in both dialects at once: transformers 5 reads
//! `rope_parameters` and `dtype`, transformers 4 (most serving stacks) `rope_theta` +
//! `rope_scaling` and `torch_dtype`; where both are present, 5 takes `rope_scaling` and
//! they say the same. Keys and defaults: transformers `configuration_*.py`,
//! `modeling_rope_utils.py`; what `crate::families` reads back is the test.

use serde_json::{json, Map, Value};

use super::common::{hf_act, is_windowed, single_window, Target};
use super::hf_family::HfFamily;
use super::tokenizer_json::TokenizerInfo;
use crate::config::*;
use crate::Result;

/// The config.json object for `cfg` as family `fam`.
pub(super) fn config_json(
    cfg: &ModelConfig,
    fam: HfFamily,
    tok: Option<&TokenizerInfo>,
) -> Result<Value> {
    let mut m = match fam {
        HfFamily::Gpt2 => gpt2(cfg),
        _ => llama_like(cfg, fam)?,
    };
    m.insert("architectures".into(), json!([fam.architecture()]));
    m.insert("model_type".into(), json!(fam.model_type()));
    m.insert("vocab_size".into(), json!(cfg.vocab_size));
    m.insert(
        "tie_word_embeddings".into(),
        json!(cfg.embedding.tied_lm_head),
    );
    m.insert("bos_token_id".into(), json!(tok.and_then(|t| t.bos)));
    m.insert("eos_token_id".into(), json!(tok.and_then(|t| t.eos)));
    m.insert("pad_token_id".into(), json!(tok.and_then(|t| t.pad)));
    m.insert("dtype".into(), json!("float32"));
    m.insert("torch_dtype".into(), json!("float32"));
    m.insert("use_cache".into(), json!(true));
    m.insert("initializer_range".into(), json!(0.02));
    Ok(Value::Object(m))
}

fn gpt2(cfg: &ModelConfig) -> Map<String, Value> {
    let act = match cfg.ffn.kind {
        // GPT-2's own spelling of the tanh GELU.
        FfnKind::Mlp(Activation::GeluTanh) => "gelu_new",
        FfnKind::Mlp(a) | FfnKind::Glu(a) => hf_act(a),
        FfnKind::ClampedSwiGlu { .. } => unreachable!("rejected by hf_family"),
    };
    let p = cfg.dropout;
    let v = json!({
        "n_embd": cfg.d_model,
        "n_layer": cfg.n_layers(),
        "n_head": cfg.attention.n_heads,
        "n_inner": cfg.ffn.d_ff,
        "n_positions": cfg.context_len,
        "activation_function": act,
        "layer_norm_epsilon": cfg.block.norm.eps,
        "resid_pdrop": p,
        "embd_pdrop": p,
        "attn_pdrop": p,
        "scale_attn_weights": cfg.attention.scale != Some(1.0),
        "scale_attn_by_inverse_layer_idx": false,
        "reorder_and_upcast_attn": false,
    });
    v.as_object().cloned().unwrap_or_default()
}

fn llama_like(cfg: &ModelConfig, fam: HfFamily) -> Result<Map<String, Value>> {
    let a = &cfg.attention;
    let act = match cfg.ffn.kind {
        FfnKind::Glu(act) => hf_act(act),
        _ => unreachable!("rejected by hf_family"),
    };
    let Position::Rope(rope) = &cfg.position else {
        unreachable!("rejected by hf_family")
    };
    let mut m = json!({
        "hidden_size": cfg.d_model,
        "intermediate_size": cfg.ffn.d_ff,
        "num_hidden_layers": cfg.n_layers(),
        "num_attention_heads": a.n_heads,
        "num_key_value_heads": a.n_kv_heads,
        "head_dim": a.head_dim,
        "hidden_act": act,
        "max_position_embeddings": cfg.context_len,
        "rms_norm_eps": cfg.block.norm.eps,
        "attention_dropout": cfg.dropout,
    })
    .as_object()
    .cloned()
    .unwrap_or_default();
    rope_keys(&mut m, rope, cfg.context_len);
    let window = single_window(cfg, Target::Hf)?;
    match fam {
        HfFamily::Llama => {
            m.insert("attention_bias".into(), json!(a.bias.q));
            m.insert("mlp_bias".into(), json!(cfg.ffn.bias));
            m.insert("pretraining_tp".into(), json!(1));
        }
        HfFamily::Mistral => {
            m.insert("sliding_window".into(), json!(window));
        }
        HfFamily::Qwen2 | HfFamily::Qwen3 => layer_types(&mut m, cfg, window),
        HfFamily::Mixtral => mixtral(&mut m, cfg, window),
        HfFamily::Qwen3Moe => qwen3_moe(&mut m, cfg, window),
        HfFamily::Gpt2 => unreachable!("handled by the caller"),
    }
    if matches!(fam, HfFamily::Qwen3 | HfFamily::Qwen3Moe) {
        m.insert("attention_bias".into(), json!(a.bias.q));
    }
    Ok(m)
}

/// Qwen2 / Qwen3: one `sliding_window` and the per-layer `layer_types` (transformers 5);
/// `max_window_layers` (transformers 4: layers from it on are windowed) is the first
/// windowed layer.
fn layer_types(m: &mut Map<String, Value>, cfg: &ModelConfig, window: Option<usize>) {
    let n = cfg.n_layers();
    let types: Vec<&str> = (0..n)
        .map(|i| {
            if window.is_some() && is_windowed(cfg, i) {
                "sliding_attention"
            } else {
                "full_attention"
            }
        })
        .collect();
    let first = (0..n)
        .find(|&i| window.is_some() && is_windowed(cfg, i))
        .unwrap_or(n);
    m.insert("use_sliding_window".into(), json!(window.is_some()));
    m.insert("sliding_window".into(), json!(window));
    m.insert("max_window_layers".into(), json!(first));
    m.insert("layer_types".into(), json!(types));
}

fn mixtral(m: &mut Map<String, Value>, cfg: &ModelConfig, window: Option<usize>) {
    let moe = cfg.ffn.moe.as_ref().expect("checked by hf_family");
    m.insert("intermediate_size".into(), json!(moe.d_expert));
    m.insert("num_local_experts".into(), json!(moe.n_experts));
    m.insert("num_experts_per_tok".into(), json!(moe.top_k));
    m.insert("sliding_window".into(), json!(window));
    m.insert("output_router_logits".into(), json!(false));
    m.insert("router_aux_loss_coef".into(), json!(0.001));
    m.insert("router_jitter_noise".into(), json!(0.0));
}

fn qwen3_moe(m: &mut Map<String, Value>, cfg: &ModelConfig, window: Option<usize>) {
    let moe = cfg.ffn.moe.as_ref().expect("checked by hf_family");
    let Router::SoftmaxTopK { renormalize } = moe.router else {
        unreachable!("checked by hf_family")
    };
    let dense: Vec<usize> = (0..cfg.n_layers())
        .filter(|&i| !cfg.layers[i].moe)
        .collect();
    m.insert("num_experts".into(), json!(moe.n_experts));
    m.insert("num_experts_per_tok".into(), json!(moe.top_k));
    m.insert("moe_intermediate_size".into(), json!(moe.d_expert));
    m.insert("norm_topk_prob".into(), json!(renormalize));
    m.insert("decoder_sparse_step".into(), json!(1));
    m.insert("mlp_only_layers".into(), json!(dense));
    m.insert("use_sliding_window".into(), json!(window.is_some()));
    m.insert("sliding_window".into(), json!(window));
    m.insert("max_window_layers".into(), json!(cfg.n_layers()));
    m.insert("output_router_logits".into(), json!(false));
    m.insert("router_aux_loss_coef".into(), json!(0.001));
}

/// `rope_parameters` (5) and `rope_theta` + `rope_scaling` (4), saying the same thing.
fn rope_keys(m: &mut Map<String, Value>, r: &Rope, context_len: usize) {
    let scaling = match &r.scaling {
        RopeScaling::None => None,
        RopeScaling::Linear { factor } => Some(json!({"rope_type": "linear", "factor": factor})),
        RopeScaling::DynamicNtk {
            factor,
            original_max,
        } => Some(json!({
            "rope_type": "dynamic", "factor": factor,
            "original_max_position_embeddings": original_max,
        })),
        RopeScaling::Llama3 {
            factor,
            low_freq_factor,
            high_freq_factor,
            original_max,
        } => Some(json!({
            "rope_type": "llama3", "factor": factor, "low_freq_factor": low_freq_factor,
            "high_freq_factor": high_freq_factor, "original_max_position_embeddings": original_max,
        })),
        RopeScaling::Yarn {
            factor,
            original_max,
            beta_fast,
            beta_slow,
            attention_factor,
            truncate,
        } => {
            let mut y = json!({
                "rope_type": "yarn", "factor": factor, "original_max_position_embeddings": original_max,
                "beta_fast": beta_fast, "beta_slow": beta_slow, "attention_factor": attention_factor,
            });
            if !truncate {
                y["truncate"] = json!(false);
            }
            Some(y)
        }
        RopeScaling::LongRope {
            short_factor,
            long_factor,
            original_max,
            attention_factor,
        } => Some(json!({
            "rope_type": "longrope", "short_factor": short_factor, "long_factor": long_factor,
            "original_max_position_embeddings": original_max, "attention_factor": attention_factor,
            "factor": context_len as f64 / *original_max as f64,
        })),
        RopeScaling::FreqFactors { .. } => unreachable!("rejected by hf_family"),
    };
    let mut params = scaling
        .clone()
        .unwrap_or_else(|| json!({"rope_type": "default"}));
    params["rope_theta"] = json!(r.theta);
    m.insert("rope_parameters".into(), params);
    m.insert("rope_theta".into(), json!(r.theta));
    m.insert("rope_scaling".into(), scaling.unwrap_or(Value::Null));
}
