//! Property tests (proptest) of the engine's raw-pointer fast paths against naive f64
//! references: the dense f32 matmul (serial and pool-threaded, with partial row blocks
//! and widths that are not whole 8-lane steps) and attention (the AVX2 build of the head
//! loop, which must equal the portable one bit for bit, with windows, soft-caps, sinks
//! and GQA on random shapes).

use std::sync::Arc;

use proptest::collection::vec;
use proptest::prelude::*;

use super::attend::{attend_opts, AttnIo, AttnSpec, TILE};
use super::kv::{BlockCounter, KvLayout, SeqKv};
use super::kv_q8;
use super::kv_type::{KvElem, KvType, F16};
use super::mat::Mat;

/// A dense `[rows, cols]` matrix and `n` activation rows. Up to 150 x 70 x 9 crosses the
/// 65536-product threshold of the pool path and the 64-row task blocks.
fn dense_case() -> impl Strategy<Value = (usize, usize, usize, Vec<f32>, Vec<f32>)> {
    (1usize..=150, 1usize..=70, 1usize..=9).prop_flat_map(|(rows, cols, n)| {
        let w = vec(-1f32..1.0, rows * cols);
        let x = vec(-1f32..1.0, n * cols);
        (Just(rows), Just(cols), Just(n), w, x)
    })
}

/// One attention problem: heads, shapes and score options.
#[derive(Debug, Clone)]
struct Attn {
    n_heads: usize,
    n_kv_heads: usize,
    head_dim: usize,
    q0: usize,
    n: usize,
    /// Cache rows beyond `q0 + n` (scratch the kernel must ignore).
    spare: usize,
    softcap: Option<f32>,
    window: Option<usize>,
    sinks: Option<Vec<f32>>,
    q: Vec<f32>,
    k: Vec<f32>,
    v: Vec<f32>,
}

fn attn_case() -> impl Strategy<Value = Attn> {
    let heads = prop::sample::select(vec![
        (1usize, 1usize),
        (2, 1),
        (2, 2),
        (4, 2),
        (6, 3),
        (8, 2),
        (3, 1),
    ]);
    // Small chunks run serially; q0 up to 120 with n up to 40 reaches the pool path.
    let pos = prop_oneof![(0usize..8, 1usize..=6), (60usize..=120, 20usize..=40)];
    (heads, 1usize..=40, pos, 0usize..3)
        .prop_flat_map(|((h, hkv), hd, (q0, n), spare)| {
            let ctx = q0 + n + spare;
            let opts = (
                prop::option::of(1f32..50.0),
                prop::option::of(1usize..=ctx),
                prop::option::of(vec(-2f32..2.0, h)),
            );
            let q = vec(-1f32..1.0, n * h * hd);
            let kv = (
                vec(-1f32..1.0, ctx * hkv * hd),
                vec(-1f32..1.0, ctx * hkv * hd),
            );
            (Just((h, hkv, hd, q0, n, spare)), opts, q, kv)
        })
        .prop_map(
            |((h, hkv, hd, q0, n, spare), (softcap, window, sinks), q, (k, v))| Attn {
                n_heads: h,
                n_kv_heads: hkv,
                head_dim: hd,
                q0,
                n,
                spare,
                softcap,
                window,
                sinks,
                q,
                k,
                v,
            },
        )
}

impl Attn {
    fn ctx(&self) -> usize {
        self.q0 + self.n + self.spare
    }

    fn run(&self, simd: bool, ty: KvType) -> Vec<f32> {
        self.run_split(simd, ty, None).0
    }

