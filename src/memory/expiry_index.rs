//! [`ExpiryIndex`]: one shard's timed mutes ordered by deadline, so that purging what has lapsed
//! costs in proportion to what has lapsed, not to the number of users.

use std::collections::BTreeSet;

use crate::ids::{RoomId, UserId};

/// Every timed mute of one shard's users, by deadline. Kept exactly in step with the users' sets:
/// each change to a deadline removes the old entry and adds the new one.
#[derive(Debug, Default)]
pub(super) struct ExpiryIndex(BTreeSet<(u64, UserId, RoomId)>);

impl ExpiryIndex {
    pub(super) fn insert(&mut self, until: u64, user: &UserId, room: &RoomId) {
        self.0.insert((until, user.clone(), room.clone()));
    }

    pub(super) fn remove(&mut self, until: u64, user: &UserId, room: &RoomId) {
        self.0.remove(&(until, user.clone(), room.clone()));
    }

    /// The earliest deadline in the shard.
    pub(super) fn earliest(&self) -> Option<u64> {
        self.0.first().map(|(until, _, _)| *until)
    }

    /// The user of the earliest mute that has lapsed at `now`, if any.
    pub(super) fn first_lapsed(&self, now: u64) -> Option<UserId> {
        self.0
            .first()
            .filter(|(until, _, _)| *until <= now)
            .map(|(_, user, _)| user.clone())
    }

    /// Removes the earliest entry (one left behind by a bug would otherwise stop the purge).
    pub(super) fn pop_first(&mut self) {
        self.0.pop_first();
    }

    pub(super) fn len(&self) -> usize {
        self.0.len()
    }
}
