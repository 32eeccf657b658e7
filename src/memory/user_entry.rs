//! One user's entry in the in-memory table, packed into 32 bytes.
//!
//! - [`UserKey`], 16 bytes: a user id of up to 15 bytes (a 13-digit id, say) sits inline; a longer
//!   one is boxed.
//! - [`RoomSet`], 16 bytes: up to three muted rooms inline, each as an interned 4-byte index and a
//!   one-byte [`RoomTag`]; four, as one boxed block ([`SmallRooms`]: the slot's three indices and
//!   the 4th room's name); more, as a shared [`OrderedRooms`] that also serves as the O(1) snapshot
//!   handed to callers. The tags let a lookup skip the interner entirely for a room that is not in
//!   the set, and read one name for a room that is. A user with a timed mute keeps a boxed
//!   [`TimedRooms`] instead, until no deadline is left.
//!
//! Two entries fill one 64-byte cache line, so finding a user and reading the user's rooms is one
//! memory access for the common case.

use std::sync::Arc;

use super::interned_list::{InternedRooms, SharedNames};
use super::now::Now;
use super::room_interner::{RoomIdx, RoomInterner};
use super::small_rooms::{SMALL_ROOMS, SmallRooms};
use super::timed_rooms::TimedRooms;
use crate::error::MuteLimitExceeded;
use crate::ids::{RoomId, UserId};
use crate::mute_list::MuteList;
use crate::ordered_rooms::OrderedRooms;
use crate::same_text::{same_text, short_word, word};

/// The longest user id kept inline, in bytes.
const INLINE_KEY_BYTES: usize = 15;

/// How many rooms the user's slot holds.
pub(super) const INLINE_ROOMS: usize = 3;

/// A shared set this small goes back inline as soon as a removal brings it there. Keeping it shared
/// a little longer would spare a user who moves between three and four rooms one conversion per
/// change, but every read of that user would then pay for a hash lookup in a heap set instead of a
/// look at its own cache line, and the set's memory would stay allocated; reads are far more common.
const BACK_INLINE_AT: usize = INLINE_ROOMS;

/// Length of an inline key. An enum rather than a `u8`, so that the compiler can use the values it
/// never takes to tell the inline key from the boxed one and from an empty slot: that is what keeps
/// [`UserKey`] at 16 bytes and `Option<UserEntry>` at 32.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(super) enum KeyLen {
    L1 = 1,
    L2,
    L3,
    L4,
    L5,
    L6,
    L7,
    L8,
    L9,
    L10,
    L11,
    L12,
    L13,
    L14,
    L15,
}

const KEY_LENS: [KeyLen; INLINE_KEY_BYTES] = [
    KeyLen::L1,
    KeyLen::L2,
    KeyLen::L3,
    KeyLen::L4,
    KeyLen::L5,
    KeyLen::L6,
    KeyLen::L7,
    KeyLen::L8,
    KeyLen::L9,
    KeyLen::L10,
    KeyLen::L11,
    KeyLen::L12,
    KeyLen::L13,
    KeyLen::L14,
    KeyLen::L15,
];

/// A user id as stored in the table. See the module documentation.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum UserKey {
    Inline {
        bytes: [u8; INLINE_KEY_BYTES],
        len: KeyLen,
    },
    Boxed(Box<UserId>),
}

/// A user id as looked up: a short id as the two 8-byte words a stored key is compared by, a long
/// id borrowed, so a lookup never allocates.
#[derive(Debug, Clone, Copy)]
pub(super) enum KeyProbe<'a> {
    /// Bytes 0..8 and 7..15 of the id padded with zeros to 15 bytes, as little-endian words (they
    /// overlap in byte 7), and the length.
    Inline(u64, u64, KeyLen),
    Long(&'a UserId),
}

impl<'a> KeyProbe<'a> {
    #[inline]
    pub(super) fn new(user: &'a UserId) -> Self {
        let text = user.as_bytes();
        let Some(&len) = text.len().checked_sub(1).and_then(|i| KEY_LENS.get(i)) else {
            return Self::Long(user);
        };
        if text.len() >= 8 {
            // The last 8 bytes hold bytes 7.. of the id, preceded by `15 - len` bytes that the
            // shift drops: two loads and a shift, where copying into a padded array costs a
            // variable-length copy.
            let tail = word(&text[text.len() - 8..]) >> (8 * (INLINE_KEY_BYTES - text.len()));
            Self::Inline(word(text), tail, len)
        } else {
            Self::Inline(short_word(text), 0, len)
        }
    }

