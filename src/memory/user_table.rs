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
