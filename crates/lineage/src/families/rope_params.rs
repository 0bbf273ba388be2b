//! RoPE settings from config.json in both dialects: transformers 5 `rope_parameters`
//! and transformers 4 `rope_theta` + `rope_scaling` (+ `partial_rotary_factor` /
//! `rotary_pct` / `rotary_emb_base`). Semantics: `transformers/modeling_rope_utils.py`.

use serde_json::{Map, Value};

use super::hf_config::HfConfig;
use crate::config::{Rope, RopePairing, RopeScaling};
use crate::Result;

/// The merged RoPE parameter dictionary of one layer type.
pub struct RopeParams<'a> {
    hf: &'a HfConfig,
    map: Map<String, Value>,
}

impl<'a> RopeParams<'a> {
    /// Standardises the two dialects into one dictionary (`rope_parameters` wins).
    pub fn from_config(hf: &'a HfConfig) -> Result<Self> {
        let mut map = Map::new();
        if let Some(Value::Object(scaling)) = hf.value("rope_scaling") {
            map.extend(scaling.clone());
        }
        for (legacy, key) in [
            ("rope_theta", "rope_theta"),
            ("rotary_emb_base", "rope_theta"),
            ("partial_rotary_factor", "partial_rotary_factor"),
            ("rotary_pct", "partial_rotary_factor"),
            (
                "original_max_position_embeddings",
                "original_max_position_embeddings",
            ),
        ] {
            if let Some(v) = hf.value(legacy) {
                map.entry(key.to_string()).or_insert(v.clone());
            }
        }
        if let Some(Value::Object(params)) = hf.value("rope_parameters") {
            map.extend(params.clone());
        }
        Ok(Self { hf, map })
    }

    /// A nested dictionary (Gemma 3's per-layer-type `rope_parameters`).
    pub fn sub(&self, key: &str) -> Option<Self> {
        match self.map.get(key) {
            Some(Value::Object(m)) => Some(Self {
                hf: self.hf,
                map: m.clone(),
            }),
            _ => None,
        }
    }

    pub fn set(&mut self, key: &str, v: Value) {
        self.map.insert(key.to_string(), v);
    }