    /// The key to store for this user.
    pub(super) fn to_key(self) -> UserKey {
        match self {
            Self::Inline(head, tail, len) => {
                let mut bytes = [0u8; INLINE_KEY_BYTES];
                bytes[..8].copy_from_slice(&head.to_le_bytes());
                bytes[8..].copy_from_slice(&tail.to_le_bytes()[1..]);
                UserKey::Inline { bytes, len }
            }
            Self::Long(user) => UserKey::Boxed(Box::new(user.clone())),
        }
    }
}

impl UserKey {
    /// Whether this key is the probed user.
    #[inline]
    pub(super) fn matches(&self, probe: &KeyProbe<'_>) -> bool {
        match (self, probe) {
            (Self::Inline { bytes, len }, KeyProbe::Inline(head, tail, probe_len)) => {
                // Two overlapping 8-byte words cover the 15 bytes: two compares, no loop.
                len == probe_len && word(&bytes[..8]) == *head && word(&bytes[7..]) == *tail
            }
            (Self::Boxed(user), KeyProbe::Long(probe)) => **user == **probe,
            _ => false,
        }
    }

    /// The user id this key stores. Always `Some`: keys are only made from valid ids.
    pub(super) fn to_user_id(&self) -> Option<UserId> {
        match self {
            Self::Inline { .. } => UserId::from_utf8(self.as_bytes()).ok(),
            Self::Boxed(user) => Some((**user).clone()),
        }
    }

    /// The id's bytes, as the table hashes them.
    pub(super) fn as_bytes(&self) -> &[u8] {
        match self {
            Self::Inline { bytes, len } => &bytes[..*len as usize],
            Self::Boxed(user) => user.as_bytes(),
        }
    }
}

/// Length of an inline room list; an enum for the same layout reason as [`KeyLen`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(super) enum RoomCount {
    Zero = 0,
    One,
    Two,
    Three,
}

const ROOM_COUNTS: [RoomCount; INLINE_ROOMS + 1] = [
    RoomCount::Zero,
    RoomCount::One,
    RoomCount::Two,
    RoomCount::Three,
];

/// A user's muted rooms. See the module documentation.
#[derive(Debug)]
pub(super) enum RoomSet {
    Inline {
        ids: [RoomIdx; INLINE_ROOMS],
        tags: [u8; INLINE_ROOMS],
        len: RoomCount,
    },
    /// Exactly four rooms, in one block.
    Small(Box<SmallRooms>),
    Shared(Arc<OrderedRooms>),
    Timed(Box<TimedRooms>),
}

/// A one-byte fingerprint of a room id, kept beside each inline room so that a lookup compares
/// names only when the tags agree (for a room not in the set, about 1 time in 256 per room).
///
/// It is a cheap unseeded mix of the id's first and last eight bytes and its length, not a seeded
/// hash: a caller who crafts ids with equal tags gains at most the three name comparisons an inline
/// set can hold, so there is nothing to attack, and reads need not hash the room at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct RoomTag(pub(super) u8);

impl RoomTag {
    #[inline]
    pub(super) fn of(room: &str) -> Self {
        let bytes = room.as_bytes();
        let (head, tail) = match bytes.len() {
            8.. => (word(&bytes[..8]), word(&bytes[bytes.len() - 8..])),
            1.. => (short_word(bytes), 0),
            0 => (0, 0),
        };
        let mixed =
            (head ^ tail.rotate_left(29) ^ bytes.len() as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        Self((mixed >> 56) as u8)
    }
}

// `RoomTag::matches_among` packs the inline tags into one `u32`, and `SetSnapshot::resolve` fills
// three slots.
const _: () = assert!(INLINE_ROOMS == 3);

impl RoomTag {
    /// Which of the first `len` of `tags` equal this tag, compared all at once: the result has the
    /// top bit of byte `i` set when `tags[i]` matches, and no other bit.
    #[inline]
    fn matches_among(self, tags: [u8; INLINE_ROOMS], len: usize) -> u32 {
        let mut packed = [0u8; 4];
        packed[..INLINE_ROOMS].copy_from_slice(&tags);
        let diff = u32::from_le_bytes(packed) ^ (u32::from(self.0) * 0x0101_0101);
        // A byte of `diff` is zero exactly where the tags match. The exact zero-byte test: adding
        // 0x7f to a byte's low seven bits carries into its top bit unless they are all zero, and
        // no carry crosses into the next byte.
        let zero_bytes = !(((diff & 0x7f7f_7f7f) + 0x7f7f_7f7f) | diff | 0x7f7f_7f7f);
        let in_set = (1u32 << (8 * len)).wrapping_sub(1);
        zero_bytes & in_set
    }
}

/// A room being muted, unmuted or asked about, with its tag. Its seeded hash, which only interning
/// needs, is computed when a room is added.
#[derive(Clone, Copy)]
pub(super) struct RoomRef<'a> {
    pub(super) id: &'a RoomId,
    pub(super) tag: RoomTag,
}

