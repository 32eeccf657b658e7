//! [`TimedRooms`]: a user's set once any of its mutes has a deadline.
//!
//! Timed mutes are the rare case, so they do not widen the 32-byte entry every user pays for: a
//! user with at least one deadline keeps the set on the heap, as the ordered rooms plus a map from
//! each timed room to its deadline, and the earliest deadline, so that a read can tell in one
//! compare whether anything in the set may have lapsed. The user goes back to the compact form as
//! soon as no deadline is left.

use std::sync::Arc;

use crate::error::MuteLimitExceeded;
use crate::ids::RoomId;
use crate::mute_list::{Deadlines, MuteList};
use crate::ordered_rooms::OrderedRooms;

/// What [`TimedRooms::set`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SetChange {
    /// The room was there with this deadline already.
    Unchanged,
    /// The room was added.
    Added,
    /// The room was there with this other deadline (`None`: without one).
    Redated(Option<u64>),
}

/// See the module documentation.
#[derive(Debug, Clone)]
pub(super) struct TimedRooms {
    rooms: Arc<OrderedRooms>,
    until: Arc<Deadlines>,
    /// The smallest deadline in `until`; `u64::MAX` when it is empty.
    earliest: u64,
}

impl TimedRooms {
    pub(super) fn new(rooms: Arc<OrderedRooms>) -> Self {
        Self {
            rooms,
            until: Arc::new(Deadlines::default()),
            earliest: u64::MAX,
        }
    }

    pub(super) fn len(&self) -> usize {
        self.rooms.len()
    }

    /// Whether no mute in the set is timed any more (the set may go back to the compact form).
    pub(super) fn has_no_deadline(&self) -> bool {
        self.until.is_empty()
    }

    /// The rooms, for the compact form.
    pub(super) fn rooms(&self) -> &Arc<OrderedRooms> {
        &self.rooms
    }

    /// Whether some mute has lapsed at `now`.
    pub(super) fn has_lapsed(&self, now: u64) -> bool {
        self.earliest <= now
    }

    /// The earliest deadline, if any.
    #[cfg(test)]
    pub(super) fn earliest(&self) -> Option<u64> {
        (self.earliest != u64::MAX).then_some(self.earliest)
    }

    /// Whether `room` is muted at `now`.
    pub(super) fn contains(&self, room: &str, now: u64) -> bool {
        self.rooms.contains(room) && self.until.get(room).is_none_or(|&until| until > now)
    }

    /// The deadline of `room`, if it is timed.
    pub(super) fn deadline(&self, room: &str) -> Option<u64> {
        self.until.get(room).copied()
    }

    /// Removes every mute that has lapsed at `now` and returns them with their deadlines, oldest
    /// mute first.
    pub(super) fn take_lapsed(&mut self, now: u64) -> Vec<(RoomId, u64)> {
        if !self.has_lapsed(now) {
            return Vec::new();
        }
        // Found among the timed rooms, not the whole set: a purge costs the number of deadlines,
        // however many rooms are muted without one.
        let mut lapsed: Vec<(usize, RoomId, u64)> = self
            .until
            .iter()
            .filter(|&(_, &until)| until <= now)
            .filter_map(|(room, &until)| Some((self.rooms.order_of(room)?, room.clone(), until)))
            .collect();
        lapsed.sort_unstable_by_key(|&(order, ..)| order);
        let rooms = Arc::make_mut(&mut self.rooms);
        let until = Arc::make_mut(&mut self.until);
        for (_, room, _) in &lapsed {
            rooms.remove(room);
            until.remove(room);
        }
        self.recompute_earliest();
        lapsed
            .into_iter()
            .map(|(_, room, until)| (room, until))
            .collect()
    }

    /// Mutes `room` until `deadline` (`None`: until unmuted). A room already there keeps its place.
    pub(super) fn set(
        &mut self,
        room: &RoomId,
        deadline: Option<u64>,
        limit: usize,
    ) -> Result<SetChange, MuteLimitExceeded> {
        let change = if self.rooms.contains(room) {
            let old = self.deadline(room);
            if old == deadline {
                return Ok(SetChange::Unchanged);
            }
            SetChange::Redated(old)
        } else {
            if self.rooms.len() >= limit {
                return Err(MuteLimitExceeded { limit });
            }
            Arc::make_mut(&mut self.rooms).insert(room.clone());
            SetChange::Added
        };
        let until = Arc::make_mut(&mut self.until);
        match deadline {
            Some(deadline) => {
                until.insert(room.clone(), deadline);
                self.earliest = self.earliest.min(deadline);
            }
            None => {
                if until.remove(room).is_some_and(|old| old == self.earliest) {
                    self.recompute_earliest();
                }
            }
        }
        if let SetChange::Redated(Some(old)) = change
            && old == self.earliest
        {
            self.recompute_earliest();
        }
        Ok(change)
    }

