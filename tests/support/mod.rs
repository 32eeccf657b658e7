//! Test suites written once for every `MuteStore` backend. A backend's test file declares
//! `mod support;` and instantiates each suite in one line:
//!
//! ```ignore
//! mod support;
//! conformance_suite!(memory, memory_store);
//! model_suite!(memory_model, memory_store);
//! stress_suite!(memory_stress, memory_store);
//! ```
//! where `memory_store` is an `async fn(Setup) -> MemoryStore`.
//! ```ignore
//! ```
//!
//! The factory receives a [`Setup`] (the per-user mute limit the case needs and the clock the store
//! must read) and returns a fresh, empty store.

#![allow(dead_code, unused_macros, unused_imports)]

pub mod conformance;
pub mod events;
pub mod model;
pub mod stress;
pub mod timed;

use std::future::Future;
use std::sync::Arc;

use mutestore::{ManualClock, MuteStore, RoomId, SharedClock, UserId};

/// The time every test clock starts at: 2026-11-25T00:00:00Z.
pub const START_MS: u64 = 1_795_564_800_000;

/// What a case asks of a new store.
#[derive(Debug, Clone)]
pub struct Setup {
    /// The per-user mute limit.
    pub limit: usize,
    /// The clock the store must read deadlines against; the case moves it.
    pub clock: Arc<ManualClock>,
}

impl Setup {
    /// A setup with `limit` and a fresh clock at [`START_MS`].
    pub fn new(limit: usize) -> Self {
        Self {
            limit,
            clock: Arc::new(ManualClock::new(START_MS)),
        }
    }

    /// The clock as stores take it.
    pub fn shared_clock(&self) -> SharedClock {
        self.clock.clone()
    }
}

/// Makes a fresh, empty store for a [`Setup`].
pub trait StoreFactory: Send + Sync + 'static {
    /// The store it makes.
    type Store: MuteStore + 'static;
    /// A new empty store with `setup`'s limit and clock.
    fn make_with(&self, setup: Setup) -> impl Future<Output = Self::Store> + Send;
    /// A new empty store with the given per-user mute limit (and a clock nobody moves).
    fn make(&self, limit: usize) -> impl Future<Output = Self::Store> + Send {
        self.make_with(Setup::new(limit))
    }
}

impl<F, Fut, S> StoreFactory for F
where
    F: Fn(Setup) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = S> + Send,
    S: MuteStore + 'static,
{
    type Store = S;
    fn make_with(&self, setup: Setup) -> impl Future<Output = S> + Send {
        self(setup)
    }
}

/// A user id from a short name.
pub fn user(name: &str) -> UserId {
    UserId::new(name).expect("test ids are valid")
}

/// A room id from a short name.
pub fn room(name: &str) -> RoomId {
    RoomId::new(name).expect("test ids are valid")
}
