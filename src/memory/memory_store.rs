//! [`MemoryStore`]: the lock-sharded in-memory store.

use std::fmt;
use std::future::{Future, ready};
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Weak};

use parking_lot::RwLock;

use super::expiry_index::ExpiryIndex;
use super::expiry_timer::{Expire, ExpiryTimer};
use super::now::Now;
use super::room_interner::RoomInterner;
use super::timed_rooms::SetChange;
use super::user_entry::{KeyProbe, RoomRef, RoomSet, SetSnapshot, UserEntry};
use super::user_table::UserTable;
use crate::clock::{SharedClock, SystemClock};
use crate::error::{MuteLimitExceeded, StoreError};
use crate::events::{Actor, ChangeCause, ChangeEvent, ChangeHub, EventScope, Subscription};
use crate::expiry::Expiry;
use crate::ids::{RoomId, UserId};
use crate::mute_list::{MuteList, MuteOutcome};
use crate::store::MuteStore;

/// The per-user limit on muted rooms unless configured otherwise.
pub const DEFAULT_MUTE_LIMIT: usize = 1000;

/// log2 of the number of user shards.
const SHARD_BITS: u32 = 7;
const SHARDS: usize = 1 << SHARD_BITS;
/// How many users ahead `muted_among` asks for a user's table line.
const PREFETCH_AHEAD: usize = 16;

/// Keeps each shard's lock on its own cache lines (two, for CPUs that fetch lines in pairs), so that
/// threads working on different shards never contend for one line.
#[derive(Default)]
#[repr(align(128))]
struct Padded<T>(T);

/// One shard: its users, and its timed mutes by deadline.
#[derive(Default)]
struct Shard {
    table: UserTable,
    expiries: ExpiryIndex,
}

/// Per-user sets of muted rooms, in memory, behind 128 lock shards.
///
/// - One user's operations take one shard lock (reads share it); nothing holds a lock across a
///   call into the store, and no reference into the store is ever handed out, so there is nothing
///   to deadlock on.
/// - A user with up to three muted rooms costs one 32-byte slot: a user id of up to 15 bytes inline
///   and three 4-byte interned room indices. Each distinct room id is stored once.
/// - Hashes are seeded per process, so ids chosen by clients cannot be made to collide.
/// - Timed mutes ([`mute_with_sync`](Self::mute_with_sync)) are read against the store's
///   [`Clock`](crate::Clock) and purged at their deadlines by a thread the first timed mute starts.
///   A user with a timed mute keeps the set on the heap until no deadline is left.
/// - [`subscribe`](Self::subscribe) delivers every change as it is made; with no subscriber, an
///   operation pays one atomic load for it.
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
    core: Arc<Core>,
}

struct Core {
    shards: [Padded<RwLock<Shard>>; SHARDS],
    rooms: RoomInterner,
    hasher: foldhash::fast::RandomState,
    mute_limit: AtomicUsize,
    clock: SharedClock,
    hub: ChangeHub,
    timer: Arc<ExpiryTimer>,
}

impl Drop for Core {
    fn drop(&mut self) {
        self.timer.stop();
    }
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
            .field("mute_limit", &self.mute_limit())
            .field("clock", &self.core.clock)
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

/// Sends the events of one operation, under the lock of the shard it changes, so that each user's
/// events go out in the order of the changes. Builds nothing when nobody listens, and an operation
/// that changes nothing does not even look.
struct Events<'a> {
    hub: &'a ChangeHub,
}

impl<'a> Events<'a> {
    fn new(hub: &'a ChangeHub) -> Self {
        Self { hub }
    }

    /// Whether anyone listens now.
    fn on(&self) -> bool {
        self.hub.is_listened()
    }

    #[inline]
    fn send(&self, event: impl FnOnce() -> ChangeEvent) {
        if self.hub.is_listened() {
            self.hub.publish(&event());
        }
    }
}

impl Expire for Core {
    fn now_ms(&self) -> u64 {
        self.clock.now_ms()
    }

    fn expire_at(&self, now: u64) -> Option<u64> {
        self.expire_at(now).1
    }
}

impl MemoryStore {
    /// An empty store with the default per-user limit ([`DEFAULT_MUTE_LIMIT`]) and the system
    /// clock.
    #[must_use]
    pub fn new() -> Self {
        Self::with_mute_limit(DEFAULT_MUTE_LIMIT)
    }

