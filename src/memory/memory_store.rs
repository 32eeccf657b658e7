//! [`MemoryStore`]: the lock-sharded in-memory store.

use std::fmt;
use std::future::{Future, ready};
use std::hash::BuildHasher;

use parking_lot::RwLock;

use super::room_interner::RoomInterner;
use super::user_entry::{KeyProbe, RoomRef, RoomSet, SetSnapshot, UserEntry};
use super::user_table::UserTable;
use crate::error::{MuteLimitExceeded, StoreError};
use crate::ids::{RoomId, UserId};
use crate::mute_list::{MuteList, MuteOutcome};
use crate::store::MuteStore;

/// The per-user limit on muted rooms unless configured otherwise.
pub const DEFAULT_MUTE_LIMIT: usize = 1000;

/// log2 of the number of user shards.
const SHARD_BITS: u32 = 7;
const SHARDS: usize = 1 << SHARD_BITS;

/// Keeps each shard's lock on its own cache lines (two, for CPUs that fetch lines in pairs), so that
/// threads working on different shards never contend for one line.
#[derive(Default)]
#[repr(align(128))]
struct Padded<T>(T);

/// Per-user sets of muted rooms, in memory, behind 128 lock shards.
///
/// - One user's operations take one shard lock (reads share it); nothing holds a lock across a
///   call into the store, and no reference into the store is ever handed out, so there is nothing
///   to deadlock on.
/// - A user with up to three muted rooms costs one 32-byte slot: a user id of up to 15 bytes inline
///   and three 4-byte interned room indices. Each distinct room id is stored once.
/// - Hashes are seeded per process, so ids chosen by clients cannot be made to collide.
///
/// Every operation is available twice: through [`MuteStore`] (async; the futures are ready at
/// once) and as a plain method with a `_sync` suffix for hosts that need no await.
///
/// ```
/// use mutestore::{MemoryStore, RoomId, UserId};
///
/// let store = MemoryStore::new();
/// let alice = UserId::new("alice")?;
/// let room = RoomId::new("demo-room")?;
/// let outcome = store.mute_sync(&alice, &room)?;
/// assert!(outcome.changed);
/// assert_eq!(outcome.rooms, ["demo-room"]);
/// assert!(store.is_muted_sync(&alice, &room));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct MemoryStore {
    shards: Box<[Padded<RwLock<UserTable>>]>,
    rooms: RoomInterner,
    hasher: foldhash::fast::RandomState,
    mute_limit: usize,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryStore")
            .field("users", &self.user_count())
            .field("mute_limit", &self.mute_limit)
            .finish_non_exhaustive()
    }
}

/// A user's hash, split into the shard it picks and the hash the shard's table uses.
#[derive(Clone, Copy)]
struct UserHash(u64);

impl UserHash {
    /// The top bits pick the shard; the table places by the low 32 bits.
    fn shard(self) -> usize {
        (self.0 >> (64 - SHARD_BITS)) as usize
    }
}

impl MemoryStore {
    /// An empty store with the default per-user limit ([`DEFAULT_MUTE_LIMIT`]).
    #[must_use]
    pub fn new() -> Self {
        Self::with_mute_limit(DEFAULT_MUTE_LIMIT)
    }

