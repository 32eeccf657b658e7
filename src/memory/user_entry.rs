//! One user's entry in the in-memory table, packed into 32 bytes.
//!
//! - [`UserKey`], 16 bytes: a user id of up to 15 bytes (a 13-digit id, say) sits inline; a longer
//!   one is boxed.
//! - [`RoomSet`], 16 bytes: up to three muted rooms as interned 4-byte indices inline; more, as a
//!   shared [`OrderedRooms`] that also serves as the O(1) snapshot handed to callers.
//!
//! Two entries fill one 64-byte cache line, so finding a user and reading the user's rooms is one
//! memory access for the common case.

use std::sync::Arc;

use smallvec::SmallVec;

use super::room_interner::{RoomHash, RoomIdx, RoomInterner};
use crate::error::MuteLimitExceeded;
use crate::ids::{RoomId, UserId};
use crate::mute_list::{INLINE_ROOMS, MuteList};
use crate::ordered_rooms::OrderedRooms;

/// The longest user id kept inline, in bytes.
const INLINE_KEY_BYTES: usize = 15;

/// A shared set this small or smaller goes back inline; one less than [`INLINE_ROOMS`], so a user
/// who moves between three and four rooms does not convert on every operation.
const BACK_INLINE_AT: usize = INLINE_ROOMS - 1;

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

/// A user id as looked up: the inline form is built on the stack, a long id is borrowed, so a
/// lookup never allocates.
#[derive(Debug, Clone, Copy)]
pub(super) enum KeyProbe<'a> {
    Inline([u8; INLINE_KEY_BYTES], KeyLen),
    Long(&'a UserId),
}

impl<'a> KeyProbe<'a> {
    pub(super) fn new(user: &'a UserId) -> Self {
        let text = user.as_bytes();
        match text.len().checked_sub(1).and_then(|i| KEY_LENS.get(i)) {
            Some(&len) => {
                let mut bytes = [0; INLINE_KEY_BYTES];
                bytes[..text.len()].copy_from_slice(text);
                Self::Inline(bytes, len)
            }
            None => Self::Long(user),
        }
    }

    /// The key to store for this user.
    pub(super) fn to_key(self) -> UserKey {
        match self {
            Self::Inline(bytes, len) => UserKey::Inline { bytes, len },
            Self::Long(user) => UserKey::Boxed(Box::new(user.clone())),
        }
    }
}

impl UserKey {
    /// Whether this key is the probed user.
    #[inline]
    pub(super) fn matches(&self, probe: &KeyProbe<'_>) -> bool {
        match (self, probe) {
            (Self::Inline { bytes, len }, KeyProbe::Inline(probe_bytes, probe_len)) => {
                len == probe_len && bytes == probe_bytes
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
        len: RoomCount,
    },
    Shared(Arc<OrderedRooms>),
}

/// A room being muted, unmuted or asked about, with what the interner needs to find it.
#[derive(Clone, Copy)]
pub(super) struct RoomRef<'a> {
    pub(super) id: &'a RoomId,
    pub(super) hash: RoomHash,
}

impl RoomSet {
    /// A set holding only `room`.
    pub(super) fn single(room: RoomRef<'_>, rooms: &RoomInterner) -> Self {
        match rooms.intern(room.hash, room.id) {
            Some(idx) => {
                let mut ids = [RoomIdx::default(); INLINE_ROOMS];
                ids[0] = idx;
                Self::Inline {
                    ids,
                    len: RoomCount::One,
                }
            }
            None => Self::Shared(Arc::new(std::iter::once(room.id.clone()).collect())),
        }
    }

    pub(super) fn len(&self) -> usize {
        match self {
            Self::Inline { len, .. } => *len as usize,
            Self::Shared(set) => set.len(),
        }
    }

    /// Whether `room` is in the set.
    pub(super) fn contains(&self, room: RoomRef<'_>, rooms: &RoomInterner) -> bool {
        let idx = match self {
            Self::Inline { .. } => rooms.lookup(room.hash, room.id),
            Self::Shared(_) => None,
        };
        self.contains_resolved(room.id, idx)
    }

    /// Whether the room is in the set, given its interned index looked up beforehand (`None` when
    /// the room was not interned, so no inline set can hold it).
    pub(super) fn contains_resolved(&self, room: &RoomId, idx: Option<RoomIdx>) -> bool {
        match self {
            Self::Inline { ids, len } => idx.is_some_and(|idx| ids[..*len as usize].contains(&idx)),
            Self::Shared(set) => set.contains(room),
        }
    }

