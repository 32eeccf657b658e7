//! The machine's memory latency: a dependent load chain over a buffer much larger than the caches
//! can hold for random access, the physical floor of a random lookup in a large table.

use super::dataset::SplitMix;

/// A random cyclic permutation (Sattolo's algorithm) of `bytes / 8` slots.
pub struct PointerChase {
    next: Vec<u64>,
    at: u64,
}

impl PointerChase {
    pub fn new(bytes: usize, seed: u64) -> Self {
        let len = bytes / 8;
        let mut next: Vec<u64> = (0..len as u64).collect();
        let mut rng = SplitMix(seed);
        for i in (1..len).rev() {
            let j = rng.below(i);
            next.swap(i, j);
        }
        Self { next, at: 0 }
    }

    /// Follows `steps` links; each load depends on the one before.
    pub fn chase(&mut self, steps: u64) -> u64 {
        let mut at = self.at;
        for _ in 0..steps {
            at = self.next[at as usize];
        }
        self.at = at;
        at
    }
}
