//! One thread: unmute (present, absent, and of a 4th room), mute, is_muted, on 1k and 1M users,
//! MemoryStore beside the naive baselines, and on the 1M set the machine's memory latency, the floor
//! of a random lookup.
//!
//! `cargo bench --bench single_thread`

#[path = "common/mod.rs"]
mod common;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use mutestore::MemoryStore;

use common::BenchStore;
use common::baselines::{DashMapBaseline, RwLockBaseline};
use common::dataset::Dataset;
use common::memory_latency::PointerChase;
use common::timing::{PairCursor, quick_group};

/// Whether a store's reads are timed as well as its writes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Questions {
    All,
    /// For a variant of a baseline whose reads are the baseline's own.
    WritesOnly,
}

/// The single-thread questions on one store that holds `data`, called directly (no `dyn`), as a
/// host would call it.
fn ops_on<S: BenchStore>(
    c: &mut Criterion,
    size: &str,
    data: &Dataset,
    store: &S,
    asked: Questions,
) {
    let mut group = c.benchmark_group(format!("single_thread/{size}"));
    quick_group(&mut group);
    group.throughput(Throughput::Elements(1));
    let label = store.label();
    let seq = data.users.len().max(200_000);

    let mut present = PairCursor::new(data.distinct_present_pairs(data.users.len(), 1));
    group.bench_function(format!("unmute_present/{label}"), |b| {
        b.iter_custom(|iters| {
            present.time(
                iters,
                |u, r| store.unmute(u, r),
                Some(&|u, r| store.mute(u, r)),
            )
        })
    });
    let mut absent = PairCursor::new(data.absent_pairs(seq, 2));
    group.bench_function(format!("unmute_absent/{label}"), |b| {
        b.iter_custom(|iters| absent.time(iters, |u, r| store.unmute(u, r), None))
    });
    // A 4th room, twice, so that every timed mute meets the same state however often the cursor
    // wraps (before, a baseline's figure mixed the two cases in a proportion set by the iteration
    // count). MemoryStore's unmute puts the set back in its inline form either way.
    let new_pairs = distinct_absent(data, 3);
    // `mute_new`: the user had this 4th room before, so a baseline's set still has the capacity
    // the room grew it to (removing from a `HashSet` never shrinks it): one pass first.
    for (user, room) in &new_pairs {
        store.mute(user, room);
        store.unmute(user, room);
    }
    let mut new_rooms = PairCursor::new(new_pairs.clone());
    group.bench_function(format!("mute_new/{label}"), |b| {
        b.iter_custom(|iters| {
            new_rooms.time(
                iters,
                |u, r| store.mute(u, r),
                Some(&|u, r| store.unmute(u, r)),
            )
        })
    });
    // `mute_new_grow`: the first 4th room, so a baseline's set must grow its table to take it;
    // the restore shrinks the set back after the unmute.
    for (user, room) in &new_pairs {
        store.mute(user, room);
        store.unmute_shrinking(user, room);
    }
    let mut growing = PairCursor::new(new_pairs.clone());
    group.bench_function(format!("mute_new_grow/{label}"), |b| {
        b.iter_custom(|iters| {
            growing.time(
                iters,
                |u, r| store.mute(u, r),
                Some(&|u, r| store.unmute_shrinking(u, r)),
            )
        })
    });
    // `unmute_fourth`: the same users with their 4th room muted again, and that room unmuted.
    // MemoryStore's set goes back from the heap to the user's slot, where a baseline's set only
    // loses an element; the restore mutes the room again.
    for (user, room) in &new_pairs {
        store.mute(user, room);
    }
    let mut fourth = PairCursor::new(new_pairs.clone());
    group.bench_function(format!("unmute_fourth/{label}"), |b| {
        b.iter_custom(|iters| {
            fourth.time(
                iters,
                |u, r| store.unmute(u, r),
                Some(&|u, r| store.mute(u, r)),
            )
        })
    });
    for (user, room) in &new_pairs {
        store.unmute_shrinking(user, room);
    }
    if asked == Questions::WritesOnly {
        group.finish();
        return;
    }
    let mut reads = PairCursor::new(data.present_pairs(seq, 4));
    group.bench_function(format!("is_muted/{label}"), |b| {
        b.iter_custom(|iters| reads.time(iters, |u, r| store.is_muted(u, r), None))
    });
    group.finish();
}

/// Absent pairs with each user once, so a batch of new mutes can be undone exactly.
fn distinct_absent(data: &Dataset, seed: u64) -> Vec<(mutestore::UserId, mutestore::RoomId)> {
    let mut seen = std::collections::HashSet::new();
    data.absent_pairs(data.users.len() * 2, seed)
        .into_iter()
        .filter(|(u, _)| seen.insert(u.clone()))
        .collect()
}

fn memory_latency(c: &mut Criterion) {
    // At least 4 times the last-level cache: a chain over a buffer not much larger than the cache
    // (512 MiB against the 480 MiB some machines report) is partly served from it.
    let bytes = if common::dataset::quick() {
        16 << 20
    } else {
        (4 * last_level_cache_bytes().unwrap_or(0)).max(512 << 20)
    };
    let mut chase = PointerChase::new(bytes, 7);
    let mut group = c.benchmark_group("single_thread/1M");
    quick_group(&mut group);
    group.throughput(Throughput::Elements(1));
    let name = format!("memory_latency/dependent_load_{}MiB", bytes >> 20);
    group.bench_function(name, |b| {
        b.iter_custom(|iters| {
            let start = std::time::Instant::now();
            std::hint::black_box(chase.chase(iters));
            start.elapsed()
        })
    });
    group.finish();
}

/// The largest cache of the first CPU as Linux reports it (`/sys/devices/system/cpu/cpu0/cache`).
fn last_level_cache_bytes() -> Option<usize> {
    std::fs::read_dir("/sys/devices/system/cpu/cpu0/cache")
        .ok()?
        .filter_map(|entry| {
            let size = std::fs::read_to_string(entry.ok()?.path().join("size")).ok()?;
            let size = size.trim();
            let (digits, unit) = match size.strip_suffix('K') {
                Some(digits) => (digits, 1 << 10),
                None => match size.strip_suffix('M') {
                    Some(digits) => (digits, 1 << 20),
                    None => (size, 1),
                },
            };
            digits.parse::<usize>().ok().map(|n| n * unit)
        })
        .max()
}

fn benches(c: &mut Criterion) {
    for (size, data) in [("1k", Dataset::small()), ("1M", Dataset::large())] {
        if size == "1M" {
            memory_latency(c);
        }
        let memory = MemoryStore::new();
        data.load(&memory);
        ops_on(c, size, &data, &memory, Questions::All);
        drop(memory);
        let dashmap = DashMapBaseline::default();
        data.load(&dashmap);
        ops_on(c, size, &data, &dashmap, Questions::All);
        // The same map again, its mute and unmute also returning the user's rooms as MemoryStore's
        // do (the endpoint's answer carries them).
        ops_on(c, size, &data, &dashmap.with_lists(), Questions::WritesOnly);
        drop(dashmap);
        let rwlock = RwLockBaseline::default();
        data.load(&rwlock);
        ops_on(c, size, &data, &rwlock, Questions::All);
    }
}

criterion_group!(single_thread, benches);
criterion_main!(single_thread);
