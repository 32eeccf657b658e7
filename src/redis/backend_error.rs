//! [`RedisBackendError`]: what went wrong talking to Redis, carried inside
//! [`StoreError::Backend`]. Its text is for logs; it may name the backend, never a password.

use std::time::Duration;

use crate::error::StoreError;

/// A failure of the Redis backend.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RedisBackendError {
    /// The client or the server reported an error (connection refused, reset, refused command...).
    #[error("redis {operation}: {source}")]
    Redis {
        operation: &'static str,
        #[source]
        source: redis::RedisError,
    },
    /// No answer within the configured time limit.
    #[error("redis {operation}: no answer within {timeout:?}")]
    TimedOut {
        operation: &'static str,
        timeout: Duration,
    },
    /// An answer that this store never writes, such as a stored room id that is not a valid id.
    #[error("redis {operation}: unexpected reply: {detail}")]
    UnexpectedReply {
        operation: &'static str,
        detail: &'static str,
    },
    /// A purge did what it could reach and left the rest for a later one: some expiry index
    /// buckets could not be read, or some due users could not be purged (their node is down, say).
    #[error(
        "redis expire_due: purged {purged} lapsed mutes; left for a later purge {unread} expiry \
         index buckets it could not read and {unfinished} due users it could not finish; first \
         failure: {first}"
    )]
    PurgeIncomplete {
        purged: usize,
        unread: usize,
        unfinished: usize,
        #[source]
        first: Box<RedisBackendError>,
    },
}

impl From<RedisBackendError> for StoreError {
    fn from(error: RedisBackendError) -> Self {
        StoreError::backend(error)
    }
}

/// Tags a Redis client error with the operation it interrupted.
pub(crate) fn failed(operation: &'static str) -> impl Fn(redis::RedisError) -> StoreError {
    move |source| RedisBackendError::Redis { operation, source }.into()
}

/// An unexpected reply to `operation`.
pub(crate) fn unexpected(operation: &'static str, detail: &'static str) -> StoreError {
    RedisBackendError::UnexpectedReply { operation, detail }.into()
}
