//! [`DurableWait`]: the future an async writer awaits until its record is on disk.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::journal::Journal;
use super::storage_failure::StorageFailure;

/// Completes when the journal has synced record `sequence`, or with the failure that stopped it.
/// It holds no lock and no thread: the flusher wakes it.
#[derive(Debug)]
#[must_use = "a future does nothing unless awaited"]
pub(super) struct DurableWait<'a> {
    journal: &'a Journal,
    sequence: u64,
}

impl<'a> DurableWait<'a> {
    pub(super) fn new(journal: &'a Journal, sequence: u64) -> Self {
        Self { journal, sequence }
    }
}

impl Future for DurableWait<'_> {
    type Output = Result<(), StorageFailure>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if let Some(result) = self.journal.settled(self.sequence) {
            return Poll::Ready(result);
        }
        match self.journal.register(self.sequence, cx.waker()) {
            Some(result) => Poll::Ready(result),
            None => Poll::Pending,
        }
    }
}
