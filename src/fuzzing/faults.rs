//! A store and host hooks that fail the calls a fuzz input picks, with internal details in their
//! errors that must never reach a client.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::error::StoreError;
use crate::events::{Actor, EventScope, Subscription};
use crate::expiry::Expiry;
use crate::http::{Authenticator, Directory, HostError, UserProfile};
use crate::ids::{RoomId, UserId};
use crate::memory::MemoryStore;
use crate::mute_list::{MuteList, MuteOutcome};
use crate::store::MuteStore;

/// The text every injected failure carries: an address, a port and a file path. No response may
/// contain any of [`INTERNAL_MARKERS`].
pub(crate) const INTERNAL_DETAIL: &str =
    "connection to 10.9.8.7:6379 failed reading /var/lib/mutestore/secret.db";

/// Pieces of [`INTERNAL_DETAIL`], each of which must be absent from every response.
pub(crate) const INTERNAL_MARKERS: [&str; 4] = ["10.9.8.7", "6379", "/var/lib", "secret.db"];

/// Which calls fail: call number `n` (counted across the store and both hooks of one world) fails
/// when bit `n % 64` of the mask is set.
#[derive(Debug, Default)]
pub(crate) struct FaultPlan {
    mask: u64,
    calls: AtomicU32,
}

impl FaultPlan {
    pub(crate) fn new(mask: u64) -> Self {
        Self {
            mask,
            calls: AtomicU32::new(0),
        }
    }

    /// Whether the next call fails.
    fn next_fails(&self) -> bool {
        let call = self.calls.fetch_add(1, Ordering::Relaxed);
        self.mask >> (call % 64) & 1 == 1
    }

    fn store_error(&self) -> Result<(), StoreError> {
        if self.next_fails() {
            Err(StoreError::backend(INTERNAL_DETAIL))
        } else {
            Ok(())
        }
    }

    fn host_error(&self) -> Result<(), HostError> {
        if self.next_fails() {
            Err(HostError::new(INTERNAL_DETAIL))
        } else {
            Ok(())
        }
    }
}

/// A [`MemoryStore`] whose calls fail as the plan says; a failed call changes nothing.
#[derive(Debug)]
pub(crate) struct FlakyStore {
    pub(crate) inner: Arc<MemoryStore>,
    pub(crate) plan: Arc<FaultPlan>,
}

impl MuteStore for FlakyStore {
    async fn mute_with(
        &self,
        user: &UserId,
        room: &RoomId,
        expiry: Expiry,
        actor: Actor,
    ) -> Result<MuteOutcome, StoreError> {
        self.plan.store_error()?;
        self.inner.mute_with(user, room, expiry, actor).await
    }
    async fn unmute_by(
        &self,
        user: &UserId,
        room: &RoomId,
        actor: Actor,
    ) -> Result<MuteOutcome, StoreError> {
        self.plan.store_error()?;
        self.inner.unmute_by(user, room, actor).await
    }
    async fn muted_rooms(&self, user: &UserId) -> Result<MuteList, StoreError> {
        self.plan.store_error()?;
        self.inner.muted_rooms(user).await
    }
    async fn is_muted(&self, user: &UserId, room: &RoomId) -> Result<bool, StoreError> {
        self.plan.store_error()?;
        self.inner.is_muted(user, room).await
    }
    async fn muted_among(
        &self,
        room: &RoomId,
        users: &[UserId],
    ) -> Result<Vec<UserId>, StoreError> {
        self.plan.store_error()?;
        self.inner.muted_among(room, users).await
    }
    async fn forget_room(&self, room: &RoomId) -> Result<usize, StoreError> {
        self.plan.store_error()?;
        self.inner.forget_room(room).await
    }
    async fn forget_user(&self, user: &UserId) -> Result<MuteList, StoreError> {
        self.plan.store_error()?;
        self.inner.forget_user(user).await
    }
    async fn expire_due(&self) -> Result<usize, StoreError> {
        self.plan.store_error()?;
        self.inner.expire_due().await
    }
    fn subscribe(&self, scope: EventScope) -> Result<Subscription, StoreError> {
        self.plan.store_error()?;
        MuteStore::subscribe(&*self.inner, scope)
    }
    fn mute_limit(&self) -> usize {
        self.inner.mute_limit()
    }
}

/// Host hooks whose calls fail as the plan says.
#[derive(Debug)]
pub(crate) struct FlakyHost<H> {
    pub(crate) inner: H,
    pub(crate) plan: Arc<FaultPlan>,
}

impl<A: Authenticator> Authenticator for FlakyHost<A> {
    async fn is_client_key(&self, key: &str) -> Result<bool, HostError> {
        self.plan.host_error()?;
        self.inner.is_client_key(key).await
    }
    async fn user_for_token(&self, token: &str) -> Result<Option<UserId>, HostError> {
        self.plan.host_error()?;
        self.inner.user_for_token(token).await
    }
    async fn is_api_key(&self, key: &str) -> Result<bool, HostError> {
        self.plan.host_error()?;
        self.inner.is_api_key(key).await
    }
}

impl<D: Directory> Directory for FlakyHost<D> {
    async fn room_exists(&self, room: &RoomId) -> Result<bool, HostError> {
        self.plan.host_error()?;
        self.inner.room_exists(room).await
    }
    async fn user_exists(&self, user: &UserId) -> Result<bool, HostError> {
        self.plan.host_error()?;
        self.inner.user_exists(user).await
    }
    async fn user_profile(&self, user: &UserId) -> Result<Option<UserProfile>, HostError> {
        self.plan.host_error()?;
        self.inner.user_profile(user).await
    }
}