    /// Adds `room` at the end unless present. Returns whether it was added.
    pub(super) fn insert(
        &mut self,
        room: RoomRef<'_>,
        rooms: &RoomInterner,
        limit: usize,
    ) -> Result<bool, MuteLimitExceeded> {
        if self.contains(room, rooms) {
            return Ok(false);
        }
        if self.len() >= limit {
            return Err(MuteLimitExceeded { limit });
        }
        if let Self::Inline { ids, len } = self
            && (*len as usize) < INLINE_ROOMS
            && let Some(idx) = rooms.intern(room.hash, room.id)
        {
            ids[*len as usize] = idx;
            *len = ROOM_COUNTS[*len as usize + 1];
            return Ok(true);
        }
        self.shared_mut(rooms).insert(room.id.clone());
        Ok(true)
    }

    /// Removes `room`. Returns whether it was present.
    pub(super) fn remove(&mut self, room: RoomRef<'_>, rooms: &RoomInterner) -> bool {
        match self {
            Self::Inline { ids, len } => {
                let Some(idx) = rooms.lookup(room.hash, room.id) else {
                    return false;
                };
                let count = *len as usize;
                let Some(at) = ids[..count].iter().position(|&other| other == idx) else {
                    return false;
                };
                ids.copy_within(at + 1..count, at);
                *len = ROOM_COUNTS[count - 1];
                true
            }
            Self::Shared(set) => {
                // Look before cloning: an absent room must not copy a set a caller still shares.
                if !set.contains(room.id) {
                    return false;
                }
                Arc::make_mut(set).remove(room.id);
                if set.len() <= BACK_INLINE_AT {
                    self.try_inline(rooms);
                }
                true
            }
        }
    }

    /// What a caller may keep after the lock is released.
    pub(super) fn snapshot(&self) -> SetSnapshot {
        match self {
            Self::Inline { ids, len } => SetSnapshot::Inline(*ids, *len as usize),
            Self::Shared(set) => SetSnapshot::Shared(Arc::clone(set)),
        }
    }

    /// The set in its shared form, converting an inline one first, ready to be changed.
    fn shared_mut(&mut self, rooms: &RoomInterner) -> &mut OrderedRooms {
        if let Self::Inline { ids, len } = self {
            let mut set = OrderedRooms::with_capacity(INLINE_ROOMS * 2);
            for &idx in &ids[..*len as usize] {
                set.insert(rooms.name(idx));
            }
            *self = Self::Shared(Arc::new(set));
        }
        match self {
            Self::Shared(set) => Arc::make_mut(set),
            Self::Inline { .. } => unreachable!("shared_mut just made the set shared"),
        }
    }

    /// Moves a small shared set back inline, if every room can be interned.
    fn try_inline(&mut self, rooms: &RoomInterner) {
        let Self::Shared(set) = self else { return };
        let mut ids = [RoomIdx::default(); INLINE_ROOMS];
        for (slot, room) in ids.iter_mut().zip(set.iter()) {
            match rooms.intern(rooms.hash(room), room) {
                Some(idx) => *slot = idx,
                None => return,
            }
        }
        let len = ROOM_COUNTS[set.len()];
        *self = Self::Inline { ids, len };
    }
}

/// A copy of a [`RoomSet`] taken under the lock, resolved to names after it is released. Interned
/// indices never change meaning, so the late resolution sees exactly the set as it was.
pub(super) enum SetSnapshot {
    Inline([RoomIdx; INLINE_ROOMS], usize),
    Shared(Arc<OrderedRooms>),
}

impl SetSnapshot {
    pub(super) fn resolve(self, rooms: &RoomInterner) -> MuteList {
        match self {
            Self::Inline(ids, len) => {
                let names: SmallVec<[RoomId; INLINE_ROOMS]> =
                    ids[..len].iter().map(|&idx| rooms.name(idx)).collect();
                MuteList::from_inline(names)
            }
            Self::Shared(set) => MuteList::from_shared(set),
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

    #[test]
    fn entry_is_half_a_cache_line() {
        assert_eq!(std::mem::size_of::<UserKey>(), 16);
        assert_eq!(std::mem::size_of::<RoomSet>(), 16);
        assert_eq!(std::mem::size_of::<Option<UserEntry>>(), 32);
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