    /// An empty store that refuses a user's mute of a new room beyond `limit` rooms.
    #[must_use]
    pub fn with_mute_limit(limit: usize) -> Self {
        Self::build(limit, Arc::new(SystemClock), true)
    }

    /// An empty store with the default limit that reads the time from `clock` (a
    /// [`ManualClock`](crate::ManualClock) in tests).
    #[must_use]
    pub fn with_clock(clock: SharedClock) -> Self {
        Self::build(DEFAULT_MUTE_LIMIT, clock, true)
    }

    /// A store to rebuild from disk: no limit, and no purge at deadlines until
    /// [`start_expiry`](Self::start_expiry), so that replaying old changes at their own times is
    /// not disturbed by today's clock.
    #[cfg(feature = "durable")]
    pub(crate) fn for_replay(clock: SharedClock) -> Self {
        Self::build(usize::MAX, clock, false)
    }

    fn build(limit: usize, clock: SharedClock, timer: bool) -> Self {
        Self {
            core: Arc::new(Core {
                shards: std::array::from_fn(|_| Padded::default()),
                rooms: RoomInterner::new(),
                hasher: foldhash::fast::RandomState::default(),
                mute_limit: AtomicUsize::new(limit),
                clock,
                hub: ChangeHub::new(),
                timer: Arc::new(ExpiryTimer::new(timer)),
            }),
        }
    }

    /// Starts purging at deadlines (a store made by [`for_replay`](Self::for_replay)).
    #[cfg(feature = "durable")]
    pub(crate) fn start_expiry(&self) {
        let earliest = self.core.earliest_deadline();
        self.core.timer.enable(earliest, self.weak());
    }

    fn weak(&self) -> Weak<Core> {
        Arc::downgrade(&self.core)
    }

    /// The per-user limit on muted rooms.
    #[must_use]
    pub fn mute_limit(&self) -> usize {
        self.core.mute_limit.load(Ordering::Relaxed)
    }

    /// Changes the per-user limit on muted rooms. A user already above a lowered limit keeps every
    /// room and is refused new ones until the set shrinks below it. A store that rebuilds its state
    /// from disk loads it without a limit and sets the configured one afterwards, so that lowering
    /// the limit never drops rooms that were muted under a higher one.
    pub fn set_mute_limit(&mut self, limit: usize) {
        self.core.mute_limit.store(limit, Ordering::Relaxed);
    }

    /// The clock the store reads deadlines against.
    #[must_use]
    pub fn clock(&self) -> &SharedClock {
        &self.core.clock
    }

    /// How many users have at least one muted room (a user whose mutes have all lapsed counts
    /// until they are purged).
    #[must_use]
    pub fn user_count(&self) -> usize {
        self.core
            .shards
            .iter()
            .map(|shard| shard.0.read().table.len())
            .sum()
    }

    /// How many timed mutes the store holds (lapsed ones count until they are purged).
    #[must_use]
    pub fn timed_mute_count(&self) -> usize {
        self.core
            .shards
            .iter()
            .map(|shard| shard.0.read().expiries.len())
            .sum()
    }

    /// How many distinct room ids the store has interned. A room is interned when it first goes
    /// into a user's inline set (a user's first three rooms without deadlines; a 4th room and the
    /// rooms of a set with deadlines are held by name) and is kept for the store's life, so this
    /// counts rooms muted at some time, not only those muted now.
    #[must_use]
    pub fn interned_room_count(&self) -> usize {
        self.core.rooms.len()
    }

    /// A feed of the changes in `scope` from now on; see [`MuteStore::subscribe`].
    #[must_use]
    pub fn subscribe(&self, scope: EventScope) -> Subscription {
        self.core.hub.subscribe(scope)
    }

    /// Mutes `room` for `user` until unmuted, as the user; see [`MuteStore::mute`].
    ///
    /// # Errors
    /// [`MuteLimitExceeded`] when `room` is new to the user's set and the set is at the limit.
    pub fn mute_sync(
        &self,
        user: &UserId,
        room: &RoomId,
    ) -> Result<MuteOutcome, MuteLimitExceeded> {
        let now = Now::lazy(&*self.core.clock);
        self.core.mute_at(user, room, None, ChangeCause::User, &now)
    }

