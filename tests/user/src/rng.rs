//! The test programs' random numbers: splitmix64, small, fast and the same everywhere,
//! so a fuzzer's seed names one sequence of calls on every build and machine.

/// A splitmix64 generator; the value is its state (any value is a good seed).
#[derive(Clone)]
pub struct Rng(pub u64);

impl Rng {
    /// The next 64 random bits.
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (0 when n is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next() % n }
    }

    /// True with probability 1/n.
    pub fn one_in(&mut self, n: u64) -> bool {
        self.below(n) == 0
    }

    /// One of `items`, which must not be empty (the callers pass literal lists).
    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }

    /// One of `items`, or `fallback` when there are none.
    pub fn pick_or<T: Copy>(&mut self, items: &[T], fallback: T) -> T {
        items.get(self.below(items.len() as u64) as usize).copied().unwrap_or(fallback)
    }
}
