//! A user's four muted rooms, the step between the three that fit in the user's slot and a shared
//! [`OrderedRooms`]: one allocation of 120 bytes holding the names and their interned indices.
//!
//! A 4th room is the commonest way past the slot, and the way back (an unmute) the commonest way
//! out. As one block, reaching the rooms from the slot is one dependent load, where a shared set
//! is two (the set, then its rooms), each a cache miss of its own in a large store; a mute of a
//! 4th room makes one allocation instead of two; and the block is small enough for the
//! allocator's bins that are reused as they are. The price is that a list handed to a caller is
//! a copy of the four names rather than a share of the set.

use crate::ids::RoomId;
use crate::mute_list::MuteList;
use crate::ordered_rooms::OrderedRooms;
use crate::same_text::same_text;

/// How many rooms a [`SmallRooms`] holds: always exactly this many.
pub(super) const SMALL_ROOMS: usize = 4;

/// The mark of a name without a known interned index.
const NO_MARK: u32 = u32::MAX;

/// Four distinct rooms in mute order, each with its interned index if known. See the module
/// documentation.
#[derive(Debug, Clone)]
pub(super) struct SmallRooms {
    names: [RoomId; SMALL_ROOMS],
    marks: [u32; SMALL_ROOMS],
}

// One allocation that glibc keeps in its fast bins (requests of up to 120 bytes on 64-bit).
const _: () = assert!(std::mem::size_of::<SmallRooms>() <= 120);

impl SmallRooms {
    /// Three distinct rooms with their interned indices, and a 4th, absent from them, without.
    pub(super) fn new(first: [(RoomId, u32); 3], fourth: RoomId) -> Self {
        let [(a, ma), (b, mb), (c, mc)] = first;
        Self {
            names: [a, b, c, fourth],
            marks: [ma, mb, mc, NO_MARK],
        }
    }

    /// Where `room` is, if it is one of the four.
    pub(super) fn position(&self, room: &str) -> Option<usize> {
        self.names
            .iter()
            .position(|name| same_text(name.as_bytes(), room.as_bytes()))
    }

    /// Whether `room` is one of the four.
    pub(super) fn contains(&self, room: &str) -> bool {
        self.position(room).is_some()
    }

    /// The rooms in order, each with its interned index if known.
    pub(super) fn marked(&self) -> impl Iterator<Item = (&RoomId, Option<u32>)> {
        self.names
            .iter()
            .zip(self.marks)
            .map(|(name, mark)| (name, (mark != NO_MARK).then_some(mark)))
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
