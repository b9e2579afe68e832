//! A small, self-contained PRNG (SplitMix64), so the demo data never changes with a dependency
//! upgrade and is the same on every machine.

/// SplitMix64 (Steele, Lea, Flood 2014). Fast, full-period over `u64`, good enough for test data.
#[derive(Debug, Clone)]
pub(crate) struct Rng {
    state: u64,
}

const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Rng {
    /// An independent stream for one part of the generator, so that changing how (say) the
    /// accounts are drawn does not shift the geometry or the households.
    pub(crate) fn stream(seed: u64, label: &str) -> Rng {
        let mut h = mix(seed ^ GOLDEN);
        for b in label.bytes() {
            h = mix(h ^ u64::from(b)).wrapping_add(GOLDEN);
        }
        Rng { state: h }
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(GOLDEN);
        mix(self.state)
    }

    /// Uniform in `0..n` (unbiased, by rejection). `n == 0` gives 0.
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            return 0;
        }
        let zone = u64::MAX - (u64::MAX % n);
        loop {
            let x = self.next_u64();
            if x < zone {
                return x % n;
            }
        }
    }

    /// Uniform in `0..n` as a `usize`.
    pub(crate) fn index(&mut self, n: usize) -> usize {
        // usize is at most 64 bits on every supported target; the result is < n.
        self.below(n as u64) as usize
    }

    /// Uniform integer in `lo..=hi` (`hi >= lo`).
    pub(crate) fn int(&mut self, lo: i32, hi: i32) -> i32 {
        if hi <= lo {
            return lo;
        }
        let span = (i64::from(hi) - i64::from(lo) + 1) as u64;
        (i64::from(lo) + self.below(span) as i64) as i32
    }

    /// Uniform in `[0, 1)` with 53 bits.
    pub(crate) fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in `[-1, 1)`.
    pub(crate) fn symmetric(&mut self) -> f64 {
        self.unit() * 2.0 - 1.0
    }

    pub(crate) fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// One element of a non-empty constant table.
    pub(crate) fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.index(items.len())]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_first_outputs_never_change() {
        // SplitMix64 reference value for state 0 after one step.
        let mut r = Rng { state: 0 };
        assert_eq!(r.next_u64(), 0xE220_A839_7B1D_CDAF);
    }

    #[test]
    fn ranges_are_respected() {
        let mut r = Rng::stream(7, "t");
        for _ in 0..10_000 {
            let x = r.int(-3, 4);
            assert!((-3..=4).contains(&x));
            let u = r.unit();
            assert!((0.0..1.0).contains(&u));
            assert!(r.below(5) < 5);
        }
        assert_eq!(r.int(9, 9), 9);
        assert_eq!(r.below(0), 0);
    }

    #[test]
    fn streams_differ() {
        let a = Rng::stream(1, "geometry").next_u64();
        let b = Rng::stream(1, "people").next_u64();
        let c = Rng::stream(2, "geometry").next_u64();
        assert_ne!(a, b);
        assert_ne!(a, c);
    }
}
