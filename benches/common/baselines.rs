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
