//! [`ExpiryTimer`]: the thread that purges timed mutes as their deadlines pass.
//!
//! Reads never need it (they compare deadlines with the clock themselves); it exists so that a
//! lapsed mute leaves memory and its `expiry` event goes out at the deadline, even if nobody
//! touches that user again. It is started by the first timed mute, sleeps until the earliest
//! deadline (or at most a second, so that a clock that jumps is noticed), and stops when its store
//! is dropped.

use std::fmt;
use std::sync::{Arc, Weak};
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

/// Longest sleep between two looks at the clock.
const MAX_SLEEP: Duration = Duration::from_secs(1);

/// What the timer's thread does at each deadline: purge what has lapsed at `now` and return the
/// earliest deadline left.
pub(super) trait Expire: Send + Sync + 'static {
    fn now_ms(&self) -> u64;
    fn expire_at(&self, now: u64) -> Option<u64>;
}

#[derive(Default)]
pub(super) struct ExpiryTimer {
    state: Mutex<TimerState>,
    wake: Condvar,
}

#[derive(Default)]
struct TimerState {
    /// The earliest deadline not yet handled; `None` when there is none.
    next: Option<u64>,
    started: bool,
    /// Whether the timer may start a thread (not while a store is being rebuilt from disk).
    enabled: bool,
    stopped: bool,
}

impl fmt::Debug for ExpiryTimer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.state.lock();
        f.debug_struct("ExpiryTimer")
            .field("next", &state.next)
            .field("started", &state.started)
            .finish()
    }
}

impl ExpiryTimer {
    pub(super) fn new(enabled: bool) -> Self {
        Self {
            state: Mutex::new(TimerState {
                enabled,
                ..TimerState::default()
            }),
            wake: Condvar::new(),
        }
    }

    /// Makes sure the thread wakes by `deadline`, starting it if needed.
    pub(super) fn schedule<E: Expire>(self: &Arc<Self>, deadline: u64, store: Weak<E>) {
        let mut state = self.state.lock();
        if state.next.is_some_and(|next| next <= deadline) && state.started {
            return;
        }
        state.next = Some(state.next.map_or(deadline, |next| next.min(deadline)));
        if state.started || !state.enabled || state.stopped {
            drop(state);
            self.wake.notify_all();
            return;
        }
        state.started = true;
        drop(state);
        let timer = Arc::clone(self);
        let spawned = std::thread::Builder::new()
            .name("mutestore-expiry".into())
            .spawn(move || timer.run(&store));
        if spawned.is_err() {
            // Reads still hide lapsed mutes, and every write and `expire_due` purges them; only
            // the purge at the deadline is lost. Try again at the next timed mute.
            self.state.lock().started = false;
        }
    }

    /// Lets the timer start its thread (after a rebuild from disk), at `earliest` if given.
    #[cfg_attr(not(feature = "durable"), allow(dead_code))] // Only a store rebuilt from disk.
    pub(super) fn enable<E: Expire>(self: &Arc<Self>, earliest: Option<u64>, store: Weak<E>) {
        self.state.lock().enabled = true;
        if let Some(earliest) = earliest {
            self.schedule(earliest, store);
        }
    }

    pub(super) fn stop(&self) {
        self.state.lock().stopped = true;
        self.wake.notify_all();
    }

    fn run<E: Expire>(&self, store: &Weak<E>) {
        loop {
            // The store is upgraded only while the lock is not held: dropping the last handle
            // here runs the store's drop, which stops this timer and takes the lock.
            let Some(live) = store.upgrade() else { return };
            let now = live.now_ms();
            let seen = {
                let mut state = self.state.lock();
                if state.stopped {
                    return;
                }
                match state.next {
                    Some(next) if next <= now => {
                        state.next = None;
                        drop(state);
                        let left = live.expire_at(now);
                        drop(live);
                        if let Some(left) = left {
                            let mut state = self.state.lock();
                            state.next = Some(state.next.map_or(left, |next| next.min(left)));
                        }
                        continue;
                    }
                    next => next,
                }
            };
            drop(live);
            let mut state = self.state.lock();
            if state.stopped {
                return;
            }
            if state.next != seen {
                continue; // scheduled meanwhile: look again
            }
            match seen {
                Some(next) => {
                    let sleep = Duration::from_millis(next.saturating_sub(now)).min(MAX_SLEEP);
                    self.wake.wait_for(&mut state, sleep);
                }
                None => self.wake.wait(&mut state),
            }
        }
    }
}