impl<'a> RoomRef<'a> {
    #[inline]
    pub(super) fn new(id: &'a RoomId) -> Self {
        Self {
            id,
            tag: RoomTag::of(id),
        }
    }
}

impl RoomSet {
    /// A set holding nothing (to be filled at once).
    pub(super) fn empty() -> Self {
        Self::Inline {
            ids: [RoomIdx::default(); INLINE_ROOMS],
            tags: [0; INLINE_ROOMS],
            len: RoomCount::Zero,
        }
    }

    /// A set holding only `room`.
    pub(super) fn single(room: RoomRef<'_>, rooms: &RoomInterner) -> Self {
        let mut set = Self::Inline {
            ids: [RoomIdx::default(); INLINE_ROOMS],
            tags: [0; INLINE_ROOMS],
            len: RoomCount::Zero,
        };
        set.append(room, rooms);
        set
    }

    pub(super) fn len(&self) -> usize {
        match self {
            Self::Inline { len, .. } => *len as usize,
            Self::Small(_) => SMALL_ROOMS,
            Self::Shared(set) => set.len(),
            Self::Timed(set) => set.len(),
        }
    }

    /// Where `room` sits in an inline set.
    #[inline]
    fn inline_position(&self, room: RoomRef<'_>, rooms: &RoomInterner) -> Option<usize> {
        let Self::Inline { ids, tags, len } = self else {
            return None;
        };
        // Usually no tag matches and no name is read.
        let mut candidates = room.tag.matches_among(*tags, *len as usize);
        while candidates != 0 {
            let at = (candidates.trailing_zeros() / 8) as usize;
            if rooms.is(ids[at], room.id) {
                return Some(at);
            }
            candidates &= candidates - 1;
        }
        None
    }

    /// Whether `room` is muted at `now` (which only a timed set reads).
    ///
    /// Compiled into the caller: on `is_muted`'s common path, an inline set, a call and its
    /// register saves were a tenth of the work.
    #[inline(always)]
    pub(super) fn contains(&self, room: RoomRef<'_>, rooms: &RoomInterner, now: &Now<'_>) -> bool {
        match self {
            // A plain scan, not `inline_position`: for a read that usually finds the room, it
            // measured a little faster than comparing the tags all at once.
            Self::Inline { ids, tags, len } => {
                for (&idx, &tag) in ids.iter().zip(tags).take(*len as usize) {
                    if tag == room.tag.0 && rooms.is(idx, room.id) {
                        return true;
                    }
                }
                false
            }
            Self::Small(set) => set.contains(room, rooms),
            Self::Shared(set) => set.contains(room.id),
            Self::Timed(set) => set.contains(room.id, now.get()),
        }
    }

    /// [`contains`](Self::contains) for a caller that looked up the room's interned index once
    /// for many sets: an inline set then compares integers instead of names. `None` (the room was
    /// not interned at the look-up) falls back to names, since the room may have been interned
    /// since.
    #[inline]
    pub(super) fn contains_interned(
        &self,
        room: RoomRef<'_>,
        interned: Option<RoomIdx>,
        rooms: &RoomInterner,
        now: &Now<'_>,
    ) -> bool {
        match (self, interned) {
            (Self::Inline { ids, len, .. }, Some(idx)) => ids[..*len as usize].contains(&idx),
            _ => self.contains(room, rooms, now),
        }
    }

    /// The timed form of the set, if it has it.
    pub(super) fn as_timed_mut(&mut self) -> Option<&mut TimedRooms> {
        match self {
            Self::Timed(set) => Some(set),
            _ => None,
        }
    }

