//! Feed-forward sublayer: plain MLP, gated (GLU) variants, and mixture of experts.

/// Element-wise nonlinearity.
#[derive(serde::Serialize, serde::Deserialize, Debug, Clone, Copy, PartialEq)]
pub enum Activation {
    /// Exact erf GELU (HF `gelu`).
    Gelu,
    /// tanh approximation (HF `gelu_new`, `gelu_pytorch_tanh`).
    GeluTanh,
    /// x * sigmoid(x) (HF `silu`/`swish`).
    Silu,
    Relu,
}

/// Structure of the (dense or per-expert) FFN.
#[derive(serde::Serialize, serde::Deserialize, Debug, Clone, Copy, PartialEq)]
pub enum FfnKind {
    /// `down(act(up(x)))` (GPT-2, BLOOM, NeoX, Falcon).
    Mlp(Activation),
    /// `down(act(gate(x)) * up(x))`: SwiGLU with Silu, GeGLU with GELU (Shazeer 2020).
    Glu(Activation),
    /// gpt-oss: gate clamped above at `limit`, up clamped to ±limit,
    /// `(up + 1) * gate * sigmoid(alpha * gate)`.
    ClampedSwiGlu { alpha: f64, limit: f64 },
}

/// The FFN of a dense layer and, when present, the MoE of sparse layers.
#[derive(serde::Serialize, serde::Deserialize, Debug, Clone, PartialEq)]
pub struct FfnConfig {
    pub kind: FfnKind,
    /// Hidden width of the dense FFN (`intermediate_size`).
    pub d_ff: usize,
    /// Biases on the FFN projections.
    pub bias: bool,
    /// Layers whose `LayerSpec::moe` is true use this.
    pub moe: Option<MoeConfig>,
}

/// How a router turns logits into expert choices and weights.
#[derive(serde::Serialize, serde::Deserialize, Debug, Clone, PartialEq)]
pub enum Router {
    /// softmax over all experts, top-k, optionally renormalised (Mixtral, Qwen3-MoE).
    SoftmaxTopK { renormalize: bool },
    /// top-k logits, then softmax over those k (gpt-oss, Switch-style with k).
    TopKSoftmax,
    /// sigmoid scores + correction bias for selection, group-limited top-k,
    /// weights = unbiased scores (normalised) * scaling (DeepSeek-V3).
    SigmoidGrouped {
        n_groups: usize,
        topk_groups: usize,
        normalize: bool,
        scaling: f64,
        /// How groups are ranked. Absent in configs saved before it existed: top-2 sum.
        #[serde(default)]
        group_score: GroupScore,
    },
    /// Softmax scores, otherwise as `SigmoidGrouped`: the selection adds the correction
    /// bias when there is one, and the weights are the unbiased scores. llama.cpp's
    /// deepseek2 without `expert_gating_func` (top-2 sum groups), and HF DeepSeek-V2/V2.5
    /// (`DeepseekV2TopkRouter`: max groups, no normalisation, no bias).
    SoftmaxGrouped {
        n_groups: usize,
        topk_groups: usize,
        normalize: bool,
        scaling: f64,
        correction_bias: bool,
        /// How groups are ranked. Absent in configs saved before it existed: top-2 sum.
        #[serde(default)]
        group_score: GroupScore,
    },
}

/// How a group-limited router ranks its expert groups (on the biased scores).
#[derive(serde::Serialize, serde::Deserialize, Debug, Clone, Copy, PartialEq, Default)]
pub enum GroupScore {
    /// The sum of the group's two best scores (HF DeepSeek-V3 `noaux_tc`, llama.cpp).
    #[default]
    Top2Sum,
    /// The group's best score (HF DeepSeek-V2 `group_limited_greedy`).
    Max,
}

/// Group-limited selection: the experts form `n_groups` equal groups and only those of
/// the `keep` best groups (ranked by `score`) compete for the top-k.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GroupLimit {
    pub n_groups: usize,
    pub keep: usize,
    pub score: GroupScore,
}

impl Router {
    /// Whether the layer carries `exp_probs_b.bias` (the selection-only correction).
    pub fn has_correction_bias(&self) -> bool {
        match self {
            Router::SigmoidGrouped { .. } => true,
            Router::SoftmaxGrouped {
                correction_bias, ..
            } => *correction_bias,
            _ => false,
        }
    }

    /// The group limit of the group-limited routers.
    pub fn group_limit(&self) -> Option<GroupLimit> {
        match self {
            Router::SigmoidGrouped {
                n_groups,
                topk_groups,
                group_score,
                ..
            }
            | Router::SoftmaxGrouped {
                n_groups,
                topk_groups,
                group_score,
                ..
            } => Some(GroupLimit {
                n_groups: *n_groups,
                keep: *topk_groups,
                score: *group_score,
            }),
            _ => None,
        }
    }
}

/// Mixture-of-experts FFN (Shazeer et al. 2017; Fedus et al. 2021).
#[derive(serde::Serialize, serde::Deserialize, Debug, Clone, PartialEq)]
pub struct MoeConfig {
    pub n_experts: usize,
    /// Experts per token (`num_experts_per_tok`).
    pub top_k: usize,
    /// Hidden width of one expert (`moe_intermediate_size`).
    pub d_expert: usize,
    pub router: Router,
    /// Bias on the router projection (gpt-oss).
    pub router_bias: bool,
    /// Biases on the expert projections (gpt-oss).
    pub expert_bias: bool,
    /// Number of always-on shared experts, fused as one FFN of width n * d_expert.
    pub n_shared_experts: usize,
}
