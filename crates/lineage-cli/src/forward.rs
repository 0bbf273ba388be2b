//! `lineage forward MODEL --input IN --out OUT [--hidden-states] [--expert-stats]`:
//! logits (f32 `[B, T, V]`) and hidden states (f32 `[L+1, B, T, H]`, the HF convention).

use std::collections::HashMap;
use std::path::PathBuf;

use anyhow::Result;
use candle_core::{DType, Tensor};
use lineage::model::FfnLayer;

use crate::io;

#[derive(clap::Args)]
pub struct ForwardArgs {
    /// Checkpoint folder (config.json + safetensors).
    model: PathBuf,
    /// safetensors file with `input_ids` (int64 [B, T]).
    #[arg(long)]
    input: PathBuf,
    /// Output safetensors file.
    #[arg(long)]
    out: PathBuf,
    /// Weight numerics (GGUF): quantized (fast) or f32 (exact reference).
    #[arg(long, value_enum, default_value_t = io::PrecisionArg::Quantized)]
    precision: io::PrecisionArg,
    /// Overrides a config value after loading (repeatable), e.g. `window=4096` for a
    /// llama-arch Mistral GGUF; the keys of `inspect --set`.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Also write `hidden_states` and `last_layer_output`.
    #[arg(long)]
    hidden_states: bool,
    /// Print per-layer expert usage counts (MoE models) and write `expert_counts`.
    #[arg(long)]
    expert_stats: bool,
}

pub fn run(a: ForwardArgs) -> Result<()> {
    let model = io::load_model(&a.model, a.precision, &a.set)?;
    let ids = io::read_ids(&a.input)?;
    let out = model.forward_full(&ids, None, a.hidden_states)?;
    let mut t = HashMap::new();
    t.insert("logits".to_string(), out.logits.to_dtype(DType::F32)?);
    if a.hidden_states {
        t.insert(
            "hidden_states".to_string(),
            Tensor::stack(&out.hidden_states, 0)?,
        );
        if let Some(l) = out.last_layer_output {
            t.insert("last_layer_output".to_string(), l);
        }
    }
    if a.expert_stats {
        if let Some(counts) = expert_counts(&model)? {
            t.insert("expert_counts".to_string(), counts);
        }
    }
    io::write(&a.out, t)
}

/// Prints and returns `[moe_layers, E]` routed-token counts of the forward just run.
fn expert_counts(model: &lineage::model::Model) -> Result<Option<Tensor>> {
    let mut rows = Vec::new();
    for (i, b) in model.blocks.iter().enumerate() {
        if let FfnLayer::Moe(m) = &b.ffn {
            let c = m.stats.routed_counts();
            println!("layer {i}: expert tokens {c:?}");
            rows.push(Tensor::new(
                c.iter().map(|&x| x as i64).collect::<Vec<_>>(),
                &candle_core::Device::Cpu,
            )?);
        }
    }
    if rows.is_empty() {
        println!("no MoE layers");
        return Ok(None);
    }
    Ok(Some(Tensor::stack(&rows, 0)?))
}
