//! [`QMatrix`]: a weight matrix that stays in its GGUF block format in memory.
//!
//! Reference: ggml's `mul_mat` contract for quantized `src0` (rows = output features,
//! each row `cols / block_size` blocks) and llama.cpp's `[n_out, n_in]` weight layout
//! (GGUF `ne = [cols, rows]`).

use std::sync::Arc;

use super::dispatch::dequantizer;
use super::GgmlType;
use crate::{Error, Result};

/// Bytes shared with their owner (a memory map, a `Vec`); the matrix holds a window.
pub type SharedBytes = Arc<dyn AsRef<[u8]> + Send + Sync>;

/// Where a matrix's blocks live.
#[derive(Clone)]
pub enum QData {
    Owned(Vec<u8>),
    /// `len` bytes at `start` of a shared buffer (e.g. an mmapped GGUF file).
    Shared {
        buf: SharedBytes,
        start: usize,
        len: usize,
    },
}

/// A `[rows, cols]` matrix (rows = outputs, cols = inputs) of ggml blocks.
#[derive(Clone)]
pub struct QMatrix {
    ty: GgmlType,
    rows: usize,
    cols: usize,
    data: QData,
}

impl std::fmt::Debug for QMatrix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "QMatrix({} [{}, {}])", self.ty, self.rows, self.cols)
    }
}

impl QMatrix {
    /// A matrix over owned bytes; `name` labels errors.
    pub fn from_vec(
        name: &str,
        ty: GgmlType,
        rows: usize,
        cols: usize,
        data: Vec<u8>,
    ) -> Result<Self> {
        Self::new(name, ty, rows, cols, QData::Owned(data))
    }

    /// A matrix over `len` bytes at `start` of a shared buffer, checked to be in range.
    pub fn from_shared(
        name: &str,
        ty: GgmlType,
        shape: [usize; 2],
        buf: SharedBytes,
        start: usize,
    ) -> Result<Self> {
        let len = Self::expected_len(name, ty, shape[0], shape[1])?;
        let total = (*buf).as_ref().len();
        if start.checked_add(len).is_none_or(|end| end > total) {
            return Err(Error::BadInput(format!(
                "tensor `{name}`: {len} bytes at offset {start} exceed the buffer of {total}"
            )));
        }
        Self::new(
            name,
            ty,
            shape[0],
            shape[1],
            QData::Shared { buf, start, len },
        )
    }

    fn expected_len(name: &str, ty: GgmlType, rows: usize, cols: usize) -> Result<usize> {
        if !ty.has_kernels() {
            return Err(Error::UnsupportedTensorType {
                tensor: name.into(),
                ggml_type: ty.id(),
            });
        }
        if !cols.is_multiple_of(ty.block_size()) {
            return Err(Error::BadInput(format!(
                "tensor `{name}`: {cols} columns are not a multiple of the {ty} block size {}",
                ty.block_size()
            )));
        }
        (cols / ty.block_size())
            .checked_mul(ty.type_size())
            .and_then(|r| r.checked_mul(rows))
            .ok_or_else(|| Error::BadInput(format!("tensor `{name}`: size overflows")))
    }

    fn new(name: &str, ty: GgmlType, rows: usize, cols: usize, data: QData) -> Result<Self> {
        let len = Self::expected_len(name, ty, rows, cols)?;
        let m = Self {
            ty,
            rows,
            cols,
            data,
        };
        if m.bytes().len() != len {
            return Err(Error::BadInput(format!(
                "tensor `{name}`: {} bytes, expected {len} for {ty} [{rows}, {cols}]",
                m.bytes().len()
            )));
        }
        Ok(m)
    }

    pub fn ggml_type(&self) -> GgmlType {
        self.ty
    }
    /// Output features.
    pub fn rows(&self) -> usize {
        self.rows
    }
    /// Input features.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// All blocks, row after row.
    pub fn bytes(&self) -> &[u8] {
        match &self.data {
            QData::Owned(v) => v,
            QData::Shared { buf, start, len } => &(**buf).as_ref()[*start..*start + *len],
        }
    }

    /// Bytes of one row of blocks.
    pub fn row_bytes(&self) -> usize {
        self.cols / self.ty.block_size() * self.ty.type_size()
    }

