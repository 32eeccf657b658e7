//! RedisStore against MemoryStore on the same operations, in the same run: mute of a new room,
//! unmute of a muted room, is_muted, and muted_among of 1,000 users. One caller at a time, so the
//! Redis figures are round-trip latencies on the machine's loopback.
//!
//! Needs a Redis; `MUTESTORE_REDIS_CLUSTER_NODES` adds a Cluster beside it:
//!
//! `bash .ci/redis.sh -- cargo bench --features redis --bench redis`

#[path = "common/mod.rs"]
mod common;

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use futures_util::future::join_all;
use mutestore::{MemoryStore, MuteStore, RedisConfig, RedisStore, RoomId, UserId};
use tokio::runtime::Runtime;

use common::dataset::{Dataset, SplitMix};
use common::timing::quick_group;

/// Users asked per `muted_among`.
const RECIPIENTS: usize = 1_000;
/// Operations timed between two restores of the data set.
const BATCH: usize = 2_048;

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

/// A fresh key prefix, so a run never reads an earlier run's keys.
fn bench_prefix() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("mutestore-bench:{now}")
}

fn redis_config(name: &str) -> Option<RedisConfig> {
    let value = std::env::var(name).ok()?;
    let config = if name == "MUTESTORE_REDIS_URL" {
        RedisConfig::standalone(&value)
    } else {
        RedisConfig::cluster(value.split(','))
    };
    Some(
        config
            .and_then(|c| c.with_key_prefix(&bench_prefix()))
            .unwrap_or_else(|e| panic!("{name}: {e}")),
    )
}

/// Loads every mute of `data` into `store`, 256 at a time.
async fn load(store: &impl MuteStore, data: &Dataset) {
    let mutes: Vec<(&UserId, &RoomId)> = data
        .users
        .iter()
        .zip(&data.mutes)
        .flat_map(|(user, rooms)| rooms.iter().map(move |&r| (user, &data.rooms[r as usize])))
        .collect();
    for chunk in mutes.chunks(256) {
        for result in join_all(chunk.iter().map(|(u, r)| store.mute(u, r))).await {
            result.expect("load the data set");
        }
    }
}

/// A cycling source of pairs for timed batches.
struct Pairs {
    pairs: Vec<(UserId, RoomId)>,
    at: usize,
}

impl Pairs {
    fn next_batch(&mut self, n: usize) -> &[(UserId, RoomId)] {
        if self.at >= self.pairs.len() {
            self.at = 0;
        }
        let end = (self.at + n.min(BATCH)).min(self.pairs.len());
        let batch = &self.pairs[self.at..end];
        self.at = end;
        batch
    }
}

/// Times `iters` runs of `op` over successive pairs, batch by batch; `restore` runs untimed
/// over each batch after it, to put the data set back.
fn timed_batches(
    runtime: &Runtime,
    pairs: &mut Pairs,
    iters: u64,
    op: impl AsyncFn(&UserId, &RoomId),
    restore: impl AsyncFn(&UserId, &RoomId),
) -> Duration {
    let mut left = iters as usize;
    let mut total = Duration::ZERO;
    while left > 0 {
        let batch = pairs.next_batch(left);
        left -= batch.len();
        let start = Instant::now();
        runtime.block_on(async {
            for (user, room) in batch {
                op(black_box(user), black_box(room)).await;
            }
        });
        total += start.elapsed();
        runtime.block_on(async {
            for (user, room) in batch {
                restore(user, room).await;
            }
        });
    }
    total
}

fn bench_store<S: MuteStore>(
    c: &mut Criterion,
    runtime: &Runtime,
    label: &str,
    store: &S,
    data: &Dataset,
) {
    runtime.block_on(load(store, data));
    let mut group = c.benchmark_group("redis_vs_memory");
    quick_group(&mut group);

    let mut new_rooms = Pairs {
        pairs: data.absent_pairs(100_000, 11),
        at: 0,
    };
    group.bench_function(format!("mute_new/{label}"), |b| {
        b.iter_custom(|iters| {
            timed_batches(
                runtime,
                &mut new_rooms,
                iters,
                async |u, r| drop(black_box(store.mute(u, r).await.unwrap())),
                async |u, r| drop(store.unmute(u, r).await.unwrap()),
            )
        })
    });

    let mut present = Pairs {
        pairs: data.distinct_present_pairs(data.users.len(), 12),
        at: 0,
    };
    group.bench_function(format!("unmute_present/{label}"), |b| {
        b.iter_custom(|iters| {
            timed_batches(
                runtime,
                &mut present,
                iters,
                async |u, r| drop(black_box(store.unmute(u, r).await.unwrap())),
                async |u, r| drop(store.mute(u, r).await.unwrap()),
            )
        })
    });

    let mut reads = Pairs {
        pairs: data.present_pairs(100_000, 13),
        at: 0,
    };
    group.bench_function(format!("is_muted/{label}"), |b| {
        b.iter_custom(|iters| {
            timed_batches(
                runtime,
                &mut reads,
                iters,
                async |u, r| assert!(black_box(store.is_muted(u, r).await.unwrap())),
                async |_, _| {},
            )
        })
    });

    let mut rng = SplitMix(14);
    let asks: Vec<(RoomId, Vec<UserId>)> = (0..16)
        .map(|_| {
            let room = data.rooms[rng.below(data.rooms.len())].clone();
            let users = (0..RECIPIENTS)
                .map(|_| data.users[rng.below(data.users.len())].clone())
                .collect();
            (room, users)
        })
        .collect();
    let mut next = 0;
    group.bench_function(format!("muted_among_1000/{label}"), |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            runtime.block_on(async {
                for _ in 0..iters {
                    let (room, users) = &asks[next % asks.len()];
                    next += 1;
                    black_box(store.muted_among(room, users).await.unwrap());
                }
            });
            start.elapsed()
        })
    });
    group.finish();
}

fn benches(c: &mut Criterion) {
    let data = Dataset::new(20_000, 2_000);
    let runtime = runtime();
    let standalone = redis_config("MUTESTORE_REDIS_URL").unwrap_or_else(|| {
        panic!(
            "MUTESTORE_REDIS_URL is not set: run \
             `bash .ci/redis.sh -- cargo bench --features redis --bench redis`"
        )
    });
    bench_store(c, &runtime, "MemoryStore", &MemoryStore::new(), &data);
    let redis = runtime
        .block_on(RedisStore::connect(standalone))
        .expect("connect to MUTESTORE_REDIS_URL");
    bench_store(c, &runtime, "RedisStore", &redis, &data);
    if let Some(cluster) = redis_config("MUTESTORE_REDIS_CLUSTER_NODES") {
        let cluster = runtime
            .block_on(RedisStore::connect(cluster))
            .expect("connect to MUTESTORE_REDIS_CLUSTER_NODES");
        bench_store(c, &runtime, "RedisStore-cluster", &cluster, &data);
    }
}

criterion_group!(redis_benches, benches);
criterion_main!(redis_benches);