    /// [`Attn::run`] with the split into `parts` pieces forced where it applies; also
    /// whether it applied.
    fn run_split(&self, simd: bool, ty: KvType, parts: Option<usize>) -> (Vec<f32>, bool) {
        let spec = AttnSpec {
            n_heads: self.n_heads,
            n_kv_heads: self.n_kv_heads,
            head_dim: self.head_dim,
            scale: 1.0 / (self.head_dim as f32).sqrt(),
            softcap: self.softcap,
            window: self.window,
            sinks: self.sinks.as_deref(),
            alibi: None,
        };
        // The rows in a paged cache (blocks of 16: the longer cases cross several).
        let kvw = self.n_kv_heads * self.head_dim;
        let layout = KvLayout::new(kvw, kvw, &[None]).with_type(ty, self.head_dim);
        let layout = Arc::new(layout.expect("whole heads"));
        let mut kv = SeqKv::new(&layout, &Arc::new(BlockCounter::default()));
        kv.reserve(self.ctx());
        for j in 0..self.ctx() {
            let at = j * kvw..(j + 1) * kvw;
            kv.write(0, j, &self.k[at.clone()], &self.v[at]);
        }
        let io = AttnIo {
            q: &self.q,
            kv: &kv,
            layer: 0,
            q0: self.q0,
            n: self.n,
        };
        let mut out = vec![f32::NAN; self.n * self.n_heads * self.head_dim];
        let split = attend_opts(&spec, &[io], &mut out, simd, parts);
        (out, split)
    }

    /// The problem with its keys and values as an f16 cache holds them.
    fn rounded(&self) -> Attn {
        let r = |x: &Vec<f32>| x.iter().map(|&v| F16::put(v).get()).collect();
        Attn {
            k: r(&self.k),
            v: r(&self.v),
            ..self.clone()
        }
    }

    /// The problem with its keys and values as a q8_0 cache holds them: each head's
    /// groups of 32 (per position) as codes times their f16 scale.
    fn rounded_q8(&self) -> Attn {
        let hd = self.head_dim;
        let r = |x: &Vec<f32>| {
            let mut out = vec![0f32; x.len()];
            for (row, o) in x
                .chunks(self.n_kv_heads * hd)
                .zip(out.chunks_mut(self.n_kv_heads * hd))
            {
                let (mut q, mut s) = (vec![0i8; row.len()], vec![F16::default(); row.len()]);
                kv_q8::quantize_row(row, hd, |i, c| q[i] = c, |k, x| s[k] = x);
                let ng = kv_q8::groups(hd);
                for (i, v) in o.iter_mut().enumerate() {
                    *v = q[i] as f32 * s[i / hd * ng + i % hd / kv_q8::GROUP].get();
                }
            }
            out
        };
        Attn {
            k: r(&self.k),
            v: r(&self.v),
            ..self.clone()
        }
    }

