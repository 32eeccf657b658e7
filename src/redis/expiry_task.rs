//! The background task that purges lapsed timed mutes at their deadlines, and [`ExpiryWake`], by
//! which it hears of new deadlines.
//!
//! Reads never need it: every script compares deadlines with the caller's time. It exists so that a
//! lapsed mute leaves Redis and its `expiry` event goes out at the deadline, even if nobody touches
//! that user again. Each store runs one; it looks at the expiry index (the earliest entry of each
//! bucket, one pipeline per node) at the earliest deadline it knows of, and at least once a second
//! (so that deadlines set by other processes, or a [`ManualClock`](crate::ManualClock) moved by a
//! test, are noticed), and purges whatever is due. It stops when its store is dropped.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::sync::Notify;

use super::redis_store::StoreCore;

/// The longest sleep between two looks at the expiry index.
pub(crate) const MAX_SLEEP: Duration = Duration::from_secs(1);

/// The shortest: a deadline is purged up to this late, rather than the index read in a tight loop
/// (as it would be under a clock that does not move, such as a test's).
const MIN_SLEEP: Duration = Duration::from_millis(20);

/// The earliest deadline the task has heard of and not yet handled, and its wake-up call.
#[derive(Debug)]
pub(crate) struct ExpiryWake {
    /// `u64::MAX` for none.
    next: AtomicU64,
    notify: Notify,
}

impl Default for ExpiryWake {
    fn default() -> Self {
        Self {
            next: AtomicU64::new(u64::MAX),
            notify: Notify::new(),
        }
    }
}

impl ExpiryWake {
    /// Tells the task that a mute lapses at `deadline`; wakes it if that is earlier than what it
    /// knew.
    pub(crate) fn hint(&self, deadline: u64) {
        if self.next.fetch_min(deadline, Ordering::AcqRel) > deadline {
            self.notify.notify_one();
        }
    }

    /// The earliest deadline heard of, if any.
    #[cfg(test)]
    pub(crate) fn next(&self) -> Option<u64> {
        Some(self.next.load(Ordering::Acquire)).filter(|&next| next != u64::MAX)
    }

    /// Takes the earliest deadline heard of.
    fn take(&self) -> Option<u64> {
        Some(self.next.swap(u64::MAX, Ordering::AcqRel)).filter(|&next| next != u64::MAX)
    }
}

/// Runs the purge loop for the store behind `core` until the store is gone.
pub(crate) async fn run(core: Weak<StoreCore>, wake: Arc<ExpiryWake>) {
    loop {
        let Some(live) = core.upgrade() else { return };
        let now = live.now_ms();
        let earliest = live.earliest_indexed().await;
        let sleep = match earliest {
            Ok(Some(earliest)) if earliest <= now => match live.expire_pass(now, &[]).await {
                // Something was done: look again at once.
                Ok(pass) if pass.settled > 0 => continue,
                // Entries due but none settled (mutes changing them meanwhile): try again later
                // rather than spin.
                Ok(_) | Err(_) => MAX_SLEEP,
            },
            Ok(earliest) => {
                let next = [earliest, wake.take()].into_iter().flatten().min();
                next.map_or(MAX_SLEEP, |next| {
                    Duration::from_millis(next.saturating_sub(now)).clamp(MIN_SLEEP, MAX_SLEEP)
                })
            }
            Err(_) => MAX_SLEEP,
        };
        drop(live);
        let _ = tokio::time::timeout(sleep, wake.notify.notified()).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints_keep_the_earliest() {
        let wake = ExpiryWake::default();
        assert_eq!(wake.next(), None);
        wake.hint(50);
        wake.hint(70);
        assert_eq!(wake.next(), Some(50));
        wake.hint(20);
        assert_eq!(wake.take(), Some(20));
        assert_eq!(wake.take(), None);
    }
}
