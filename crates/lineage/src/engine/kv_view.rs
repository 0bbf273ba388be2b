//! How attention reads one head of one KV block, whatever the cache stores: key columns
//! and weighted value rows in f32. Each format is a type the attention loops are
//! compiled for, so the conversion inlines into them (no call per value).

use super::kv::{SeqKv, BLOCK};
use super::kv_q8::GROUP;
use super::kv_type::{KvElem, F16};

/// A cache format as the attention loops see it.
pub(crate) trait KvFormat: 'static {
    type Keys<'a>: KeyCols;
    type Values<'a>: ValueRows;
    /// KV head `g`'s keys (heads `hd` wide) in block `b` of `layer`.
    fn keys(kv: &SeqKv, layer: usize, b: usize, g: usize, hd: usize) -> Self::Keys<'_>;
    /// KV head `g`'s values in block `b` of `layer`.
    fn values(kv: &SeqKv, layer: usize, b: usize, g: usize, hd: usize) -> Self::Values<'_>;
}

/// A head's keys of one block, transposed.
pub(crate) trait KeyCols {
    /// All `hd` columns in f32, `[hd][BLOCK]` (dimension `d` of the block's [`BLOCK`]
    /// keys at `d * BLOCK`): borrowed where the cache is f32, else converted into
    /// `scratch` (at least `BLOCK * hd` values), each value exactly the one the cache holds.
    fn f32_cols<'s>(&'s self, scratch: &'s mut [f32], hd: usize) -> &'s [f32];
    /// The columns as halves, `[hd][BLOCK]`, where the cache stores halves.
    fn halves(&self) -> Option<&[u16]> {
        None
    }
}

/// A head's values of one block, by position inside the block.
pub(crate) trait ValueRows {
    /// The block's [`BLOCK`] value rows of this head in f32, as `(values, stride between
    /// positions, the head's offset in a row)`: borrowed where the cache is f32, else
    /// converted into `scratch` (at least `BLOCK * hd` values). Each value is the one the
    /// cache holds, exactly (a half, or a code times its f16 scale, fits an f32).
    fn f32_rows<'s>(&'s self, scratch: &'s mut [f32], hd: usize) -> (&'s [f32], usize, usize);
    /// The value rows as halves (values, stride, offset as [`ValueRows::f32_rows`]), where
    /// the cache stores halves.
    fn halves(&self) -> Option<(&[u16], usize, usize)> {
        None
    }
}

/// An element cache (f32, f16): a head's keys `[hd][BLOCK]`.
pub(crate) struct ElemKeys<'a, E>(&'a [E]);

/// An element cache's value rows: the block's rows, their stride, the head's offset.
pub(crate) struct ElemValues<'a, E> {
    rows: &'a [E],
    stride: usize,
    at: usize,
}

impl<E: KvElem> KvFormat for E {
    type Keys<'a> = ElemKeys<'a, E>;
    type Values<'a> = ElemValues<'a, E>;
    #[inline(always)]
    fn keys(kv: &SeqKv, layer: usize, b: usize, g: usize, hd: usize) -> ElemKeys<'_, E> {
        ElemKeys(&kv.k_rows::<E>(layer, b)[g * hd * BLOCK..(g + 1) * hd * BLOCK])
    }
    #[inline(always)]
    fn values(kv: &SeqKv, layer: usize, b: usize, g: usize, hd: usize) -> ElemValues<'_, E> {
        ElemValues {
            rows: kv.v_rows::<E>(layer, b),
            stride: kv.value_width(),
            at: g * hd,
        }
    }
}

impl<E: KvElem> KeyCols for ElemKeys<'_, E> {
    #[inline(always)]
    fn f32_cols<'s>(&'s self, scratch: &'s mut [f32], hd: usize) -> &'s [f32] {
        let n = hd * BLOCK;
        if let Some(f) = E::as_f32(&self.0[..n]) {
            return f;
        }
        E::widen(&self.0[..n], &mut scratch[..n]);
        &scratch[..n]
    }
    #[inline(always)]
    fn halves(&self) -> Option<&[u16]> {
        E::as_halves(self.0)
    }
}