    /// Mutes `room` for `user` until `expiry`, on behalf of `actor`; see
    /// [`MuteStore::mute_with`].
    ///
    /// # Errors
    /// [`StoreError::InvalidExpiry`] or [`StoreError::MuteLimitExceeded`]; never
    /// [`StoreError::Backend`].
    pub fn mute_with_sync(
        &self,
        user: &UserId,
        room: &RoomId,
        expiry: Expiry,
        actor: Actor,
    ) -> Result<MuteOutcome, StoreError> {
        let deadline = match expiry {
            Expiry::Never => None,
            expiry => expiry.deadline(self.core.clock.now_ms())?,
        };
        // The change reads the clock again, under the shard lock, so that it never runs at a time
        // a read (or the expiry timer) has already passed. A deadline that passes in between makes
        // a mute that lapses at once, with its expiry event.
        let now = Now::lazy(&*self.core.clock);
        let outcome = self
            .core
            .mute_at(user, room, deadline, actor.into(), &now)?;
        self.schedule(deadline, &outcome);
        Ok(outcome)
    }

    /// Makes sure the purge runs by `deadline` if the mute just made has one.
    fn schedule(&self, deadline: Option<u64>, outcome: &MuteOutcome) {
        if outcome.changed
            && let Some(deadline) = deadline
        {
            self.core.timer.schedule(deadline, self.weak());
        }
    }

    /// [`mute_with_sync`](Self::mute_with_sync) with a deadline already checked, at the time
    /// `now` (the durable store logs that time and replays with it).
    #[cfg(feature = "durable")]
    pub(crate) fn mute_at(
        &self,
        user: &UserId,
        room: &RoomId,
        deadline: Option<u64>,
        cause: ChangeCause,
        now: &Now<'_>,
    ) -> Result<MuteOutcome, MuteLimitExceeded> {
        let outcome = self.core.mute_at(user, room, deadline, cause, now)?;
        self.schedule(deadline, &outcome);
        Ok(outcome)
    }

    /// Unmutes `room` for `user`, as the user; see [`MuteStore::unmute`]. O(1) in the size of the
    /// user's set and of the store.
    pub fn unmute_sync(&self, user: &UserId, room: &RoomId) -> MuteOutcome {
        self.unmute_by_sync(user, room, Actor::User)
    }

    /// Unmutes `room` for `user` on behalf of `actor`; see [`MuteStore::unmute_by`].
    pub fn unmute_by_sync(&self, user: &UserId, room: &RoomId, actor: Actor) -> MuteOutcome {
        let now = Now::lazy(&*self.core.clock);
        self.core.unmute_at(user, room, actor.into(), &now)
    }

    /// [`unmute_by_sync`](Self::unmute_by_sync) at the time `now`.
    #[cfg(feature = "durable")]
    pub(crate) fn unmute_at(
        &self,
        user: &UserId,
        room: &RoomId,
        cause: ChangeCause,
        now: &Now<'_>,
    ) -> MuteOutcome {
        self.core.unmute_at(user, room, cause, now)
    }

    /// `user`'s muted rooms, oldest mute first; see [`MuteStore::muted_rooms`].
    pub fn muted_rooms_sync(&self, user: &UserId) -> MuteList {
        let core = &*self.core;
        let hash = core.hash_user(user);
        let probe = KeyProbe::new(user);
        let now = Now::lazy(&*core.clock);
        let snapshot = {
            let shard = core.shard(hash).read();
            shard
                .table
                .find(hash.0, &probe)
                .map(|entry| entry.rooms.snapshot(&now))
        };
        snapshot.map_or_else(MuteList::new, |snapshot| {
            snapshot.resolve(core.rooms.shared_names(hash.shard()))
        })
    }

    /// Whether `user` has muted `room`; see [`MuteStore::is_muted`].
    pub fn is_muted_sync(&self, user: &UserId, room: &RoomId) -> bool {
        let core = &*self.core;
        let hash = core.hash_user(user);
        let probe = KeyProbe::new(user);
        let now = Now::lazy(&*core.clock);
        let shard = core.shard(hash).read();
        shard
            .table
            .find(hash.0, &probe)
            .is_some_and(|entry| entry.rooms.contains(RoomRef::new(room), &core.rooms, &now))
    }

