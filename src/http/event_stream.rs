//! [`EventStream`]: one caller's changes as server-sent events, and [`StreamShutdown`], which ends
//! every stream of an API at once.

use std::collections::HashMap;
use std::fmt;
use std::future::poll_fn;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use parking_lot::Mutex;
use serde::Serialize;

use super::streams_per_user::StreamSlot;
use crate::events::{ChangeCause, ChangeEvent, RecvError, Subscription};
use crate::ids::{RoomId, UserId};

/// The `Content-Type` of an event stream.
pub const EVENT_STREAM_CONTENT_TYPE: &str = "text/event-stream";

/// A comment frame a transport sends when no event has gone out for
/// [`keep_alive_interval`](EventStream::keep_alive_interval), so that proxies and clients do not
/// take a quiet stream for a dead one. Clients ignore it.
pub const KEEP_ALIVE_FRAME: &[u8] = b": keep-alive\n\n";

/// How long a stream may stay quiet before a transport sends [`KEEP_ALIVE_FRAME`], unless set with
/// [`MuteApi::with_keep_alive_interval`](crate::MuteApi::with_keep_alive_interval).
pub const DEFAULT_KEEP_ALIVE_INTERVAL: Duration = Duration::from_secs(15);

/// The longest keep-alive interval [`MuteApi::with_keep_alive_interval`](super::MuteApi::with_keep_alive_interval)
/// accepts: a day.
pub(crate) const MAX_KEEP_ALIVE_INTERVAL: Duration = Duration::from_secs(24 * 60 * 60);

/// How long a client should wait before it reconnects after the stream ends, in milliseconds: the
/// `retry` field of every stream's first frame.
pub const RECONNECT_DELAY_MS: u64 = 2_000;

/// The last frame of a stream that fell behind, before it ends.
const LAGGED_FRAME: &[u8] = b": missed changes: reconnect and read GET /me\n\n";

/// The changes to one user's mutes, from the moment it was opened, as the frames of a
/// `text/event-stream` body ([`MuteApi::serve`](crate::MuteApi::serve) opens it for
/// `GET /me/events`).
///
/// The first frame is `retry: 2000` ([`RECONNECT_DELAY_MS`]); then each change is one frame,
/// `data: {"room":"demo-room","muted":true,"untilMS":1767225600000,"cause":"user"}` and a blank
/// line (`untilMS` is `null` for a mute without deadline and for an unmute; `cause` is `user`,
/// `admin`, `expiry` or `forget`). Only the user's own changes appear, in the order they were
/// made.
///
/// The stream ends (its last [`poll_frame`](Self::poll_frame) is `None`):
/// - when the client falls more than [`DEFAULT_EVENT_BUFFER`](crate::DEFAULT_EVENT_BUFFER) events
///   behind: nothing is skipped silently; a comment says so, the stream ends, and the client
///   reconnects and reads `GET /me` again;
/// - when [`StreamShutdown::shut_down`] is called (the server is stopping);
/// - when the store is gone.
///
/// It counts against its user's open streams
/// ([`MuteApi::with_max_streams_per_user`](crate::MuteApi::with_max_streams_per_user)) until it
/// ends or is dropped, whichever comes first: a transport that drops the stream when its client
/// leaves gives the place back with it.
///
/// The stream does not time itself: the transport sends [`KEEP_ALIVE_FRAME`] whenever
/// [`keep_alive_interval`](Self::keep_alive_interval) passes without a frame (the axum router
/// does).
pub struct EventStream {
    user: UserId,
    subscription: Subscription,
    registration: Registration,
    /// The stream's place in its user's count, given back when the stream ends (`None` from then
    /// on) or is dropped.
    slot: Option<StreamSlot>,
    keep_alive: Duration,
    state: State,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// The `retry` frame is next.
    Greeting,
    /// Events are next.
    Open,
    /// Nothing more.
    Ended,
}

/// The JSON of one event's `data` line.
#[derive(Serialize)]
struct EventData<'a> {
    room: &'a RoomId,
    muted: bool,
    #[serde(rename = "untilMS")]
    until_ms: Option<u64>,
    cause: ChangeCause,
}

