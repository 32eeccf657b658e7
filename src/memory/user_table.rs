//! The per-shard table of users: open addressing with linear probing over 32-byte entries, two to a
//! 64-byte cache-line-aligned bucket.
//!
//! A general-purpose hash map keeps its control bytes apart from its entries, so a lookup in a large
//! table touches two cache lines that are not in cache. Here the entry itself is probed: a user's
//! home slot is computed from the hash, and the key and the rooms sit on the line that is loaded
//! first. With the load kept at or below 80%, a successful lookup reads on average about 1.5 slots,
//! mostly on the same line. Deletion shifts later entries back (no tombstones), so probe lengths do
//! not degrade over time. Capacity grows by half, not doubling, so the table never sits at less
//! than about half full after it grows.

use super::prefetch::prefetch;
use super::user_entry::{KeyProbe, UserEntry};

const SLOTS_PER_BUCKET: usize = 2;
const MIN_BUCKETS: usize = 4;
/// Up to this many buckets (16 KiB) a table counts as small; see [`UserTable::is_small`].
const SMALL_BUCKETS: usize = 256;
/// Maximum load, as a fraction `NUM / DEN` of the slots.
const MAX_LOAD_NUM: usize = 4;
const MAX_LOAD_DEN: usize = 5;
/// Below this load, a removal shrinks the table back to the load it has right after growing
/// (8/15, about 53%), so that its memory follows the users who are left. Between this and the
/// maximum load a table neither grows nor shrinks, so it never does both in turn, and each
/// resize is paid for by as many insertions or removals as a third of the entries it moves.
const MIN_LOAD_NUM: usize = 1;
const MIN_LOAD_DEN: usize = 4;

#[derive(Default)]
#[repr(align(64))]
struct Bucket([Option<UserEntry>; SLOTS_PER_BUCKET]);

/// Users of one shard. See the module documentation.
#[derive(Default)]
pub(super) struct UserTable {
    buckets: Vec<Bucket>,
    len: usize,
}

/// The slot where a hash's probe starts: the hash's low 32 bits scaled to the slot count, which
/// needs no power-of-two size.
#[inline]
fn home(hash: u64, slots: usize) -> usize {
    ((u64::from(hash as u32) * slots as u64) >> 32) as usize
}

impl UserTable {
    pub(super) fn len(&self) -> usize {
        self.len
    }

    fn slot_count(&self) -> usize {
        self.buckets.len() * SLOTS_PER_BUCKET
    }

    #[inline]
    fn slot(&self, index: usize) -> &Option<UserEntry> {
        &self.buckets[index / SLOTS_PER_BUCKET].0[index % SLOTS_PER_BUCKET]
    }

    #[inline]
    fn slot_mut(&mut self, index: usize) -> &mut Option<UserEntry> {
        &mut self.buckets[index / SLOTS_PER_BUCKET].0[index % SLOTS_PER_BUCKET]
    }

    /// The slot holding the probed user, if present.
    #[inline(always)]
    fn position(&self, hash: u64, probe: &KeyProbe<'_>) -> Option<usize> {
        let slots = self.slot_count();
        if slots == 0 {
            return None;
        }
        let mut index = home(hash, slots);
        // The load limit keeps at least one slot empty, so the loop ends.
        loop {
            match self.slot(index) {
                None => return None,
                Some(entry) if entry.key.matches(probe) => return Some(index),
                Some(_) => index = if index + 1 == slots { 0 } else { index + 1 },
            }
        }
    }

    #[inline(always)]
    pub(super) fn find(&self, hash: u64, probe: &KeyProbe<'_>) -> Option<&UserEntry> {
        let index = self.position(hash, probe)?;
        self.slot(index).as_ref()
    }

    /// Whether the table is small enough (16 KiB or less) to stay in a core's cache between
    /// lookups, where a prefetch costs its instructions and saves nothing.
    #[inline]
    pub(super) fn is_small(&self) -> bool {
        self.buckets.len() <= SMALL_BUCKETS
    }

    /// Starts loading the line where a probe for `hash` begins (see [`prefetch`]).
    #[inline(always)]
    pub(super) fn prefetch(&self, hash: u64) {
        let slots = self.slot_count();
        if slots > 0 {
            prefetch(&self.buckets[home(hash, slots) / SLOTS_PER_BUCKET]);
        }
    }

    #[inline(always)]
    pub(super) fn find_mut(&mut self, hash: u64, probe: &KeyProbe<'_>) -> Option<&mut UserEntry> {
        let index = self.position(hash, probe)?;
        self.slot_mut(index).as_mut()
    }

