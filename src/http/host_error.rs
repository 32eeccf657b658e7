//! [`HostError`]: a host hook could not answer.

use std::error::Error as StdError;

/// A host hook ([`Authenticator`](crate::Authenticator) or [`Directory`](crate::Directory)) could
/// not answer, for example because the host's database is down.
///
/// The request is answered with `500 INTERNAL_ERROR`; the error itself goes to the logs only.
#[derive(Debug, thiserror::Error)]
#[error("host hook failed: {0}")]
pub struct HostError(#[source] Box<dyn StdError + Send + Sync>);

impl HostError {
    /// Wraps the host's own error.
    pub fn new(error: impl Into<Box<dyn StdError + Send + Sync>>) -> Self {
        Self(error.into())
    }
}