impl EventStream {
    pub(crate) fn new(
        user: UserId,
        subscription: Subscription,
        registration: Registration,
        slot: StreamSlot,
        keep_alive: Duration,
    ) -> Self {
        Self {
            user,
            subscription,
            registration,
            slot: Some(slot),
            keep_alive,
            state: State::Greeting,
        }
    }

    /// Whose changes the stream carries.
    #[must_use]
    pub fn user(&self) -> &UserId {
        &self.user
    }

    /// How long the transport lets the stream stay quiet before it sends [`KEEP_ALIVE_FRAME`].
    #[must_use]
    pub fn keep_alive_interval(&self) -> Duration {
        self.keep_alive
    }

    /// The response headers besides the status (`200`): `Content-Type: text/event-stream` and
    /// `Cache-Control: no-cache`.
    #[must_use]
    pub fn headers(&self) -> [(&'static str, &'static str); 2] {
        [
            ("Content-Type", EVENT_STREAM_CONTENT_TYPE),
            ("Cache-Control", "no-cache"),
        ]
    }

    /// The next frame of the body, waiting for one without blocking; `None` once the stream has
    /// ended.
    pub async fn next_frame(&mut self) -> Option<Vec<u8>> {
        poll_fn(|cx| self.poll_frame(cx)).await
    }

    /// [`next_frame`](Self::next_frame) as a poll function, for transports that build their own
    /// body types.
    pub fn poll_frame(&mut self, cx: &mut Context<'_>) -> Poll<Option<Vec<u8>>> {
        if self.state == State::Ended {
            return Poll::Ready(None);
        }
        if !self.registration.watch(cx.waker()) {
            self.end();
            return Poll::Ready(None);
        }
        if self.state == State::Greeting {
            self.state = State::Open;
            return Poll::Ready(Some(
                format!("retry: {RECONNECT_DELAY_MS}\n\n").into_bytes(),
            ));
        }
        match self.subscription.poll_recv(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Ok(event)) => Poll::Ready(Some(event_frame(&event))),
            Poll::Ready(Err(RecvError::Lagged(missed))) => {
                tracing::info!(
                    user = %self.user,
                    missed,
                    "an event stream fell behind and ends; the client reconnects"
                );
                self.end();
                Poll::Ready(Some(LAGGED_FRAME.to_vec()))
            }
            Poll::Ready(Err(RecvError::Closed)) => {
                self.end();
                Poll::Ready(None)
            }
        }
    }

    /// Nothing more comes: the stream gives its place in its user's count back at once.
    fn end(&mut self) {
        self.state = State::Ended;
        self.slot = None;
    }
}

impl fmt::Debug for EventStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventStream")
            .field("user", &self.user)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

/// `data: <JSON>` and a blank line. JSON text never holds a raw line break, so it is one line.
fn event_frame(event: &ChangeEvent) -> Vec<u8> {
    let data = EventData {
        room: &event.room,
        muted: event.muted,
        until_ms: event.until_ms,
        cause: event.cause,
    };
    let mut frame = Vec::with_capacity(96 + event.room.len());
    frame.extend_from_slice(b"data: ");
    if let Err(error) = serde_json::to_writer(&mut frame, &data) {
        // Cannot happen for these types; a comment keeps the stream well-formed all the same.
        tracing::error!(%error, "serialising an event failed");
        frame.clear();
        frame.extend_from_slice(b": an event could not be written");
    }
    frame.extend_from_slice(b"\n\n");
    frame
}

/// The open streams of one API and whether they have been told to end.
#[derive(Debug, Default)]
pub(crate) struct Registry {
    state: Mutex<RegistryState>,
}

#[derive(Debug, Default)]
struct RegistryState {
    shut_down: bool,
    next_id: u64,
    /// Each open stream's waker, once it has waited.
    streams: HashMap<u64, Option<Waker>>,
}