    /// Inserts an entry for a user known to be absent. `rehash` gives the hash of a stored key's
    /// bytes, the same hash the callers pass in.
    pub(super) fn insert_new(
        &mut self,
        hash: u64,
        entry: UserEntry,
        rehash: impl Fn(&[u8]) -> u64,
    ) -> &mut UserEntry {
        if (self.len + 1) * MAX_LOAD_DEN > self.slot_count() * MAX_LOAD_NUM {
            self.grow(&rehash);
        }
        self.len += 1;
        let index = self.place(hash, entry);
        self.slot_mut(index)
            .as_mut()
            .expect("place just filled this slot")
    }

    /// Puts `entry` in the first empty slot from its home; the table has room.
    fn place(&mut self, hash: u64, entry: UserEntry) -> usize {
        let slots = self.slot_count();
        let mut index = home(hash, slots);
        while self.slot(index).is_some() {
            index = if index + 1 == slots { 0 } else { index + 1 };
        }
        *self.slot_mut(index) = Some(entry);
        index
    }

    fn grow(&mut self, rehash: &impl Fn(&[u8]) -> u64) {
        let buckets = (self.buckets.len() + self.buckets.len() / 2).max(MIN_BUCKETS);
        self.rebuild(buckets, rehash, |_| true);
    }

    /// The bucket count a table of `len` entries is rebuilt to when it shrinks: a load of at most
    /// 8/15, as right after growing.
    fn buckets_for(len: usize) -> usize {
        (len * 15 / 8 / SLOTS_PER_BUCKET + 1).max(MIN_BUCKETS)
    }

    /// Shrinks the table if its load fell below the minimum.
    fn shrink_if_sparse(&mut self, rehash: &impl Fn(&[u8]) -> u64) {
        if self.buckets.len() > MIN_BUCKETS
            && self.len * MIN_LOAD_DEN < self.slot_count() * MIN_LOAD_NUM
        {
            self.rebuild(Self::buckets_for(self.len), rehash, |_| true);
        }
    }

    /// Moves every entry that `keep` accepts into a fresh array of `buckets` buckets.
    fn rebuild(
        &mut self,
        buckets: usize,
        rehash: &impl Fn(&[u8]) -> u64,
        mut keep: impl FnMut(&UserEntry) -> bool,
    ) {
        let old = std::mem::take(&mut self.buckets);
        self.buckets.resize_with(buckets, Bucket::default);
        self.len = 0;
        for entry in old.into_iter().flat_map(|bucket| bucket.0).flatten() {
            if keep(&entry) {
                self.len += 1;
                let hash = rehash(entry.key.as_bytes());
                self.place(hash, entry);
            }
        }
    }

    /// Removes the probed user and returns the entry.
    pub(super) fn remove(
        &mut self,
        hash: u64,
        probe: &KeyProbe<'_>,
        rehash: impl Fn(&[u8]) -> u64,
    ) -> Option<UserEntry> {
        let mut hole = self.position(hash, probe)?;
        let removed = self.slot_mut(hole).take();
        self.len -= 1;
        // Backward shift: walk the run after the hole and move back every entry whose home does not
        // lie cyclically in (hole, here], so that no probe meets an empty slot before its entry.
        let slots = self.slot_count();
        let mut here = hole;
        loop {
            here = if here + 1 == slots { 0 } else { here + 1 };
            let Some(entry) = self.slot(here) else { break };
            let entry_home = home(rehash(entry.key.as_bytes()), slots);
            let stays = if hole <= here {
                hole < entry_home && entry_home <= here
            } else {
                hole < entry_home || entry_home <= here
            };
            if !stays {
                let moved = self.slot_mut(here).take();
                *self.slot_mut(hole) = moved;
                hole = here;
            }
        }
        self.shrink_if_sparse(&rehash);
        removed
    }

    /// Calls `change` on every entry, then drops the entries `keep` refuses (whether or not
    /// `change` changed them). Returns how many entries `change` reported as changed.
    pub(super) fn change_all(
        &mut self,
        mut change: impl FnMut(&mut UserEntry) -> bool,
        keep: impl Fn(&UserEntry) -> bool,
        rehash: impl Fn(&[u8]) -> u64,
    ) -> usize {
        let mut changed = 0;
        let mut dropping = false;
        for entry in self
            .buckets
            .iter_mut()
            .flat_map(|b| b.0.iter_mut())
            .flatten()
        {
            if change(entry) {
                changed += 1;
            }
            dropping |= !keep(entry);
        }
        if dropping {
            self.rebuild(self.buckets.len(), &rehash, keep);
            self.shrink_if_sparse(&rehash);
        }
        changed
    }