    fn f64(&self, key: &str) -> Result<Option<f64>> {
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v.as_f64().map(Some).ok_or_else(|| self.bad(key, v)),
        }
    }

    fn req_f64(&self, key: &str) -> Result<f64> {
        self.f64(key)?
            .ok_or_else(|| self.hf.missing(&format!("rope_parameters.{key}")))
    }

    fn bad(&self, key: &str, v: &Value) -> crate::Error {
        self.hf
            .unsupported(&format!("rope_parameters.{key}"), v.to_string())
    }

    fn factors(&self, key: &str) -> Result<Vec<f64>> {
        let v = self
            .map
            .get(key)
            .ok_or_else(|| self.hf.missing(&format!("rope_parameters.{key}")))?;
        let arr = v.as_array().ok_or_else(|| self.bad(key, v))?;
        arr.iter()
            .map(|x| x.as_f64().ok_or_else(|| self.bad(key, v)))
            .collect()
    }

    fn original_max(&self, context_len: usize) -> Result<usize> {
        Ok(self
            .f64("original_max_position_embeddings")?
            .map(|v| v as usize)
            .unwrap_or(context_len))
    }

    /// Builds the canonical [`Rope`] for a head of `head_dim` dims.
    pub fn rope(&self, head_dim: usize, context_len: usize, pairing: RopePairing) -> Result<Rope> {
        let theta = self.f64("rope_theta")?.unwrap_or(10000.0);
        let partial = self.f64("partial_rotary_factor")?.unwrap_or(1.0);
        let rotary_dim = (head_dim as f64 * partial) as usize;
        let scaling = self.scaling(rotary_dim, context_len)?;
        Ok(Rope {
            theta,
            rotary_dim,
            pairing,
            scaling,
        })
    }

    fn scaling(&self, rotary_dim: usize, context_len: usize) -> Result<RopeScaling> {
        let kind = self.map.get("rope_type").or_else(|| self.map.get("type"));
        let kind = match kind {
            None | Some(Value::Null) => "default",
            Some(Value::String(s)) => s.as_str(),
            Some(v) => return Err(self.bad("rope_type", v)),
        };
        Ok(match kind {
            "default" => RopeScaling::None,
            "linear" => RopeScaling::Linear {
                factor: self.req_f64("factor")?,
            },
            "dynamic" => RopeScaling::DynamicNtk {
                factor: self.req_f64("factor")?,
                original_max: self.original_max(context_len)?,
            },
            "llama3" => RopeScaling::Llama3 {
                factor: self.req_f64("factor")?,
                low_freq_factor: self.req_f64("low_freq_factor")?,
                high_freq_factor: self.req_f64("high_freq_factor")?,
                original_max: self.original_max(context_len)?,
            },
            "yarn" => self.yarn(context_len)?,
            "longrope" => self.longrope(rotary_dim, context_len)?,
            other => {
                return Err(self
                    .hf
                    .unsupported("rope_parameters.rope_type", format!("\"{other}\"")))
            }
        })
    }

    fn yarn(&self, context_len: usize) -> Result<RopeScaling> {
        let original_max = self.original_max(context_len)?;
        let factor = match self.f64("factor")? {
            Some(f) => f,
            None => context_len as f64 / original_max as f64,
        };
        let mscale = |scale: f64, m: f64| {
            if scale <= 1.0 {
                1.0
            } else {
                0.1 * m * scale.ln() + 1.0
            }
        };
        let attention_factor = match self.f64("attention_factor")? {
            Some(a) => a,
            None => match (self.f64("mscale")?, self.f64("mscale_all_dim")?) {
                (Some(m), Some(ma)) if m != 0.0 && ma != 0.0 => {
                    mscale(factor, m) / mscale(factor, ma)
                }
                _ => mscale(factor, 1.0),
            },
        };
        let truncate = match self.map.get("truncate") {
            None | Some(Value::Null) => true,
            Some(Value::Bool(b)) => *b,
            Some(v) => return Err(self.bad("truncate", v)),
        };
        Ok(RopeScaling::Yarn {
            factor,
            original_max,
            beta_fast: self.f64("beta_fast")?.filter(|b| *b != 0.0).unwrap_or(32.0),
            beta_slow: self.f64("beta_slow")?.filter(|b| *b != 0.0).unwrap_or(1.0),
            attention_factor,
            truncate,
        })
    }

    fn longrope(&self, rotary_dim: usize, context_len: usize) -> Result<RopeScaling> {
        let original_max = self.original_max(context_len)?;
        let short_factor = self.factors("short_factor")?;
        let long_factor = self.factors("long_factor")?;
        for (key, f) in [
            ("short_factor", &short_factor),
            ("long_factor", &long_factor),
        ] {
            if f.len() != rotary_dim / 2 {
                let msg = format!(
                    "has {} entries, expected rotary_dim/2 = {}",
                    f.len(),
                    rotary_dim / 2
                );
                return Err(crate::Error::invalid(
                    &format!("rope_parameters.{key}"),
                    msg,
                ));
            }
        }
        let factor = self
            .f64("factor")?
            .unwrap_or(context_len as f64 / original_max as f64);
        let attention_factor = match self.f64("attention_factor")? {
            Some(a) => a,
            None if factor <= 1.0 => 1.0,
            None => (1.0 + factor.ln() / (original_max as f64).ln()).sqrt(),
        };
        Ok(RopeScaling::LongRope {
            short_factor,
            long_factor,
            original_max,
            attention_factor,
        })
    }

    /// The YaRN mscale that DeepSeek applies to the attention scale (`mscale_all_dim`).
    pub fn mscale_all_dim(&self) -> Result<Option<(f64, f64)>> {
        Ok(match (self.f64("mscale_all_dim")?, self.f64("factor")?) {
            (Some(m), Some(f)) if m != 0.0 => Some((f, m)),
            _ => None,
        })
    }
}
