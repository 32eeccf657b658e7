//! `DurableStore` against the generic suites, each store in a fresh temporary directory.

#![cfg(feature = "durable")]

mod support;

use std::future::Future;

use mutestore::{
    Actor, DurableOptions, DurableStore, EventScope, Expiry, MuteList, MuteOutcome, MuteStore,
    RoomId, StoreError, Subscription, UserId,
};
use tempfile::TempDir;

/// A store in a temporary directory that is removed after the store is closed.
struct TempStore {
    store: DurableStore,
    _dir: TempDir,
}

async fn temp_store(setup: support::Setup) -> TempStore {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = DurableOptions::new()
        .mute_limit(setup.limit)
        .clock(setup.shared_clock())
        .open(dir.path())
        .expect("a fresh directory opens");
    TempStore { store, _dir: dir }
}

impl MuteStore for TempStore {
    fn mute_with(
        &self,
        user: &UserId,
        room: &RoomId,
        expiry: Expiry,
        actor: Actor,
    ) -> impl Future<Output = Result<MuteOutcome, StoreError>> + Send {
        self.store.mute_with(user, room, expiry, actor)
    }
    fn unmute_by(
        &self,
        user: &UserId,
        room: &RoomId,
        actor: Actor,
    ) -> impl Future<Output = Result<MuteOutcome, StoreError>> + Send {
        self.store.unmute_by(user, room, actor)
    }
    fn muted_rooms(
        &self,
        user: &UserId,
    ) -> impl Future<Output = Result<MuteList, StoreError>> + Send {
        self.store.muted_rooms(user)
    }
    fn is_muted(
        &self,
        user: &UserId,
        room: &RoomId,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send {
        self.store.is_muted(user, room)
    }
    fn muted_among(
        &self,
        room: &RoomId,
        users: &[UserId],
    ) -> impl Future<Output = Result<Vec<UserId>, StoreError>> + Send {
        self.store.muted_among(room, users)
    }
    fn forget_room(&self, room: &RoomId) -> impl Future<Output = Result<usize, StoreError>> + Send {
        self.store.forget_room(room)
    }
    fn forget_user(
        &self,
        user: &UserId,
    ) -> impl Future<Output = Result<MuteList, StoreError>> + Send {
        self.store.forget_user(user)
    }
    fn expire_due(&self) -> impl Future<Output = Result<usize, StoreError>> + Send {
        self.store.expire_due()
    }
    fn subscribe(&self, scope: EventScope) -> Result<Subscription, StoreError> {
        self.store.subscribe(scope)
    }
    fn mute_limit(&self) -> usize {
        self.store.mute_limit()
    }
}

conformance_suite!(conformance, temp_store);
model_suite!(model, temp_store);
stress_suite!(stress, temp_store);
timed_suite!(timed, temp_store);
events_suite!(events, temp_store);
