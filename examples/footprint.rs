//! Live heap bytes per user for 1M users x 3 mutes over 100k rooms (13-digit user ids, 24-hex room
//! ids), in MemoryStore and in the naive baselines, counted by a global allocator that tracks every
//! allocation.
//!
//! `cargo run --release --example footprint`

#[path = "../benches/common/mod.rs"]
mod common;

use std::alloc::System;

use cap::Cap;
use mutestore::MemoryStore;

use common::BenchStore;
use common::baselines::{DashMapBaseline, RwLockBaseline};
use common::dataset::Dataset;

#[global_allocator]
static ALLOCATOR: Cap<System> = Cap::new(System, usize::MAX);

/// Builds a store, loads the data set and reports the bytes it holds per user.
fn measure<S: BenchStore>(data: &Dataset, make: impl FnOnce() -> S) {
    let before = ALLOCATOR.allocated();
    let store = make();
    data.load(&store);
    let bytes = ALLOCATOR.allocated() - before;
    let users = data.users.len();
    println!(
        "{}: {:.1} bytes/user",
        store.label(),
        bytes as f64 / users as f64
    );
    drop(store);
}

fn main() {
    let data = Dataset::large();
    println!(
        "{} users x {} mutes over {} rooms; live heap bytes per user:",
        data.users.len(),
        common::dataset::MUTES_PER_USER,
        data.rooms.len()
    );
    measure(&data, MemoryStore::new);
    measure(&data, DashMapBaseline::default);
    measure(&data, RwLockBaseline::default);
}
