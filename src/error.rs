//! The errors a store operation can return.

use std::error::Error as StdError;

use crate::expiry::InvalidExpiry;

/// A mute of a new room was refused because the user already has the maximum number of muted rooms.
///
/// Re-muting a room the user has already muted is never refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[error("the user has already muted {limit} {}, the most allowed", rooms_noun(.limit))]
pub struct MuteLimitExceeded {
    /// The per-user limit in force.
    pub limit: usize,
}

/// "room" or "rooms", to follow a count of `count` rooms.
pub(crate) fn rooms_noun(count: &usize) -> &'static str {
    if *count == 1 { "room" } else { "rooms" }
}

/// Why a [`MuteStore`](crate::MuteStore) operation failed. A refused mute changed nothing; after a
/// backend failure the change may or may not have been applied, and retrying is safe.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The mute was refused: the user is at the per-user limit.
    #[error(transparent)]
    MuteLimitExceeded(#[from] MuteLimitExceeded),
    /// The mute was refused: its deadline is not in the future, is zero milliseconds away, or is
    /// too far.
    #[error(transparent)]
    InvalidExpiry(#[from] InvalidExpiry),
    /// The storage backend failed or did not answer in time. The message is for logs only: it may
    /// name files or addresses and must not be shown to end users.
    #[error("storage backend failed: {0}")]
    Backend(#[source] Box<dyn StdError + Send + Sync>),
}

impl StoreError {
    /// Wraps a backend's own error.
    pub fn backend(error: impl Into<Box<dyn StdError + Send + Sync>>) -> Self {
        Self::Backend(error.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_message_counts_rooms_in_words_that_agree() {
        assert_eq!(
            MuteLimitExceeded { limit: 1 }.to_string(),
            "the user has already muted 1 room, the most allowed"
        );
        assert_eq!(
            MuteLimitExceeded { limit: 2 }.to_string(),
            "the user has already muted 2 rooms, the most allowed"
        );
        assert_eq!(
            MuteLimitExceeded { limit: 0 }.to_string(),
            "the user has already muted 0 rooms, the most allowed"
        );
    }
}