    /// Which of `users` have muted `room`, in the order given; see [`MuteStore::muted_among`].
    ///
    /// The users are grouped by shard first, so each shard's lock is taken once for the whole call;
    /// each user's answer holds at some moment of the call. The room's interned index is looked up
    /// once, so a user whose rooms are inline costs integer compares, not name compares.
    pub fn muted_among_sync(&self, room: &RoomId, users: &[UserId]) -> Vec<UserId> {
        let core = &*self.core;
        let interned = core.rooms.lookup(core.rooms.hash(room), room);
        let room = RoomRef::new(room);
        let now = Now::lazy(&*core.clock);
        let hashes: Vec<UserHash> = users.iter().map(|user| core.hash_user(user)).collect();
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
        // Positions of the users who muted the room: usually few, so they are collected as found
        // and put back in input order at the end, instead of a flag per user and a pass over all.
        let mut hits: Vec<usize> = Vec::new();
        for shard in 0..SHARDS {
            let positions = &by_shard[starts[shard]..starts[shard + 1]];
            if positions.is_empty() {
                continue;
            }
            let shard = core.shards[shard].0.read();
            let prefetching = !shard.table.is_small();
            for (at, &position) in positions.iter().enumerate() {
                if prefetching && let Some(&ahead) = positions.get(at + PREFETCH_AHEAD) {
                    shard.table.prefetch(hashes[ahead].0);
                }
                let probe = KeyProbe::new(&users[position]);
                let muted = shard
                    .table
                    .find(hashes[position].0, &probe)
                    .is_some_and(|entry| {
                        entry
                            .rooms
                            .contains_interned(room, interned, &core.rooms, &now)
                    });
                if muted {
                    hits.push(position);
                }
            }
        }
        hits.sort_unstable();
        hits.into_iter()
            .map(|position| users[position].clone())
            .collect()
    }

    /// Removes `room` from every user's set; see [`MuteStore::forget_room`]. Visits every shard
    /// (one at a time), so it costs time in proportion to the number of users.
    pub fn forget_room_sync(&self, room: &RoomId) -> usize {
        self.core.forget_room_at(room, None)
    }

    /// [`forget_room_sync`](Self::forget_room_sync) at the time `now` in every shard.
    #[cfg(feature = "durable")]
    pub(crate) fn forget_room_at(&self, room: &RoomId, now: &Now<'_>) -> usize {
        self.core.forget_room_at(room, Some(now))
    }

    /// Removes `user`'s whole set and returns it; see [`MuteStore::forget_user`].
    pub fn forget_user_sync(&self, user: &UserId) -> MuteList {
        self.forget_user_at(user, &Now::lazy(&*self.core.clock))
    }

    /// [`forget_user_sync`](Self::forget_user_sync) at the time `now`.
    pub(crate) fn forget_user_at(&self, user: &UserId, now: &Now<'_>) -> MuteList {
        self.core.forget_user_at(user, now)
    }

    /// Purges every timed mute that has lapsed by the store's clock; see
    /// [`MuteStore::expire_due`]. Costs in proportion to what lapsed, plus one look per shard.
    pub fn expire_due_sync(&self) -> usize {
        self.core.expire_at(self.core.clock.now_ms()).0
    }

    /// Calls `visit` with every user that has muted rooms and the user's list (as it reads now,
    /// deadlines included), one shard at a time. No lock is held while `visit` runs, so it may
    /// call back into the store; a user changed meanwhile is seen either before or after the
    /// change.
    pub fn for_each_user(&self, mut visit: impl FnMut(&UserId, &MuteList)) {
        let core = &*self.core;
        let now = Now::lazy(&*core.clock);
        for (at, shard) in core.shards.iter().enumerate() {
            let mut users: Vec<(UserId, SetSnapshot)> = Vec::new();
            shard.0.read().table.for_each(|entry| {
                if let Some(user) = entry.key.to_user_id() {
                    users.push((user, entry.rooms.snapshot(&now)));
                }
            });
            for (user, snapshot) in users {
                let list = snapshot.resolve(core.rooms.shared_names(at));
                if !list.is_empty() {
                    visit(&user, &list);
                }
            }
        }
    }
}

impl Core {
    fn hash_user(&self, user: &UserId) -> UserHash {
        UserHash(self.hasher.hash_one(user.as_bytes()))
    }

