//! The `store` check: operation sequences decoded from fuzz bytes, run on a [`MemoryStore`] and on
//! a plain reference model; every answer, every deadline, every snapshot and the final state must
//! match. The store reads a [`ManualClock`] that the input moves.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use super::block_on::block_on;
use super::input::Input;
use crate::clock::ManualClock;
use crate::error::StoreError;
use crate::events::Actor;
use crate::expiry::Expiry;
use crate::ids::{RoomId, UserId};
use crate::memory::{DEFAULT_MUTE_LIMIT, MemoryStore};
use crate::mute_list::{MuteList, MuteOutcome};
use crate::store::{MuteStore, SharedMuteStore};

/// The per-user limits a run may use: none allowed, each side of the three inline rooms, and large.
const LIMITS: [usize; 10] = [0, 1, 2, 3, 4, 5, 8, 16, 64, DEFAULT_MUTE_LIMIT];

/// Users that stress the id layout: inline up to 15 bytes, boxed beyond, multi-byte, awkward.
const USERS: [&str; 8] = [
    "u0",
    "u1",
    "1485248560558",
    "fifteen-bytes-x",
    "sixteen-bytes-xx",
    "a-user-id-longer-than-twenty-four-bytes",
    "ユーザー",
    "with/slash and space",
];

/// Rooms likewise, with a 24-hex id, a C1 control (allowed) and, built at run time, 256 bytes.
const ROOMS: [&str; 10] = [
    "r0",
    "r1",
    "r2",
    "r3",
    "r4",
    "demo-room",
    "a/room with spaces",
    "ルーム",
    "5a1b2c3d4e5f60718293a4b5",
    "r\u{85}",
];

/// How many users or rooms one batch operation may touch: past the default limit, and enough users
/// to make the shard tables grow. Most batches are far smaller (see [`batch_size`]).
const MAX_BATCH: usize = 1100;

/// A batch size: mostly a few dozen, which keeps runs fast, and one time in eight up to
/// [`MAX_BATCH`].
fn batch_size(input: &mut Input<'_>) -> usize {
    if input.below(8) == 0 {
        input.below(MAX_BATCH)
    } else {
        input.below(48)
    }
}

/// How many earlier snapshots are kept to be checked again at the end.
const MAX_SNAPSHOTS: usize = 32;

/// Runs the operations `data` decodes to on a fresh [`MemoryStore`] and on the reference model, and
/// panics at the first difference.
pub fn check_store(data: &[u8]) {
    let mut input = Input::new(data);
    let limit = input.pick(&LIMITS).unwrap_or(DEFAULT_MUTE_LIMIT);
    let mut run = Run::new(limit);
    while !input.is_empty() {
        run.step(&mut input);
    }
    run.audit();
}

/// The time the clock starts at.
const START_MS: u64 = 1_700_000_000_000;

/// Each user's rooms in mute order, with their deadlines; users with no rooms are absent. A mute
/// leaves the model the moment it lapses, which is what every read of the store must show.
#[derive(Debug, Default)]
struct Model {
    users: BTreeMap<String, Vec<(String, Option<u64>)>>,
    limit: usize,
    now: u64,
}

impl Model {
    fn rooms(&self, user: &UserId) -> Vec<String> {
        self.timed(user).into_iter().map(|(room, _)| room).collect()
    }

    fn timed(&self, user: &UserId) -> Vec<(String, Option<u64>)> {
        self.users.get(user.as_str()).cloned().unwrap_or_default()
    }

    fn names(&self) -> BTreeMap<String, Vec<String>> {
        self.users
            .iter()
            .map(|(user, rooms)| (user.clone(), rooms.iter().map(|(r, _)| r.clone()).collect()))
            .collect()
    }

    fn has(&self, user: &UserId, room: &RoomId) -> bool {
        self.users
            .get(user.as_str())
            .is_some_and(|rooms| rooms.iter().any(|(r, _)| r == room.as_str()))
    }

    /// `Some(changed)`, or `None` when the limit refuses it.
    fn mute(&mut self, user: &UserId, room: &RoomId, until: Option<u64>) -> Option<bool> {
        let rooms = self.users.entry(user.to_string()).or_default();
        if let Some((_, old)) = rooms.iter_mut().find(|(r, _)| r == room.as_str()) {
            let changed = *old != until;
            *old = until;
            return Some(changed);
        }
        if rooms.len() >= self.limit {
            if rooms.is_empty() {
                self.users.remove(user.as_str());
            }
            return None;
        }
        rooms.push((room.to_string(), until));
        Some(true)
    }

