//! An insertion-ordered set of rooms with O(1) insert, remove and lookup.
//!
//! Rooms sit in a vector in the order they were added; a hash table maps each room to its slot.
//! Removing a room leaves a hole (`None`) instead of shifting the rest, so removal costs the same
//! whether the set holds ten rooms or ten thousand. Holes are squeezed out once they outnumber the
//! rooms, which keeps the amortised cost of every operation O(1) and the vector at most about twice
//! the size of the set.

use std::hash::BuildHasher;

use hashbrown::HashTable;

use crate::ids::RoomId;
use crate::same_text::same_text;

/// Fewest holes worth a compaction; below this a rebuild costs more than it saves.
const MIN_HOLES_TO_COMPACT: usize = 16;

/// Up to this many slots the set has no hash index: a scan of a few ids is as fast as a hash
/// lookup, and a set that small (a user just past the inline three) then costs one allocation
/// instead of two and hashes nothing. Removal there shifts at most this many slots, so every
/// operation stays O(1).
const INDEX_FROM: usize = 16;

/// A room id with its hash in one [`OrderedRooms`] (sets are seeded each on their own, so a key is
/// good for the set that made it and its clones).
#[derive(Debug, Clone, Copy)]
pub(crate) struct RoomKey<'a> {
    room: &'a str,
    hash: u64,
}

/// An insertion-ordered set of [`RoomId`]s. See the module documentation.
#[derive(Clone)]
pub(crate) struct OrderedRooms {
    /// Rooms in the order they were added; `None` where one was removed (only once indexed).
    slots: Vec<Option<RoomId>>,
    /// Where each present room sits in `slots`, once `slots` has outgrown [`INDEX_FROM`]. Boxed:
    /// few sets grow that large, and the rest keep one word for it.
    positions: Option<Box<Index>>,
    /// How many rooms are present.
    live: usize,
    /// The owner's marks on the first [`MARKED_SLOTS`] slots ([`NO_MARK`] where none was set),
    /// kept only while the set has no index. See [`OrderedRooms::marked`].
    marks: [u32; MARKED_SLOTS],
}

/// How many of the first slots can carry a mark: the rooms a user's inline set holds.
const MARKED_SLOTS: usize = 3;

/// The value of a slot without a mark.
const NO_MARK: u32 = u32::MAX;

/// The hash index of a large [`OrderedRooms`]. Its hasher is made with the index, so a small set
/// (the common case just past the inline three) spends nothing on seeding one.
#[derive(Clone)]
struct Index {
    /// Index into `slots` of every room present.
    table: HashTable<usize>,
    /// Seeded on its own, from a per-process seed, so ids chosen by callers cannot force
    /// collisions.
    hasher: foldhash::fast::RandomState,
}

impl Index {
    fn with_capacity(capacity: usize) -> Self {
        Self {
            table: HashTable::with_capacity(capacity),
            hasher: foldhash::fast::RandomState::default(),
        }
    }

    fn hash(&self, room: &str) -> u64 {
        self.hasher.hash_one(room)
    }

    /// Records that the room hashed to `hash` sits at `slot`.
    fn insert(&mut self, hash: u64, slot: usize, slots: &[Option<RoomId>]) {
        let Self { table, hasher } = self;
        table.insert_unique(hash, slot, |&other| {
            hasher.hash_one(slots[other].as_deref().unwrap_or_default())
        });
    }
}

impl OrderedRooms {
    /// An empty set with room for `capacity` rooms.
    pub(crate) fn with_capacity(capacity: usize) -> Self {
        Self {
            slots: Vec::with_capacity(capacity),
            positions: (capacity > INDEX_FROM).then(|| Box::new(Index::with_capacity(capacity))),
            live: 0,
            marks: [NO_MARK; MARKED_SLOTS],
        }
    }

