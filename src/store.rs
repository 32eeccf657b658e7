//! The [`MuteStore`] trait: the seam where storage plugs in, and [`DynMuteStore`], its twin for
//! `Arc<dyn ...>`.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::error::StoreError;
use crate::ids::{RoomId, UserId};
use crate::mute_list::{MuteList, MuteOutcome};

/// A future boxed so that it can be returned through `dyn`.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A store shared by a host's handlers, with its backend chosen at run time.
pub type SharedMuteStore = Arc<dyn DynMuteStore>;

/// Per-user sets of muted rooms.
///
/// Every operation on one user is atomic: the [`MuteList`] it returns is exactly that user's set
/// right after the operation, never a mix with a concurrent operation. Lists keep mute order
/// (oldest first; muting a room again does not move it) and hold each room once. A refused
/// operation ([`StoreError::MuteLimitExceeded`]) changes nothing. A backend failure
/// ([`StoreError::Backend`]) may leave the change applied or not (a networked backend cannot tell
/// a lost answer from a lost request); every operation is idempotent, so retrying is safe.
///
/// The methods are async so that a networked backend never blocks a runtime thread; the in-memory
/// store's futures are ready at once. Use the trait through generics (`S: MuteStore`), through
/// `Arc<S>`, or, when the backend is chosen at run time, as a [`SharedMuteStore`]
/// (`Arc<dyn DynMuteStore>`), which implements this trait too.
pub trait MuteStore: Send + Sync {
    /// Adds `room` to `user`'s set; muting a room already muted changes nothing.
    ///
    /// # Errors
    /// [`StoreError::MuteLimitExceeded`] when `room` is new to the set and the set is at
    /// [`mute_limit`](Self::mute_limit); [`StoreError::Backend`] when storage fails.
    fn mute(
        &self,
        user: &UserId,
        room: &RoomId,
    ) -> impl Future<Output = Result<MuteOutcome, StoreError>> + Send;

    /// Removes `room` from `user`'s set; unmuting a room that is not muted changes nothing.
    /// O(1) in the size of the set and of the store.
    ///
    /// # Errors
    /// [`StoreError::Backend`] when storage fails.
    fn unmute(
        &self,
        user: &UserId,
        room: &RoomId,
    ) -> impl Future<Output = Result<MuteOutcome, StoreError>> + Send;

    /// `user`'s muted rooms, oldest mute first (empty for a user never seen).
    ///
    /// # Errors
    /// [`StoreError::Backend`] when storage fails.
    fn muted_rooms(
        &self,
        user: &UserId,
    ) -> impl Future<Output = Result<MuteList, StoreError>> + Send;

    /// Whether `user` has muted `room`.
    ///
    /// # Errors
    /// [`StoreError::Backend`] when storage fails.
    fn is_muted(
        &self,
        user: &UserId,
        room: &RoomId,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Which of `users` have muted `room`, in the order given: the push pipeline's question for a
    /// new message, answered in one call.
    ///
    /// # Errors
    /// [`StoreError::Backend`] when storage fails.
    fn muted_among(
        &self,
        room: &RoomId,
        users: &[UserId],
    ) -> impl Future<Output = Result<Vec<UserId>, StoreError>> + Send;

    /// Removes `room` from every user's set (the room was deleted). Returns how many users had it.
    ///
    /// # Errors
    /// [`StoreError::Backend`] when storage fails.
    fn forget_room(&self, room: &RoomId) -> impl Future<Output = Result<usize, StoreError>> + Send;

    /// Removes `user`'s whole set (the user was deleted). Returns the rooms the user had muted.
    ///
    /// # Errors
    /// [`StoreError::Backend`] when storage fails.
    fn forget_user(
        &self,
        user: &UserId,
    ) -> impl Future<Output = Result<MuteList, StoreError>> + Send;

    /// The most rooms one user may have muted.
    fn mute_limit(&self) -> usize;
}

/// The object-safe twin of [`MuteStore`], implemented for every `MuteStore`.
///
/// Hosts rarely name it: they hold a [`SharedMuteStore`] and call the [`MuteStore`] methods on it.
/// Each call boxes its future; generic code over `S: MuteStore` does not.
#[allow(missing_docs)] // Each method is the `MuteStore` method of the same stem.
pub trait DynMuteStore: Send + Sync {
    fn mute_boxed<'a>(
        &'a self,
        user: &'a UserId,
        room: &'a RoomId,
    ) -> BoxFuture<'a, Result<MuteOutcome, StoreError>>;
    fn unmute_boxed<'a>(
        &'a self,
        user: &'a UserId,
        room: &'a RoomId,
    ) -> BoxFuture<'a, Result<MuteOutcome, StoreError>>;
    fn muted_rooms_boxed<'a>(
        &'a self,
        user: &'a UserId,
    ) -> BoxFuture<'a, Result<MuteList, StoreError>>;
    fn is_muted_boxed<'a>(
        &'a self,
        user: &'a UserId,
        room: &'a RoomId,
    ) -> BoxFuture<'a, Result<bool, StoreError>>;
    fn muted_among_boxed<'a>(
        &'a self,
        room: &'a RoomId,
        users: &'a [UserId],
    ) -> BoxFuture<'a, Result<Vec<UserId>, StoreError>>;
    fn forget_room_boxed<'a>(
        &'a self,
        room: &'a RoomId,
    ) -> BoxFuture<'a, Result<usize, StoreError>>;
    fn forget_user_boxed<'a>(
        &'a self,
        user: &'a UserId,
    ) -> BoxFuture<'a, Result<MuteList, StoreError>>;
    fn mute_limit_dyn(&self) -> usize;
}

