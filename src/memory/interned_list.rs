//! A caller's list of the rooms in a user's slot (and block, see
//! [`SmallRooms`](super::small_rooms::SmallRooms)) as the store holds them: interned indices,
//! resolved to names only when the caller reads them, and the block's 4th room by name.
//!
//! Resolving a name is a read in the store's name table, a cache miss of its own in a large store
//! (three a list, at 100k rooms), and copying it costs as much as the rest of an unmute. A caller
//! that only checks `changed`, or serializes the list once, should not pay that inside the store.
//! Indices never change meaning ([`RoomInterner`](super::room_interner::RoomInterner)), so a list
//! read later reads exactly the set as it was.
//!
//! The list keeps the names alive through a [`SharedNames`]: one per user shard, each with its
//! reference count on a cache line of its own, so that threads working on different shards never
//! contend for a count, as they never contend for a lock.

use std::sync::Arc;

use super::room_interner::RoomIdx;
use super::room_names::RoomNames;
use crate::ids::RoomId;

/// A share of a store's room names, for lists to keep. See the module documentation.
///
/// Aligned so that `Arc`'s counts, which precede it, fill a cache line with nothing else.
#[repr(align(64))]
pub(crate) struct SharedNames(Arc<RoomNames>);

impl SharedNames {
    pub(crate) fn new(names: Arc<RoomNames>) -> Arc<Self> {
        Arc::new(Self(names))
    }
}

/// Up to three rooms by interned index, in mute order, with the names they index; then, for a
/// block's list, a 4th room by name.
#[derive(Clone)]
pub(crate) struct InternedRooms {
    ids: [RoomIdx; 3],
    len: u8,
    names: Arc<SharedNames>,
    fourth: Option<RoomId>,
}

impl InternedRooms {
    /// The first `len` of `ids` (at most three), every one of them interned in `names`.
    pub(crate) fn new(ids: [RoomIdx; 3], len: usize, names: &Arc<SharedNames>) -> Self {
        Self {
            ids,
            len: len.min(ids.len()) as u8,
            names: Arc::clone(names),
            fourth: None,
        }
    }

    /// These rooms and then `fourth`, which is none of them.
    pub(crate) fn with_fourth(mut self, fourth: RoomId) -> Self {
        self.fourth = Some(fourth);
        self
    }

    pub(crate) fn len(&self) -> usize {
        usize::from(self.len) + usize::from(self.fourth.is_some())
    }

    /// The rooms' names, in order.
    pub(crate) fn iter(&self) -> InternedIter<'_> {
        InternedIter {
            ids: self.ids[..usize::from(self.len)].iter(),
            names: &self.names.0,
            fourth: self.fourth.as_ref(),
        }
    }
}

/// Iterator over an [`InternedRooms`]' names.
pub(crate) struct InternedIter<'a> {
    ids: std::slice::Iter<'a, RoomIdx>,
    names: &'a RoomNames,
    fourth: Option<&'a RoomId>,
}

impl<'a> Iterator for InternedIter<'a> {
    type Item = &'a RoomId;

    fn next(&mut self) -> Option<&'a RoomId> {
        // Every index was interned before it entered a set, so each finds its name.
        self.ids
            .by_ref()
            .find_map(|&idx| self.names.get(idx.to_bits()))
            .or_else(|| self.fourth.take())
    }
}

#[cfg(test)]
mod tests {
    use super::super::room_interner::RoomInterner;
    use super::*;

    #[test]
    fn reads_the_names_of_its_first_len_indices_in_order() {
        let rooms = RoomInterner::new();
        let ids: Vec<RoomIdx> = ["c", "a", "b"]
            .iter()
            .map(|name| {
                let room = RoomId::new(name).unwrap();
                rooms.intern(rooms.hash(&room), &room).unwrap()
            })
            .collect();
        let ids = [ids[0], ids[1], ids[2]];
        let two = InternedRooms::new(ids, 2, rooms.shared_names(0));
        assert_eq!(two.len(), 2);
        let names: Vec<&str> = two.iter().map(RoomId::as_str).collect();
        assert_eq!(names, ["c", "a"]);
        let all = InternedRooms::new(ids, 3, rooms.shared_names(5));
        let names: Vec<&str> = all.iter().map(RoomId::as_str).collect();
        assert_eq!(names, ["c", "a", "b"]);
        assert_eq!(InternedRooms::new(ids, 9, rooms.shared_names(1)).len(), 3);
        let block = all.with_fourth(RoomId::new("d").unwrap());
        assert_eq!(block.len(), 4);
        let names: Vec<&str> = block.iter().map(RoomId::as_str).collect();
        assert_eq!(names, ["c", "a", "b", "d"]);
    }
}
