//! The naive ways a host would keep mutes, with the standard library's (SipHash) hasher.

use std::collections::{HashMap, HashSet};

use dashmap::DashMap;
use mutestore::{RoomId, UserId};
use parking_lot::RwLock;

use super::BenchStore;

/// One lock over a map of sets.
#[derive(Default)]
pub struct RwLockBaseline(RwLock<HashMap<String, HashSet<String>>>);

impl BenchStore for RwLockBaseline {
    fn label(&self) -> &'static str {
        "RwLock<HashMap>"
    }
    fn mute(&self, user: &UserId, room: &RoomId) -> bool {
        let mut map = self.0.write();
        match map.get_mut(user.as_str()) {
            Some(set) => set.insert(room.as_str().to_owned()),
            None => map
                .entry(user.as_str().to_owned())
                .or_default()
                .insert(room.as_str().to_owned()),
        }
    }
    fn unmute(&self, user: &UserId, room: &RoomId) -> bool {
        self.0
            .write()
            .get_mut(user.as_str())
            .is_some_and(|set| set.remove(room.as_str()))
    }
    fn is_muted(&self, user: &UserId, room: &RoomId) -> bool {
        self.0
            .read()
            .get(user.as_str())
            .is_some_and(|set| set.contains(room.as_str()))
    }
    fn unmute_shrinking(&self, user: &UserId, room: &RoomId) -> bool {
        self.0.write().get_mut(user.as_str()).is_some_and(|set| {
            let removed = set.remove(room.as_str());
            set.shrink_to_fit();
            removed
        })
    }
}

/// DashMap of sets.
#[derive(Default)]
pub struct DashMapBaseline(DashMap<String, HashSet<String>>);

impl BenchStore for DashMapBaseline {
    fn label(&self) -> &'static str {
        "DashMap<HashSet>"
    }
    fn mute(&self, user: &UserId, room: &RoomId) -> bool {
        if let Some(mut set) = self.0.get_mut(user.as_str()) {
            return set.insert(room.as_str().to_owned());
        }
        self.0
            .entry(user.as_str().to_owned())
            .or_default()
            .insert(room.as_str().to_owned())
    }
    fn unmute(&self, user: &UserId, room: &RoomId) -> bool {
        self.0
            .get_mut(user.as_str())
            .is_some_and(|mut set| set.remove(room.as_str()))
    }
    fn is_muted(&self, user: &UserId, room: &RoomId) -> bool {
        self.0
            .get(user.as_str())
            .is_some_and(|set| set.contains(room.as_str()))
    }
    fn unmute_shrinking(&self, user: &UserId, room: &RoomId) -> bool {
        self.0.get_mut(user.as_str()).is_some_and(|mut set| {
            let removed = set.remove(room.as_str());
            set.shrink_to_fit();
            removed
        })
    }
}

impl DashMapBaseline {
    /// The same map, answering a mute or an unmute as the endpoint must: with the user's rooms.
    pub fn with_lists(&self) -> DashMapWithLists<'_> {
        DashMapWithLists(self)
    }
}

/// A [`DashMapBaseline`] whose mute and unmute also collect the user's rooms into a
/// `Vec<String>`, under the user's lock, as a host answering `POST` or `DELETE /me/mute/:room` with
/// the documented `mute` array would; MemoryStore's mute and unmute return that list too. Its
/// `is_muted` is the baseline's.
pub struct DashMapWithLists<'a>(&'a DashMapBaseline);

impl DashMapWithLists<'_> {
    /// Applies `change` to the user's set, if the user has one, then collects the set's rooms;
    /// returns whether the user has a set and whether `change` changed it.
    fn answer(
        &self,
        user: &UserId,
        change: impl FnOnce(&mut HashSet<String>) -> bool,
    ) -> Option<bool> {
        let mut set = self.0.0.get_mut(user.as_str())?;
        let changed = change(&mut set);
        let rooms: Vec<String> = set.iter().cloned().collect();
        std::hint::black_box(rooms);
        Some(changed)
    }
}

impl BenchStore for DashMapWithLists<'_> {
    fn label(&self) -> &'static str {
        "DashMap<HashSet>+list"
    }
    fn mute(&self, user: &UserId, room: &RoomId) -> bool {
        let insert = |set: &mut HashSet<String>| set.insert(room.as_str().to_owned());
        self.answer(user, insert).unwrap_or_else(|| {
            let mut set = self.0.0.entry(user.as_str().to_owned()).or_default();
            let changed = insert(&mut set);
            std::hint::black_box(vec![room.as_str().to_owned()]);
            changed
        })
    }
    fn unmute(&self, user: &UserId, room: &RoomId) -> bool {
        self.answer(user, |set| set.remove(room.as_str()))
            .unwrap_or(false)
    }
    fn is_muted(&self, user: &UserId, room: &RoomId) -> bool {
        self.0.is_muted(user, room)
    }
    fn unmute_shrinking(&self, user: &UserId, room: &RoomId) -> bool {
        self.answer(user, |set| {
            let removed = set.remove(room.as_str());
            set.shrink_to_fit();
            removed
        })
        .unwrap_or(false)
    }
}
