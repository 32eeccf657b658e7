//! A user's four muted rooms, the step between the three that fit in the user's slot and a shared
//! [`OrderedRooms`]: one allocation of 120 bytes holding the names, their interned indices and
//! their [`RoomTag`]s.
//!
//! A 4th room is the commonest way past the slot, and the way back (an unmute) the commonest way
//! out. As one block, reaching the rooms from the slot is one dependent load, where a shared set
//! is two (the set, then its rooms), each a cache miss of its own in a large store; a mute of a
//! 4th room makes one allocation instead of two; and the block is small enough for the
//! allocator's bins that are reused as they are. The price is that a list handed to a caller is
//! a copy of the four names rather than a share of the set.

use super::user_entry::{RoomRef, RoomTag};
use crate::ids::RoomId;
use crate::mute_list::MuteList;
use crate::ordered_rooms::OrderedRooms;
use crate::same_text::same_text;

/// How many rooms a [`SmallRooms`] holds: always exactly this many.
pub(super) const SMALL_ROOMS: usize = 4;

/// The mark of a name without a known interned index.
const NO_MARK: u32 = u32::MAX;

/// Four distinct rooms in mute order, each with its interned index if known and its tag. See the
/// module documentation.
#[derive(Debug, Clone)]
pub(super) struct SmallRooms {
    names: [RoomId; SMALL_ROOMS],
    marks: [u32; SMALL_ROOMS],
    /// Each name's [`RoomTag`], so that a look-up compares a name only where the tags agree.
    tags: [RoomTag; SMALL_ROOMS],
}

// One allocation that glibc keeps in its fast bins (requests of up to 120 bytes on 64-bit).
const _: () = assert!(std::mem::size_of::<SmallRooms>() <= 120);

impl SmallRooms {
    /// Three distinct rooms with their interned indices and tags, and a 4th, absent from them,
    /// without an index.
    #[inline]
    pub(super) fn new(first: [(RoomId, u32, RoomTag); 3], fourth: RoomRef<'_>) -> Self {
        let [(a, ma, ta), (b, mb, tb), (c, mc, tc)] = first;
        Self {
            names: [a, b, c, fourth.id.clone()],
            marks: [ma, mb, mc, NO_MARK],
            tags: [ta, tb, tc, fourth.tag],
        }
    }

    /// Where `room` is, if it is one of the four: its name is compared only with the names whose
    /// tag is its tag (for a room not among them, usually none).
    #[inline]
    pub(super) fn position(&self, room: RoomRef<'_>) -> Option<usize> {
        (0..SMALL_ROOMS).find(|&at| {
            self.tags[at] == room.tag && same_text(self.names[at].as_bytes(), room.id.as_bytes())
        })
    }

    /// Whether `room` is one of the four.
    #[inline]
    pub(super) fn contains(&self, room: RoomRef<'_>) -> bool {
        self.position(room).is_some()
    }

    /// The rooms in order, each with its interned index if known and its tag, given up by the
    /// block (which is freed), so that the names move instead of being copied.
    pub(super) fn into_marked(self) -> impl Iterator<Item = (RoomId, Option<u32>, RoomTag)> {
        self.names
            .into_iter()
            .zip(self.marks)
            .zip(self.tags)
            .map(|((name, mark), tag)| (name, (mark != NO_MARK).then_some(mark), tag))
    }

    /// The four as a caller's list.
    pub(super) fn to_list(&self) -> MuteList {
        MuteList::from_inline(self.names.clone().into())
    }

    /// The four as a shared set's contents, with room for `capacity` rooms.
    pub(super) fn to_ordered(&self, capacity: usize) -> OrderedRooms {
        OrderedRooms::from_distinct_marked(
            self.names.iter().cloned().zip(self.marks),
            capacity.max(SMALL_ROOMS),
        )
    }
}
