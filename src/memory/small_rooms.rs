//! A user's four muted rooms, the step between the three that fit in the user's slot and a shared
//! [`OrderedRooms`]: the slot's three interned indices as they were, the 4th room by name, and the
//! four [`RoomTag`]s, in one 40-byte allocation.
//!
//! A 4th room is the commonest way past the slot, and the way back (an unmute) the commonest way
//! out. As one block, reaching the rooms from the slot is one dependent load, where a shared set
//! is two (the set, then its rooms), each a cache miss of its own in a large store. Neither way
//! reads a name from the interner, whose names are cache misses of their own in a large store too:
//! the mute copies the slot's indices and the new room's name into the block (the 4th room is not
//! interned), and an unmute of the 4th puts the three indices back as they were. A list handed to
//! a caller holds the three indices and a copy of the 4th name.

use super::room_interner::{RoomIdx, RoomInterner};
use super::user_entry::{RoomRef, RoomTag};
use crate::ids::RoomId;
use crate::ordered_rooms::OrderedRooms;
use crate::same_text::same_text;

/// How many rooms a [`SmallRooms`] holds: always exactly this many.
pub(super) const SMALL_ROOMS: usize = 4;

/// The mark of a name without a known interned index.
const NO_MARK: u32 = u32::MAX;

/// Four distinct rooms in mute order: three by interned index, the 4th by name, and each one's
/// tag. See the module documentation.
#[derive(Debug, Clone)]
pub(super) struct SmallRooms {
    ids: [RoomIdx; 3],
    /// Each room's [`RoomTag`], so that a look-up compares a name only where the tags agree.
    tags: [RoomTag; SMALL_ROOMS],
    fourth: RoomId,
}

const _: () = assert!(std::mem::size_of::<SmallRooms>() <= 40);

impl SmallRooms {
    /// A full slot's three rooms (indices and tags), and a 4th, absent from them.
    #[inline]
    pub(super) fn new(ids: [RoomIdx; 3], tags: [u8; 3], fourth: RoomRef<'_>) -> Self {
        Self {
            ids,
            tags: [
                RoomTag(tags[0]),
                RoomTag(tags[1]),
                RoomTag(tags[2]),
                fourth.tag,
            ],
            fourth: fourth.id.clone(),
        }
    }

    /// Where `room` is, if it is one of the four: its name is compared only with the rooms whose
    /// tag is its tag (for a room not among them, usually none). The 4th is looked at first: the
    /// commonest way out of a block is the unmute of the room that made it.
    #[inline]
    pub(super) fn position(&self, room: RoomRef<'_>, rooms: &RoomInterner) -> Option<usize> {
        if self.tags[3] == room.tag && same_text(self.fourth.as_bytes(), room.id.as_bytes()) {
            return Some(3);
        }
        (0..3).find(|&at| self.tags[at] == room.tag && rooms.is(self.ids[at], room.id))
    }

    /// Whether `room` is one of the four.
    ///
    /// A call, not compiled into the caller: `RoomSet::contains` is compiled into every loop of
    /// reads, where this rarer case made the common one slower (`muted_among` at 1k, in
    /// alternating runs).
    #[inline(never)]
    pub(super) fn contains(&self, room: RoomRef<'_>, rooms: &RoomInterner) -> bool {
        self.position(room, rooms).is_some()
    }

    /// The three rooms the slot held, by index, in order.
    pub(super) fn ids(&self) -> [RoomIdx; 3] {
        self.ids
    }

    /// The tags of the three rooms the slot held, as the slot keeps them.
    pub(super) fn slot_tags(&self) -> [u8; 3] {
        [self.tags[0].0, self.tags[1].0, self.tags[2].0]
    }

    /// The 4th room.
    pub(super) fn fourth(&self) -> RoomRef<'_> {
        RoomRef {
            id: &self.fourth,
            tag: self.tags[3],
        }
    }

    /// The four as a shared set's contents, with room for `capacity` rooms.
    pub(super) fn to_ordered(&self, capacity: usize, rooms: &RoomInterner) -> OrderedRooms {
        let slot = self
            .ids
            .iter()
            .filter_map(|&idx| Some((rooms.name(idx)?.clone(), idx.to_bits())));
        OrderedRooms::from_distinct_marked(
            slot.chain([(self.fourth.clone(), NO_MARK)]),
            capacity.max(SMALL_ROOMS),
        )
    }
}