    fn shard(&self, hash: UserHash) -> &RwLock<Shard> {
        &self.shards[hash.shard()].0
    }

    /// The closure the tables use to hash a stored key again when they move entries.
    fn rehash(&self) -> impl Fn(&[u8]) -> u64 + '_ {
        move |bytes| self.hasher.hash_one(bytes)
    }

    fn mute_at(
        &self,
        user: &UserId,
        room_id: &RoomId,
        deadline: Option<u64>,
        cause: ChangeCause,
        now: &Now<'_>,
    ) -> Result<MuteOutcome, MuteLimitExceeded> {
        let hash = self.hash_user(user);
        let probe = KeyProbe::new(user);
        let room = RoomRef::new(room_id);
        let limit = self.mute_limit.load(Ordering::Relaxed);
        let mut guard = self.shard(hash).write();
        let Shard { table, expiries } = &mut *guard;
        let events = Events::new(&self.hub);
        let (changed, snapshot) = match table.find_mut(hash.0, &probe) {
            Some(entry) => {
                purge_lapsed(&mut entry.rooms, user, expiries, now, &events, &self.rooms);
                let outcome = match deadline {
                    None if entry.rooms.as_timed_mut().is_none() => {
                        entry.rooms.insert(room, &self.rooms, limit)
                    }
                    _ => {
                        let set = entry.rooms.timed_mut(&self.rooms);
                        let change = set.set(room_id, deadline, limit);
                        if let Ok(SetChange::Redated(Some(old))) = change {
                            expiries.remove(old, user, room_id);
                        }
                        if matches!(change, Ok(change) if change != SetChange::Unchanged)
                            && let Some(deadline) = deadline
                        {
                            expiries.insert(deadline, user, room_id);
                        }
                        // Back to an untimed form if no deadline is left (a refused change only
                        // converted the set, which is undone here): three rooms or fewer go back
                        // to the slot, more stay a shared set (four included, not a block).
                        entry.rooms.settle(&self.rooms);
                        change.map(|change| change != SetChange::Unchanged)
                    }
                };
                match outcome {
                    Ok(changed) => (changed, entry.rooms.snapshot(now)),
                    Err(refused) => {
                        // The purge may have emptied the set before the refusal.
                        if entry.rooms.len() == 0 {
                            table.remove(hash.0, &probe, self.rehash());
                        }
                        return Err(refused);
                    }
                }
            }
            None => {
                if limit == 0 {
                    return Err(MuteLimitExceeded { limit: 0 });
                }
                let rooms = match deadline {
                    None => RoomSet::single(room, &self.rooms),
                    Some(deadline) => {
                        let mut rooms = RoomSet::empty();
                        rooms
                            .timed_mut(&self.rooms)
                            .set(room_id, Some(deadline), limit)?;
                        expiries.insert(deadline, user, room_id);
                        rooms
                    }
                };
                let entry = UserEntry {
                    key: probe.to_key(),
                    rooms,
                };
                let entry = table.insert_new(hash.0, entry, self.rehash());
                (true, entry.rooms.snapshot(now))
            }
        };
        if changed {
            events.send(|| ChangeEvent::muted(user.clone(), room_id.clone(), deadline, cause));
        }
        drop(guard);
        Ok(MuteOutcome {
            changed,
            rooms: snapshot.resolve(self.rooms.shared_names(hash.shard())),
        })
    }

    fn unmute_at(
        &self,
        user: &UserId,
        room_id: &RoomId,
        cause: ChangeCause,
        now: &Now<'_>,
    ) -> MuteOutcome {
        let hash = self.hash_user(user);
        let probe = KeyProbe::new(user);
        let room = RoomRef::new(room_id);
        let mut guard = self.shard(hash).write();
        let Shard { table, expiries } = &mut *guard;
        let Some(entry) = table.find_mut(hash.0, &probe) else {
            return MuteOutcome::default();
        };
        let events = Events::new(&self.hub);
        purge_lapsed(&mut entry.rooms, user, expiries, now, &events, &self.rooms);
        let changed = match entry.rooms.as_timed_mut() {
            None => entry.rooms.remove(room, &self.rooms),
            Some(set) => match set.remove(room_id) {
                None => false,
                Some(old) => {
                    if let Some(old) = old {
                        expiries.remove(old, user, room_id);
                    }
                    entry.rooms.settle(&self.rooms);
                    true
                }
            },
        };
        if changed {
            events.send(|| ChangeEvent::unmuted(user.clone(), room_id.clone(), cause));
        }
        let snapshot = entry.rooms.snapshot(now);
        if entry.rooms.len() == 0 {
            table.remove(hash.0, &probe, self.rehash());
        }
        drop(guard);
        MuteOutcome {
            changed,
            rooms: snapshot.resolve(self.rooms.shared_names(hash.shard())),
        }
    }

    /// Removes `room_id` from every user's set, shard by shard, at the time `now` if given. Else
    /// each shard reads the clock for itself (lazily, under its lock), so that a timed mute that
    /// lapses while the shards before it are visited is purged as lapsed when its shard's turn
    /// comes, not removed as a live mute (counted, with a forget event) at a time read earlier.
    fn forget_room_at(&self, room_id: &RoomId, now: Option<&Now<'_>>) -> usize {
        let room = RoomRef::new(room_id);
        self.shards
            .iter()
            .map(|shard| {
                let mut guard = shard.0.write();
                let fresh;
                let now = match now {
                    Some(now) => now,
                    None => {
                        fresh = Now::lazy(&*self.clock);
                        &fresh
                    }
                };
                let Shard { table, expiries } = &mut *guard;
                let events = Events::new(&self.hub);
                table.change_all(
                    |entry| {
                        // The user's id is built only where it is needed: for a timed set (its
                        // purge and expiry index name the user) and for an event.
                        let timed = entry.rooms.as_timed_mut().is_some();
                        let user = timed.then(|| entry.key.to_user_id()).flatten();
                        if let Some(user) = &user {
                            purge_lapsed(
                                &mut entry.rooms,
                                user,
                                expiries,
                                now,
                                &events,
                                &self.rooms,
                            );
                        }
                        // The purge may have moved the set back to the compact form.
                        let removed = match entry.rooms.as_timed_mut() {
                            None => entry.rooms.remove(room, &self.rooms),
                            Some(set) => {
                                let removed = set.remove(room_id);
                                if let (Some(Some(old)), Some(user)) = (removed, &user) {
                                    expiries.remove(old, user, room_id);
                                }
                                entry.rooms.settle(&self.rooms);
                                removed.is_some()
                            }
                        };
                        if removed
                            && events.on()
                            && let Some(user) = user.or_else(|| entry.key.to_user_id())
                        {
                            events.send(|| {
                                ChangeEvent::unmuted(user, room_id.clone(), ChangeCause::Forget)
                            });
                        }
                        removed
                    },
                    |entry| entry.rooms.len() > 0,
                    self.rehash(),
                )
            })
            .sum()
    }

    fn forget_user_at(&self, user: &UserId, now: &Now<'_>) -> MuteList {
        let hash = self.hash_user(user);
        let probe = KeyProbe::new(user);
        let mut guard = self.shard(hash).write();
        let Shard { table, expiries } = &mut *guard;
        let Some(mut entry) = table.remove(hash.0, &probe, self.rehash()) else {
            return MuteList::new();
        };
        let events = Events::new(&self.hub);
        purge_lapsed(&mut entry.rooms, user, expiries, now, &events, &self.rooms);
        let snapshot = entry.rooms.snapshot(now);
        drop_all_deadlines(&mut entry.rooms, user, expiries);
        if !events.on() {
            drop(guard);
            return snapshot.resolve(self.rooms.shared_names(hash.shard()));
        }
        // Under the lock, so that a change the user makes next cannot overtake these events.
        let list = snapshot.resolve(self.rooms.shared_names(hash.shard()));
        for room in &list {
            events.send(|| ChangeEvent::unmuted(user.clone(), room.clone(), ChangeCause::Forget));
        }
        drop(guard);
        list
    }

    /// Purges what has lapsed at `now` in every shard. Returns how many mutes it purged and the
    /// earliest deadline left.
    fn expire_at(&self, now: u64) -> (usize, Option<u64>) {
        let mut purged = 0;
        let mut earliest: Option<u64> = None;
        for shard in &self.shards {
            let due = shard.0.read().expiries.earliest();
            let left = match due {
                Some(due) if due <= now => {
                    let mut guard = shard.0.write();
                    purged += self.expire_shard(&mut guard, now);
                    guard.expiries.earliest()
                }
                other => other,
            };
            if let Some(left) = left {
                earliest = Some(earliest.map_or(left, |e| e.min(left)));
            }
        }
        (purged, earliest)
    }

    fn expire_shard(&self, shard: &mut Shard, now: u64) -> usize {
        let Shard { table, expiries } = shard;
        let events = Events::new(&self.hub);
        let mut purged = 0;
        while let Some(user) = expiries.first_lapsed(now) {
            let hash = self.hash_user(&user);
            let probe = KeyProbe::new(&user);
            let Some(entry) = table.find_mut(hash.0, &probe) else {
                expiries.pop_first();
                continue;
            };
            let before = expiries.len();
            purged += purge_lapsed(
                &mut entry.rooms,
                &user,
                expiries,
                &Now::fixed(now),
                &events,
                &self.rooms,
            );
            if expiries.len() == before {
                expiries.pop_first();
            }
            if entry.rooms.len() == 0 {
                table.remove(hash.0, &probe, self.rehash());
            }
        }
        purged
    }

    #[cfg(feature = "durable")]
    fn earliest_deadline(&self) -> Option<u64> {
        self.shards
            .iter()
            .filter_map(|shard| shard.0.read().expiries.earliest())
            .min()
    }
}