impl<E: KvElem> ValueRows for ElemValues<'_, E> {
    #[inline(always)]
    fn f32_rows<'s>(&'s self, scratch: &'s mut [f32], hd: usize) -> (&'s [f32], usize, usize) {
        if let Some(f) = E::as_f32(self.rows) {
            return (f, self.stride, self.at);
        }
        for (l, o) in scratch.chunks_exact_mut(hd).take(BLOCK).enumerate() {
            E::widen(&self.rows[l * self.stride + self.at..][..hd], o);
        }
        (scratch, hd, 0)
    }
    #[inline(always)]
    fn halves(&self) -> Option<(&[u16], usize, usize)> {
        E::as_halves(self.rows).map(|h| (h, self.stride, self.at))
    }
}

/// The q8_0 cache (`kv_q8`): codes and f16 scales.
pub(crate) struct Q8;

/// A q8_0 head's keys: codes `[hd][BLOCK]` and scales `[groups][BLOCK]`.
pub(crate) struct Q8Keys<'a> {
    q: &'a [i8],
    s: &'a [F16],
}

/// A q8_0 block's value rows and the head's place in them.
pub(crate) struct Q8Values<'a> {
    q: &'a [i8],
    s: &'a [F16],
    /// Codes and scales per position.
    stride: (usize, usize),
    /// The head's first code and first scale in a row.
    at: (usize, usize),
}

impl KvFormat for Q8 {
    type Keys<'a> = Q8Keys<'a>;
    type Values<'a> = Q8Values<'a>;
    #[inline(always)]
    fn keys(kv: &SeqKv, layer: usize, b: usize, g: usize, hd: usize) -> Q8Keys<'_> {
        let r = kv.q8_rows(layer, b);
        let ng = super::kv_q8::groups(hd);
        Q8Keys {
            q: &r.kq[g * hd * BLOCK..(g + 1) * hd * BLOCK],
            s: &r.ks[g * ng * BLOCK..(g + 1) * ng * BLOCK],
        }
    }
    #[inline(always)]
    fn values(kv: &SeqKv, layer: usize, b: usize, g: usize, hd: usize) -> Q8Values<'_> {
        let r = kv.q8_rows(layer, b);
        let ng = super::kv_q8::groups(hd);
        Q8Values {
            q: r.vq,
            s: r.vs,
            stride: (r.vw, r.vg),
            at: (g * hd, g * ng),
        }
    }
}

impl KeyCols for Q8Keys<'_> {
    #[inline(always)]
    fn f32_cols<'s>(&'s self, scratch: &'s mut [f32], hd: usize) -> &'s [f32] {
        for (d, c) in scratch[..hd * BLOCK].chunks_exact_mut(BLOCK).enumerate() {
            let q = &self.q[d * BLOCK..(d + 1) * BLOCK];
            let s = &self.s[d / GROUP * BLOCK..(d / GROUP + 1) * BLOCK];
            for ((c, &q), s) in c.iter_mut().zip(q).zip(s) {
                *c = q as f32 * s.get();
            }
        }
        &scratch[..hd * BLOCK]
    }
}

impl ValueRows for Q8Values<'_> {
    #[inline(always)]
    fn f32_rows<'s>(&'s self, scratch: &'s mut [f32], hd: usize) -> (&'s [f32], usize, usize) {
        for (l, o) in scratch.chunks_exact_mut(hd).take(BLOCK).enumerate() {
            let q = &self.q[l * self.stride.0 + self.at.0..][..hd];
            let s = &self.s[l * self.stride.1 + self.at.1..][..hd.div_ceil(GROUP)];
            for ((o, q), s) in o.chunks_mut(GROUP).zip(q.chunks(GROUP)).zip(s) {
                let s = s.get();
                for (x, &c) in o.iter_mut().zip(q) {
                    *x = c as f32 * s;
                }
            }
        }
        (scratch, hd, 0)
    }
}