impl Registry {
    /// Enrols a new stream.
    pub(crate) fn register(self: &Arc<Self>) -> Registration {
        let mut state = self.state.lock();
        let id = state.next_id;
        state.next_id += 1;
        state.streams.insert(id, None);
        Registration {
            registry: Arc::clone(self),
            id,
        }
    }
}

/// One stream's place in its [`Registry`]; leaves it when dropped.
#[derive(Debug)]
pub(crate) struct Registration {
    registry: Arc<Registry>,
    id: u64,
}

impl Registration {
    /// Keeps `waker` to wake at shutdown; `false` once the streams are shut down.
    fn watch(&self, waker: &Waker) -> bool {
        let mut state = self.registry.state.lock();
        if state.shut_down {
            return false;
        }
        if let Some(slot) = state.streams.get_mut(&self.id)
            && !slot.as_ref().is_some_and(|known| known.will_wake(waker))
        {
            *slot = Some(waker.clone());
        }
        true
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.registry.state.lock().streams.remove(&self.id);
    }
}

/// Ends every [`EventStream`] of one [`MuteApi`](crate::MuteApi), open or opened later: from
/// [`MuteApi::stream_shutdown`](crate::MuteApi::stream_shutdown), for a server that stops.
///
/// A server that stops gracefully waits for its open responses to finish, and an event stream
/// never finishes on its own: call [`shut_down`](Self::shut_down) when the server starts
/// stopping, and each stream ends at once. A client that has stopped reading can still hold its
/// connection (the server cannot flush what it holds for it), so bound the shutdown too: a
/// deadline, or a write timeout on connections. Clones share the same streams.
///
/// ```
/// use mutestore::{MemoryStore, MuteApi, SeedAuthenticator, SeedData, SeedDirectory};
///
/// let seed = SeedData::demo();
/// let api = MuteApi::new(MemoryStore::new(), SeedAuthenticator::new(&seed), SeedDirectory::new(&seed));
/// let shutdown = api.stream_shutdown(); // before the API moves into a router
/// // ... serve, and when the server is told to stop:
/// shutdown.shut_down();
/// assert!(shutdown.is_shut_down());
/// ```
#[derive(Debug, Clone)]
pub struct StreamShutdown(Arc<Registry>);

impl StreamShutdown {
    pub(crate) fn new(registry: Arc<Registry>) -> Self {
        Self(registry)
    }

    /// Ends every open stream (each ends at its next poll, and is woken for it) and every stream
    /// opened from now on (each ends before its first frame).
    pub fn shut_down(&self) {
        let wakers: Vec<Waker> = {
            let mut state = self.0.state.lock();
            state.shut_down = true;
            state
                .streams
                .values_mut()
                .filter_map(Option::take)
                .collect()
        };
        for waker in wakers {
            waker.wake();
        }
    }

    /// Whether [`shut_down`](Self::shut_down) was called.
    #[must_use]
    pub fn is_shut_down(&self) -> bool {
        self.0.state.lock().shut_down
    }