    /// A set of `rooms`, known to be distinct, in their order, with room for `capacity` rooms
    /// in all: no membership look-up per room, one allocation for the slots. Each room comes with
    /// a mark: a number the owner keeps beside the room and reads back from
    /// [`marked`](Self::marked) (`u32::MAX` for none). The set never reads the marks.
    pub(crate) fn from_distinct_marked(
        rooms: impl IntoIterator<Item = (RoomId, u32)>,
        capacity: usize,
    ) -> Self {
        // The slots are filled directly rather than through `push_new`: this builds every heap
        // set a user's 4th room makes, and a small set needs no index and no per-room checks.
        let mut slots: Vec<Option<RoomId>> = Vec::with_capacity(capacity);
        let mut marks = [NO_MARK; MARKED_SLOTS];
        for (room, mark) in rooms {
            debug_assert!(
                !slots.iter().flatten().any(|kept| kept == &room),
                "from_distinct_marked given a repeated room"
            );
            if let Some(kept) = marks.get_mut(slots.len()) {
                *kept = mark;
            }
            slots.push(Some(room));
        }
        let live = slots.len();
        let mut set = Self {
            slots,
            positions: None,
            live,
            marks,
        };
        if live > INDEX_FROM || capacity > INDEX_FROM {
            set.positions = Some(Box::new(Index::with_capacity(capacity.max(live))));
            set.marks = [NO_MARK; MARKED_SLOTS];
            set.compact();
        }
        set
    }

    /// [`from_distinct_marked`](Self::from_distinct_marked) without marks.
    #[cfg(test)]
    pub(crate) fn from_distinct(rooms: impl IntoIterator<Item = RoomId>, capacity: usize) -> Self {
        Self::from_distinct_marked(rooms.into_iter().map(|room| (room, NO_MARK)), capacity)
    }