    /// The set in its timed form, converting it first if needed.
    pub(super) fn timed_mut(&mut self, rooms: &RoomInterner) -> &mut TimedRooms {
        if !matches!(self, Self::Timed(_)) {
            let ordered = match std::mem::replace(self, Self::empty()) {
                Self::Inline { ids, len, .. } => Arc::new(
                    ids[..len as usize]
                        .iter()
                        .filter_map(|&idx| rooms.name(idx).cloned())
                        .collect(),
                ),
                Self::Small(set) => Arc::new(set.to_ordered(SMALL_ROOMS, rooms)),
                // The heap set is taken over as it is, not copied: it is copied only if a caller
                // still holds it when the first change comes.
                Self::Shared(set) => set,
                Self::Timed(_) => unreachable!("checked above"),
            };
            *self = Self::Timed(Box::new(TimedRooms::new(ordered)));
        }
        match self {
            Self::Timed(set) => set,
            _ => unreachable!("timed_mut just made the set timed"),
        }
    }

    /// Moves a timed set with no deadline left back to the compact form.
    pub(super) fn settle(&mut self, rooms: &RoomInterner) {
        if let Self::Timed(set) = self
            && set.has_no_deadline()
        {
            *self = Self::Shared(Arc::clone(set.rooms()));
            if self.len() <= BACK_INLINE_AT {
                self.try_inline(rooms);
            }
        }
    }

    /// Adds `room` at the end unless present (a set without deadlines only). Returns whether it
    /// was added.
    pub(super) fn insert(
        &mut self,
        room: RoomRef<'_>,
        rooms: &RoomInterner,
        limit: usize,
    ) -> Result<bool, MuteLimitExceeded> {
        if let Self::Shared(set) = self {
            let key = set.key(room.id);
            if set.contains_key(key) {
                return Ok(false);
            }
            if set.len() >= limit {
                return Err(MuteLimitExceeded { limit });
            }
            Arc::make_mut(set).insert_new_key(key, room.id.clone());
            return Ok(true);
        }
        if let Self::Small(set) = self {
            if set.contains(room, rooms) {
                return Ok(false);
            }
            if SMALL_ROOMS >= limit {
                return Err(MuteLimitExceeded { limit });
            }
            let mut set = set.to_ordered(SMALL_ROOMS + 1, rooms);
            let key = set.key(room.id);
            set.insert_new_key(key, room.id.clone());
            *self = Self::Shared(Arc::new(set));
            return Ok(true);
        }
        debug_assert!(
            !matches!(self, Self::Timed(_)),
            "timed sets change through TimedRooms"
        );
        if self.inline_position(room, rooms).is_some() {
            return Ok(false);
        }
        if self.len() >= limit {
            return Err(MuteLimitExceeded { limit });
        }
        self.append(room, rooms);
        Ok(true)
    }

    /// Adds `room`, known to be absent, at the end.
    fn append(&mut self, room: RoomRef<'_>, rooms: &RoomInterner) {
        if let Self::Inline { ids, tags, len } = self
            && (*len as usize) < INLINE_ROOMS
            && let Some(idx) = rooms.intern(rooms.hash(room.id), room.id)
        {
            let at = *len as usize;
            ids[at] = idx;
            tags[at] = room.tag.0;
            *len = ROOM_COUNTS[at + 1];
            return;
        }
        match self {
            // A full slot and a 4th room: one block of four, the slot's three as they are.
            Self::Inline { ids, tags, len } if *len as usize == INLINE_ROOMS => {
                *self = Self::Small(Box::new(SmallRooms::new(*ids, *tags, room)));
            }
            Self::Inline { ids, len, .. } => {
                // Only when the interner is full (or, never, a slot's index names no room): the
                // set moves to the heap with the new room already in it, so the new `Arc` is
                // never checked for sharing (`Arc::make_mut` costs an atomic compare-exchange).
                // An inline set is duplicate-free; room for one more, the room being added.
                let count = *len as usize;
                let names = ids[..count]
                    .iter()
                    .filter_map(|&idx| Some((rooms.name(idx)?.clone(), idx.to_bits())));
                let mut set = OrderedRooms::from_distinct_marked(names, count + 1);
                let key = set.key(room.id);
                set.insert_new_key(key, room.id.clone());
                *self = Self::Shared(Arc::new(set));
            }
            Self::Small(set) => {
                let mut set = set.to_ordered(SMALL_ROOMS + 1, rooms);
                let key = set.key(room.id);
                set.insert_new_key(key, room.id.clone());
                *self = Self::Shared(Arc::new(set));
            }
            Self::Shared(set) => {
                let set = Arc::make_mut(set);
                let key = set.key(room.id);
                set.insert_new_key(key, room.id.clone());
            }
            Self::Timed(_) => unreachable!("timed sets change through TimedRooms"),
        }
    }

