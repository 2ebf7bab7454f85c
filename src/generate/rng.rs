//! The generator's randomness: a per-row SplitMix64 seeded from `(seed, row)`, and the
//! multiplier that scrambles the order of intersections.

/// A multiplier coprime to `n` (so `x * m mod n` is a bijection), chosen from the seed.
pub(super) fn coprime_multiplier(n: u64, seed: u64) -> u64 {
    if n <= 2 {
        return 1;
    }
    let mut m = (mix(seed ^ 0x5851_F42D_4C95_7F2D) % n).max(2) | 1;
    loop {
        if m >= n {
            // 1 is coprime to everything: the loop always ends.
            m = 1;
        }
        if gcd(m, n) == 1 {
            return m;
        }
        m += 2;
    }
}

pub(super) fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// SplitMix64's finaliser.
pub(super) fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A tiny per-row generator (SplitMix64), seeded from `(seed, row)`.
pub(super) struct Rng(u64);

impl Rng {
    pub(super) fn new(seed: u64, row: u64) -> Self {
        Rng(mix(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ mix(row)))
    }

    pub(super) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix(self.0)
    }

    /// A number in `[0, n)` (`n` > 0); the bias is negligible for the small `n` used here.
    pub(super) fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next()) * u128::from(n)) >> 64) as u64
    }
}