    /// Moves the clock and drops what lapses.
    fn advance(&mut self, by: u64) {
        self.now += by;
        let now = self.now;
        self.users.retain(|_, rooms| {
            rooms.retain(|(_, until)| until.is_none_or(|until| until > now));
            !rooms.is_empty()
        });
    }

    fn unmute(&mut self, user: &UserId, room: &RoomId) -> bool {
        let Some(rooms) = self.users.get_mut(user.as_str()) else {
            return false;
        };
        let before = rooms.len();
        rooms.retain(|(r, _)| r != room.as_str());
        let changed = rooms.len() != before;
        if rooms.is_empty() {
            self.users.remove(user.as_str());
        }
        changed
    }

    fn forget_room(&mut self, room: &RoomId) -> usize {
        let mut had = 0;
        self.users.retain(|_, rooms| {
            let before = rooms.len();
            rooms.retain(|(r, _)| r != room.as_str());
            had += before - rooms.len();
            !rooms.is_empty()
        });
        had
    }

    fn forget_user(&mut self, user: &UserId) -> Vec<(String, Option<u64>)> {
        self.users.remove(user.as_str()).unwrap_or_default()
    }
}

/// A store, its model, and snapshots taken along the way with what they held.
struct Run {
    clock: Arc<ManualClock>,
    store: Arc<MemoryStore>,
    shared: SharedMuteStore,
    model: Model,
    snapshots: Vec<(MuteList, Vec<String>)>,
}

fn names(list: &MuteList) -> Vec<String> {
    list.iter().map(ToString::to_string).collect()
}

fn timed(list: &MuteList) -> Vec<(String, Option<u64>)> {
    list.iter_timed().map(|(r, t)| (r.to_string(), t)).collect()
}

fn user(input: &mut Input<'_>) -> UserId {
    let fixed = |input: &mut Input<'_>| {
        let name = input.pick(&USERS).unwrap_or(USERS[0]);
        UserId::new(name).unwrap_or_else(|error| panic!("fixed user {name:?}: {error}"))
    };
    match input.below(4) {
        0 | 1 => fixed(input),
        2 => numbered_user(input.below(64)),
        _ => UserId::new(&input.text(40)).unwrap_or_else(|_| fixed(input)),
    }
}

fn numbered_user(n: usize) -> UserId {
    UserId::new(&format!("n{n}")).unwrap_or_else(|error| panic!("numbered user: {error}"))
}

fn room(input: &mut Input<'_>) -> RoomId {
    let fixed = |input: &mut Input<'_>| {
        let name = input.pick(&ROOMS).unwrap_or(ROOMS[0]);
        RoomId::new(name).unwrap_or_else(|error| panic!("fixed room {name:?}: {error}"))
    };
    match input.below(5) {
        0 | 1 => fixed(input),
        2 => numbered_room(input.below(64)),
        3 => RoomId::new(&"x".repeat(crate::ids::MAX_ID_BYTES))
            .unwrap_or_else(|error| panic!("longest room: {error}")),
        _ => RoomId::new(&input.text(40)).unwrap_or_else(|_| fixed(input)),
    }
}

fn numbered_room(n: usize) -> RoomId {
    RoomId::new(&format!("room-{n}")).unwrap_or_else(|error| panic!("numbered room: {error}"))
}

impl Run {
    fn new(limit: usize) -> Self {
        let clock = Arc::new(ManualClock::new(START_MS));
        let mut store = MemoryStore::with_clock(clock.clone());
        store.set_mute_limit(limit);
        let store = Arc::new(store);
        let shared: SharedMuteStore = store.clone();
        assert_eq!(shared.mute_limit(), limit);
        Self {
            clock,
            store,
            shared,
            model: Model {
                users: BTreeMap::new(),
                limit,
                now: START_MS,
            },
            snapshots: Vec::new(),
        }
    }

    /// Keeps `list` to check at the end that later operations left it as it was.
    fn keep(&mut self, list: &MuteList) {
        let expected = names(list);
        assert_eq!(list.len(), expected.len());
        assert_eq!(list.is_empty(), expected.is_empty());
        assert_eq!(
            list.to_vec()
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>(),
            expected
        );
        if self.snapshots.len() < MAX_SNAPSHOTS {
            self.snapshots.push((list.clone(), expected));
        }
    }