    /// Adds a room by its interned index to an inline set with room for it. Returns whether it
    /// did (not for a full slot or a heap set).
    fn push_index(&mut self, idx: RoomIdx, tag: RoomTag) -> bool {
        if let Self::Inline { ids, tags, len } = self
            && (*len as usize) < INLINE_ROOMS
        {
            let at = *len as usize;
            ids[at] = idx;
            tags[at] = tag.0;
            *len = ROOM_COUNTS[at + 1];
            return true;
        }
        false
    }

    /// [`append`](Self::append) for a room whose interned index may be known already (a heap set's
    /// mark, see [`OrderedRooms::marked`]): an inline set with room for it takes the index as it
    /// is instead of looking the name up.
    fn append_known(&mut self, room: RoomRef<'_>, mark: Option<u32>, rooms: &RoomInterner) {
        if let Some(bits) = mark {
            let idx = RoomIdx::from_bits(bits);
            debug_assert!(rooms.is(idx, room.id), "a mark names its room");
            if self.push_index(idx, room.tag) {
                return;
            }
        }
        self.append(room, rooms);
    }

    /// Removes `room` (a set without deadlines only). Returns whether it was present. A block, or a
    /// shared set left with three rooms, goes back to the user's slot.
    ///
    /// The slot's case is compiled into the caller, the others are a call: on an unmute's common
    /// path, the calls' entries and exits were about a tenth of its instructions.
    #[inline]
    pub(super) fn remove(&mut self, room: RoomRef<'_>, rooms: &RoomInterner) -> bool {
        if !matches!(self, Self::Inline { .. }) {
            return self.remove_from_heap(room, rooms);
        }
        let Some(at) = self.inline_position(room, rooms) else {
            return false;
        };
        if let Self::Inline { ids, tags, len } = self {
            let count = *len as usize;
            ids.copy_within(at + 1..count, at);
            tags.copy_within(at + 1..count, at);
            *len = ROOM_COUNTS[count - 1];
        }
        true
    }

    /// [`remove`](Self::remove) from a block or a shared set.
    fn remove_from_heap(&mut self, room: RoomRef<'_>, rooms: &RoomInterner) -> bool {
        if let Self::Small(set) = self {
            let Some(at) = set.position(room, rooms) else {
                return false;
            };
            // Back into the slot: the three indices the block kept, as they were when the 4th
            // room is the one removed; else less the one removed, then the 4th room, interned.
            let (ids, tags) = (set.ids(), set.slot_tags());
            if at == INLINE_ROOMS {
                *self = Self::Inline {
                    ids,
                    tags,
                    len: RoomCount::Three,
                };
                return true;
            }
            let mut inline = Self::empty();
            for i in (0..INLINE_ROOMS).filter(|&i| i != at) {
                inline.push_index(ids[i], RoomTag(tags[i]));
            }
            inline.append(set.fourth(), rooms);
            *self = inline;
            return true;
        }
        if let Self::Shared(set) = self {
            // Look before cloning: an absent room must not copy a set a caller still shares.
            let key = set.key(room.id);
            if !set.contains_key(key) {
                return false;
            }
            if set.len() - 1 <= BACK_INLINE_AT {
                // Back inline, built from the other rooms: the heap set is neither changed nor
                // copied (a caller's list may still share it) only to be dropped.
                let mut inline = Self::empty();
                for (other, mark) in set.marked() {
                    if !same_text(other.as_bytes(), room.id.as_bytes()) {
                        inline.append_known(RoomRef::new(other), mark, rooms);
                    }
                }
                *self = inline;
                return true;
            }
            Arc::make_mut(set).remove_key(key);
            return true;
        }
        debug_assert!(
            !matches!(self, Self::Timed(_)),
            "timed sets change through TimedRooms"
        );
        false
    }

