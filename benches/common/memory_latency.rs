//! The machine's memory latency: a dependent load chain over a buffer much larger than the caches
//! can hold for random access, the physical floor of a random lookup in a large table.

use super::dataset::SplitMix;

/// One link of the chain, alone on its cache line: were several links to share a line, as 8-byte
/// slots packed 8 to a line would, the chain would come back to each line 8 times per cycle, and a
/// cache holding only the lines visited since the last visit (about 5 in 8 of the buffer's lines,
/// on average) would serve most loads.
#[repr(align(64))]
struct Link(u64);

/// A random cyclic permutation (Sattolo's algorithm) of `bytes / 64` links, one per cache line.
pub struct PointerChase {
    next: Vec<Link>,
    at: u64,
}

impl PointerChase {
    pub fn new(bytes: usize, seed: u64) -> Self {
        let len = bytes / size_of::<Link>();
        let mut next: Vec<Link> = (0..len as u64).map(Link).collect();
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
            at = self.next[at as usize].0;
        }
        self.at = at;
        at
    }
}
