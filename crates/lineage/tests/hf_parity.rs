//! Every family against Hugging Face transformers (fixtures in tests/fixtures/hf, made by
//! tools/oracle/make_fixtures.py): hidden states, logits and cached greedy generation,
//! from both config dialects.

mod common;

macro_rules! parity {
    ($($name:ident => $case:literal),* $(,)?) => {
        mod forward_matches_hf { $( #[test] fn $name() { super::common::check_forward($case, "config.json"); } )* }
        mod forward_matches_hf_legacy_config { $( #[test] fn $name() { super::common::check_forward($case, "config.legacy.json"); } )* }
        mod greedy_matches_hf { $( #[test] fn $name() { super::common::check_greedy($case); } )* }
    };
}

parity! {
    gpt2 => "gpt2",
    llama => "llama",
    llama_tied_mqa => "llama_tied_mqa",
    llama_yarn => "llama_yarn",
    llama_linear => "llama_linear",
    qwen2 => "qwen2",
    qwen3 => "qwen3",
    phi3 => "phi3",
    phi3_longrope => "phi3_longrope",
    gpt_neox => "gpt_neox",
    falcon => "falcon",
    falcon_mq => "falcon_mq",
    bloom => "bloom",
    olmo2 => "olmo2",
    mistral => "mistral",
    gemma2 => "gemma2",
    gemma3_text => "gemma3_text",
    mixtral => "mixtral",
    qwen3_moe => "qwen3_moe",
    deepseek_v3 => "deepseek_v3",
    deepseek_v2 => "deepseek_v2",
    gpt_oss => "gpt_oss",
    gpt_oss_mxfp4 => "gpt_oss_mxfp4",
}
