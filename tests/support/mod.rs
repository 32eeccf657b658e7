//! Test suites written once for every `MuteStore` backend. A backend's test file declares
//! `mod support;` and instantiates each suite in one line:
//!
//! ```ignore
//! mod support;
//! conformance_suite!(memory, |limit| async move { MemoryStore::with_mute_limit(limit) });
//! model_suite!(memory_model, |limit| async move { MemoryStore::with_mute_limit(limit) });
//! stress_suite!(memory_stress, |limit| async move { MemoryStore::with_mute_limit(limit) });
//! ```
//!
//! The factory receives the per-user mute limit the case needs and returns a fresh, empty store.

#![allow(dead_code, unused_macros, unused_imports)]

pub mod conformance;
pub mod model;
pub mod stress;

use std::future::Future;

use mutestore::{MuteStore, RoomId, UserId};

/// Makes a fresh, empty store with the given per-user mute limit.
pub trait StoreFactory: Send + Sync + 'static {
    /// The store it makes.
    type Store: MuteStore + 'static;
    /// A new empty store.
    fn make(&self, limit: usize) -> impl Future<Output = Self::Store> + Send;
}

impl<F, Fut, S> StoreFactory for F
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = S> + Send,
    S: MuteStore + 'static,
{
    type Store = S;
    fn make(&self, limit: usize) -> impl Future<Output = S> + Send {
        self(limit)
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
