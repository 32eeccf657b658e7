//! What a store operation returns: a user's muted rooms at one moment ([`MuteList`]) and, for a
//! change, whether it changed anything ([`MuteOutcome`]).

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use serde::ser::SerializeSeq;
use serde::{Serialize, Serializer};
use smallvec::SmallVec;

use crate::ids::RoomId;
use crate::memory::interned_list::{InternedIter, InternedRooms};
use crate::ordered_rooms::OrderedRooms;

/// How many rooms a [`MuteList`] built from names (`FromIterator`, as `RedisStore` builds its
/// lists) holds without a heap allocation. The in-memory store's short lists hold interned indices
/// instead (`InternedRooms`).
pub(crate) const LIST_INLINE_ROOMS: usize = 4;

/// A user's muted rooms at one moment, oldest mute first, each room once.
///
/// It is a snapshot: later operations on the store do not change it. In the in-memory store, taking
/// one is O(1) whatever the number of rooms (up to three rooms it holds their interned indices and
/// reads the names only when it is read, four are copied, a longer list is shared with the store
/// until the store next changes that user's set), so returning it from every operation costs
/// nothing that grows with the set; the exception is a read of a user one of whose timed mutes has
/// lapsed but is not purged yet, which builds a new list without it.
///
/// Timed mutes carry their deadline ([`until`](Self::until), [`deadlines`](Self::deadlines)); a
/// lapsed mute is never in a list.
#[derive(Clone, Default)]
pub struct MuteList {
    rooms: Repr,
    until: Option<Arc<Deadlines>>,
}

/// The deadlines of a list's timed mutes, in epoch milliseconds.
pub(crate) type Deadlines = HashMap<RoomId, u64, foldhash::fast::RandomState>;

#[derive(Clone)]
enum Repr {
    Inline(SmallVec<[RoomId; LIST_INLINE_ROOMS]>),
    /// The in-memory store's rooms by interned index, named on reading.
    Interned(InternedRooms),
    Shared(Arc<OrderedRooms>),
}

impl Default for Repr {
    fn default() -> Self {
        Self::Inline(SmallVec::new())
    }
}

impl MuteList {
    /// An empty list.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// A list of at most [`LIST_INLINE_ROOMS`] rooms, already free of duplicates and in order.
    pub(crate) fn from_inline(rooms: SmallVec<[RoomId; LIST_INLINE_ROOMS]>) -> Self {
        Self {
            rooms: Repr::Inline(rooms),
            until: None,
        }
    }

    /// A list of the in-memory store's interned rooms.
    pub(crate) fn from_interned(rooms: InternedRooms) -> Self {
        Self {
            rooms: Repr::Interned(rooms),
            until: None,
        }
    }

    /// A list that shares a store's ordered set.
    pub(crate) fn from_shared(rooms: Arc<OrderedRooms>) -> Self {
        Self {
            rooms: Repr::Shared(rooms),
            until: None,
        }
    }

    /// This list with `until` as the deadlines of its timed rooms (each a room of the list; an
    /// empty map means none).
    pub(crate) fn with_deadlines(mut self, until: Arc<Deadlines>) -> Self {
        self.until = (!until.is_empty()).then_some(until);
        self
    }

    /// Builds a list from rooms in mute order, each with its deadline if timed; a repeated room
    /// keeps its first place and its last deadline.
    pub fn from_timed<I: IntoIterator<Item = (RoomId, Option<u64>)>>(rooms: I) -> Self {
        let mut until = Deadlines::default();
        let list: Self = rooms
            .into_iter()
            .map(|(room, deadline)| {
                match deadline {
                    Some(deadline) => until.insert(room.clone(), deadline),
                    None => until.remove(&room),
                };
                room
            })
            .collect();
        list.with_deadlines(Arc::new(until))
    }

    /// The deadline of `room`'s mute in epoch milliseconds, if it is a timed mute in this list.
    #[must_use]
    pub fn until(&self, room: &str) -> Option<u64> {
        self.until.as_ref()?.get(room).copied()
    }

    /// Whether any mute in the list is timed.
    #[must_use]
    pub fn has_deadlines(&self) -> bool {
        self.until.is_some()
    }

    /// The timed mutes with their deadlines (epoch milliseconds), oldest mute first.
    pub fn deadlines(&self) -> impl Iterator<Item = (&RoomId, u64)> + '_ {
        let until = self.until.as_deref();
        self.iter()
            .filter_map(move |room| Some((room, *until?.get(room.as_str())?)))
    }

    /// The rooms with their deadlines (`None` for a mute without one), oldest mute first.
    pub fn iter_timed(&self) -> impl Iterator<Item = (&RoomId, Option<u64>)> + '_ {
        self.iter().map(|room| (room, self.until(room)))
    }

    /// How many rooms are muted.
    #[must_use]
    pub fn len(&self) -> usize {
        match &self.rooms {
            Repr::Inline(rooms) => rooms.len(),
            Repr::Interned(rooms) => rooms.len(),
            Repr::Shared(rooms) => rooms.len(),
        }
    }

    /// Whether no room is muted.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether `room` is in the list.
    #[must_use]
    pub fn contains(&self, room: &str) -> bool {
        match &self.rooms {
            Repr::Inline(rooms) => rooms.iter().any(|r| r.as_str() == room),
            Repr::Interned(rooms) => rooms.iter().any(|r| r.as_str() == room),
            Repr::Shared(rooms) => rooms.contains(room),
        }
    }

    /// The rooms, oldest mute first.
    pub fn iter(&self) -> Iter<'_> {
        Iter(match &self.rooms {
            Repr::Inline(rooms) => IterRepr::Inline(rooms.iter()),
            Repr::Interned(rooms) => IterRepr::Interned(rooms.iter()),
            Repr::Shared(rooms) => IterRepr::Shared(Box::new(rooms.iter())),
        })
    }

    /// The rooms as a vector, oldest mute first.
    #[must_use]
    pub fn to_vec(&self) -> Vec<RoomId> {
        self.iter().cloned().collect()
    }
}