    /// The rooms in order, each with the mark [`from_distinct_marked`](Self::from_distinct_marked)
    /// gave it if the set still has it: removals before it move a mark along with its room, and a
    /// room that moves into the first slots from further back, or any room of a set that has grown
    /// an index, has none.
    pub(crate) fn marked(&self) -> impl Iterator<Item = (&RoomId, Option<u32>)> + '_ {
        let marks = match self.positions {
            None => self.marks,
            Some(_) => [NO_MARK; MARKED_SLOTS],
        };
        self.iter().enumerate().map(move |(at, room)| {
            let mark = marks.get(at).copied().filter(|&mark| mark != NO_MARK);
            (room, mark)
        })
    }

    /// How many rooms the set holds.
    pub(crate) fn len(&self) -> usize {
        self.live
    }

    /// `room` with its hash in this set, for the `_key` methods: a caller that looks and then
    /// changes hashes the room once.
    pub(crate) fn key<'a>(&self, room: &'a str) -> RoomKey<'a> {
        let hash = self.positions.as_ref().map_or(0, |index| index.hash(room));
        RoomKey { room, hash }
    }

    /// Whether `room` is in the set.
    pub(crate) fn contains(&self, room: &str) -> bool {
        self.contains_key(self.key(room))
    }

    /// Where the keyed room sits in `slots`.
    fn position(&self, key: RoomKey<'_>) -> Option<usize> {
        let is_key = |slot: &Option<RoomId>| {
            slot.as_ref()
                .is_some_and(|room| same_text(room.as_bytes(), key.room.as_bytes()))
        };
        match &self.positions {
            Some(index) => index
                .table
                .find(key.hash, |&slot| is_key(&self.slots[slot]))
                .copied(),
            None => self.slots.iter().position(is_key),
        }
    }

    /// Where `room` stands in the order the rooms were added: a larger number for a room added
    /// later. The numbers of rooms still present keep their order through later changes, but not
    /// their values, so they compare rooms of one moment only.
    pub(crate) fn order_of(&self, room: &str) -> Option<usize> {
        self.position(self.key(room))
    }

    /// Whether the keyed room is in the set.
    pub(crate) fn contains_key(&self, key: RoomKey<'_>) -> bool {
        self.position(key).is_some()
    }

    /// Adds `room` at the end unless it is already present. Returns whether it was added.
    pub(crate) fn insert(&mut self, room: RoomId) -> bool {
        let key = self.key(&room);
        if self.contains_key(key) {
            return false;
        }
        let hash = key.hash;
        self.push_new(hash, room);
        true
    }

    /// Adds the keyed room, known to be absent, at the end; `room` is its owned id.
    pub(crate) fn insert_new_key(&mut self, key: RoomKey<'_>, room: RoomId) {
        debug_assert_eq!(key.room, room.as_str());
        self.push_new(key.hash, room);
    }

    fn push_new(&mut self, hash: u64, room: RoomId) {
        self.live += 1;
        let Self {
            slots,
            positions,
            marks,
            ..
        } = self;
        let slot = slots.len();
        slots.push(Some(room));
        if let Some(mark) = marks.get_mut(slot) {
            *mark = NO_MARK;
        }
        match positions {
            Some(index) => index.insert(hash, slot, slots),
            None if slots.len() > INDEX_FROM => {
                *positions = Some(Box::new(Index::with_capacity(slots.len() * 2)));
                self.compact();
            }
            None => {}
        }
    }

    /// Removes `room`. Returns whether it was present.
    pub(crate) fn remove(&mut self, room: &str) -> bool {
        self.remove_key(self.key(room))
    }

    /// Removes the keyed room. Returns whether it was present.
    pub(crate) fn remove_key(&mut self, key: RoomKey<'_>) -> bool {
        let Some(slot) = self.position(key) else {
            return false;
        };
        self.live -= 1;
        match &mut self.positions {
            None => {
                self.slots.remove(slot);
                if slot < MARKED_SLOTS {
                    // The marks move with their rooms; the room that moves into the last marked
                    // slot from further back has none.
                    self.marks.copy_within(slot + 1.., slot);
                    self.marks[MARKED_SLOTS - 1] = NO_MARK;
                }
            }
            Some(index) => {
                if let Ok(entry) = index.table.find_entry(key.hash, |&other| other == slot) {
                    entry.remove();
                }
                self.slots[slot] = None;
                let holes = self.slots.len() - self.live;
                if holes >= MIN_HOLES_TO_COMPACT && holes > self.live {
                    self.compact();
                }
            }
        }
        true
    }

    /// The rooms in the order they were added.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &RoomId> + '_ {
        self.slots.iter().flatten()
    }

    /// Squeezes the holes out of `slots` and rebuilds the index, if there is one, to match.
    fn compact(&mut self) {
        self.slots.retain(Option::is_some);
        let Self {
            slots, positions, ..
        } = self;
        let Some(index) = positions else { return };
        index.table.clear();
        for (slot, room) in slots.iter().enumerate() {
            let hash = index.hash(room.as_deref().unwrap_or_default());
            index.insert(hash, slot, slots);
        }
    }
}

impl std::fmt::Debug for OrderedRooms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