    /// What a caller may keep after the lock is released: the set as it reads at `now`.
    #[inline]
    pub(super) fn snapshot(&self, now: &Now<'_>) -> SetSnapshot {
        match self {
            Self::Inline { ids, len, .. } => SetSnapshot::Inline(*ids, *len as usize),
            Self::Small(set) => SetSnapshot::Block(set.ids(), set.fourth().id.clone()),
            Self::Shared(set) => SetSnapshot::Shared(Arc::clone(set)),
            Self::Timed(set) => SetSnapshot::Ready(set.snapshot(now.get())),
        }
    }

    /// Moves a small shared set back inline (it stays shared if the interner is full).
    fn try_inline(&mut self, rooms: &RoomInterner) {
        let Self::Shared(set) = self else { return };
        let mut inline = Self::Inline {
            ids: [RoomIdx::default(); INLINE_ROOMS],
            tags: [0; INLINE_ROOMS],
            len: RoomCount::Zero,
        };
        for (room, mark) in set.marked() {
            inline.append_known(RoomRef::new(room), mark, rooms);
        }
        *self = inline;
    }
}

/// A copy of a [`RoomSet`] taken under the lock, resolved to names after it is released. Interned
/// indices never change meaning, so the late resolution sees exactly the set as it was.
pub(super) enum SetSnapshot {
    Inline([RoomIdx; INLINE_ROOMS], usize),
    /// A block's three indices and its 4th room.
    Block([RoomIdx; INLINE_ROOMS], RoomId),
    Shared(Arc<OrderedRooms>),
    Ready(MuteList),
}

impl SetSnapshot {
    /// The list a caller keeps; a slot's rooms stay indices until the caller reads them.
    pub(super) fn resolve(self, names: &Arc<SharedNames>) -> MuteList {
        match self {
            Self::Inline(ids, len) => MuteList::from_interned(InternedRooms::new(ids, len, names)),
            Self::Block(ids, fourth) => MuteList::from_interned(
                InternedRooms::new(ids, INLINE_ROOMS, names).with_fourth(fourth),
            ),
            Self::Shared(set) => MuteList::from_shared(set),
            Self::Ready(list) => list,
        }
    }
}

/// A user and the rooms the user has muted.
#[derive(Debug)]
pub(super) struct UserEntry {
    pub(super) key: UserKey,
    pub(super) rooms: RoomSet,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `room-0`, `room-1`, ... as room ids.
    fn room_names(count: usize) -> Vec<RoomId> {
        (0..count)
            .map(|n| RoomId::new(&format!("room-{n}")).unwrap())
            .collect()
    }

    /// A set of `names`, each added as new (four of them make a block).
    fn set_of(names: &[RoomId], rooms: &RoomInterner) -> RoomSet {
        let mut set = RoomSet::empty();
        for name in names {
            assert!(
                matches!(set.insert(RoomRef::new(name), rooms, 100), Ok(true)),
                "{name}"
            );
        }
        set
    }

    /// Unmutes `room` from a block, which goes back to the slot.
    fn take_back_to_the_slot(set: &mut RoomSet, room: &RoomId, rooms: &RoomInterner) {
        assert!(matches!(set, RoomSet::Small(_)));
        assert!(set.remove(RoomRef::new(room), rooms));
        assert!(matches!(set, RoomSet::Inline { .. }));
    }

    #[test]
    fn a_heap_set_turns_timed_without_a_copy_unless_a_caller_holds_it() {
        let rooms = RoomInterner::new();
        let names = room_names(40);
        let heap = || {
            Arc::new(OrderedRooms::from_distinct(
                names.iter().cloned(),
                names.len(),
            ))
        };

        let set = heap();
        let before = Arc::as_ptr(&set);
        let mut alone = RoomSet::Shared(set);
        let timed = alone.timed_mut(&rooms);
        assert_eq!(Arc::as_ptr(timed.rooms()), before, "taken over, not copied");
        assert_eq!(timed.len(), names.len());

        // A caller's list shares the set: the first change copies it, and the list is unchanged.
        let set = heap();
        let held = Arc::clone(&set);
        let mut shared = RoomSet::Shared(set);
        let timed = shared.timed_mut(&rooms);
        timed.set(&names[0], Some(1), 100).unwrap();
        timed.remove(names[1].as_str());
        assert!(!Arc::ptr_eq(timed.rooms(), &held));
        assert!(
            held.iter().eq(names.iter()),
            "the caller's list is as it was"
        );
        assert!(
            timed
                .rooms()
                .iter()
                .eq(names.iter().filter(|n| n.as_str() != "room-1"))
        );
    }