    /// Mutes through the `_sync` method or through the shared trait object, as `via_trait` says;
    /// a timed mute when `duration` is given.
    fn mute(
        &self,
        user: &UserId,
        room: &RoomId,
        via_trait: bool,
        duration: Option<u64>,
    ) -> Result<MuteOutcome, StoreError> {
        let expiry = duration.map_or(Expiry::Never, |ms| Expiry::After(Duration::from_millis(ms)));
        match (via_trait, duration) {
            (true, _) => block_on(self.shared.mute_with(user, room, expiry, Actor::User)),
            (false, None) => self.store.mute_sync(user, room).map_err(StoreError::from),
            (false, Some(_)) => self.store.mute_with_sync(user, room, expiry, Actor::Admin),
        }
    }

    fn unmute(&self, user: &UserId, room: &RoomId, via_trait: bool) -> MuteOutcome {
        if via_trait {
            block_on(self.shared.unmute(user, room))
                .unwrap_or_else(|error| panic!("a memory unmute failed: {error}"))
        } else {
            self.store.unmute_sync(user, room)
        }
    }

    /// Checks one mute against the model; the full list is compared when `whole_list`.
    fn check_mute(&mut self, user: &UserId, room: &RoomId, via_trait: bool, whole_list: bool) {
        self.check_timed_mute(user, room, via_trait, whole_list, None);
    }

    /// [`check_mute`](Self::check_mute), for `duration` milliseconds if given.
    fn check_timed_mute(
        &mut self,
        user: &UserId,
        room: &RoomId,
        via_trait: bool,
        whole_list: bool,
        duration: Option<u64>,
    ) {
        let result = self.mute(user, room, via_trait, duration);
        let until = duration.map(|ms| self.model.now + ms);
        match (self.model.mute(user, room, until), result) {
            (Some(changed), Ok(outcome)) => {
                assert_eq!(outcome.changed, changed, "mute {user:?} {room:?}");
                assert_eq!(outcome.rooms.until(room), until, "mute {user:?} {room:?}");
                if whole_list {
                    assert_eq!(timed(&outcome.rooms), self.model.timed(user), "mute");
                    self.keep(&outcome.rooms);
                } else {
                    assert_eq!(outcome.rooms.len(), self.model.rooms(user).len(), "mute");
                    assert!(outcome.rooms.contains(room));
                }
            }
            (None, Err(StoreError::MuteLimitExceeded(exceeded))) => {
                assert_eq!(exceeded.limit, self.model.limit);
            }
            (expected, result) => panic!(
                "mute {user:?} {room:?}: expected {expected:?}, got {result:?} (limit {})",
                self.model.limit
            ),
        }
    }

    fn check_unmute(&mut self, user: &UserId, room: &RoomId, via_trait: bool, whole_list: bool) {
        let outcome = self.unmute(user, room, via_trait);
        let changed = self.model.unmute(user, room);
        assert_eq!(outcome.changed, changed, "unmute {user:?} {room:?}");
        if whole_list {
            assert_eq!(names(&outcome.rooms), self.model.rooms(user), "unmute");
            self.keep(&outcome.rooms);
        } else {
            assert!(!outcome.rooms.contains(room));
        }
    }