/// Removes the mutes of `rooms` that have lapsed at `now`, sending an expiry event for each, and
/// moves a set left without deadlines back to the compact form. Returns how many it removed.
#[inline]
fn purge_lapsed(
    rooms: &mut RoomSet,
    user: &UserId,
    expiries: &mut ExpiryIndex,
    now: &Now<'_>,
    events: &Events<'_>,
    interner: &RoomInterner,
) -> usize {
    // Only a timed set has anything to purge: that look is compiled into the caller, the purge is
    // a call.
    if rooms.as_timed_mut().is_none() {
        return 0;
    }
    purge_timed(rooms, user, expiries, now, events, interner)
}

/// [`purge_lapsed`] of a timed set.
fn purge_timed(
    rooms: &mut RoomSet,
    user: &UserId,
    expiries: &mut ExpiryIndex,
    now: &Now<'_>,
    events: &Events<'_>,
    interner: &RoomInterner,
) -> usize {
    let Some(set) = rooms.as_timed_mut() else {
        return 0;
    };
    let now = now.get();
    if !set.has_lapsed(now) {
        return 0;
    }
    let lapsed = set.take_lapsed(now);
    for (room, until) in &lapsed {
        expiries.remove(*until, user, room);
        events.send(|| ChangeEvent::unmuted(user.clone(), room.clone(), ChangeCause::Expiry));
    }
    rooms.settle(interner);
    lapsed.len()
}