    /// How many streams are open (made and not yet dropped).
    #[must_use]
    pub fn open_streams(&self) -> usize {
        self.0.state.lock().streams.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::EventScope;
    use crate::http::streams_per_user::{DEFAULT_MAX_STREAMS_PER_USER, StreamsPerUser};
    use crate::memory::MemoryStore;
    use crate::{Actor, Expiry};

    /// A slot for one stream of `user`, in a count of its own.
    fn slot(user: &UserId) -> StreamSlot {
        Arc::new(StreamsPerUser::new(DEFAULT_MAX_STREAMS_PER_USER))
            .try_open(user)
            .unwrap()
    }

    fn block_on_ready<T>(mut poll: impl FnMut(&mut Context<'_>) -> Poll<T>) -> Option<T> {
        match poll(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(value) => Some(value),
            Poll::Pending => None,
        }
    }

    #[test]
    fn frames_greeting_then_events_then_the_end_on_shutdown() {
        let store = MemoryStore::new();
        let user = UserId::new("u").unwrap();
        let registry = Arc::new(Registry::default());
        let mut stream = EventStream::new(
            user.clone(),
            store.subscribe(EventScope::User(user.clone())),
            registry.register(),
            slot(&user),
            DEFAULT_KEEP_ALIVE_INTERVAL,
        );
        let shutdown = StreamShutdown::new(Arc::clone(&registry));
        assert_eq!(shutdown.open_streams(), 1);
        let frame = |stream: &mut EventStream| block_on_ready(|cx| stream.poll_frame(cx));
        assert_eq!(frame(&mut stream), Some(Some(b"retry: 2000\n\n".to_vec())));
        assert_eq!(frame(&mut stream), None, "nothing yet");
        let room = RoomId::new("r\"1").unwrap();
        store
            .mute_with_sync(&user, &room, Expiry::At(u64::MAX / 1_000_000), Actor::Admin)
            .unwrap();
        store.unmute_sync(&user, &room);
        let other = UserId::new("other").unwrap();
        store.mute_sync(&other, &room).unwrap();
        assert_eq!(
            String::from_utf8(frame(&mut stream).unwrap().unwrap()).unwrap(),
            format!(
                "data: {{\"room\":\"r\\\"1\",\"muted\":true,\"untilMS\":{},\"cause\":\"admin\"}}\n\n",
                u64::MAX / 1_000_000
            )
        );
        assert_eq!(
            String::from_utf8(frame(&mut stream).unwrap().unwrap()).unwrap(),
            "data: {\"room\":\"r\\\"1\",\"muted\":false,\"untilMS\":null,\"cause\":\"user\"}\n\n"
        );
        assert_eq!(
            frame(&mut stream),
            None,
            "another user's change is not here"
        );
        shutdown.shut_down();
        assert_eq!(frame(&mut stream), Some(None));
        assert_eq!(frame(&mut stream), Some(None));
        drop(stream);
        assert_eq!(shutdown.open_streams(), 0);
    }

    #[test]
    fn a_lagging_stream_says_so_and_ends() {
        let store = MemoryStore::with_mute_limit(usize::MAX);
        let user = UserId::new("u").unwrap();
        let registry = Arc::new(Registry::default());
        let counts = Arc::new(StreamsPerUser::new(1));
        let mut stream = EventStream::new(
            user.clone(),
            store.subscribe(EventScope::User(user.clone())),
            registry.register(),
            counts.try_open(&user).unwrap(),
            DEFAULT_KEEP_ALIVE_INTERVAL,
        );
        let frame = |stream: &mut EventStream| block_on_ready(|cx| stream.poll_frame(cx));
        assert!(frame(&mut stream).is_some());
        for n in 0..=crate::DEFAULT_EVENT_BUFFER {
            store
                .mute_sync(&user, &RoomId::new(&format!("r{n}")).unwrap())
                .unwrap();
        }
        assert!(
            counts.try_open(&user).is_none(),
            "the stream holds the one slot"
        );
        assert_eq!(frame(&mut stream), Some(Some(LAGGED_FRAME.to_vec())));
        assert_eq!(frame(&mut stream), Some(None));
        assert!(
            counts.try_open(&user).is_some(),
            "an ended stream gives its slot back before it is dropped"
        );
    }

    #[test]
    fn a_stream_opened_after_shutdown_ends_at_once() {
        let store = MemoryStore::new();
        let user = UserId::new("u").unwrap();
        let registry = Arc::new(Registry::default());
        StreamShutdown::new(Arc::clone(&registry)).shut_down();
        let counts = Arc::new(StreamsPerUser::new(1));
        let mut stream = EventStream::new(
            user.clone(),
            store.subscribe(EventScope::User(user.clone())),
            registry.register(),
            counts.try_open(&user).unwrap(),
            DEFAULT_KEEP_ALIVE_INTERVAL,
        );
        assert_eq!(block_on_ready(|cx| stream.poll_frame(cx)), Some(None));
        assert!(
            counts.try_open(&user).is_some(),
            "an ended stream gives its slot back before it is dropped"
        );
    }
}
