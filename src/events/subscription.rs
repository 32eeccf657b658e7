//! [`Subscription`]: one subscriber's queue of [`ChangeEvent`]s.

use std::collections::VecDeque;
use std::fmt;
use std::future::poll_fn;
use std::sync::{Arc, Weak};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use super::change_event::ChangeEvent;
use super::hub::HubInner;
use crate::ids::UserId;

/// How many events a subscriber may fall behind; one more, and it is told it lagged.
pub const DEFAULT_EVENT_BUFFER: usize = 1024;

/// Whose changes a [`Subscription`] receives.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum EventScope {
    /// One user's changes only (a device of that user).
    User(UserId),
    /// Every user's changes (a push pipeline, a cache).
    All,
}

/// Why [`Subscription::recv`] returned no event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RecvError {
    /// The subscriber fell more than its buffer behind, or the backend lost its event feed for a
    /// while (a Redis reconnection): this many events (at least) were dropped. The subscription goes
    /// on with the changes from now; read the state again (`muted_rooms`) to catch up.
    #[error("the subscriber missed {0} events; read the state again")]
    Lagged(u64),
    /// The store was dropped: no event will come.
    #[error("the store was closed")]
    Closed,
}

/// A live feed of [`ChangeEvent`]s from one store, from
/// [`MuteStore::subscribe`](crate::MuteStore::subscribe).
///
/// Events are queued as changes happen and taken with [`recv`](Self::recv) (async),
/// [`recv_timeout`](Self::recv_timeout) (blocking) or [`try_recv`](Self::try_recv). A subscriber
/// that falls more than [`DEFAULT_EVENT_BUFFER`] events behind gets [`RecvError::Lagged`] once,
/// then the changes from then on: nothing is skipped silently. Dropping the subscription unsubscribes.
pub struct Subscription {
    queue: Arc<EventQueue>,
    hub: Weak<HubInner>,
    id: u64,
    scope: EventScope,
}

impl fmt::Debug for Subscription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscription")
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

impl Subscription {
    pub(super) fn new(
        queue: Arc<EventQueue>,
        hub: Weak<HubInner>,
        id: u64,
        scope: EventScope,
    ) -> Self {
        Self {
            queue,
            hub,
            id,
            scope,
        }
    }

    /// Whose changes this subscription receives.
    #[must_use]
    pub fn scope(&self) -> &EventScope {
        &self.scope
    }

    /// The next event, waiting for one without blocking the thread.
    ///
    /// # Errors
    /// [`RecvError::Lagged`] once after events were dropped; [`RecvError::Closed`] when the store
    /// is gone and every queued event has been taken.
    pub async fn recv(&mut self) -> Result<ChangeEvent, RecvError> {
        poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// [`recv`](Self::recv) as a poll function, for hosts that build their own streams.
    ///
    /// # Errors
    /// As [`recv`](Self::recv).
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Result<ChangeEvent, RecvError>> {
        let mut state = self.queue.state.lock();
        match state.take() {
            Some(result) => Poll::Ready(result),
            None => {
                if !state
                    .waker
                    .as_ref()
                    .is_some_and(|waker| waker.will_wake(cx.waker()))
                {
                    state.waker = Some(cx.waker().clone());
                }
                Poll::Pending
            }
        }
    }

    /// The next event if one is queued, without waiting.
    ///
    /// # Errors
    /// As [`recv`](Self::recv).
    pub fn try_recv(&mut self) -> Result<Option<ChangeEvent>, RecvError> {
        self.queue.state.lock().take().transpose()
    }

    /// The next event, blocking the thread for at most `timeout`; `Ok(None)` when none came. A
    /// timeout longer than the clock can count to (`Duration::MAX`) waits until an event comes.
    ///
    /// # Errors
    /// As [`recv`](Self::recv).
    pub fn recv_timeout(&mut self, timeout: Duration) -> Result<Option<ChangeEvent>, RecvError> {
        let deadline = Instant::now().checked_add(timeout);
        let mut state = self.queue.state.lock();
        loop {
            if let Some(result) = state.take() {
                return result.map(Some);
            }
            let Some(deadline) = deadline else {
                self.queue.ready.wait(&mut state);
                continue;
            };
            if self
                .queue
                .ready
                .wait_until(&mut state, deadline)
                .timed_out()
            {
                return state.take().transpose();
            }
        }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        if let Some(hub) = self.hub.upgrade() {
            hub.unsubscribe(self.id, &self.scope);
        }
    }
}

/// One subscriber's queue, shared between its [`Subscription`] and the hub.
#[derive(Debug)]
pub(crate) struct EventQueue {
    state: Mutex<QueueState>,
    ready: Condvar,
}

#[derive(Debug)]
struct QueueState {
    events: VecDeque<ChangeEvent>,
    capacity: usize,
    /// Events dropped since the subscriber last heard of it.
    dropped: u64,
    closed: bool,
    waker: Option<Waker>,
}

impl QueueState {
    fn take(&mut self) -> Option<Result<ChangeEvent, RecvError>> {
        if self.dropped > 0 {
            return Some(Err(RecvError::Lagged(std::mem::take(&mut self.dropped))));
        }
        if let Some(event) = self.events.pop_front() {
            return Some(Ok(event));
        }
        self.closed.then_some(Err(RecvError::Closed))
    }
}

impl EventQueue {
    pub(super) fn new(capacity: usize) -> Self {
        Self {
            state: Mutex::new(QueueState {
                events: VecDeque::new(),
                capacity: capacity.max(1),
                dropped: 0,
                closed: false,
                waker: None,
            }),
            ready: Condvar::new(),
        }
    }

    /// Queues `event`; a full queue is emptied and counted as dropped, so the subscriber learns
    /// it lagged before it sees anything newer.
    pub(super) fn push(&self, event: ChangeEvent) {
        let mut state = self.state.lock();
        if state.closed {
            return;
        }
        if state.events.len() >= state.capacity {
            let dropped = state.events.len() as u64 + 1;
            state.events.clear();
            state.dropped += dropped;
        } else {
            state.events.push_back(event);
        }
        self.wake(state);
    }

    /// Tells the subscriber that events were lost upstream. The events still queued are older
    /// than the loss: they are dropped and counted with it, as on overflow, so that none of them
    /// comes after the notice and undoes the state the subscriber reads again.
    #[cfg_attr(not(feature = "redis"), allow(dead_code))] // Only a networked backend's feed.
    pub(super) fn lag(&self, missed: u64) {
        let mut state = self.state.lock();
        let queued = state.events.len() as u64;
        state.events.clear();
        state.dropped += queued + missed.max(1);
        self.wake(state);
    }

    pub(super) fn close(&self) {
        let mut state = self.state.lock();
        state.closed = true;
        self.wake(state);
    }

    fn wake(&self, mut state: parking_lot::MutexGuard<'_, QueueState>) {
        let waker = state.waker.take();
        drop(state);
        self.ready.notify_all();
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}