    #[test]
    fn four_rooms_are_one_block_five_a_shared_set_and_back_in_order() {
        let rooms = RoomInterner::new();
        let now = Now::fixed(0);
        let names = room_names(5);
        let list = |set: &RoomSet| set.snapshot(&now).resolve(rooms.shared_names(0)).to_vec();
        let mut set = set_of(&names[..4], &rooms);
        assert!(matches!(set, RoomSet::Small(_)));
        assert!(matches!(
            set.insert(RoomRef::new(&names[3]), &rooms, 100),
            Ok(false)
        ));
        assert!(
            names[..4]
                .iter()
                .all(|name| set.contains(RoomRef::new(name), &rooms, &now))
        );
        assert!(!set.contains(RoomRef::new(&names[4]), &rooms, &now));
        assert_eq!(list(&set), names[..4]);

        // A limit of four refuses a 5th and changes nothing; a higher one takes it.
        assert!(set.insert(RoomRef::new(&names[4]), &rooms, 4).is_err());
        assert!(matches!(set, RoomSet::Small(_)));
        assert!(matches!(
            set.insert(RoomRef::new(&names[4]), &rooms, 100),
            Ok(true)
        ));
        assert!(matches!(set, RoomSet::Shared(_)));
        assert_eq!(list(&set), names);

        // Down to four stays shared; down to three goes back to the slot, in order.
        assert!(set.remove(RoomRef::new(&names[0]), &rooms));
        assert_eq!(list(&set), names[1..]);
        assert!(set.remove(RoomRef::new(&names[2]), &rooms));
        assert!(matches!(set, RoomSet::Inline { .. }));
        assert_eq!(
            list(&set),
            [&names[1], &names[3], &names[4]].map(Clone::clone)
        );

        // From the block: the unmuted room goes, and the other three keep their order.
        assert!(matches!(
            set.insert(RoomRef::new(&names[0]), &rooms, 100),
            Ok(true)
        ));
        assert!(matches!(set, RoomSet::Small(_)));
        assert!(!set.remove(RoomRef::new(&names[2]), &rooms));
        take_back_to_the_slot(&mut set, &names[3], &rooms);
        let three = [&names[1], &names[4], &names[0]].map(Clone::clone);
        assert_eq!(list(&set), three);

        // A 4th room and its unmute: the slot's three come back as they were.
        assert!(matches!(
            set.insert(RoomRef::new(&names[2]), &rooms, 100),
            Ok(true)
        ));
        let four = [&names[1], &names[4], &names[0], &names[2]].map(Clone::clone);
        assert_eq!(list(&set), four);
        take_back_to_the_slot(&mut set, &names[2], &rooms);
        assert_eq!(list(&set), three);
    }

    #[test]
    fn a_block_finds_its_rooms_by_name_when_their_tags_agree() {
        let rooms = RoomInterner::new();
        let now = Now::fixed(0);
        // Five rooms with one tag: four in the block, and a 5th that is not in it.
        let tag = RoomTag::of("room-0");
        let same_tag: Vec<RoomId> = (0..)
            .map(|n| RoomId::new(&format!("room-{n}")).unwrap())
            .filter(|name| RoomTag::of(name) == tag)
            .take(5)
            .collect();
        let mut set = set_of(&same_tag[..4], &rooms);
        assert!(matches!(set, RoomSet::Small(_)));
        for name in &same_tag[..4] {
            assert!(set.contains(RoomRef::new(name), &rooms, &now), "{name}");
            assert!(matches!(
                set.insert(RoomRef::new(name), &rooms, 100),
                Ok(false)
            ));
        }
        assert!(!set.contains(RoomRef::new(&same_tag[4]), &rooms, &now));
        assert!(!set.remove(RoomRef::new(&same_tag[4]), &rooms));
        // The 2nd goes; the others move back to the slot, in order, found there by name too.
        take_back_to_the_slot(&mut set, &same_tag[1], &rooms);
        let expected = [&same_tag[0], &same_tag[2], &same_tag[3]].map(Clone::clone);
        let list = set.snapshot(&now).resolve(rooms.shared_names(0)).to_vec();
        assert_eq!(list, expected);
        for name in &expected {
            assert!(set.contains(RoomRef::new(name), &rooms, &now), "{name}");
        }
        assert!(!set.contains(RoomRef::new(&same_tag[1]), &rooms, &now));
    }

