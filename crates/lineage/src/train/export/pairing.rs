//! RoPE pair order of q/k rows. HF (and llama.cpp's NeoX-mode archs such as `qwen3`)
//! rotate pairs `(i, i + r/2)` of each head ("rotate half"); llama.cpp's `llama` arch
//! rotates adjacent pairs `(2i, 2i + 1)`, so its converter permutes q/k rows
//! (`convert_hf_to_gguf.py` `LlamaModel.permute`: view `[heads, 2, r/2]`, swap, flatten).
//! Only the first `rotary_dim` rows of a head rotate; the rest keep their place.

use candle_core::Tensor;

use crate::config::RopePairing;
use crate::Result;

/// Within one head: the old row each new row takes, going rotate-half -> interleaved.
fn to_interleaved(head_dim: usize, rotary_dim: usize) -> Vec<usize> {
    let half = rotary_dim / 2;
    (0..head_dim)
        .map(|j| match j {
            j if j < rotary_dim && j % 2 == 0 => j / 2,
            j if j < rotary_dim => j / 2 + half,
            j => j,
        })
        .collect()
}

/// The inverse order (interleaved -> rotate-half).
fn to_rotate_half(head_dim: usize, rotary_dim: usize) -> Vec<usize> {
    let fwd = to_interleaved(head_dim, rotary_dim);
    let mut inv = vec![0; head_dim];
    for (new, &old) in fwd.iter().enumerate() {
        inv[old] = new;
    }
    inv
}

/// Rows of `t` (`[heads * head_dim, ...]`: a q/k weight, bias or per-head norm gain with
/// heads = 1) reordered from pairing `from` to pairing `to`.
pub(super) fn convert(
    t: &Tensor,
    heads: usize,
    head_dim: usize,
    rotary_dim: usize,
    from: RopePairing,
    to: RopePairing,
) -> Result<Tensor> {
    if from == to {
        return Ok(t.clone());
    }
    let per_head = match to {
        RopePairing::Interleaved => to_interleaved(head_dim, rotary_dim),
        RopePairing::RotateHalf => to_rotate_half(head_dim, rotary_dim),
    };
    let idx: Vec<u32> = (0..heads)
        .flat_map(|h| per_head.iter().map(move |&j| (h * head_dim + j) as u32))
        .collect();
    let idx = Tensor::new(idx, t.device())?;
    Ok(t.index_select(&idx, 0)?.contiguous()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn to_interleaved_full_rotary_matches_llama_permute() {
        // LlamaModel.permute on one head of 8 rows: [0, 4, 1, 5, 2, 6, 3, 7].
        assert_eq!(to_interleaved(8, 8), vec![0, 4, 1, 5, 2, 6, 3, 7]);
    }

    #[test]
    fn to_interleaved_partial_rotary_keeps_tail_rows() {
        assert_eq!(to_interleaved(6, 4), vec![0, 2, 1, 3, 4, 5]);
    }

    #[test]
    fn convert_there_and_back_is_identity() {
        let t = Tensor::arange(0f32, 24.0, &candle_core::Device::Cpu)
            .unwrap()
            .reshape((12, 2))
            .unwrap();
        let (i, r) = (RopePairing::Interleaved, RopePairing::RotateHalf);
        let there = convert(&t, 2, 6, 4, r, i).unwrap();
        let back = convert(&there, 2, 6, 4, i, r).unwrap();
        assert_eq!(back.to_vec2::<f32>().unwrap(), t.to_vec2::<f32>().unwrap());
        assert_ne!(there.to_vec2::<f32>().unwrap(), t.to_vec2::<f32>().unwrap());
    }
}