    /// The whole matrix as f32, row-major `[rows, cols]`.
    pub fn dequantize(&self) -> Vec<f32> {
        let mut out = vec![0f32; self.rows * self.cols];
        if let Some(f) = dequantizer(self.ty) {
            f(self.bytes(), &mut out);
        }
        out
    }

    /// `out[i, r] = sum_c x[i, c] * W[r, c]` for `x: [n, cols]`, `out: [n, rows]`.
    /// Activations are quantized to 8 bits per block first (as llama.cpp does).
    pub fn matmul(&self, x: &[f32], out: &mut [f32]) -> Result<()> {
        self.matmul_opts(x, out, ActPrecision::Int8, true)
    }

    /// [`QMatrix::matmul`] with f32 activations: "dequantize, then f32 matmul" up to
    /// f32 summation order, without ever dequantizing the whole matrix.
    pub fn matmul_f32act(&self, x: &[f32], out: &mut [f32]) -> Result<()> {
        self.matmul_opts(x, out, ActPrecision::F32, true)
    }

    /// [`QMatrix::matmul`] with the activation precision chosen by the caller.
    pub fn matmul_act(&self, x: &[f32], out: &mut [f32], act: ActPrecision) -> Result<()> {
        self.matmul_opts(x, out, act, true)
    }

    /// [`QMatrix::matmul`] with the SIMD kernels switched off (`simd = false`), for tests.
    pub fn matmul_with(&self, x: &[f32], out: &mut [f32], simd: bool) -> Result<()> {
        self.matmul_opts(x, out, ActPrecision::Int8, simd)
    }

    /// The general form: activation precision and SIMD on/off (tests compare both).
    pub fn matmul_opts(
        &self,
        x: &[f32],
        out: &mut [f32],
        act: ActPrecision,
        simd: bool,
    ) -> Result<()> {
        if self.cols == 0
            || !x.len().is_multiple_of(self.cols)
            || out.len() != x.len() / self.cols * self.rows
        {
            return Err(Error::BadInput(format!(
                "matmul: x has {} values and out {}, expected a multiple n of cols = {} and n * rows = n * {}",
                x.len(),
                out.len(),
                self.cols,
                self.rows
            )));
        }
        let pool = crate::kernels::pool::global();
        match act {
            ActPrecision::Int8 => super::matmul::run(self, x, out, simd, pool),
            ActPrecision::F32 => super::exact::run(self, x, out, simd, pool),
        }
        Ok(())
    }
}

/// How activations meet quantized weights in [`QMatrix::matmul_act`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ActPrecision {
    /// Activations quantized to 8-bit blocks (Q8_0/Q8_1/Q8_K, bit-exact with ggml's
    /// `quantize_row_q8_*`), integer dots: llama.cpp's accuracy. Its numerics, except
    /// for the nibble formats on AVX-512 VNNI, which round once per block
    /// (int8_wide.rs).
    Int8,
    /// f32 activations against weights dequantized block by block on the fly: exact up
    /// to f32 rounding.
    F32,
}

impl ActPrecision {
    /// The precision every quantized `Linear` uses, decided here once: exact f32
    /// activations unless `LINEAGE_QUANT_ACT=int8`. The CLI sets it: `--act`, else the
    /// 8-bit path for the commands that serve answers (`run`, `chat`, `serve`, `bench`)
    /// and exact for the checking ones. On SmolLM2-135M Q4_1 the exact path stays within
    /// 1e-5 of the float64 reference's top-10 logits; the 8-bit path is 0.21 / 0.41 /
    /// 0.22 from it on the three anchor prompts (llama.cpp 0.35 / 0.32 / 0.20: as close on
    /// average, the same top-1 and greedy runs at least as long as llama.cpp's;
    /// tests/smollm2_int8_anchors.rs). Speed (bench/all.py --exact, 2026-12-07, AVX-512
    /// VNNI, SmolLM2 and Gemma-3): the 8-bit path decodes 1.4-2.1x faster than the exact
    /// one and prefills 1.15-1.35x faster.
    pub fn for_linear() -> Self {
        static CHOICE: std::sync::OnceLock<ActPrecision> = std::sync::OnceLock::new();
        *CHOICE.get_or_init(|| match std::env::var("LINEAGE_QUANT_ACT").as_deref() {
            Ok("int8") => ActPrecision::Int8,
            _ => ActPrecision::F32,
        })
    }
}
