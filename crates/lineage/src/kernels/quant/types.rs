//! The ggml tensor type ids and their block geometry.
//!
//! Reference: ggml `ggml.h` (`enum ggml_type`) and the `type_traits` table in `ggml.c`;
//! the sizes match gguf-py `GGML_QUANT_SIZES` and the `static_assert`s in `ggml-common.h`.

/// A ggml tensor element type as stored in GGUF tensor infos.
///
/// Every id ggml has assigned is listed so that any valid file opens; only some have
/// kernels (see [`GgmlType::has_kernels`]).
#[allow(non_camel_case_types)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GgmlType {
    F32,
    F16,
    Q4_0,
    Q4_1,
    Q5_0,
    Q5_1,
    Q8_0,
    Q8_1,
    Q2_K,
    Q3_K,
    Q4_K,
    Q5_K,
    Q6_K,
    Q8_K,
    IQ2_XXS,
    IQ2_XS,
    IQ3_XXS,
    IQ1_S,
    IQ4_NL,
    IQ3_S,
    IQ2_S,
    IQ4_XS,
    I8,
    I16,
    I32,
    I64,
    F64,
    IQ1_M,
    BF16,
    TQ1_0,
    TQ2_0,
    MXFP4,
}

use GgmlType::*;

/// (type, ggml id, elements per block, bytes per block, name).
const TABLE: [(GgmlType, u32, usize, usize, &str); 32] = [
    (F32, 0, 1, 4, "F32"),
    (F16, 1, 1, 2, "F16"),
    (Q4_0, 2, 32, 18, "Q4_0"),
    (Q4_1, 3, 32, 20, "Q4_1"),
    (Q5_0, 6, 32, 22, "Q5_0"),
    (Q5_1, 7, 32, 24, "Q5_1"),
    (Q8_0, 8, 32, 34, "Q8_0"),
    (Q8_1, 9, 32, 36, "Q8_1"),
    (Q2_K, 10, 256, 84, "Q2_K"),
    (Q3_K, 11, 256, 110, "Q3_K"),
    (Q4_K, 12, 256, 144, "Q4_K"),
    (Q5_K, 13, 256, 176, "Q5_K"),
    (Q6_K, 14, 256, 210, "Q6_K"),
    (Q8_K, 15, 256, 292, "Q8_K"),
    (IQ2_XXS, 16, 256, 66, "IQ2_XXS"),
    (IQ2_XS, 17, 256, 74, "IQ2_XS"),
    (IQ3_XXS, 18, 256, 98, "IQ3_XXS"),
    (IQ1_S, 19, 256, 50, "IQ1_S"),
    (IQ4_NL, 20, 32, 18, "IQ4_NL"),
    (IQ3_S, 21, 256, 110, "IQ3_S"),
    (IQ2_S, 22, 256, 82, "IQ2_S"),
    (IQ4_XS, 23, 256, 136, "IQ4_XS"),
    (I8, 24, 1, 1, "I8"),
    (I16, 25, 1, 2, "I16"),
    (I32, 26, 1, 4, "I32"),
    (I64, 27, 1, 8, "I64"),
    (F64, 28, 1, 8, "F64"),
    (IQ1_M, 29, 256, 56, "IQ1_M"),
    (BF16, 30, 1, 2, "BF16"),
    (TQ1_0, 34, 256, 54, "TQ1_0"),
    (TQ2_0, 35, 256, 66, "TQ2_0"),
    (MXFP4, 39, 32, 17, "MXFP4"),
];

impl GgmlType {
    fn row(self) -> &'static (GgmlType, u32, usize, usize, &'static str) {
        // The table lists every variant once; the fallback is unreachable by construction.
        TABLE.iter().find(|r| r.0 == self).unwrap_or(&TABLE[0])
    }

    /// The type for a ggml id, or `None` for an id ggml never assigned (or retired).
    pub fn from_id(id: u32) -> Option<Self> {
        TABLE.iter().find(|r| r.1 == id).map(|r| r.0)
    }

    /// The id stored in GGUF tensor infos.
    pub fn id(self) -> u32 {
        self.row().1
    }

    /// Elements per block (1 for plain element types).
    pub fn block_size(self) -> usize {
        self.row().2
    }

    /// Bytes per block.
    pub fn type_size(self) -> usize {
        self.row().3
    }

    /// ggml's name, e.g. `Q4_K`.
    pub fn name(self) -> &'static str {
        self.row().4
    }

    /// Bytes for `n_elements` values, or `None` when `n_elements` is not a whole number
    /// of blocks or the size overflows.
    pub fn bytes_for(self, n_elements: u64) -> Option<u64> {
        let bs = self.block_size() as u64;
        if !n_elements.is_multiple_of(bs) {
            return None;
        }
        (n_elements / bs).checked_mul(self.type_size() as u64)
    }

    /// Whether `dequantize_row` and `QMatrix` support this type.
    pub fn has_kernels(self) -> bool {
        matches!(
            self,
            F32 | F16
                | BF16
                | Q4_0
                | Q4_1
                | Q5_0
                | Q5_1
                | Q8_0
                | Q2_K
                | Q3_K
                | Q4_K
                | Q5_K
                | Q6_K
                | MXFP4
        )
    }
}

impl std::fmt::Display for GgmlType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ggml_type_ids_roundtrip_unique() {
        for row in TABLE.iter() {
            assert_eq!(GgmlType::from_id(row.1), Some(row.0));
            assert_eq!(row.0.id(), row.1);
        }
        assert_eq!(GgmlType::from_id(4), None);
        assert_eq!(GgmlType::from_id(1000), None);
    }

    #[test]
    fn ggml_type_bytes_for_partial_block_none() {
        assert_eq!(Q4_1.bytes_for(64), Some(40));
        assert_eq!(Q4_1.bytes_for(33), None);
        assert_eq!(Q8_0.bytes_for(u64::MAX - 31), None); // 2^59 blocks * 34 bytes
    }
}
