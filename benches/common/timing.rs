//! Timing loops shared by the benchmarks.

use std::hint::black_box;
use std::time::{Duration, Instant};

use mutestore::{RoomId, UserId};

/// An operation on one (user, room) pair; returns whether it changed anything.
pub type PairOp<'a> = &'a dyn Fn(&UserId, &RoomId) -> bool;

/// A long sequence of pairs, read from a cursor that wraps, so successive samples use fresh pairs
/// instead of ones a previous sample left in cache.
pub struct PairCursor {
    pairs: Vec<(UserId, RoomId)>,
    at: usize,
}

impl PairCursor {
    pub fn new(pairs: Vec<(UserId, RoomId)>) -> Self {
        Self { pairs, at: 0 }
    }

    /// The next `n` pairs (fewer at the end of the sequence).
    fn take(&mut self, n: usize) -> &[(UserId, RoomId)] {
        if self.at >= self.pairs.len() {
            self.at = 0;
        }
        let start = self.at;
        let end = (start + n).min(self.pairs.len());
        self.at = end;
        &self.pairs[start..end]
    }

    /// Times `op` over `iters` pairs; after each timed stretch, `restore` (untimed) runs over the
    /// same pairs to put the data set back as it was.
    pub fn time(
        &mut self,
        iters: u64,
        op: impl Fn(&UserId, &RoomId) -> bool,
        restore: Option<PairOp<'_>>,
    ) -> Duration {
        let mut total = Duration::ZERO;
        let mut left = iters as usize;
        while left > 0 {
            let batch = self.take(left.min(4096));
            left -= batch.len();
            let start = Instant::now();
            for (user, room) in batch {
                black_box(op(black_box(user), black_box(room)));
            }
            total += start.elapsed();
            if let Some(restore) = restore {
                for (user, room) in batch {
                    restore(user, room);
                }
            }
        }
        total
    }
}

/// Keeps a benchmark group short enough for `cargo bench` to finish in about ten minutes.
pub fn quick_group<'a, M: criterion::measurement::Measurement>(
    group: &mut criterion::BenchmarkGroup<'a, M>,
) {
    group.sample_size(20);
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(2));
}