    /// An empty store that refuses a user's mute of a new room beyond `limit` rooms.
    #[must_use]
    pub fn with_mute_limit(limit: usize) -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Padded::default()).collect(),
            rooms: RoomInterner::new(),
            hasher: foldhash::fast::RandomState::default(),
            mute_limit: limit,
        }
    }

    /// The per-user limit on muted rooms.
    #[must_use]
    pub fn mute_limit(&self) -> usize {
        self.mute_limit
    }

    /// Changes the per-user limit on muted rooms. A user already above a lowered limit keeps every
    /// room and is refused new ones until the set shrinks below it. A store that rebuilds its state
    /// from disk loads it without a limit and sets the configured one afterwards, so that lowering
    /// the limit never drops rooms that were muted under a higher one.
    pub fn set_mute_limit(&mut self, limit: usize) {
        self.mute_limit = limit;
    }

    /// How many users have at least one muted room.
    #[must_use]
    pub fn user_count(&self) -> usize {
        self.shards.iter().map(|shard| shard.0.read().len()).sum()
    }

    /// How many distinct room ids the store has interned. Interned ids are kept for the store's
    /// life, so this counts every room ever muted, not only those muted now.
    #[must_use]
    pub fn interned_room_count(&self) -> usize {
        self.rooms.len()
    }

    fn hash_user(&self, user: &UserId) -> UserHash {
        UserHash(self.hasher.hash_one(user.as_bytes()))
    }

    fn table(&self, hash: UserHash) -> &RwLock<UserTable> {
        &self.shards[hash.shard()].0
    }

    /// The closure the tables use to hash a stored key again when they move entries.
    fn rehash(&self) -> impl Fn(&[u8]) -> u64 + '_ {
        move |bytes| self.hasher.hash_one(bytes)
    }

    /// Mutes `room` for `user`; see [`MuteStore::mute`].
    ///
    /// # Errors
    /// [`MuteLimitExceeded`] when `room` is new to the user's set and the set is at the limit.
    pub fn mute_sync(
        &self,
        user: &UserId,
        room: &RoomId,
    ) -> Result<MuteOutcome, MuteLimitExceeded> {
        let hash = self.hash_user(user);
        let probe = KeyProbe::new(user);
        let room = RoomRef::new(room);
        let mut table = self.table(hash).write();
        let (changed, snapshot) = match table.find_mut(hash.0, &probe) {
            Some(entry) => {
                let changed = entry.rooms.insert(room, &self.rooms, self.mute_limit)?;
                (changed, entry.rooms.snapshot())
            }
            None => {
                if self.mute_limit == 0 {
                    return Err(MuteLimitExceeded { limit: 0 });
                }
                let entry = UserEntry {
                    key: probe.to_key(),
                    rooms: RoomSet::single(room, &self.rooms),
                };
                let entry = table.insert_new(hash.0, entry, self.rehash());
                (true, entry.rooms.snapshot())
            }
        };
        drop(table);
        Ok(MuteOutcome {
            changed,
            rooms: snapshot.resolve(&self.rooms),
        })
    }

    /// Unmutes `room` for `user`; see [`MuteStore::unmute`]. O(1) in the size of the user's set
    /// and of the store.
    pub fn unmute_sync(&self, user: &UserId, room: &RoomId) -> MuteOutcome {
        let hash = self.hash_user(user);
        let probe = KeyProbe::new(user);
        let room = RoomRef::new(room);
        let mut table = self.table(hash).write();
        let Some(entry) = table.find_mut(hash.0, &probe) else {
            return MuteOutcome::default();
        };
        let changed = entry.rooms.remove(room, &self.rooms);
        let snapshot = entry.rooms.snapshot();
        if entry.rooms.len() == 0 {
            table.remove(hash.0, &probe, self.rehash());
        }
        drop(table);
        MuteOutcome {
            changed,
            rooms: snapshot.resolve(&self.rooms),
        }
    }

    /// `user`'s muted rooms, oldest mute first; see [`MuteStore::muted_rooms`].
    pub fn muted_rooms_sync(&self, user: &UserId) -> MuteList {
        let hash = self.hash_user(user);
        let probe = KeyProbe::new(user);
        let snapshot = {
            let table = self.table(hash).read();
            table
                .find(hash.0, &probe)
                .map(|entry| entry.rooms.snapshot())
        };
        snapshot.map_or_else(MuteList::new, |snapshot| snapshot.resolve(&self.rooms))
    }

    /// Whether `user` has muted `room`; see [`MuteStore::is_muted`].
    pub fn is_muted_sync(&self, user: &UserId, room: &RoomId) -> bool {
        let hash = self.hash_user(user);
        let probe = KeyProbe::new(user);
        let table = self.table(hash).read();
        table
            .find(hash.0, &probe)
            .is_some_and(|entry| entry.rooms.contains(RoomRef::new(room), &self.rooms))
    }

    /// Which of `users` have muted `room`, in the order given; see [`MuteStore::muted_among`].
    ///
    /// The users are grouped by shard first, so each shard's lock is taken once for the whole call.
    pub fn muted_among_sync(&self, room: &RoomId, users: &[UserId]) -> Vec<UserId> {
        let room = RoomRef::new(room);
        let hashes: Vec<UserHash> = users.iter().map(|user| self.hash_user(user)).collect();
        // Counting sort of the positions by shard.
        let mut starts = [0usize; SHARDS + 1];
        for hash in &hashes {
            starts[hash.shard() + 1] += 1;
        }
        for shard in 0..SHARDS {
            starts[shard + 1] += starts[shard];
        }
        let mut next = starts;
        let mut by_shard = vec![0usize; users.len()];
        for (position, hash) in hashes.iter().enumerate() {
            let slot = &mut next[hash.shard()];
            by_shard[*slot] = position;
            *slot += 1;
        }
        let mut muted = vec![false; users.len()];
        for shard in 0..SHARDS {
            let positions = &by_shard[starts[shard]..starts[shard + 1]];
            if positions.is_empty() {
                continue;
            }
            let table = self.shards[shard].0.read();
            for &position in positions {
                let probe = KeyProbe::new(&users[position]);
                muted[position] = table
                    .find(hashes[position].0, &probe)
                    .is_some_and(|entry| entry.rooms.contains(room, &self.rooms));
            }
        }
        users
            .iter()
            .zip(muted)
            .filter(|(_, muted)| *muted)
            .map(|(user, _)| user.clone())
            .collect()
    }

    /// Removes `room` from every user's set; see [`MuteStore::forget_room`]. Visits every shard
    /// (one at a time), so it costs time in proportion to the number of users.
    pub fn forget_room_sync(&self, room: &RoomId) -> usize {
        let room = RoomRef::new(room);
        self.shards
            .iter()
            .map(|shard| {
                shard.0.write().change_all(
                    |entry| entry.rooms.remove(room, &self.rooms),
                    |entry| entry.rooms.len() > 0,
                    self.rehash(),
                )
            })
            .sum()
    }

    /// Removes `user`'s whole set and returns it; see [`MuteStore::forget_user`].
    pub fn forget_user_sync(&self, user: &UserId) -> MuteList {
        let hash = self.hash_user(user);
        let probe = KeyProbe::new(user);
        let removed = self
            .table(hash)
            .write()
            .remove(hash.0, &probe, self.rehash());
        removed.map_or_else(MuteList::new, |entry| {
            entry.rooms.snapshot().resolve(&self.rooms)
        })
    }

    /// Calls `visit` with every user that has muted rooms and the user's list, one shard at a time.
    /// No lock is held while `visit` runs, so it may call back into the store; a user changed
    /// meanwhile is seen either before or after the change.
    pub fn for_each_user(&self, mut visit: impl FnMut(&UserId, &MuteList)) {
        for shard in self.shards.iter() {
            let mut users: Vec<(UserId, SetSnapshot)> = Vec::new();
            shard.0.read().for_each(|entry| {
                if let Some(user) = entry.key.to_user_id() {
                    users.push((user, entry.rooms.snapshot()));
                }
            });
            for (user, snapshot) in users {
                visit(&user, &snapshot.resolve(&self.rooms));
            }
        }
    }
}

