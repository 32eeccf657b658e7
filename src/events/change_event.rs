//! [`ChangeEvent`]: one change to one user's set, and why it happened.

use serde::Serialize;

use crate::ids::{RoomId, UserId};

/// Who asked for a mute or an unmute: the user (`POST|DELETE /me/mute/:room`) or an administrator
/// acting on the user (`/admin/clients/:uid/mute/:room`). It becomes the event's
/// [`ChangeCause`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Actor {
    /// The user, for themselves.
    #[default]
    User,
    /// An administrator, for the user.
    Admin,
}

/// Why a room was muted or unmuted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ChangeCause {
    /// The user muted or unmuted the room.
    User,
    /// An administrator did, for the user.
    Admin,
    /// A timed mute reached its deadline.
    Expiry,
    /// `forget_room` or `forget_user` removed the mute.
    Forget,
}

impl ChangeCause {
    /// The cause's name as events carry it: `user`, `admin`, `expiry` or `forget`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Admin => "admin",
            Self::Expiry => "expiry",
            Self::Forget => "forget",
        }
    }

    /// Parses [`as_str`](Self::as_str)'s names.
    #[must_use]
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "user" => Self::User,
            "admin" => Self::Admin,
            "expiry" => Self::Expiry,
            "forget" => Self::Forget,
            _ => return None,
        })
    }
}

impl From<Actor> for ChangeCause {
    fn from(actor: Actor) -> Self {
        match actor {
            Actor::User => Self::User,
            Actor::Admin => Self::Admin,
        }
    }
}

/// One change to one user's set: `room` became muted (with its deadline, if timed) or unmuted.
///
/// A store sends one for every operation that changed something, including a re-mute that only
/// changed the deadline, each lapsed timed mute, and each room that `forget_room` or
/// `forget_user` removed; never for a refused or idempotent operation. One user's events arrive in
/// the order of the changes. Serialised as
/// `{"user": ..., "room": ..., "muted": true, "untilMS": 1764000000000, "cause": "user"}`
/// (`untilMS` is `null` for a mute without deadline and for an unmute).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChangeEvent {
    /// Whose set changed.
    pub user: UserId,
    /// The room muted or unmuted.
    pub room: RoomId,
    /// Whether the room is muted after the change.
    pub muted: bool,
    /// The mute's deadline in epoch milliseconds, for a timed mute.
    #[serde(rename = "untilMS")]
    pub until_ms: Option<u64>,
    /// Why it changed.
    pub cause: ChangeCause,
}

impl ChangeEvent {
    /// `room` muted for `user`, until `until_ms` if given.
    #[must_use]
    pub fn muted(user: UserId, room: RoomId, until_ms: Option<u64>, cause: ChangeCause) -> Self {
        Self {
            user,
            room,
            muted: true,
            until_ms,
            cause,
        }
    }

    /// `room` unmuted for `user`.
    #[must_use]
    pub fn unmuted(user: UserId, room: RoomId, cause: ChangeCause) -> Self {
        Self {
            user,
            room,
            muted: false,
            until_ms: None,
            cause,
        }
    }
}
