//! Is unmute O(1) in the size of the user's set? Unmute of a present room on users holding 1, 10,
//! 100 and 10,000 rooms (each timed unmute is undone, untimed, by a mute).
//!
//! `cargo bench --bench set_size`

#[path = "common/mod.rs"]
mod common;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use mutestore::{MemoryStore, RoomId, UserId};

use common::dataset::SplitMix;
use common::timing::{PairCursor, quick_group};

fn benches(c: &mut Criterion) {
    let mut group = c.benchmark_group("set_size/unmute_present");
    quick_group(&mut group);
    group.throughput(Throughput::Elements(1));
    for rooms_per_user in [1usize, 10, 100, 10_000] {
        let users = if rooms_per_user <= 100 { 1000 } else { 100 };
        let store = MemoryStore::with_mute_limit(rooms_per_user);
        let user_ids: Vec<UserId> = (0..users)
            .map(|n| UserId::new(&format!("{}", 1_485_248_560_558u64 + n as u64)).unwrap())
            .collect();
        let room_ids: Vec<RoomId> = (0..rooms_per_user)
            .map(|n| RoomId::new(&format!("{n:024x}")).unwrap())
            .collect();
        for user in &user_ids {
            for room in &room_ids {
                store.mute_sync(user, room).unwrap();
            }
        }
        // Each batch visits every user once, with a random one of its rooms.
        let mut rng = SplitMix(rooms_per_user as u64);
        let pairs: Vec<(UserId, RoomId)> = (0..64)
            .flat_map(|_| user_ids.iter())
            .map(|user| (user.clone(), room_ids[rng.below(rooms_per_user)].clone()))
            .collect();
        let mut cursor = PairCursor::new(pairs);
        group.bench_function(format!("{rooms_per_user}_rooms"), |b| {
            b.iter_custom(|iters| {
                cursor.time(
                    iters,
                    |u, r| store.unmute_sync(u, r).changed,
                    Some(&|u, r| store.mute_sync(u, r).is_ok()),
                )
            })
        });
    }
    group.finish();
}

criterion_group!(set_size, benches);
criterion_main!(set_size);