    /// Query `i`, head `h` in f64: (output row, sum_j p_j |v_j| per value) for the bound.
    fn naive(&self, i: usize, h: usize) -> (Vec<f64>, Vec<f64>) {
        let hd = self.head_dim;
        let (qw, kvw) = (self.n_heads * hd, self.n_kv_heads * hd);
        let g = h / (self.n_heads / self.n_kv_heads);
        let p = self.q0 + i;
        let lo = self.window.map_or(0, |w| (p + 1).saturating_sub(w));
        let q = &self.q[i * qw + h * hd..][..hd];
        let scale = 1.0 / (hd as f32).sqrt() as f64;
        let score = |j: usize| {
            let k = &self.k[j * kvw + g * hd..][..hd];
            let s = q
                .iter()
                .zip(k)
                .map(|(&a, &b)| a as f64 * b as f64)
                .sum::<f64>()
                * scale;
            self.softcap.map_or(s, |c| (s / c as f64).tanh() * c as f64)
        };
        let s: Vec<f64> = (lo..=p).map(score).collect();
        let sink = self.sinks.as_ref().map(|s| s[h] as f64);
        let m = s
            .iter()
            .copied()
            .chain(sink)
            .fold(f64::NEG_INFINITY, f64::max);
        let z: f64 = s.iter().chain(sink.as_ref()).map(|v| (v - m).exp()).sum();
        let (mut out, mut mag) = (vec![0f64; hd], vec![0f64; hd]);
        for (j, sj) in (lo..=p).zip(&s) {
            let w = (sj - m).exp() / z;
            for (c, &vv) in self.v[j * kvw + g * hd..][..hd].iter().enumerate() {
                out[c] += w * vv as f64;
                mag[c] += w * (vv as f64).abs();
            }
        }
        (out, mag)
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// `Mat::matmul` on dense weights against f64 dots: error within f32 summation
    /// error, `1e-5 * sum |w x| + 1e-6`.
    #[test]
    fn dense_matmul_random_shapes_match_naive_f64((rows, cols, n, w, x) in dense_case()) {
        let m = Mat::Dense { w: Arc::from(w.as_slice()), rows, cols };
        let mut out = vec![f32::NAN; n * rows];
        m.matmul(&x, n, &mut out).unwrap();
        for i in 0..n {
            for r in 0..rows {
                let (wr, xr) = (&w[r * cols..][..cols], &x[i * cols..][..cols]);
                let want: f64 = wr.iter().zip(xr).map(|(&a, &b)| a as f64 * b as f64).sum();
                let size: f64 = wr.iter().zip(xr).map(|(&a, &b)| (a * b).abs() as f64).sum();
                let (got, allow) = (out[i * rows + r] as f64, 1e-5 * size + 1e-6);
                prop_assert!((got - want).abs() <= allow,
                    "[{rows} x {cols}] n={n}: out[{i}, {r}] = {got} vs {want}");
            }
        }
    }

    /// Attention: the AVX2 head loop equals the portable one bit for bit, and both match
    /// an f64 softmax within `1e-4 * sum_j p_j |v_j| + 1e-6` (score rounding moves the
    /// weights by a few ulps of the scores' size, exp and the sum by a few more).
    #[test]
    fn attend_random_shapes_simd_equals_scalar_and_matches_f64(a in attn_case()) {
        check_attend(&a, KvType::F32, &a)?;
    }

    /// The same over an f16 cache: both builds agree bit for bit, and match the f64
    /// softmax of the f16-rounded keys and values as closely.
    #[test]
    fn attend_f16_cache_simd_equals_scalar_and_matches_f64_of_rounded(a in attn_case()) {
        check_attend(&a, KvType::F16, &a.rounded())?;
    }

    /// The same over a q8_0 cache, against the f64 softmax of the keys and values as
    /// its codes and scales give them back.
    #[test]
    fn attend_q8_cache_simd_equals_scalar_and_matches_f64_of_dequantized(a in attn_case()) {
        check_attend(&a, KvType::Q8_0, &a.rounded_q8())?;
    }
}

/// `a` through both builds of the kernel over a `ty` cache, against `exact` in f64.
fn check_attend(a: &Attn, ty: KvType, exact: &Attn) -> Result<(), TestCaseError> {
    {
        let (fast, slow) = (a.run(true, ty), a.run(false, ty));
        let bad = fast
            .iter()
            .zip(&slow)
            .position(|(x, y)| x.to_bits() != y.to_bits());
        prop_assert!(bad.is_none(), "simd vs scalar differ at {:?}", bad);
        // Split over 2 or 3 pieces (attend_split.rs): the same bits, for every query of a
        // one-tile batch (decode, short verifications).
        for (simd, whole) in [(true, &fast), (false, &slow)] {
            for parts in [2, 3] {
                let (split, applied) = a.run_split(simd, ty, Some(parts));
                prop_assert_eq!(applied, a.n <= TILE, "split applied");
                let bad = split
                    .iter()
                    .zip(whole)
                    .position(|(x, y)| x.to_bits() != y.to_bits());
                prop_assert!(
                    bad.is_none(),
                    "{parts} pieces differ at {:?} (simd {simd})",
                    bad
                );
            }
        }
        let hd = a.head_dim;
        for i in 0..a.n {
            for h in 0..a.n_heads {
                let (want, mag) = exact.naive(i, h);
                let got = &slow[(i * a.n_heads + h) * hd..][..hd];
                for c in 0..hd {
                    let err = (got[c] as f64 - want[c]).abs();
                    prop_assert!(
                        err <= 1e-4 * mag[c] + 1e-6,
                        "query {i} head {h} value {c}: {} vs {}: error {err:.3e}",
                        got[c],
                        want[c]
                    );
                }
            }
        }
    }
    Ok(())
}
