//! The cost of moving one cache line between two cores: two threads hand a counter back and forth.
//! Every write that the other core reads next pays it, so it bounds how well a small data set that
//! both threads change can scale, as memory latency bounds a lookup in a large one.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

#[repr(align(128))]
struct Line(AtomicU64);

/// Times `hand_offs` moves of one line between two threads; returns the total time.
pub fn time_hand_offs(hand_offs: u64) -> Duration {
    let line = Line(AtomicU64::new(0));
    let start = Instant::now();
    std::thread::scope(|scope| {
        for parity in 0..2u64 {
            let line = &line;
            scope.spawn(move || {
                loop {
                    let seen = line.0.load(Ordering::Acquire);
                    if seen >= hand_offs {
                        break;
                    }
                    // Each thread writes on its own turn, so every write follows a read of the
                    // other thread's write: one transfer each way.
                    // No pause in the spin: it would add its own delay to every hand-off.
                    if seen % 2 == parity {
                        line.0.store(seen + 1, Ordering::Release);
                    }
                }
            });
        }
    });
    start.elapsed()
}
