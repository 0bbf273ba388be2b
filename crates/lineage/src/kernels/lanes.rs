//! Reductions over a slice in eight interleaved partial results (one 256-bit register's
//! worth of f32) instead of one serial chain, so that the loops calling them vectorize;
//! each fixes its order, so a portable and a SIMD build give the same bits. Shared by the
//! engine's attention softmax and the fused training kernels.

use super::real::Float;

/// Partial results per reduction.
pub const LANES: usize = 8;

/// The lanes joined in a fixed tree: `((l0 + l4) + (l1 + l5)) + ((l2 + l6) + (l3 + l7))`.
#[inline(always)]
fn join<T: Float>(a: [T; LANES]) -> T {
    ((a[0] + a[4]) + (a[1] + a[5])) + ((a[2] + a[6]) + (a[3] + a[7]))
}

/// `Σ a_i b_i`: lane partials joined, then the remainder in order.
#[inline(always)]
pub fn dot<T: Float>(a: &[T], b: &[T]) -> T {
    let mut acc = [T::ZERO; LANES];
    let (ca, cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for l in 0..LANES {
            acc[l] += x[l] * y[l];
        }
    }
    let mut s = join(acc);
    for (x, y) in ra.iter().zip(rb) {
        s += *x * *y;
    }
    s
}

/// `Σ x_i`, in [`dot`]'s order.
#[inline(always)]
pub fn sum<T: Float>(x: &[T]) -> T {
    let mut acc = [T::ZERO; LANES];
    let c = x.chunks_exact(LANES);
    let rest = c.remainder();
    for v in c {
        for l in 0..LANES {
            acc[l] += v[l];
        }
    }
    rest.iter().fold(join(acc), |s, &v| s + v)
}

/// The largest value (`-inf` for an empty slice; the same in any order).
#[inline(always)]
pub fn max<T: Float>(x: &[T]) -> T {
    let pick = |a: T, b: T| if b > a { b } else { a };
    let mut m = [T::NEG_INFINITY; LANES];
    let c = x.chunks_exact(LANES);
    let rest = c.remainder();
    for v in c {
        for l in 0..LANES {
            m[l] = pick(m[l], v[l]);
        }
    }
    for (l, &v) in rest.iter().enumerate() {
        m[l] = pick(m[l], v);
    }
    m.into_iter().fold(T::NEG_INFINITY, pick)
}

/// `x_i <- e^(x_i - shift)` in place; returns the lane sums of the new values (the
/// remainder in the first lanes), for the caller to join in its order.
#[inline(always)]
pub fn exp_shifted<T: Float>(x: &mut [T], shift: T) -> [T; LANES] {
    let mut z = [T::ZERO; LANES];
    let mut c = x.chunks_exact_mut(LANES);
    for v in &mut c {
        for l in 0..LANES {
            v[l] = (v[l] - shift).exp();
            z[l] += v[l];
        }
    }
    for (l, v) in c.into_remainder().iter_mut().enumerate() {
        *v = (*v - shift).exp();
        z[l] += *v;
    }
    z
}

/// `Σ_i e^(x_i - shift)` without writing `x`, in [`exp_shifted`]'s order, lanes joined
/// left to right.
#[inline(always)]
pub fn sum_exp<T: Float>(x: &[T], shift: T) -> T {
    let mut z = [T::ZERO; LANES];
    let c = x.chunks_exact(LANES);
    let rest = c.remainder();
    for v in c {
        for l in 0..LANES {
            z[l] += (v[l] - shift).exp();
        }
    }
    for (l, &v) in rest.iter().enumerate() {
        z[l] += (v - shift).exp();
    }
    z.into_iter().fold(T::ZERO, |s, v| s + v)
}