/// Builds a list from rooms in mute order; a repeated room keeps its first place.
impl FromIterator<RoomId> for MuteList {
    fn from_iter<I: IntoIterator<Item = RoomId>>(rooms: I) -> Self {
        let set: OrderedRooms = rooms.into_iter().collect();
        if set.len() <= LIST_INLINE_ROOMS {
            Self::from_inline(set.iter().cloned().collect())
        } else {
            Self::from_shared(Arc::new(set))
        }
    }
}

impl From<Vec<RoomId>> for MuteList {
    fn from(rooms: Vec<RoomId>) -> Self {
        rooms.into_iter().collect()
    }
}

impl<'a> IntoIterator for &'a MuteList {
    type Item = &'a RoomId;
    type IntoIter = Iter<'a>;
    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

/// Iterator over a [`MuteList`], oldest mute first.
pub struct Iter<'a>(IterRepr<'a>);

enum IterRepr<'a> {
    Inline(std::slice::Iter<'a, RoomId>),
    Interned(InternedIter<'a>),
    Shared(Box<dyn Iterator<Item = &'a RoomId> + 'a>),
}

impl<'a> Iterator for Iter<'a> {
    type Item = &'a RoomId;
    fn next(&mut self) -> Option<&'a RoomId> {
        match &mut self.0 {
            IterRepr::Inline(rooms) => rooms.next(),
            IterRepr::Interned(rooms) => rooms.next(),
            IterRepr::Shared(rooms) => rooms.next(),
        }
    }
}

impl fmt::Debug for Iter<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Iter { .. }")
    }
}

/// Equal when the rooms, their order and their deadlines are equal.
impl PartialEq for MuteList {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len()
            && self.iter().eq(other.iter())
            && self.deadlines().eq(other.deadlines())
    }
}

impl Eq for MuteList {}

impl PartialEq<[&str]> for MuteList {
    fn eq(&self, other: &[&str]) -> bool {
        self.len() == other.len() && self.iter().zip(other).all(|(a, b)| a.as_str() == *b)
    }
}

impl<const N: usize> PartialEq<[&str; N]> for MuteList {
    fn eq(&self, other: &[&str; N]) -> bool {
        *self == other[..]
    }
}

impl PartialEq<Vec<String>> for MuteList {
    fn eq(&self, other: &Vec<String>) -> bool {
        self.len() == other.len() && self.iter().zip(other).all(|(a, b)| a.as_str() == b)
    }
}

impl fmt::Debug for MuteList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.has_deadlines() {
            f.debug_list().entries(self.iter_timed()).finish()
        } else {
            f.debug_list().entries(self.iter()).finish()
        }
    }
}

/// Serialises as a JSON array of room id strings, oldest mute first (the deadlines are not part
/// of it; see [`deadlines`](MuteList::deadlines)).
impl Serialize for MuteList {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.len()))?;
        for room in self.iter() {
            seq.serialize_element(room)?;
        }
        seq.end()
    }
}

/// The result of a mute or an unmute: whether it changed the user's set, and the set right after it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MuteOutcome {
    /// `true` when the operation added or removed the room or changed its deadline; `false` when
    /// it was already so.
    pub changed: bool,
    /// The user's muted rooms right after this operation, oldest mute first.
    pub rooms: MuteList,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rooms(names: &[&str]) -> Vec<RoomId> {
        names.iter().map(|n| RoomId::new(n).unwrap()).collect()
    }

    #[test]
    fn short_and_long_lists_behave_alike() {
        let short = MuteList::from(rooms(&["a", "b", "a"]));
        assert_eq!(short, ["a", "b"]);
        assert!(short.contains("b") && !short.contains("c"));
        let names: Vec<String> = (0..10).map(|n| format!("r{n}")).collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let long = MuteList::from(rooms(&refs));
        assert_eq!(long.len(), 10);
        assert_eq!(long, names);
        assert!(long.contains("r9"));
        assert_eq!(format!("{short:?}"), r#"["a", "b"]"#);
    }

    #[test]
    fn timed_lists_carry_their_deadlines_in_mute_order() {
        let room = |n: &str| RoomId::new(n).unwrap();
        let list = MuteList::from_timed([
            (room("a"), Some(5)),
            (room("b"), None),
            (room("c"), Some(7)),
        ]);
        assert_eq!(list, ["a", "b", "c"]);
        assert_eq!(list.until("a"), Some(5));
        assert_eq!(list.until("b"), None);
        let timed: Vec<(&str, u64)> = list.deadlines().map(|(r, t)| (r.as_str(), t)).collect();
        assert_eq!(timed, [("a", 5), ("c", 7)]);
        let plain = MuteList::from(rooms(&["a", "b", "c"]));
        assert_ne!(list, plain);
        assert!(!plain.has_deadlines());
        assert!(!MuteList::from_timed([(room("a"), None)]).has_deadlines());
    }
}
