//! The best two threads can do on a small shared data set, on this machine: the scaling mix of
//! `benches/scaling.rs` (90% reads, 10% writes) run over 1,000 words with no store code at all.
//! Each operation picks one word at random; a read is a plain load and a write an atomic add, each
//! word on its own 32-byte half-line as a user is in `MemoryStore`. A chain of private multiplies
//! stands in for hashing and compares, at three lengths. Reads share nothing, so only writes move
//! cache lines between the cores: no store can scale better than this at the same operation cost.
//!
//! `cargo run --release --example scaling_bound`

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// Words 4 apart: one per 32 bytes.
const SPACING: usize = 4;
const USERS: usize = 1_000;
const OPERATIONS: u64 = 20_000_000;

/// Runs the mix on `threads` threads, `OPERATIONS` each; returns nanoseconds per operation of all
/// threads together.
fn per_operation(threads: usize, words: &[AtomicU64], work: u32) -> f64 {
    let start = Instant::now();
    std::thread::scope(|scope| {
        for thread in 0..threads {
            scope.spawn(move || {
                let mut state = 0x9E37_79B9_7F4A_7C15u64 ^ ((thread as u64 + 1) * 0x1234_5678_9ABC);
                let mut sum = 0u64;
                for _ in 0..OPERATIONS {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    let mut private = state;
                    for _ in 0..work {
                        private = private.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(17);
                    }
                    let word = &words[((state >> 20) as usize % USERS) * SPACING];
                    if state % 100 < 10 {
                        word.fetch_add(private | 1, Ordering::Relaxed);
                    } else {
                        sum = sum.wrapping_add(word.load(Ordering::Relaxed) ^ private);
                    }
                }
                black_box(sum);
            });
        }
    });
    start.elapsed().as_secs_f64() * 1e9 / (OPERATIONS as f64 * threads as f64)
}

fn main() {
    let words: Vec<AtomicU64> = (0..USERS * SPACING).map(|_| AtomicU64::new(0)).collect();
    println!("90% loads, 10% atomic adds over {USERS} words; two threads against one:");
    for work in [40, 80, 120] {
        for _ in 0..2 {
            let one = per_operation(1, &words, work);
            let two = per_operation(2, &words, work);
            println!(
                "one thread {one:.1} ns per operation; two threads give {:.2}x one",
                one / two
            );
        }
    }
}