    #[test]
    fn a_block_of_four_turns_timed_with_its_rooms_in_order() {
        let rooms = RoomInterner::new();
        let now = Now::fixed(0);
        let names = room_names(4);
        let mut set = set_of(&names, &rooms);
        assert!(matches!(set, RoomSet::Small(_)));
        let timed = set.timed_mut(&rooms);
        timed.set(&names[1], Some(10), 100).unwrap();
        assert_eq!(
            set.snapshot(&now).resolve(rooms.shared_names(0)).to_vec(),
            names
        );
        assert!(!set.contains(RoomRef::new(&names[1]), &rooms, &Now::fixed(10)));
    }

    #[test]
    fn entry_is_half_a_cache_line() {
        assert_eq!(std::mem::size_of::<UserKey>(), 16);
        assert_eq!(std::mem::size_of::<RoomSet>(), 16);
        assert_eq!(std::mem::size_of::<Option<UserEntry>>(), 32);
    }

    #[test]
    fn tag_matches_agree_with_one_by_one_compares() {
        // Tags near the byte values where a carry could cross bytes, and every length.
        let values = [0u8, 1, 0x7f, 0x80, 0x81, 0xfe, 0xff, 0x42];
        for &a in &values {
            for &b in &values {
                for &c in &values {
                    for &tag in &values {
                        for len in 0..=INLINE_ROOMS {
                            let tags = [a, b, c];
                            let expected: u32 = (0..len)
                                .filter(|&i| tags[i] == tag)
                                .map(|i| 0x80 << (8 * i))
                                .sum();
                            assert_eq!(
                                RoomTag(tag).matches_among(tags, len),
                                expected,
                                "tags {tags:?}, len {len}, tag {tag}"
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn probes_of_every_length_keep_exactly_the_id() {
        let text = "abcdefghijklmnopq";
        for len in 1..=INLINE_KEY_BYTES {
            let user = UserId::new(&text[..len]).unwrap();
            let key = KeyProbe::new(&user).to_key();
            assert_eq!(key.as_bytes(), user.as_bytes());
            assert!(key.matches(&KeyProbe::new(&user)));
            let other = UserId::new(&format!("{}z", &text[..len - 1])).unwrap();
            assert!(!key.matches(&KeyProbe::new(&other)));
        }
    }

    #[test]
    fn probe_words_are_the_padded_id() {
        // Distinct bytes, so a byte landing in the wrong place shows.
        let text = "0123456789abcdef";
        for len in 1..=INLINE_KEY_BYTES {
            let user = UserId::new(&text[..len]).unwrap();
            let mut padded = [0u8; 16];
            padded[..len].copy_from_slice(&text.as_bytes()[..len]);
            let KeyProbe::Inline(head, tail, probe_len) = KeyProbe::new(&user) else {
                panic!("a {len}-byte id is probed inline");
            };
            assert_eq!(head, word(&padded[..8]), "head of a {len}-byte id");
            assert_eq!(tail, word(&padded[7..15]), "tail of a {len}-byte id");
            assert_eq!(probe_len as usize, len);
        }
    }

    #[test]
    fn probes_match_only_their_own_key() {
        let short = UserId::new("1485248560558").unwrap();
        let long = UserId::new("a-user-id-longer-than-fifteen-bytes").unwrap();
        let short_key = KeyProbe::new(&short).to_key();
        let long_key = KeyProbe::new(&long).to_key();
        assert!(matches!(short_key, UserKey::Inline { .. }));
        assert!(matches!(long_key, UserKey::Boxed(_)));
        assert!(short_key.matches(&KeyProbe::new(&short)));
        assert!(long_key.matches(&KeyProbe::new(&long)));
        assert!(!short_key.matches(&KeyProbe::new(&long)));
        let prefix = UserId::new("148524856055").unwrap();
        assert!(!short_key.matches(&KeyProbe::new(&prefix)));
        assert_eq!(short_key.as_bytes(), short.as_bytes());
    }
}
