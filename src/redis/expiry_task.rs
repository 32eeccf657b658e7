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

use super::backend_error::RedisBackendError;
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
///
/// A round that fails in part (a Cluster node down) still purges what the other nodes hold; what
/// it could not reach is looked at again within [`MAX_SLEEP`]. Failures have no caller to go to:
/// they are logged (see [`log_round`]).
pub(crate) async fn run(core: Weak<StoreCore>, wake: Arc<ExpiryWake>) {
    let mut failing = false;
    loop {
        let Some(live) = core.upgrade() else { return };
        let now = live.now_ms();
        let (earliest, unread) = live.earliest_indexed().await;
        let (sleep, failure) = match earliest {
            Some(earliest) if earliest <= now => {
                let pass = live.expire_pass(now, &[]).await;
                // Something was done: look again at once. Entries due but none settled (mutes
                // changing them meanwhile, their users' node down): try again later rather than
                // spin.
                let sleep = if pass.settled > 0 {
                    Duration::ZERO
                } else {
                    MAX_SLEEP
                };
                // The pass tried every bucket, those the look could not read included: its
                // outcome is the whole story.
                (sleep, pass.outcome().err())
            }
            earliest => {
                let next = [earliest, wake.take()].into_iter().flatten().min();
                let sleep = next.map_or(MAX_SLEEP, |next| {
                    Duration::from_millis(next.saturating_sub(now)).clamp(MIN_SLEEP, MAX_SLEEP)
                });
                (sleep, unread)
            }
        };
        failing = log_round(failing, failure.as_ref());
        drop(live);
        if !sleep.is_zero() {
            let _ = tokio::time::timeout(sleep, wake.notify.notified()).await;
        }
    }
}

/// Logs how a round went: a failure at `warn` when the round before went well, at `debug` while
/// failures go on (a round a second or more during an outage), and at `info` the first round that
/// goes well again. Returns whether this round failed.
fn log_round(was_failing: bool, failure: Option<&RedisBackendError>) -> bool {
    match failure {
        Some(error) if was_failing => {
            tracing::debug!(%error, "the purge of lapsed mutes failed again; it will retry");
        }
        Some(error) => tracing::warn!(
            %error,
            "the purge of lapsed mutes failed in part or in full; it will retry within a second \
             (reads never see a lapsed mute meanwhile, but its expiry event waits)"
        ),
        None if was_failing => tracing::info!("the purge of lapsed mutes works again"),
        None => {}
    }
    failure.is_some()
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