    fn step(&mut self, input: &mut Input<'_>) {
        let op = input.byte();
        let via_trait = op & 0x80 != 0;
        match op & 0x7f {
            0..=39 => {
                let (user, room) = (user(input), room(input));
                self.check_mute(&user, &room, via_trait, true);
            }
            40..=69 => {
                let (user, room) = (user(input), room(input));
                self.check_unmute(&user, &room, via_trait, true);
            }
            70..=79 => {
                let user = user(input);
                let rooms = if via_trait {
                    block_on(self.shared.muted_rooms(&user))
                        .unwrap_or_else(|error| panic!("muted_rooms failed: {error}"))
                } else {
                    self.store.muted_rooms_sync(&user)
                };
                assert_eq!(timed(&rooms), self.model.timed(&user), "muted_rooms");
                self.keep(&rooms);
            }
            80..=89 => {
                let (user, room) = (user(input), room(input));
                let muted = if via_trait {
                    block_on(self.shared.is_muted(&user, &room))
                        .unwrap_or_else(|error| panic!("is_muted failed: {error}"))
                } else {
                    self.store.is_muted_sync(&user, &room)
                };
                assert_eq!(muted, self.model.has(&user, &room), "is_muted");
            }
            90..=97 => {
                let room = room(input);
                let count = input.below(9);
                let users: Vec<UserId> = (0..count).map(|_| user(input)).collect();
                let muted = if via_trait {
                    block_on(self.shared.muted_among(&room, &users))
                        .unwrap_or_else(|error| panic!("muted_among failed: {error}"))
                } else {
                    self.store.muted_among_sync(&room, &users)
                };
                let expected: Vec<UserId> = users
                    .iter()
                    .filter(|user| self.model.has(user, &room))
                    .cloned()
                    .collect();
                assert_eq!(muted, expected, "muted_among {room:?}");
            }
            98..=102 => {
                let room = room(input);
                let had = if via_trait {
                    block_on(self.shared.forget_room(&room))
                        .unwrap_or_else(|error| panic!("forget_room failed: {error}"))
                } else {
                    self.store.forget_room_sync(&room)
                };
                assert_eq!(had, self.model.forget_room(&room), "forget_room {room:?}");
            }
            103..=107 => {
                let user = user(input);
                let rooms = if via_trait {
                    block_on(self.shared.forget_user(&user))
                        .unwrap_or_else(|error| panic!("forget_user failed: {error}"))
                } else {
                    self.store.forget_user_sync(&user)
                };
                assert_eq!(timed(&rooms), self.model.forget_user(&user), "forget_user");
                self.keep(&rooms);
            }
            108..=113 => {
                // Many users mute or unmute one room: the shard tables grow, shift and shrink.
                let room = room(input);
                let first = input.below(MAX_BATCH);
                let count = batch_size(input);
                let unmute = input.byte() & 1 == 1;
                for n in first..first + count {
                    let user = numbered_user(n);
                    if unmute {
                        self.check_unmute(&user, &room, via_trait, false);
                    } else {
                        self.check_mute(&user, &room, via_trait, false);
                    }
                }
            }
            114..=119 => {
                // One user mutes or unmutes many rooms: the set changes form, gets holes, squeezes.
                let user = user(input);
                let first = input.below(MAX_BATCH);
                let count = batch_size(input);
                let stride = 1 + input.below(3);
                let unmute = input.byte() & 1 == 1;
                for n in (first..first + count).step_by(stride) {
                    let room = numbered_room(n);
                    if unmute {
                        self.check_unmute(&user, &room, via_trait, false);
                    } else {
                        self.check_mute(&user, &room, via_trait, false);
                    }
                }
                let rooms = self.store.muted_rooms_sync(&user);
                assert_eq!(names(&rooms), self.model.rooms(&user), "after a batch");
                self.keep(&rooms);
            }
            120..=123 => {
                let (user, room) = (user(input), room(input));
                let duration = 1 + input.below(64) as u64;
                self.check_timed_mute(&user, &room, via_trait, true, Some(duration));
            }
            124..=125 => {
                let by = input.below(64) as u64;
                self.clock.advance(Duration::from_millis(by));
                self.model.advance(by);
            }
            126 => {
                let purged = if via_trait {
                    block_on(self.shared.expire_due())
                        .unwrap_or_else(|error| panic!("expire_due failed: {error}"))
                } else {
                    self.store.expire_due_sync()
                };
                assert_eq!(
                    self.store.expire_due_sync(),
                    0,
                    "purged {purged}, then more"
                );
            }
            _ => self.audit(),
        }
    }

    /// The whole store against the model, and every snapshot against what it held when taken.
    fn audit(&self) {
        let mut seen: BTreeMap<String, Vec<String>> = BTreeMap::new();
        self.store.for_each_user(|user, rooms| {
            let previous = seen.insert(user.to_string(), names(rooms));
            assert!(previous.is_none(), "{user:?} visited twice");
        });
        assert_eq!(seen, self.model.names(), "the whole store");
        // Lapsed mutes are invisible but may still take room until purged.
        self.store.expire_due_sync();
        assert_eq!(self.store.user_count(), self.model.users.len());
        let timed: usize = self
            .model
            .users
            .values()
            .flatten()
            .filter(|(_, until)| until.is_some())
            .count();
        assert_eq!(self.store.timed_mute_count(), timed, "the expiry index");
        for rooms in seen.values() {
            assert!(rooms.len() <= self.model.limit, "over the limit: {rooms:?}");
            let mut unique = rooms.clone();
            unique.sort();
            unique.dedup();
            assert_eq!(unique.len(), rooms.len(), "a room twice: {rooms:?}");
        }
        for (list, expected) in &self.snapshots {
            assert_eq!(
                &names(list),
                expected,
                "a snapshot changed after it was taken"
            );
        }
    }
}
