//! The [`MuteStore`] trait: the seam where storage plugs in, and [`DynMuteStore`], its twin for
//! `Arc<dyn ...>`.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::error::StoreError;
use crate::events::{Actor, EventScope, Subscription};
use crate::expiry::Expiry;
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
/// A mute may have a deadline ([`mute_with`](Self::mute_with)). From its deadline on, a timed mute
/// is, to every read, exactly an unmuted room; the store purges it on its own (without scanning
/// every user) and sends an event with [`ChangeCause::Expiry`](crate::ChangeCause::Expiry). Every
/// change, however caused, reaches the store's subscribers ([`subscribe`](Self::subscribe)) as a
/// [`ChangeEvent`](crate::ChangeEvent).
///
/// The methods are async so that a networked backend never blocks a runtime thread; the in-memory
/// store's futures are ready at once. Use the trait through generics (`S: MuteStore`), through
/// `Arc<S>`, or, when the backend is chosen at run time, as a [`SharedMuteStore`]
/// (`Arc<dyn DynMuteStore>`), which implements this trait too.
pub trait MuteStore: Send + Sync {
    /// Adds `room` to `user`'s set until it is unmuted, as the user; muting a room already muted
    /// changes nothing (except that a deadline it had is removed).
    /// [`mute_with`](Self::mute_with)`(user, room, Expiry::Never, Actor::User)`.
    ///
    /// # Errors
    /// As [`mute_with`](Self::mute_with).
    fn mute(
        &self,
        user: &UserId,
        room: &RoomId,
    ) -> impl Future<Output = Result<MuteOutcome, StoreError>> + Send {
        self.mute_with(user, room, Expiry::Never, Actor::User)
    }

    /// Adds `room` to `user`'s set until `expiry`, on behalf of `actor`. A room already muted keeps
    /// its place in the list and takes the new deadline (none for [`Expiry::Never`]); when that
    /// changes nothing, `changed` is `false` and no event is sent for it (the `expiry` events of
    /// the user's lapsed mutes, which every write purges first, still go out).
    ///
    /// # Errors
    /// [`StoreError::InvalidExpiry`] when the deadline is not in the future (by the store's clock)
    /// or is out of range; [`StoreError::MuteLimitExceeded`] when `room` is new to the set and the
    /// set is at [`mute_limit`](Self::mute_limit); [`StoreError::Backend`] when storage fails. A
    /// refused mute changes nothing.
    fn mute_with(
        &self,
        user: &UserId,
        room: &RoomId,
        expiry: Expiry,
        actor: Actor,
    ) -> impl Future<Output = Result<MuteOutcome, StoreError>> + Send;

    /// Removes `room` from `user`'s set, as the user; unmuting a room that is not muted changes
    /// nothing. [`unmute_by`](Self::unmute_by)`(user, room, Actor::User)`.
    ///
    /// # Errors
    /// As [`unmute_by`](Self::unmute_by).
    fn unmute(
        &self,
        user: &UserId,
        room: &RoomId,
    ) -> impl Future<Output = Result<MuteOutcome, StoreError>> + Send {
        self.unmute_by(user, room, Actor::User)
    }

