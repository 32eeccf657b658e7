//! A store and a host that fail on purpose, with internal details in their errors.

use std::future::{Future, ready};

use mutestore::{
    Actor, Authenticator, Directory, EventScope, Expiry, HostError, MuteList, MuteOutcome,
    MuteStore, RoomId, StoreError, Subscription, UserId, UserProfile,
};

/// The internal detail every failure carries; it must never reach a client.
pub const INTERNAL_DETAIL: &str =
    "connection to 10.1.2.3:5432 failed reading /var/lib/mutestore/shard-7";

fn backend_error() -> StoreError {
    StoreError::backend(INTERNAL_DETAIL)
}

/// Every operation fails.
#[derive(Debug, Default)]
pub struct FailingStore;

impl MuteStore for FailingStore {
    fn mute_with(
        &self,
        _: &UserId,
        _: &RoomId,
        _: Expiry,
        _: Actor,
    ) -> impl Future<Output = Result<MuteOutcome, StoreError>> + Send {
        ready(Err(backend_error()))
    }
    fn unmute_by(
        &self,
        _: &UserId,
        _: &RoomId,
        _: Actor,
    ) -> impl Future<Output = Result<MuteOutcome, StoreError>> + Send {
        ready(Err(backend_error()))
    }
    fn muted_rooms(&self, _: &UserId) -> impl Future<Output = Result<MuteList, StoreError>> + Send {
        ready(Err(backend_error()))
    }
    fn is_muted(
        &self,
        _: &UserId,
        _: &RoomId,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send {
        ready(Err(backend_error()))
    }
    fn muted_among(
        &self,
        _: &RoomId,
        _: &[UserId],
    ) -> impl Future<Output = Result<Vec<UserId>, StoreError>> + Send {
        ready(Err(backend_error()))
    }
    fn forget_room(&self, _: &RoomId) -> impl Future<Output = Result<usize, StoreError>> + Send {
        ready(Err(backend_error()))
    }
    fn forget_user(&self, _: &UserId) -> impl Future<Output = Result<MuteList, StoreError>> + Send {
        ready(Err(backend_error()))
    }
    fn expire_due(&self) -> impl Future<Output = Result<usize, StoreError>> + Send {
        ready(Err(backend_error()))
    }
    fn subscribe(&self, _: EventScope) -> Result<Subscription, StoreError> {
        Err(backend_error())
    }
    fn mute_limit(&self) -> usize {
        mutestore::DEFAULT_MUTE_LIMIT
    }
}

/// An authenticator whose session store is down.
#[derive(Debug, Default)]
pub struct FailingAuthenticator;

impl Authenticator for FailingAuthenticator {
    fn is_client_key(&self, _: &str) -> impl Future<Output = Result<bool, HostError>> + Send {
        ready(Err(HostError::new(INTERNAL_DETAIL)))
    }
    fn user_for_token(
        &self,
        _: &str,
    ) -> impl Future<Output = Result<Option<UserId>, HostError>> + Send {
        ready(Err(HostError::new(INTERNAL_DETAIL)))
    }
    fn is_api_key(&self, _: &str) -> impl Future<Output = Result<bool, HostError>> + Send {
        ready(Err(HostError::new(INTERNAL_DETAIL)))
    }
}

/// A directory whose room and user tables are unreachable.
#[derive(Debug, Default)]
pub struct FailingDirectory;

impl Directory for FailingDirectory {
    fn room_exists(&self, _: &RoomId) -> impl Future<Output = Result<bool, HostError>> + Send {
        ready(Err(HostError::new(INTERNAL_DETAIL)))
    }
    fn user_exists(&self, _: &UserId) -> impl Future<Output = Result<bool, HostError>> + Send {
        ready(Err(HostError::new(INTERNAL_DETAIL)))
    }
    fn user_profile(
        &self,
        _: &UserId,
    ) -> impl Future<Output = Result<Option<UserProfile>, HostError>> + Send {
        ready(Err(HostError::new(INTERNAL_DETAIL)))
    }
}