    /// Removes `room`. Returns `None` if it was absent, else `Some` of its deadline.
    pub(super) fn remove(&mut self, room: &str) -> Option<Option<u64>> {
        if !self.rooms.contains(room) {
            return None;
        }
        Arc::make_mut(&mut self.rooms).remove(room);
        let old = if self.until.contains_key(room) {
            Arc::make_mut(&mut self.until).remove(room)
        } else {
            None
        };
        if old == Some(self.earliest) {
            self.recompute_earliest();
        }
        Some(old)
    }

    /// Every room with its deadline, oldest mute first.
    pub(super) fn entries(&self) -> impl Iterator<Item = (&RoomId, Option<u64>)> + '_ {
        self.rooms.iter().map(|room| (room, self.deadline(room)))
    }

    /// The list as it reads at `now`: shared with the store unless a mute has lapsed and is not
    /// yet purged, in which case the list is built without it.
    pub(super) fn snapshot(&self, now: u64) -> MuteList {
        if self.has_lapsed(now) {
            return MuteList::from_timed(
                self.entries()
                    .filter(|(_, until)| until.is_none_or(|until| until > now))
                    .map(|(room, until)| (room.clone(), until)),
            );
        }
        MuteList::from_shared(Arc::clone(&self.rooms)).with_deadlines(Arc::clone(&self.until))
    }

    fn recompute_earliest(&mut self) {
        self.earliest = self.until.values().copied().min().unwrap_or(u64::MAX);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn room(name: &str) -> RoomId {
        RoomId::new(name).unwrap()
    }

    #[test]
    fn lapsed_mutes_of_a_large_set_with_holes_come_back_oldest_first() {
        let mut set = TimedRooms::new(Arc::new(OrderedRooms::with_capacity(0)));
        // Deadlines that fall in a different order from the mutes.
        for n in 0..60u64 {
            let deadline = (n % 3 == 0).then_some(1000 - n * 7 % 50);
            set.set(&room(&format!("r{n}")), deadline, 100).unwrap();
        }
        for n in (0..60).filter(|n| n % 4 == 1) {
            set.remove(&format!("r{n}"));
        }
        let now = 980;
        let expected: Vec<(RoomId, u64)> = set
            .entries()
            .filter_map(|(room, until)| {
                until
                    .filter(|&until| until <= now)
                    .map(|u| (room.clone(), u))
            })
            .collect();
        assert!(expected.len() > 3, "the test needs several lapsed mutes");
        let kept: Vec<RoomId> = set
            .entries()
            .filter(|(_, until)| until.is_none_or(|until| until > now))
            .map(|(room, _)| room.clone())
            .collect();
        assert_eq!(set.take_lapsed(now), expected);
        assert!(set.entries().map(|(room, _)| room.clone()).eq(kept));
        assert!(!set.has_lapsed(now));
    }

    #[test]
    fn deadlines_lapse_and_are_taken_in_order() {
        let mut set = TimedRooms::new(Arc::new(OrderedRooms::with_capacity(0)));
        assert_eq!(set.set(&room("a"), Some(30), 10), Ok(SetChange::Added));
        assert_eq!(set.set(&room("b"), None, 10), Ok(SetChange::Added));
        assert_eq!(set.set(&room("c"), Some(20), 10), Ok(SetChange::Added));
        assert_eq!(set.earliest(), Some(20));
        assert!(set.contains("c", 19) && !set.contains("c", 20));
        assert_eq!(set.snapshot(25), ["a", "b"]);
        assert_eq!(set.set(&room("a"), Some(30), 10), Ok(SetChange::Unchanged));
        assert_eq!(
            set.set(&room("a"), Some(40), 10),
            Ok(SetChange::Redated(Some(30)))
        );
        assert_eq!(set.take_lapsed(39), [(room("c"), 20)]);
        assert_eq!(set.earliest(), Some(40));
        assert_eq!(
            set.set(&room("a"), None, 10),
            Ok(SetChange::Redated(Some(40)))
        );
        assert!(set.has_no_deadline());
        assert_eq!(set.earliest(), None);
        assert_eq!(set.remove("b"), Some(None));
        assert_eq!(set.remove("b"), None);
        assert_eq!(
            set.set(&room("z"), Some(1), 1),
            Err(MuteLimitExceeded { limit: 1 })
        );
    }
}
