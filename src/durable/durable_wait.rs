//! [`DurableWait`]: the future an async writer awaits until its record is on disk.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::journal::Journal;
use super::storage_failure::StorageFailure;

/// Completes when the journal has synced record `sequence`, or with the failure that stopped it.
/// It holds no lock and no thread: the flusher wakes it. Dropped before then, it takes its wakers
/// back from the journal.
#[derive(Debug)]
#[must_use = "a future does nothing unless awaited"]
pub(super) struct DurableWait<'a> {
    journal: &'a Journal,
    sequence: u64,
    /// Its key in the journal's wakers, from its first registration until its wait is over.
    key: Option<u64>,
}

impl<'a> DurableWait<'a> {
    pub(super) fn new(journal: &'a Journal, sequence: u64) -> Self {
        Self {
            journal,
            sequence,
            key: None,
        }
    }
}

impl Future for DurableWait<'_> {
    type Output = Result<(), StorageFailure>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        // Once the wait is over, the flusher removes (or is removing) every waker registered for
        // it, so there is nothing left to take back.
        if let Some(result) = this.journal.settled(this.sequence) {
            this.key = None;
            return Poll::Ready(result);
        }
        let journal = this.journal;
        let key = *this.key.get_or_insert_with(|| journal.waiter_key());
        match journal.register(this.sequence, key, cx.waker()) {
            Some(result) => {
                this.key = None;
                Poll::Ready(result)
            }
            None => Poll::Pending,
        }
    }
}

impl Drop for DurableWait<'_> {
    fn drop(&mut self) {
        if let Some(key) = self.key {
            self.journal.deregister(key);
        }
    }
}