impl MuteStore for MemoryStore {
    fn mute(
        &self,
        user: &UserId,
        room: &RoomId,
    ) -> impl Future<Output = Result<MuteOutcome, StoreError>> + Send {
        ready(self.mute_sync(user, room).map_err(StoreError::from))
    }

    fn unmute(
        &self,
        user: &UserId,
        room: &RoomId,
    ) -> impl Future<Output = Result<MuteOutcome, StoreError>> + Send {
        ready(Ok(self.unmute_sync(user, room)))
    }

    fn muted_rooms(
        &self,
        user: &UserId,
    ) -> impl Future<Output = Result<MuteList, StoreError>> + Send {
        ready(Ok(self.muted_rooms_sync(user)))
    }

    fn is_muted(
        &self,
        user: &UserId,
        room: &RoomId,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send {
        ready(Ok(self.is_muted_sync(user, room)))
    }

    fn muted_among(
        &self,
        room: &RoomId,
        users: &[UserId],
    ) -> impl Future<Output = Result<Vec<UserId>, StoreError>> + Send {
        ready(Ok(self.muted_among_sync(room, users)))
    }

    fn forget_room(&self, room: &RoomId) -> impl Future<Output = Result<usize, StoreError>> + Send {
        ready(Ok(self.forget_room_sync(room)))
    }

    fn forget_user(
        &self,
        user: &UserId,
    ) -> impl Future<Output = Result<MuteList, StoreError>> + Send {
        ready(Ok(self.forget_user_sync(user)))
    }

    fn mute_limit(&self) -> usize {
        self.mute_limit
    }
}
