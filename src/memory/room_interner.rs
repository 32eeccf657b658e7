//! Room interning: each distinct room id is stored once and named by a 4-byte [`RoomIdx`], so a
//! user's short mute list is three integers instead of three strings.
//!
//! The interner is sharded by room hash; each shard is a read-mostly `RwLock` over a hash table of
//! indices into a vector of names. Entries are never removed or reused, so an index names the same
//! room for the store's whole life and can be resolved after the user's lock is released.

use std::hash::BuildHasher;

use hashbrown::HashTable;
use parking_lot::RwLock;

use crate::ids::RoomId;

/// log2 of the number of interner shards.
const SHARD_BITS: u32 = 6;
const SHARDS: usize = 1 << SHARD_BITS;
/// The most rooms one shard can name; past it, [`RoomInterner::intern`] declines.
const MAX_PER_SHARD: usize = (u32::MAX >> SHARD_BITS) as usize;

/// A room's interned index: the shard in the low bits, the slot within it in the rest.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub(crate) struct RoomIdx(u32);

/// The room hash as the interner uses it. Its shard comes from bits 32 and up, which the table
/// inside the shard does not use for placement.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RoomHash(u64);

impl RoomHash {
    fn shard(self) -> usize {
        ((self.0 >> 32) as usize) & (SHARDS - 1)
    }
}

#[derive(Default)]
struct Shard {
    /// Positions in `names`, keyed by the room's hash.
    table: HashTable<u32>,
    names: Vec<RoomId>,
}

/// Maps room ids to [`RoomIdx`] and back. See the module documentation.
pub(crate) struct RoomInterner {
    shards: Box<[RwLock<Shard>]>,
    hasher: foldhash::fast::RandomState,
}

impl RoomInterner {
    /// An empty interner with a hasher seeded for this process.
    pub(crate) fn new() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| RwLock::new(Shard::default())).collect(),
            hasher: foldhash::fast::RandomState::default(),
        }
    }

    /// The hash of `room` that every other method takes.
    pub(crate) fn hash(&self, room: &str) -> RoomHash {
        RoomHash(self.hasher.hash_one(room.as_bytes()))
    }

    /// The index of `room`, if it has been interned.
    pub(crate) fn lookup(&self, hash: RoomHash, room: &str) -> Option<RoomIdx> {
        let shard_no = hash.shard();
        let shard = self.shards[shard_no].read();
        let local = *shard.table.find(hash.0, |&local| {
            shard.names[local as usize].as_str() == room
        })?;
        Some(Self::idx(shard_no, local))
    }

    /// The index of `room`, interning it first if needed. `None` only when the shard is full
    /// (2^26 distinct rooms in one shard); callers then keep the room by name instead.
    pub(crate) fn intern(&self, hash: RoomHash, room: &RoomId) -> Option<RoomIdx> {
        if let Some(idx) = self.lookup(hash, room) {
            return Some(idx);
        }
        let shard_no = hash.shard();
        let mut guard = self.shards[shard_no].write();
        let Shard { table, names } = &mut *guard;
        if let Some(&local) = table.find(hash.0, |&local| names[local as usize] == *room) {
            return Some(Self::idx(shard_no, local));
        }
        if names.len() >= MAX_PER_SHARD {
            return None;
        }
        let local = u32::try_from(names.len()).ok()?;
        let hasher = &self.hasher;
        table.insert_unique(hash.0, local, |&other| {
            hasher.hash_one(names[other as usize].as_bytes())
        });
        names.push(room.clone());
        Some(Self::idx(shard_no, local))
    }

    /// The room an index names.
    pub(crate) fn name(&self, idx: RoomIdx) -> RoomId {
        let shard_no = idx.0 as usize & (SHARDS - 1);
        let local = (idx.0 >> SHARD_BITS) as usize;
        self.shards[shard_no].read().names[local].clone()
    }

    /// How many distinct rooms have been interned.
    pub(crate) fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|shard| shard.read().names.len())
            .sum()
    }

    fn idx(shard_no: usize, local: u32) -> RoomIdx {
        RoomIdx((local << SHARD_BITS) | shard_no as u32)
    }
}
