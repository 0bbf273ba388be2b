//! A keyed pseudo-random permutation of `0..n` computed one index at a time, so a
//! shuffled epoch needs no stored order: a 4-round Feistel network on the smallest
//! even-width power-of-two domain covering `n`, with cycle walking to stay inside `0..n`
//! (expected under 4 walks, since the domain is less than 4n).
//!
//! Reference: Luby and Rackoff, "How to construct pseudorandom permutations from
//! pseudorandom functions" (SIAM J. Comput. 1988); Black and Rogaway, "Ciphers with
//! arbitrary finite domains" (CT-RSA 2002) for cycle walking.

use crate::runtime::sampler::rng::{mix2, mix64};

const ROUNDS: usize = 4;

#[derive(Debug, Clone)]
pub struct Permutation {
    n: u64,
    half_bits: u32,
    mask: u64,
    keys: [u64; ROUNDS],
}

impl Permutation {
    /// The permutation of `0..n` (`n >= 1`) for `key`.
    pub fn new(n: u64, key: u64) -> Self {
        let bits = 64 - n.saturating_sub(1).leading_zeros();
        let half_bits = bits.div_ceil(2).max(1);
        let keys = std::array::from_fn(|r| mix2(key, r as u64));
        Self {
            n: n.max(1),
            half_bits,
            mask: (1u64 << half_bits) - 1,
            keys,
        }
    }

    /// The image of `i` (`i < n`).
    pub fn apply(&self, i: u64) -> u64 {
        let mut x = i;
        loop {
            x = self.feistel(x);
            if x < self.n {
                return x;
            }
        }
    }

    fn feistel(&self, x: u64) -> u64 {
        let (mut l, mut r) = (x >> self.half_bits, x & self.mask);
        for k in self.keys {
            let f = mix64(r ^ k) & self.mask;
            (l, r) = (r, l ^ f);
        }
        (l << self.half_bits) | r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permutation_many_sizes_is_a_bijection() {
        for n in [1u64, 2, 3, 4, 5, 17, 64, 1000, 4097] {
            let p = Permutation::new(n, 42);
            let mut seen = vec![false; n as usize];
            for i in 0..n {
                let j = p.apply(i);
                assert!(j < n && !seen[j as usize], "n={n} i={i} -> {j}");
                seen[j as usize] = true;
            }
        }
    }

    #[test]
    fn permutation_different_keys_give_different_orders() {
        let a: Vec<u64> = (0..100)
            .map(|i| Permutation::new(100, 1).apply(i))
            .collect();
        let b: Vec<u64> = (0..100)
            .map(|i| Permutation::new(100, 2).apply(i))
            .collect();
        assert_ne!(a, b);
        assert_ne!(a, (0..100).collect::<Vec<_>>());
    }
}