impl FromIterator<RoomId> for OrderedRooms {
    fn from_iter<I: IntoIterator<Item = RoomId>>(rooms: I) -> Self {
        let rooms = rooms.into_iter();
        let mut set = Self::with_capacity(rooms.size_hint().0);
        for room in rooms {
            set.insert(room);
        }
        set
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn room(n: usize) -> RoomId {
        RoomId::new(&format!("room-{n}")).unwrap()
    }

    #[test]
    fn from_distinct_matches_collect() {
        // The capacity is only a hint: a set given more rooms than it (or more than a small set
        // holds) still indexes them all.
        for (n, capacity) in [
            (0, 1),
            (3, 4),
            (16, 17),
            (17, 18),
            (40, 41),
            (17, 4),
            (40, 0),
        ] {
            let built = OrderedRooms::from_distinct((0..n).map(room), capacity);
            let collected: OrderedRooms = (0..n).map(room).collect();
            assert!(built.iter().eq(collected.iter()));
            assert_eq!(built.len(), n);
            assert_eq!(
                built.positions.is_some(),
                n > INDEX_FROM || capacity > INDEX_FROM
            );
            assert!((0..n).all(|i| built.contains(room(i).as_str())));
            assert!(!built.contains(room(n).as_str()));
            let mut grown = built.clone();
            assert!(grown.insert(room(n)) && grown.remove(&room(0)));
            assert!((1..=n).all(|i| grown.contains(room(i).as_str())));
        }
    }

    #[test]
    fn marks_move_with_their_rooms_and_are_dropped_once_indexed() {
        let marks = |set: &OrderedRooms| -> Vec<(String, Option<u32>)> {
            set.marked().map(|(r, m)| (r.to_string(), m)).collect()
        };
        let named = |pairs: &[(usize, Option<u32>)]| -> Vec<(String, Option<u32>)> {
            pairs
                .iter()
                .map(|&(n, m)| (room(n).to_string(), m))
                .collect()
        };
        let mut set =
            OrderedRooms::from_distinct_marked((0..3).map(|n| (room(n), 10 + n as u32)), 4);
        assert!(set.insert(room(3)));
        assert_eq!(
            marks(&set),
            named(&[(0, Some(10)), (1, Some(11)), (2, Some(12)), (3, None)])
        );
        // A room removed from the marked slots: the later ones move up with their marks, and the
        // unmarked 4th room moving into the last marked slot stays unmarked.
        let copy = set.clone();
        assert!(set.remove(&room(1)));
        assert_eq!(
            marks(&set),
            named(&[(0, Some(10)), (2, Some(12)), (3, None)])
        );
        assert_eq!(
            marks(&copy),
            named(&[(0, Some(10)), (1, Some(11)), (2, Some(12)), (3, None)]),
            "a copy keeps its own marks"
        );
        // A room added into a freed marked slot has no mark.
        assert!(set.remove(&room(3)));
        assert!(set.insert(room(4)));
        assert_eq!(
            marks(&set),
            named(&[(0, Some(10)), (2, Some(12)), (4, None)])
        );
        // Past the index threshold no room has a mark, even after shrinking back.
        for n in 5..40 {
            assert!(set.insert(room(n)));
        }
        for n in 5..40 {
            assert!(set.remove(&room(n)));
        }
        assert_eq!(marks(&set), named(&[(0, None), (2, None), (4, None)]));
        // A mark of `u32::MAX` is no mark.
        let unmarked = OrderedRooms::from_distinct_marked([(room(0), NO_MARK)], 1);
        assert_eq!(marks(&unmarked), named(&[(0, None)]));
    }

    #[test]
    fn keeps_insertion_order_through_removals_and_compaction() {
        let mut set = OrderedRooms::with_capacity(0);
        for n in 0..100 {
            assert!(set.insert(room(n)));
        }
        assert!(!set.insert(room(5)), "a second insert changes nothing");
        for n in (0..100).filter(|n| n % 3 != 0) {
            assert!(set.remove(&room(n)));
        }
        assert!(!set.remove(&room(1)), "a second remove changes nothing");
        assert!(set.insert(room(1)));
        let order: Vec<String> = set.iter().map(|r| r.to_string()).collect();
        let mut expected: Vec<String> = (0..100)
            .filter(|n| n % 3 == 0)
            .map(|n| room(n).to_string())
            .collect();
        expected.push(room(1).to_string());
        assert_eq!(order, expected);
        assert_eq!(set.len(), expected.len());
        assert!(set.slots.len() <= 2 * set.len() + MIN_HOLES_TO_COMPACT);
        for n in 0..100 {
            assert_eq!(set.contains(&room(n)), n % 3 == 0 || n == 1);
        }
    }
}
