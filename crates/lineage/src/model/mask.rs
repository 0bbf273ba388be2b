//! Causal and sliding-window masks on absolute positions: query i sees key j iff
//! j <= i and, with window W, i - W < j (HF `masking_utils.sliding_window_overlay`).

use candle_core::{DType, Device, Tensor};

use crate::Result;

/// Additive mask `[T, S]` (0 or -inf) for queries `q0..q0+T` and keys `k0..k0+S`, or
/// None when nothing is masked.
pub fn additive(
    q0: usize,
    t: usize,
    k0: usize,
    s: usize,
    window: Option<usize>,
    dtype: DType,
) -> Result<Option<Tensor>> {
    let mut any = false;
    let mut v = vec![0f32; t * s];
    for qi in 0..t {
        let i = q0 + qi;
        for kj in 0..s {
            let j = k0 + kj;
            let visible = j <= i && window.is_none_or(|w| j + w > i);
            if !visible {
                v[qi * s + kj] = f32::NEG_INFINITY;
                any = true;
            }
        }
    }
    if !any {
        return Ok(None);
    }
    Ok(Some(
        Tensor::from_vec(v, (t, s), &Device::Cpu)?.to_dtype(dtype)?,
    ))
}
