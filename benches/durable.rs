//! `DurableStore`: write throughput in each durability mode with 1 and 50 concurrent writers, and
//! the time to reopen a directory holding 1M users with 3 mutes each (the shared large data set;
//! 20k users under `MUTESTORE_BENCH_QUICK=1`).
//!
//! Writers are tasks on a 2-thread tokio runtime calling the async API; each operation changes
//! something (mutes and unmutes alternate on the writer's own users), so each one is logged. The
//! stores live in temporary directories on the same disk as the system's temp dir.
//!
//! `cargo bench --bench durable` runs everything in a few minutes; `cargo bench --bench durable --
//! writes` or `-- reopen` runs one group.

#[path = "common/mod.rs"]
mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use mutestore::{Durability, DurableOptions, DurableStore, MuteStore, RoomId, UserId};
use tempfile::TempDir;

use common::dataset::Dataset;

const USERS_PER_WRITER: usize = 1_000;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime")
}

fn open(durability: Durability) -> (Arc<DurableStore>, TempDir) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = DurableOptions::new()
        .durability(durability)
        .open(dir.path())
        .expect("the store opens");
    (Arc::new(store), dir)
}

/// Ids for writer `writer`: its users, and the rooms they mute.
fn writer_ids(writer: usize) -> (Vec<UserId>, Vec<RoomId>) {
    let users = (0..USERS_PER_WRITER)
        .map(|n| UserId::new(&format!("{:013}", 1_485_248_560_558 + writer * 100_000 + n)).unwrap())
        .collect();
    let rooms = (0..2)
        .map(|n| RoomId::new(&format!("room-{n:019}")).unwrap())
        .collect();
    (users, rooms)
}

/// Each writer's ids, made once before any timing.
type WriterIds = Arc<Vec<(Vec<UserId>, Vec<RoomId>)>>;

/// Runs `total` operations over `writers` concurrent tasks; returns the time taken.
fn run_writers(
    runtime: &tokio::runtime::Runtime,
    store: &Arc<DurableStore>,
    ids: &WriterIds,
    writers: usize,
    total: u64,
    round: &mut u64,
) -> Duration {
    let per_writer = total.div_ceil(writers as u64);
    let first = *round;
    *round += per_writer;
    let started = Instant::now();
    runtime.block_on(async {
        let tasks: Vec<_> = (0..writers)
            .map(|writer| {
                let store = Arc::clone(store);
                let ids = Arc::clone(ids);
                tokio::spawn(async move {
                    let (users, rooms) = &ids[writer];
                    for n in first..first + per_writer {
                        // Passes over the users alternate: mute a room, unmute it, mute the
                        // other room, unmute it; so every operation changes the user's set.
                        let pass = n as usize / users.len();
                        let user = &users[n as usize % users.len()];
                        let room = &rooms[(pass / 2) % rooms.len()];
                        let muting = pass.is_multiple_of(2);
                        let outcome = if muting {
                            store.mute(user, room).await
                        } else {
                            store.unmute(user, room).await
                        };
                        assert!(outcome.expect("the write succeeds").changed);
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.expect("a writer");
        }
    });
    started.elapsed()
}

fn writes(c: &mut Criterion) {
    let runtime = runtime();
    let mut group = c.benchmark_group("writes");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
        .throughput(Throughput::Elements(1));
    let modes = [
        ("sync", Durability::Sync),
        ("periodic_1s", Durability::Periodic(Duration::from_secs(1))),
    ];
    let ids: WriterIds = Arc::new((0..50).map(writer_ids).collect());
    for (mode, durability) in modes {
        for writers in [1, 50] {
            let (store, _dir) = open(durability);
            let mut round = 0;
            group.bench_function(format!("{mode}/{writers}_writers"), |b| {
                b.iter_custom(|ops| run_writers(&runtime, &store, &ids, writers, ops, &mut round));
            });
        }
    }
    group.finish();
}

/// A directory holding the large data set (1M users with 3 mutes each over 100k rooms), as a
/// snapshot when `compacted`, else as one log of every mute.
fn populated_dir(data: &Dataset, compacted: bool) -> TempDir {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = DurableOptions::new()
        .durability(Durability::Periodic(Duration::from_secs(1)))
        .compact_after_bytes(u64::MAX)
        .open(dir.path())
        .expect("the store opens");
    std::thread::scope(|scope| {
        for half in 0..2 {
            let store = &store;
            scope.spawn(move || {
                for n in (half..data.users.len()).step_by(2) {
                    for &room in &data.mutes[n] {
                        store
                            .mute_sync(&data.users[n], &data.rooms[room as usize])
                            .expect("the mute succeeds");
                    }
                }
            });
        }
    });
    if compacted {
        store.compact_sync().expect("the compaction succeeds");
    }
    store.close().expect("the store closes");
    dir
}

fn reopen(c: &mut Criterion) {
    let mut group = c.benchmark_group("reopen");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(if common::dataset::quick() {
            1
        } else {
            12
        }));
    let data = Dataset::large();
    for (name, compacted) in [
        ("1M_users_x_3_from_snapshot", true),
        ("1M_users_x_3_from_log", false),
    ] {
        let dir = populated_dir(&data, compacted);
        group.bench_function(name, |b| {
            b.iter_custom(|reopens| {
                let mut opening = Duration::ZERO;
                for _ in 0..reopens {
                    let started = Instant::now();
                    let store = DurableStore::open(dir.path()).expect("the store reopens");
                    opening += started.elapsed();
                    assert_eq!(store.user_count(), data.users.len());
                    // Closed outside the measurement: the next open needs the lock back.
                    drop(store);
                }
                opening
            });
        });
    }
    group.finish();
}

criterion_group!(benches, writes, reopen);
criterion_main!(benches);