    /// Removes `room` from `user`'s set on behalf of `actor`; unmuting a room that is not muted
    /// changes nothing. O(1) in the size of the set and of the store in
    /// [`MemoryStore`](crate::MemoryStore) and `DurableStore`; `RedisStore` removes the room in
    /// O(log n) and reads the user's list back in O(n).
    ///
    /// # Errors
    /// [`StoreError::Backend`] when storage fails.
    fn unmute_by(
        &self,
        user: &UserId,
        room: &RoomId,
        actor: Actor,
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

    /// Purges every timed mute whose deadline has passed by the store's clock, sending an
    /// [`Expiry`](crate::ChangeCause::Expiry) event for each, and returns how many it purged. Every
    /// store also does this on its own as deadlines pass, and reads never see a lapsed mute either
    /// way; call it to have the events now (a test that moved a [`ManualClock`](crate::ManualClock),
    /// say).
    ///
    /// # Errors
    /// [`StoreError::Backend`] when storage fails.
    fn expire_due(&self) -> impl Future<Output = Result<usize, StoreError>> + Send;

    /// A feed of the changes in `scope`, from now on: every mute, unmute, lapsed deadline and
    /// forgotten room or user, as [`ChangeEvent`](crate::ChangeEvent)s, one user's in order. A
    /// backend shared by several processes (Redis) delivers the changes made by all of them.
    ///
    /// # Errors
    /// [`StoreError::Backend`] when the backend cannot deliver events.
    fn subscribe(&self, scope: EventScope) -> Result<Subscription, StoreError>;

    /// The most rooms one user may have muted.
    fn mute_limit(&self) -> usize;
}

/// The object-safe twin of [`MuteStore`], implemented for every `MuteStore`.
///
/// Hosts rarely name it: they hold a [`SharedMuteStore`] and call the [`MuteStore`] methods on it.
/// Each call boxes its future; generic code over `S: MuteStore` does not.
#[allow(missing_docs)] // Each method is the `MuteStore` method of the same stem.
pub trait DynMuteStore: Send + Sync {
    fn mute_with_boxed<'a>(
        &'a self,
        user: &'a UserId,
        room: &'a RoomId,
        expiry: Expiry,
        actor: Actor,
    ) -> BoxFuture<'a, Result<MuteOutcome, StoreError>>;
    fn unmute_by_boxed<'a>(
        &'a self,
        user: &'a UserId,
        room: &'a RoomId,
        actor: Actor,
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
    fn expire_due_boxed(&self) -> BoxFuture<'_, Result<usize, StoreError>>;
    fn subscribe_dyn(&self, scope: EventScope) -> Result<Subscription, StoreError>;
    fn mute_limit_dyn(&self) -> usize;
}

impl<S: MuteStore> DynMuteStore for S {
    fn mute_with_boxed<'a>(
        &'a self,
        user: &'a UserId,
        room: &'a RoomId,
        expiry: Expiry,
        actor: Actor,
    ) -> BoxFuture<'a, Result<MuteOutcome, StoreError>> {
        Box::pin(self.mute_with(user, room, expiry, actor))
    }
    fn unmute_by_boxed<'a>(
        &'a self,
        user: &'a UserId,
        room: &'a RoomId,
        actor: Actor,
    ) -> BoxFuture<'a, Result<MuteOutcome, StoreError>> {
        Box::pin(self.unmute_by(user, room, actor))
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
    fn expire_due_boxed(&self) -> BoxFuture<'_, Result<usize, StoreError>> {
        Box::pin(self.expire_due())
    }
    fn subscribe_dyn(&self, scope: EventScope) -> Result<Subscription, StoreError> {
        self.subscribe(scope)
    }
    fn mute_limit_dyn(&self) -> usize {
        self.mute_limit()
    }
}

// `async fn` rather than returning the box: its future captures every argument's lifetime on its
// own, where the box alone would carry only their intersection.
impl MuteStore for dyn DynMuteStore {
    async fn mute_with(
        &self,
        user: &UserId,
        room: &RoomId,
        expiry: Expiry,
        actor: Actor,
    ) -> Result<MuteOutcome, StoreError> {
        self.mute_with_boxed(user, room, expiry, actor).await
    }
    async fn unmute_by(
        &self,
        user: &UserId,
        room: &RoomId,
        actor: Actor,
    ) -> Result<MuteOutcome, StoreError> {
        self.unmute_by_boxed(user, room, actor).await
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
    async fn expire_due(&self) -> Result<usize, StoreError> {
        self.expire_due_boxed().await
    }
    fn subscribe(&self, scope: EventScope) -> Result<Subscription, StoreError> {
        self.subscribe_dyn(scope)
    }
    fn mute_limit(&self) -> usize {
        self.mute_limit_dyn()
    }
}

impl<S: MuteStore + ?Sized> MuteStore for Arc<S> {
    fn mute_with(
        &self,
        user: &UserId,
        room: &RoomId,
        expiry: Expiry,
        actor: Actor,
    ) -> impl Future<Output = Result<MuteOutcome, StoreError>> + Send {
        (**self).mute_with(user, room, expiry, actor)
    }
    fn unmute_by(
        &self,
        user: &UserId,
        room: &RoomId,
        actor: Actor,
    ) -> impl Future<Output = Result<MuteOutcome, StoreError>> + Send {
        (**self).unmute_by(user, room, actor)
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
    fn expire_due(&self) -> impl Future<Output = Result<usize, StoreError>> + Send {
        (**self).expire_due()
    }
    fn subscribe(&self, scope: EventScope) -> Result<Subscription, StoreError> {
        (**self).subscribe(scope)
    }
    fn mute_limit(&self) -> usize {
        (**self).mute_limit()
    }
}
