//! [`SeedDirectory`]: a [`Directory`] over a seed's rooms and users.

use std::collections::{HashMap, HashSet};
use std::future::{Future, ready};

use super::directory::Directory;
use super::host_error::HostError;
use super::seed::SeedData;
use super::user_profile::UserProfile;
use crate::ids::{RoomId, UserId};

/// The hasher of the seed's sets: ids are not secrets and the sets are fixed after start-up, so a
/// fast hash, seeded per process, is enough.
type IdHasher = foldhash::fast::RandomState;

/// An in-memory [`Directory`] over a [`SeedData`]'s rooms and user profiles.
#[derive(Debug, Clone, Default)]
pub struct SeedDirectory {
    rooms: HashSet<RoomId, IdHasher>,
    profiles: HashMap<UserId, UserProfile, IdHasher>,
}

impl SeedDirectory {
    /// The rooms and users of `seed`.
    #[must_use]
    pub fn new(seed: &SeedData) -> Self {
        Self {
            rooms: seed.rooms().iter().cloned().collect(),
            profiles: seed
                .users()
                .iter()
                .map(|user| (user.id().clone(), UserProfile::new(user.profile())))
                .collect(),
        }
    }
}

impl Directory for SeedDirectory {
    fn room_exists(&self, room: &RoomId) -> impl Future<Output = Result<bool, HostError>> + Send {
        ready(Ok(self.rooms.contains(room)))
    }

    fn user_exists(&self, user: &UserId) -> impl Future<Output = Result<bool, HostError>> + Send {
        ready(Ok(self.profiles.contains_key(user)))
    }

    fn user_profile(
        &self,
        user: &UserId,
    ) -> impl Future<Output = Result<Option<UserProfile>, HostError>> + Send {
        ready(Ok(self.profiles.get(user).cloned()))
    }
}
