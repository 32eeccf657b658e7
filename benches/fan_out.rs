//! The push pipeline's question: which of 10,000 recipients muted this room? `muted_among` in one
//! call, beside one `is_muted` call per user on MemoryStore and on the DashMap baseline. Figures are
//! per recipient.
//!
//! `cargo bench --bench fan_out`

#[path = "common/mod.rs"]
mod common;

use std::hint::black_box;

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, Throughput, criterion_group, criterion_main};
use mutestore::{MemoryStore, RoomId, UserId};

use common::BenchStore;
use common::baselines::DashMapBaseline;
use common::dataset::{Dataset, SplitMix};
use common::timing::quick_group;

const RECIPIENTS: usize = 10_000;

fn benches(c: &mut Criterion) {
    for (size, data) in [("1k", Dataset::small()), ("1M", Dataset::large())] {
        let memory = MemoryStore::new();
        let dashmap = DashMapBaseline::default();
        data.load(&memory);
        data.load(&dashmap);
        // Several rooms with their recipient lists, rotated, so no one list stays in cache.
        let mut rng = SplitMix(99);
        let asks: Vec<(RoomId, Vec<UserId>)> = (0..16)
            .map(|_| {
                let room = data.rooms[rng.below(data.rooms.len())].clone();
                let users = (0..RECIPIENTS)
                    .map(|_| data.users[rng.below(data.users.len())].clone())
                    .collect();
                (room, users)
            })
            .collect();
        let mut group = c.benchmark_group(format!("fan_out/{size}"));
        quick_group(&mut group);
        group.throughput(Throughput::Elements(RECIPIENTS as u64));
        let mut turn = 0;
        group.bench_function("muted_among/MemoryStore", |b| {
            b.iter(|| {
                turn = (turn + 1) % asks.len();
                let (room, users) = &asks[turn];
                black_box(memory.muted_among_sync(room, users))
            })
        });
        is_muted_each(&mut group, &asks, &mut turn, &memory);
        is_muted_each(&mut group, &asks, &mut turn, &dashmap);
        group.finish();
    }
}

/// One `is_muted` call per recipient on `store`, called directly (no `dyn`).
fn is_muted_each<S: BenchStore>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    asks: &[(RoomId, Vec<UserId>)],
    turn: &mut usize,
    store: &S,
) {
    group.bench_function(format!("is_muted_each/{}", store.label()), |b| {
        b.iter(|| {
            *turn = (*turn + 1) % asks.len();
            let (room, users) = &asks[*turn];
            users.iter().filter(|u| store.is_muted(u, room)).count()
        })
    });
}

criterion_group!(fan_out, benches);
criterion_main!(fan_out);
