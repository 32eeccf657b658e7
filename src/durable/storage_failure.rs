//! [`StorageFailure`]: why the durable store stopped accepting changes.

use std::sync::Arc;

use crate::error::StoreError;

/// A write or sync of the data directory failed. After one, the store refuses every change (the
/// disk's state is unknown, and a retried `fsync` may report success without having written
/// anything); reads keep working, and reopening the store recovers what reached the disk.
///
/// It reaches callers inside [`StoreError::Backend`]. Clones share one message, so every waiting
/// writer can be given the same failure.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}; the durable store refuses changes until it is reopened")]
pub(crate) struct StorageFailure {
    message: Arc<str>,
}

impl StorageFailure {
    pub(crate) fn new(message: impl Into<Arc<str>>) -> Self {
        Self {
            message: message.into(),
        }
    }
}

impl From<StorageFailure> for StoreError {
    fn from(failure: StorageFailure) -> Self {
        StoreError::backend(failure)
    }
}