impl<S: MuteStore> DynMuteStore for S {
    fn mute_boxed<'a>(
        &'a self,
        user: &'a UserId,
        room: &'a RoomId,
    ) -> BoxFuture<'a, Result<MuteOutcome, StoreError>> {
        Box::pin(self.mute(user, room))
    }
    fn unmute_boxed<'a>(
        &'a self,
        user: &'a UserId,
        room: &'a RoomId,
    ) -> BoxFuture<'a, Result<MuteOutcome, StoreError>> {
        Box::pin(self.unmute(user, room))
    }
    fn muted_rooms_boxed<'a>(
        &'a self,
        user: &'a UserId,
    ) -> BoxFuture<'a, Result<MuteList, StoreError>> {
        Box::pin(self.muted_rooms(user))
    }
    fn is_muted_boxed<'a>(
        &'a self,
        user: &'a UserId,
        room: &'a RoomId,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(self.is_muted(user, room))
    }
    fn muted_among_boxed<'a>(
        &'a self,
        room: &'a RoomId,
        users: &'a [UserId],
    ) -> BoxFuture<'a, Result<Vec<UserId>, StoreError>> {
        Box::pin(self.muted_among(room, users))
    }
    fn forget_room_boxed<'a>(
        &'a self,
        room: &'a RoomId,
    ) -> BoxFuture<'a, Result<usize, StoreError>> {
        Box::pin(self.forget_room(room))
    }
    fn forget_user_boxed<'a>(
        &'a self,
        user: &'a UserId,
    ) -> BoxFuture<'a, Result<MuteList, StoreError>> {
        Box::pin(self.forget_user(user))
    }
    fn mute_limit_dyn(&self) -> usize {
        self.mute_limit()
    }
}

// `async fn` rather than returning the box: its future captures every argument's lifetime on its
// own, where the box alone would carry only their intersection.
impl MuteStore for dyn DynMuteStore {
    async fn mute(&self, user: &UserId, room: &RoomId) -> Result<MuteOutcome, StoreError> {
        self.mute_boxed(user, room).await
    }
    async fn unmute(&self, user: &UserId, room: &RoomId) -> Result<MuteOutcome, StoreError> {
        self.unmute_boxed(user, room).await
    }
    async fn muted_rooms(&self, user: &UserId) -> Result<MuteList, StoreError> {
        self.muted_rooms_boxed(user).await
    }
    async fn is_muted(&self, user: &UserId, room: &RoomId) -> Result<bool, StoreError> {
        self.is_muted_boxed(user, room).await
    }
    async fn muted_among(
        &self,
        room: &RoomId,
        users: &[UserId],
    ) -> Result<Vec<UserId>, StoreError> {
        self.muted_among_boxed(room, users).await
    }
    async fn forget_room(&self, room: &RoomId) -> Result<usize, StoreError> {
        self.forget_room_boxed(room).await
    }
    async fn forget_user(&self, user: &UserId) -> Result<MuteList, StoreError> {
        self.forget_user_boxed(user).await
    }
    fn mute_limit(&self) -> usize {
        self.mute_limit_dyn()
    }
}

impl<S: MuteStore + ?Sized> MuteStore for Arc<S> {
    fn mute(
        &self,
        user: &UserId,
        room: &RoomId,
    ) -> impl Future<Output = Result<MuteOutcome, StoreError>> + Send {
        (**self).mute(user, room)
    }
    fn unmute(
        &self,
        user: &UserId,
        room: &RoomId,
    ) -> impl Future<Output = Result<MuteOutcome, StoreError>> + Send {
        (**self).unmute(user, room)
    }
    fn muted_rooms(
        &self,
        user: &UserId,
    ) -> impl Future<Output = Result<MuteList, StoreError>> + Send {
        (**self).muted_rooms(user)
    }
    fn is_muted(
        &self,
        user: &UserId,
        room: &RoomId,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send {
        (**self).is_muted(user, room)
    }
    fn muted_among(
        &self,
        room: &RoomId,
        users: &[UserId],
    ) -> impl Future<Output = Result<Vec<UserId>, StoreError>> + Send {
        (**self).muted_among(room, users)
    }
    fn forget_room(&self, room: &RoomId) -> impl Future<Output = Result<usize, StoreError>> + Send {
        (**self).forget_room(room)
    }
    fn forget_user(
        &self,
        user: &UserId,
    ) -> impl Future<Output = Result<MuteList, StoreError>> + Send {
        (**self).forget_user(user)
    }
    fn mute_limit(&self) -> usize {
        (**self).mute_limit()
    }
}
