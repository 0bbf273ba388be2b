//! MXFP4 (OCP Microscaling FP4) expert weights, kept packed: per group of 32 values one
//! E8M0 scale byte and 16 bytes of FP4 E2M1 nibbles (byte k: element 2k low nibble,
//! 2k+1 high nibble). Layout of the gpt-oss HF checkpoints
//! (`transformers/integrations/mxfp4.py`, `convert_moe_packed_tensors`).

use candle_core::{Device, Tensor};

use crate::{Error, Result};

/// FP4 E2M1 code -> value.
const FP4: [f32; 16] = [
    0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, -0.0, -0.5, -1.0, -1.5, -2.0, -3.0, -4.0, -6.0,
];

/// A stack of `n` packed matrices `[rows(out), cols(in)]`.
#[derive(Debug, Clone)]
pub struct Mxfp4Tensor {
    shape: [usize; 3],
    blocks: std::sync::Arc<Vec<u8>>,
    scales: std::sync::Arc<Vec<u8>>,
}

impl Mxfp4Tensor {
    /// `blocks`: `[n, rows, cols/32, 16]`, `scales`: `[n, rows, cols/32]`.
    pub fn new(
        name: &str,
        blocks: &[u8],
        bshape: &[usize],
        scales: &[u8],
        sshape: &[usize],
    ) -> Result<Self> {
        if bshape.len() != 4 || bshape[3] != 16 {
            return Err(shape_err(name, "blocks", bshape, "[E, out, in/32, 16]"));
        }
        let (n, rows, groups) = (bshape[0], bshape[1], bshape[2]);
        if sshape != [n, rows, groups] {
            return Err(Error::ShapeMismatch {
                name: format!("{name}_scales"),
                expected: vec![n, rows, groups],
                found: sshape.to_vec(),
            });
        }
        if blocks.len() != n * rows * groups * 16 || scales.len() != n * rows * groups {
            return Err(Error::BadInput(format!(
                "{name}: MXFP4 byte counts do not match their shapes"
            )));
        }
        let shape = [n, rows, groups * 32];
        Ok(Self {
            shape,
            blocks: blocks.to_vec().into(),
            scales: scales.to_vec().into(),
        })
    }

    /// From ggml's MXFP4 blocks (GGUF type 39): per 32 values one E8M0 byte, then 16
    /// bytes where element j is the LOW nibble of byte j and element j+16 its HIGH
    /// nibble (ggml-common.h `block_mxfp4`). The nibbles are reordered into the HF layout
    /// held here; scales and codes are unchanged, so dequantised values are identical.
    pub fn from_ggml_blocks(name: &str, bytes: &[u8], shape: [usize; 3]) -> Result<Self> {
        let [n, rows, cols] = shape;
        if cols % 32 != 0 || bytes.len() != n * rows * cols / 32 * 17 {
            return Err(Error::BadInput(format!(
                "{name}: MXFP4 tensor {shape:?} needs {} bytes of 17-byte blocks, found {}",
                n * rows * cols / 32 * 17,
                bytes.len()
            )));
        }
        let groups = n * rows * cols / 32;
        let (mut blocks, mut scales) =
            (Vec::with_capacity(groups * 16), Vec::with_capacity(groups));
        for b in bytes.chunks_exact(17) {
            scales.push(b[0]);
            let code = |j: usize| {
                if j < 16 {
                    b[1 + j] & 0x0f
                } else {
                    b[1 + j - 16] >> 4
                }
            };
            blocks.extend((0..16).map(|k| code(2 * k) | (code(2 * k + 1) << 4)));
        }
        Ok(Self {
            shape,
            blocks: blocks.into(),
            scales: scales.into(),
        })
    }

    /// Every `step`-th row starting at `offset` (gpt-oss interleaves gate/up rows).
    pub fn rows_strided(&self, offset: usize, step: usize) -> Self {
        let [n, rows, cols] = self.shape;
        let groups = cols / 32;
        let new_rows = (rows + step - 1 - offset) / step;
        let (mut blocks, mut scales) = (Vec::new(), Vec::new());
        for e in 0..n {
            for r in (offset..rows).step_by(step) {
                let g0 = (e * rows + r) * groups;
                scales.extend_from_slice(&self.scales[g0..g0 + groups]);
                blocks.extend_from_slice(&self.blocks[g0 * 16..(g0 + groups) * 16]);
            }
        }
        Self {
            shape: [n, new_rows, cols],
            blocks: blocks.into(),
            scales: scales.into(),
        }
    }

    /// Logical shape `[n, out, in]`.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// Bytes held in memory: 4 bits per value + one byte per 32 values = 4.25 bits.
    pub fn resident_bytes(&self) -> usize {
        self.blocks.len() + self.scales.len()
    }

    /// Matrix `e` in ggml's block layout (GGUF type 39: the scale byte, then element j
    /// in the low nibble of byte j and element j+16 in its high nibble), for the block
    /// kernels; the inverse of [`Self::from_ggml_blocks`].
    pub fn ggml_blocks(&self, e: usize) -> Vec<u8> {
        let [_, rows, cols] = self.shape;
        let groups = rows * cols / 32;
        let base = e * groups;
        let mut out = Vec::with_capacity(groups * 17);
        for g in base..base + groups {
            let hf = &self.blocks[g * 16..(g + 1) * 16];
            let code = |i: usize| (hf[i / 2] >> (4 * (i % 2))) & 0x0f;
            out.push(self.scales[g]);
            out.extend((0..16).map(|j| code(j) | (code(j + 16) << 4)));
        }
        out
    }

    /// Dequantises matrix `e` into `[out, in]` f32.
    pub fn dequantize(&self, e: usize) -> Result<Tensor> {
        let [_, rows, cols] = self.shape;
        let groups = cols / 32;
        let mut out = vec![0f32; rows * cols];
        let base = e * rows * groups;
        for g in 0..rows * groups {
            let scale = e8m0(self.scales[base + g]);
            let bytes = &self.blocks[(base + g) * 16..(base + g + 1) * 16];
            let dst = &mut out[g * 32..(g + 1) * 32];
            for (k, &b) in bytes.iter().enumerate() {
                dst[2 * k] = FP4[(b & 0x0f) as usize] * scale;
                dst[2 * k + 1] = FP4[(b >> 4) as usize] * scale;
            }
        }
        Ok(Tensor::from_vec(out, (rows, cols), &Device::Cpu)?)
    }
}

/// E8M0 scale byte -> 2^(s - 127).
fn e8m0(s: u8) -> f32 {
    (2f32).powi(s as i32 - 127)
}

fn shape_err(name: &str, part: &str, found: &[usize], want: &str) -> Error {
    Error::BadInput(format!(
        "{name}_{part}: MXFP4 shape {found:?} is not {want}"
    ))
}
