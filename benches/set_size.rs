//! Is unmute O(1) in the size of the user's set? One user holding 1, 10, 100 or 10,000 rooms;
//! each iteration unmutes a random one of them and mutes it again, so the set keeps its size (the
//! pair is timed together: a lone unmute would empty the 1-room set after one iteration).
//!
//! `cargo bench --bench set_size`

#[path = "common/mod.rs"]
mod common;

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use mutestore::{MemoryStore, RoomId, UserId};

use common::dataset::SplitMix;
use common::timing::quick_group;

fn benches(c: &mut Criterion) {
    let mut group = c.benchmark_group("set_size/unmute_and_mute_again");
    quick_group(&mut group);
    group.throughput(Throughput::Elements(1));
    for rooms_per_user in [1usize, 10, 100, 10_000] {
        let store = MemoryStore::with_mute_limit(rooms_per_user);
        let user = UserId::new("1485248560558").unwrap();
        let rooms: Vec<RoomId> = (0..rooms_per_user)
            .map(|n| RoomId::new(&format!("{:024x}", n as u64 * 0x9E37_79B9)).unwrap())
            .collect();
        for room in &rooms {
            store.mute_sync(&user, room).unwrap();
        }
        let mut rng = SplitMix(rooms_per_user as u64);
        let order: Vec<&RoomId> = (0..4096).map(|_| &rooms[rng.below(rooms.len())]).collect();
        let mut turn = 0;
        group.bench_function(format!("{rooms_per_user}_rooms"), |b| {
            b.iter(|| {
                turn = (turn + 1) % order.len();
                let room = order[turn];
                let unmuted = store.unmute_sync(black_box(&user), black_box(room));
                debug_assert!(unmuted.changed);
                drop(unmuted);
                black_box(store.mute_sync(&user, room).is_ok())
            })
        });
    }
    group.finish();
}

criterion_group!(set_size, benches);
criterion_main!(set_size);