    /// Calls `visit` on every entry.
    pub(super) fn for_each(&self, mut visit: impl FnMut(&UserEntry)) {
        for entry in self.buckets.iter().flat_map(|b| b.0.iter()).flatten() {
            visit(entry);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::UserId;
    use crate::memory::user_entry::{RoomSet, UserEntry};
    use std::hash::BuildHasher;

    fn user(n: usize) -> UserId {
        UserId::new(&format!("{:013}", 1_485_248_560_558 + n * 7919)).unwrap()
    }

    /// Inserts `users`, each with no rooms.
    fn insert_all(table: &mut UserTable, users: &[UserId], hash: impl Fn(&[u8]) -> u64 + Copy) {
        for user in users {
            let entry = UserEntry {
                key: KeyProbe::new(user).to_key(),
                rooms: RoomSet::empty(),
            };
            table.insert_new(hash(user.as_bytes()), entry, hash);
        }
    }

    #[test]
    fn removals_shrink_the_table_and_every_user_left_is_found() {
        let hasher = foldhash::fast::RandomState::default();
        let rehash = |bytes: &[u8]| hasher.hash_one(bytes);
        let hash = |user: &UserId| hasher.hash_one(user.as_bytes());
        let mut table = UserTable::default();
        let users: Vec<UserId> = (0..10_000).map(user).collect();
        insert_all(&mut table, &users, rehash);
        let grown = table.buckets.len();
        for (n, user) in users.iter().enumerate() {
            if n % 20 != 0 {
                assert!(
                    table
                        .remove(hash(user), &KeyProbe::new(user), rehash)
                        .is_some()
                );
            }
            let slots = table.slot_count();
            assert!(
                table.len() * MAX_LOAD_DEN <= slots * MAX_LOAD_NUM,
                "over the maximum load after {n} removals"
            );
            assert!(
                table.buckets.len() == MIN_BUCKETS
                    || table.len() * MIN_LOAD_DEN >= slots * MIN_LOAD_NUM,
                "under the minimum load after {n} removals: {} in {slots} slots",
                table.len()
            );
        }
        assert_eq!(table.len(), 500);
        assert!(
            table.buckets.len() * 4 < grown,
            "{} buckets left of {grown}",
            table.buckets.len()
        );
        for (n, user) in users.iter().enumerate() {
            let found = table.find(hash(user), &KeyProbe::new(user)).is_some();
            assert_eq!(found, n % 20 == 0, "user {n}");
        }
        // And back up, then down to nothing.
        let returning: Vec<UserId> = users.iter().skip(1).step_by(20).cloned().collect();
        insert_all(&mut table, &returning, rehash);
        let kept: Vec<&UserId> = users
            .iter()
            .enumerate()
            .filter(|(n, _)| n % 20 < 2)
            .map(|(_, u)| u)
            .collect();
        assert_eq!(table.len(), kept.len());
        for user in &kept {
            assert!(table.find(hash(user), &KeyProbe::new(user)).is_some());
        }
        for user in &kept {
            assert!(
                table
                    .remove(hash(user), &KeyProbe::new(user), rehash)
                    .is_some()
            );
        }
        assert_eq!(table.len(), 0);
        assert_eq!(table.buckets.len(), MIN_BUCKETS);
    }

    #[test]
    fn dropping_entries_in_bulk_shrinks_the_table() {
        let hasher = foldhash::fast::RandomState::default();
        let rehash = |bytes: &[u8]| hasher.hash_one(bytes);
        let hash = |user: &UserId| hasher.hash_one(user.as_bytes());
        let mut table = UserTable::default();
        let users: Vec<UserId> = (0..4_000).map(user).collect();
        insert_all(&mut table, &users, rehash);
        let grown = table.buckets.len();
        let keep_key = KeyProbe::new(&users[7]).to_key();
        table.change_all(|_| false, |entry| entry.key == keep_key, rehash);
        assert_eq!(table.len(), 1);
        assert_eq!(table.buckets.len(), MIN_BUCKETS, "of {grown}");
        assert!(
            table
                .find(hash(&users[7]), &KeyProbe::new(&users[7]))
                .is_some()
        );
    }
}
