//! What the benchmarks share: the data sets, the naive baselines, and a uniform interface over the
//! stores so every question is asked of all of them in the same run.

#![allow(dead_code)]

pub mod baselines;
pub mod cache_line_transfer;
pub mod dataset;
pub mod memory_latency;
pub mod timing;

use mutestore::{MemoryStore, RoomId, UserId};

/// The operations the benchmarks time, implemented by `MemoryStore` and by each baseline.
pub trait BenchStore: Sync {
    /// A short name for reports.
    fn label(&self) -> &'static str;
    /// Mutes; returns whether it changed anything.
    fn mute(&self, user: &UserId, room: &RoomId) -> bool;
    /// Unmutes; returns whether it changed anything.
    fn unmute(&self, user: &UserId, room: &RoomId) -> bool;
    /// Whether the room is muted by the user.
    fn is_muted(&self, user: &UserId, room: &RoomId) -> bool;
    /// Unmutes, and gives back any capacity the store kept for the room, so that the user's set is
    /// as it was before the room was muted (the baselines shrink the user's `HashSet`;
    /// MemoryStore's unmute already does).
    fn unmute_shrinking(&self, user: &UserId, room: &RoomId) -> bool {
        self.unmute(user, room)
    }
}

impl BenchStore for MemoryStore {
    fn label(&self) -> &'static str {
        "MemoryStore"
    }
    fn mute(&self, user: &UserId, room: &RoomId) -> bool {
        // The full operation, including the returned list, which `black_box` keeps the compiler
        // from leaving out.
        std::hint::black_box(self.mute_sync(user, room)).is_ok_and(|outcome| outcome.changed)
    }
    fn unmute(&self, user: &UserId, room: &RoomId) -> bool {
        std::hint::black_box(self.unmute_sync(user, room)).changed
    }
    fn is_muted(&self, user: &UserId, room: &RoomId) -> bool {
        self.is_muted_sync(user, room)
    }
}