/// Removes every deadline of `rooms` from the index (the user is being dropped).
fn drop_all_deadlines(rooms: &mut RoomSet, user: &UserId, expiries: &mut ExpiryIndex) {
    if let Some(set) = rooms.as_timed_mut() {
        for (room, until) in set.entries() {
            if let Some(until) = until {
                expiries.remove(until, user, room);
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

    fn mute_with(
        &self,
        user: &UserId,
        room: &RoomId,
        expiry: Expiry,
        actor: Actor,
    ) -> impl Future<Output = Result<MuteOutcome, StoreError>> + Send {
        ready(self.mute_with_sync(user, room, expiry, actor))
    }

    fn unmute(
        &self,
        user: &UserId,
        room: &RoomId,
    ) -> impl Future<Output = Result<MuteOutcome, StoreError>> + Send {
        ready(Ok(self.unmute_sync(user, room)))
    }

    fn unmute_by(
        &self,
        user: &UserId,
        room: &RoomId,
        actor: Actor,
    ) -> impl Future<Output = Result<MuteOutcome, StoreError>> + Send {
        ready(Ok(self.unmute_by_sync(user, room, actor)))
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

    fn expire_due(&self) -> impl Future<Output = Result<usize, StoreError>> + Send {
        ready(Ok(self.expire_due_sync()))
    }

    fn subscribe(&self, scope: EventScope) -> Result<Subscription, StoreError> {
        Ok(MemoryStore::subscribe(self, scope))
    }

    fn mute_limit(&self) -> usize {
        MemoryStore::mute_limit(self)
    }
}
