//! Room interning: each distinct room id is stored once and named by a 4-byte [`RoomIdx`], so a
//! user's short mute list is three integers instead of three strings.
//!
//! Names live in [`RoomNames`], which readers index without a lock; the reverse map, from a name to
//! its index, is needed only to mute a room and is sharded behind read-mostly locks. Indices are
//! never removed or reused, so an index names the same room for the store's whole life and can be
//! resolved after the user's lock is released.

use std::hash::BuildHasher;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use hashbrown::HashTable;
use parking_lot::RwLock;

use super::interned_list::SharedNames;
use super::room_names::RoomNames;
use crate::ids::RoomId;
use crate::same_text::same_text;

/// log2 of the number of shards of the name-to-index map.
const SHARD_BITS: u32 = 6;
const SHARDS: usize = 1 << SHARD_BITS;
/// The most distinct rooms the interner names; past it, [`RoomInterner::intern`] declines and the
/// caller keeps the room by name instead.
const MAX_ROOMS: u32 = 1 << 31;
/// How many [`SharedNames`] the interner hands to lists: as many as the store has user shards.
const SHARED_NAMES: usize = 128;

/// A room's interned index.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub(crate) struct RoomIdx(u32);

impl RoomIdx {
    /// The index as a number, for a heap set to keep beside the room's name
    /// ([`OrderedRooms::marked`](crate::ordered_rooms::OrderedRooms::marked)). It is below
    /// [`MAX_ROOMS`], so never `u32::MAX`.
    pub(crate) fn to_bits(self) -> u32 {
        self.0
    }

    /// The index [`to_bits`](Self::to_bits) gave. Any number is safe: one that names no room reads
    /// as no name.
    pub(crate) fn from_bits(bits: u32) -> Self {
        Self(bits)
    }
}

/// A room id's hash, as the interner and the users' inline sets use it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RoomHash(u64);

impl RoomHash {
    /// The map shard, from bits the shard's table does not use for placement.
    fn shard(self) -> usize {
        ((self.0 >> 32) as usize) & (SHARDS - 1)
    }
}

/// Maps room ids to [`RoomIdx`] and back. See the module documentation.
pub(crate) struct RoomInterner {
    shards: Box<[RwLock<HashTable<u32>>]>,
    names: Arc<RoomNames>,
    /// The shares of `names` that callers' lists keep, one per user shard.
    shared: Box<[Arc<SharedNames>]>,
    next: AtomicU32,
    hasher: foldhash::fast::RandomState,
}

impl RoomInterner {
    /// An empty interner with a hasher seeded for this process.
    pub(crate) fn new() -> Self {
        let names = Arc::new(RoomNames::new());
        Self {
            shards: (0..SHARDS).map(|_| RwLock::new(HashTable::new())).collect(),
            shared: (0..SHARED_NAMES)
                .map(|_| SharedNames::new(Arc::clone(&names)))
                .collect(),
            names,
            next: AtomicU32::new(0),
            hasher: foldhash::fast::RandomState::default(),
        }
    }

    /// The hash of `room` that every other method takes.
    pub(crate) fn hash(&self, room: &str) -> RoomHash {
        RoomHash(self.hasher.hash_one(room.as_bytes()))
    }

    /// The name an index stands for. Lock-free.
    #[inline]
    pub(crate) fn name(&self, idx: RoomIdx) -> Option<&RoomId> {
        self.names.get(idx.0)
    }

    /// The share of the names for a list built under user shard `shard`'s lock to keep.
    pub(crate) fn shared_names(&self, shard: usize) -> &Arc<SharedNames> {
        &self.shared[shard % SHARED_NAMES]
    }

    /// Whether `idx` stands for `room`. Lock-free.
    #[inline(always)]
    pub(crate) fn is(&self, idx: RoomIdx, room: &str) -> bool {
        self.name(idx)
            .is_some_and(|name| same_text(name.as_bytes(), room.as_bytes()))
    }

    /// The index of `room`, if it has been interned.
    pub(crate) fn lookup(&self, hash: RoomHash, room: &str) -> Option<RoomIdx> {
        let table = self.shards[hash.shard()].read();
        let found = table.find(hash.0, |&idx| self.is(RoomIdx(idx), room))?;
        Some(RoomIdx(*found))
    }

    /// The index of `room`, interning it first if needed. `None` only when [`MAX_ROOMS`] rooms have
    /// been interned.
    pub(crate) fn intern(&self, hash: RoomHash, room: &RoomId) -> Option<RoomIdx> {
        if let Some(idx) = self.lookup(hash, room) {
            return Some(idx);
        }
        let mut table = self.shards[hash.shard()].write();
        if let Some(&idx) = table.find(hash.0, |&idx| self.is(RoomIdx(idx), room)) {
            return Some(RoomIdx(idx));
        }
        let idx = self
            .next
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                (n < MAX_ROOMS).then_some(n + 1)
            })
            .ok()?;
        // The name is stored before the index is published anywhere, so every reader of the
        // index finds it.
        self.names.set(idx, room.clone());
        table.insert_unique(hash.0, idx, |&other| {
            self.names
                .get(other)
                .map_or(0, |name| self.hasher.hash_one(name.as_bytes()))
        });
        Some(RoomIdx(idx))
    }

    /// How many distinct rooms have been interned.
    pub(crate) fn len(&self) -> usize {
        self.next.load(Ordering::Relaxed) as usize
    }
}
