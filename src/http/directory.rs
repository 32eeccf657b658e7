//! [`Directory`]: how the adapter asks the host about rooms and users.

use std::future::Future;
use std::sync::Arc;

use super::host_error::HostError;
use super::user_profile::UserProfile;
use crate::ids::{RoomId, UserId};

/// The host's rooms and users, as far as the mute endpoints need them.
pub trait Directory: Send + Sync {
    /// Whether `room` exists. Muting or unmuting a room that does not gets `404 ROOM_NOT_FOUND`.
    ///
    /// # Errors
    /// [`HostError`] when the host cannot tell; the request gets `500`.
    fn room_exists(&self, room: &RoomId) -> impl Future<Output = Result<bool, HostError>> + Send;

    /// Whether `user` exists. The admin endpoints answer `404 CLIENT_NOT_FOUND` for a user that
    /// does not.
    ///
    /// # Errors
    /// [`HostError`] when the host cannot tell; the request gets `500`.
    fn user_exists(&self, user: &UserId) -> impl Future<Output = Result<bool, HostError>> + Send;

    /// `user`'s profile: a JSON object passed to the client untouched, with `mute` set by the
    /// engine (and `_id` added if it lacks one). `None` is answered as `{"_id": <user>}`.
    ///
    /// It is asked for on every request about a user, and only read, so it comes written out
    /// already and shared ([`UserProfile`]): a host that keeps its profiles in memory makes each
    /// once and hands out clones (a counter increment), and no request writes it again.
    ///
    /// # Errors
    /// [`HostError`] when the host cannot tell; the request gets `500`.
    fn user_profile(
        &self,
        user: &UserId,
    ) -> impl Future<Output = Result<Option<UserProfile>, HostError>> + Send;
}

/// A shared directory, so that one `Arc` of the host's state can serve as both host hooks.
impl<T: Directory> Directory for Arc<T> {
    fn room_exists(&self, room: &RoomId) -> impl Future<Output = Result<bool, HostError>> + Send {
        (**self).room_exists(room)
    }

    fn user_exists(&self, user: &UserId) -> impl Future<Output = Result<bool, HostError>> + Send {
        (**self).user_exists(user)
    }

    fn user_profile(
        &self,
        user: &UserId,
    ) -> impl Future<Output = Result<Option<UserProfile>, HostError>> + Send {
        (**self).user_profile(user)
    }
}
