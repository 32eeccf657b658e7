//! Does it scale with threads? A mix of 90% is_muted, 5% unmute and 5% mute (each unmute undone by
//! a later mute), on 1 and 2 threads, at 1k and 1M users, MemoryStore beside the baselines. Each
//! figure is the time per operation of all threads together (lower is more throughput). Beside
//! them, the same run measures one cache line moving between the two cores, the cost that every
//! change read next by the other thread pays.
//!
//! `cargo bench --bench scaling`

#[path = "common/mod.rs"]
mod common;

use std::hint::black_box;
use std::sync::Barrier;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use mutestore::{MemoryStore, RoomId, UserId};

use common::BenchStore;
use common::baselines::{DashMapBaseline, RwLockBaseline};
use common::dataset::{Dataset, SplitMix};
use common::timing::quick_group;

#[derive(Clone, Copy)]
enum Kind {
    Read,
    Unmute,
    Mute,
}

/// One thread's operations, in the order it runs them.
fn sequence(data: &Dataset, len: usize, seed: u64) -> Vec<(Kind, UserId, RoomId)> {
    let pairs = data.present_pairs(len, seed);
    let mut rng = SplitMix(seed ^ 0xABCD);
    let mut pending: Option<(UserId, RoomId)> = None;
    pairs
        .into_iter()
        .map(|(user, room)| {
            if rng.below(10) != 0 {
                return (Kind::Read, user, room);
            }
            match pending.take() {
                Some((user, room)) => (Kind::Mute, user, room),
                None => {
                    pending = Some((user.clone(), room.clone()));
                    (Kind::Unmute, user, room)
                }
            }
        })
        .collect()
}

/// Runs `count` operations of `ops` from `cursor` on `store`, called directly (no `dyn`).
fn run<S: BenchStore>(
    store: &S,
    ops: &[(Kind, UserId, RoomId)],
    cursor: &AtomicUsize,
    count: usize,
) {
    let mut at = cursor.load(Ordering::Relaxed);
    for _ in 0..count {
        if at >= ops.len() {
            at = 0;
        }
        let (kind, user, room) = &ops[at];
        at += 1;
        black_box(match kind {
            Kind::Read => store.is_muted(user, room),
            Kind::Unmute => store.unmute(user, room),
            Kind::Mute => store.mute(user, room),
        });
    }
    cursor.store(at, Ordering::Relaxed);
}

fn mix_on<S: BenchStore>(c: &mut Criterion, size: &str, data: &Dataset, store: &S) {
    data.load(store);
    let len = data.users.len().clamp(200_000, 2_000_000);
    let sequences: Vec<_> = (0..2).map(|t| sequence(data, len, 10 + t)).collect();
    let cursors: Vec<AtomicUsize> = (0..2).map(|_| AtomicUsize::new(0)).collect();
    let mut group = c.benchmark_group(format!("scaling/{size}"));
    quick_group(&mut group);
    group.throughput(Throughput::Elements(1));
    for threads in [1usize, 2] {
        group.bench_function(format!("{threads}_threads/{}", store.label()), |b| {
            b.iter_custom(|iters| {
                let per_thread = (iters as usize).div_ceil(threads);
                // The threads are started outside the timed part: each waits for the others,
                // then times its own share; the figure is the slowest thread's.
                let ready = Barrier::new(threads);
                std::thread::scope(|scope| {
                    let workers: Vec<_> = (0..threads)
                        .map(|t| {
                            let (ops, cursor, ready) = (&sequences[t], &cursors[t], &ready);
                            scope.spawn(move || {
                                ready.wait();
                                let start = Instant::now();
                                run(store, ops, cursor, per_thread);
                                start.elapsed()
                            })
                        })
                        .collect();
                    workers
                        .into_iter()
                        .map(|worker| worker.join().expect("a benchmark thread panicked"))
                        .max()
                        .unwrap_or_default()
                })
            })
        });
    }
    group.finish();
}

fn cache_line_transfer(c: &mut Criterion) {
    let mut group = c.benchmark_group("scaling");
    quick_group(&mut group);
    group.throughput(Throughput::Elements(1));
    group.bench_function("cache_line_transfer/between_two_threads", |b| {
        b.iter_custom(common::cache_line_transfer::time_hand_offs)
    });
    group.finish();
}

fn benches(c: &mut Criterion) {
    cache_line_transfer(c);
    for (size, data) in [("1k", Dataset::small()), ("1M", Dataset::large())] {
        mix_on(c, size, &data, &MemoryStore::new());
        mix_on(c, size, &data, &DashMapBaseline::default());
        mix_on(c, size, &data, &RwLockBaseline::default());
    }
}

criterion_group!(scaling, benches);
criterion_main!(scaling);
