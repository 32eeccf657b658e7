//! [`EventFeed`]: the store's subscriber connection, which turns the event messages every process's
//! scripts publish into [`ChangeEvent`](crate::ChangeEvent)s for the store's local subscribers.
//!
//! Each store keeps one pub/sub connection, opened by [`RedisStore::connect`](crate::RedisStore)
//! (which fails if it cannot be), subscribed to the store's channel. Opening it at connect rather
//! than at the first `subscribe` means that `subscribe`, which cannot wait, returns a feed that is
//! already live: no change made after it returns is missed. A background task reads the messages
//! and hands their events to the store's [`ChangeHub`], in the order they arrive, which is the
//! order of one user's changes (they are all published by the node holding the user).
//!
//! The store's own changes come back the same way, never straight from the operation, so that each
//! is delivered once. So that a caller finds its events already delivered when an operation
//! returns (as with the in-memory store), an operation made while a local subscriber listens tags
//! its scripts' messages with an origin (this store's id and a sequence number) and waits, for at
//! most the configured timeout, until the feed has delivered as many tagged messages as its scripts
//! published. The wait never fails the operation.
//!
//! When the connection drops (or stops answering the keep-alive `PING`), the task tells every
//! subscriber at once that events may be missed ([`RecvError::Lagged`](crate::RecvError::Lagged)),
//! reconnects, with a backoff from 50 ms to 500 ms, and once it is subscribed again tells them
//! again: after reading that, a subscriber that reads the state again is up to date. It reconnects to a configured node
//! or, on a Cluster where none of those will do (they may all have been replaced since), to one of
//! the nodes that `CLUSTER SLOTS` names now, asked through the store's command connection.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use futures_util::StreamExt;
use parking_lot::Mutex;
use redis::aio::PubSub;
use redis::{Client, ConnectionAddr, ConnectionInfo, RedisError, RedisResult};
use tokio::sync::{Notify, oneshot};

use super::config::Topology;
use super::connection::RedisConnection;
use super::event_wire::{EventMessage, decode};
use super::expiry_task::ExpiryWake;
use crate::events::ChangeHub;

/// The shortest and the longest wait between two attempts to reconnect the feed.
const RECONNECT_MIN_DELAY: Duration = Duration::from_millis(50);
const RECONNECT_MAX_DELAY: Duration = Duration::from_millis(500);

/// After this long without a message, the feed sends a `PING` to check that the connection lives.
const KEEPALIVE_AFTER: Duration = Duration::from_secs(5);

/// The delivery side of a store's events: its hub, and the operations waiting for their own events.
pub(crate) struct EventFeed {
    hub: ChangeHub,
    /// Tells the expiry task about deadlines it may not know yet.
    wake: Arc<ExpiryWake>,
    /// This store's id in origin tags: unique among the stores sharing the Redis.
    store_id: String,
    state: Mutex<FeedState>,
    /// The store's command connection, to ask a Cluster which nodes it has now when none of the
    /// configured ones can be subscribed on; set once the store has connected.
    discovery: OnceLock<RedisConnection>,
}

#[derive(Default)]
struct FeedState {
    /// Whether the connection is subscribed (as far as the feed knows).
    live: bool,
    next_seq: u64,
    waiting: HashMap<u64, Arc<OwnEvents>>,
}

/// What an operation waits for: how many of its messages have been delivered.
#[derive(Default)]
struct OwnEvents {
    delivered: AtomicUsize,
    /// The connection dropped: the rest may never come.
    abandoned: AtomicBool,
    notify: Notify,
}

impl EventFeed {
    pub(crate) fn new(hub: ChangeHub, wake: Arc<ExpiryWake>) -> Self {
        Self {
            hub,
            wake,
            store_id: store_id(),
            state: Mutex::new(FeedState::default()),
            discovery: OnceLock::new(),
        }
    }

    /// Lets the feed ask `connection` for the Cluster's current nodes when it reconnects.
    pub(crate) fn discover_nodes_with(&self, connection: RedisConnection) {
        let _ = self.discovery.set(connection);
    }

    /// The nodes of the Cluster that the command connection knows now, other than `tried`, with the
    /// credentials of `tried[0]` (the first URL's, which [`feed_nodes`] gives every node) and in an
    /// order picked by the store's id; none on a standalone server, before the store has
    /// connected, or when the question fails or is not answered within `timeout`. Cluster nodes
    /// are plain TCP: the store is built without TLS.
    async fn other_nodes(
        &self,
        tried: &[ConnectionInfo],
        timeout: Duration,
    ) -> Vec<ConnectionInfo> {
        let (Some(connection), Some(first)) = (self.discovery.get(), tried.first()) else {
            return Vec::new();
        };
        let endpoints = tokio::time::timeout(timeout, connection.cluster_node_endpoints()).await;
        let Ok(Ok(endpoints)) = endpoints else {
            return Vec::new();
        };
        let nodes: Vec<ConnectionInfo> = endpoints
            .into_iter()
            .filter_map(|(host, port)| {
                let addr = ConnectionAddr::Tcp(host, port);
                let known = tried.iter().any(|node| *node.addr() == addr);
                (!known).then(|| first.clone().set_addr(addr))
            })
            .collect();
        rotated(nodes, &self.store_id)
    }

    pub(crate) fn hub(&self) -> &ChangeHub {
        &self.hub
    }

    /// When a local subscriber listens and the connection is live, registers an operation that
    /// will wait for its own events; its [`origin`](Pending::origin) goes to the scripts.
    pub(crate) fn expect(&self) -> Option<Pending<'_>> {
        if !self.hub.is_listened() {
            return None;
        }
        let mut state = self.state.lock();
        if !state.live {
            return None;
        }
        state.next_seq += 1;
        let seq = state.next_seq;
        let own = Arc::new(OwnEvents::default());
        state.waiting.insert(seq, Arc::clone(&own));
        Some(Pending {
            feed: self,
            seq,
            own,
            origin: format!("{}:{seq}", self.store_id).into_bytes(),
        })
    }

    /// Hands one message's events to the hub, then counts it for the operation that waits for it.
    fn deliver(&self, payload: &[u8]) {
        let Ok(EventMessage { origin, events }) = decode(payload) else {
            // A message this build cannot read (another version's?): its events are lost to the
            // subscribers, who must hear so.
            self.hub.lag_all();
            return;
        };
        for event in &events {
            if let Some(until) = event.until_ms {
                self.wake.hint(until);
            }
        }
        self.hub.publish_all(&events);
        if let Some(seq) = self.own_seq(&origin) {
            let own = self.state.lock().waiting.get(&seq).cloned();
            if let Some(own) = own {
                own.delivered.fetch_add(1, Ordering::AcqRel);
                own.notify.notify_waiters();
            }
        }
    }

    /// The sequence number of an origin tag of this store.
    fn own_seq(&self, origin: &[u8]) -> Option<u64> {
        let rest = origin.strip_prefix(self.store_id.as_bytes())?;
        std::str::from_utf8(rest.strip_prefix(b":")?)
            .ok()?
            .parse()
            .ok()
    }

    /// Records whether the connection is subscribed; when it drops, releases every waiting
    /// operation.
    fn set_live(&self, live: bool) {
        let mut state = self.state.lock();
        state.live = live;
        if !live {
            for own in state.waiting.values() {
                own.abandoned.store(true, Ordering::Release);
                own.notify.notify_waiters();
            }
        }
    }
}

/// An operation's wait for its own events, from [`EventFeed::expect`].
pub(crate) struct Pending<'a> {
    feed: &'a EventFeed,
    seq: u64,
    own: Arc<OwnEvents>,
    origin: Vec<u8>,
}

impl Pending<'_> {
    /// The origin tag the operation's scripts put in their messages.
    pub(crate) fn origin(&self) -> &[u8] {
        &self.origin
    }

    /// Waits until `messages` tagged messages have been delivered, the connection drops, or
    /// `timeout` passes.
    pub(crate) async fn wait(self, messages: usize, timeout: Duration) {
        if messages == 0 {
            return;
        }
        let own = Arc::clone(&self.own);
        let _ = tokio::time::timeout(timeout, async move {
            loop {
                let notified = own.notify.notified();
                let mut notified = std::pin::pin!(notified);
                notified.as_mut().enable();
                if own.delivered.load(Ordering::Acquire) >= messages
                    || own.abandoned.load(Ordering::Acquire)
                {
                    return;
                }
                notified.await;
            }
        })
        .await;
    }
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        self.feed.state.lock().waiting.remove(&self.seq);
    }
}

/// The origin tag of an operation that does not wait: empty.
pub(crate) fn origin_of(pending: Option<&Pending<'_>>) -> Vec<u8> {
    pending.map(|p| p.origin().to_vec()).unwrap_or_default()
}

/// An id no other store sharing the Redis has: the process, the time, a counter and per-process
/// random bits.
fn store_id() -> String {
    use std::hash::{BuildHasher, RandomState};
    use std::sync::atomic::AtomicU64;
    use std::time::{SystemTime, UNIX_EPOCH};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_nanos());
    let random = RandomState::new().hash_one(nanos);
    format!(
        "{:x}-{nanos:x}-{:x}-{random:016x}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// Where the feed connects: the server, or the Cluster's seed nodes (any node will do, as a
/// `PUBLISH` on one reaches the subscribers of every node), each with the first node's
/// credentials, starting at a node picked by the store's id so that stores spread over the nodes.
fn feed_nodes(topology: &Topology, store_id: &str) -> Vec<ConnectionInfo> {
    match topology {
        Topology::Standalone(info) => vec![info.clone()],
        Topology::Cluster(nodes) => {
            let settings = nodes[0].redis_settings().clone();
            let nodes = nodes
                .iter()
                .map(|node| node.clone().set_redis_settings(settings.clone()))
                .collect();
            rotated(nodes, store_id)
        }
    }
}

/// `nodes` starting at one picked by `store_id`, so that stores spread over the nodes.
fn rotated(mut nodes: Vec<ConnectionInfo>, store_id: &str) -> Vec<ConnectionInfo> {
    if !nodes.is_empty() {
        let start = store_id.bytes().map(usize::from).sum::<usize>() % nodes.len();
        nodes.rotate_left(start);
    }
    nodes
}

/// Connects to the first node that answers and subscribes to `channel`.
async fn open(nodes: &[ConnectionInfo], channel: &[u8], timeout: Duration) -> RedisResult<PubSub> {
    let mut last_error = None;
    for node in nodes {
        let attempt = tokio::time::timeout(timeout, async {
            let client = Client::open(node.clone())?;
            let mut pubsub = client.get_async_pubsub().await?;
            pubsub.subscribe(channel).await?;
            Ok::<_, RedisError>(pubsub)
        })
        .await;
        match attempt {
            Ok(Ok(pubsub)) => return Ok(pubsub),
            Ok(Err(error)) => last_error = Some(error),
            Err(_) => {
                last_error = Some(RedisError::from((
                    redis::ErrorKind::Io,
                    "no answer within the timeout",
                )));
            }
        }
    }
    Err(last_error
        .unwrap_or_else(|| RedisError::from((redis::ErrorKind::Io, "no node to subscribe on"))))
}

/// Runs the feed: connects, reports the first attempt through `ready` (the task ends there if it
/// failed), then delivers messages, reconnecting whenever the connection drops.
pub(crate) async fn run(
    feed: Arc<EventFeed>,
    topology: Topology,
    channel: Vec<u8>,
    timeout: Duration,
    ready: oneshot::Sender<RedisResult<()>>,
) {
    let nodes = feed_nodes(&topology, &feed.store_id);
    let mut ready = Some(ready);
    let mut delay = RECONNECT_MIN_DELAY;
    loop {
        let mut attempt = open(&nodes, &channel, timeout).await;
        // None of the configured nodes will do (they may all have been replaced): a Cluster's
        // other nodes, as the command connection knows them now, will. Not at the first attempt,
        // which comes before the store has connected.
        if attempt.is_err() && ready.is_none() {
            let others = feed.other_nodes(&nodes, timeout).await;
            if !others.is_empty() {
                attempt = open(&others, &channel, timeout).await;
            }
        }
        let pubsub = match attempt {
            Ok(pubsub) => pubsub,
            Err(error) => {
                if let Some(ready) = ready.take() {
                    let _ = ready.send(Err(error));
                    return;
                }
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(RECONNECT_MAX_DELAY);
                continue;
            }
        };
        delay = RECONNECT_MIN_DELAY;
        feed.set_live(true);
        match ready.take() {
            Some(ready) => {
                let _ = ready.send(Ok(()));
            }
            // Whatever was published while the feed was down is lost to the subscribers.
            None => feed.hub.lag_all(),
        }
        serve(&feed, pubsub, timeout).await;
        feed.set_live(false);
        // The subscribers learn at once that events may be missed from now on, rather than only
        // when the feed is back (which may take long); they hear it again then, since a state
        // read in between misses the changes made until the feed is back.
        feed.hub.lag_all();
    }
}

/// Delivers the messages of one connection until it drops or fails a keep-alive `PING`.
async fn serve(feed: &EventFeed, pubsub: PubSub, timeout: Duration) {
    let (mut sink, mut messages) = pubsub.split();
    loop {
        match tokio::time::timeout(KEEPALIVE_AFTER, messages.next()).await {
            Ok(Some(message)) => feed.deliver(message.get_payload_bytes()),
            Ok(None) => return,
            Err(_) => {
                let pong = tokio::time::timeout(timeout, sink.ping::<redis::Value>()).await;
                if !matches!(pong, Ok(Ok(_))) {
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{EventScope, RecvError};
    use crate::redis::event_wire::tests::encode;

    fn feed() -> EventFeed {
        EventFeed::new(ChangeHub::new(), Arc::new(ExpiryWake::default()))
    }

    #[test]
    fn messages_reach_subscribers_and_bad_ones_lag_them() {
        let feed = feed();
        let mut all = feed.hub().subscribe(EventScope::All);
        feed.deliver(&encode(
            "",
            "alice",
            &[("r1", true, "5", "user"), ("r2", false, "", "expiry")],
        ));
        assert_eq!(all.try_recv().unwrap().unwrap().room.as_str(), "r1");
        assert_eq!(all.try_recv().unwrap().unwrap().room.as_str(), "r2");
        assert_eq!(
            feed.wake.next(),
            Some(5),
            "the deadline reached the expiry task"
        );
        feed.deliver(b"garbage");
        assert_eq!(all.try_recv(), Err(RecvError::Lagged(1)));
        assert_eq!(all.try_recv(), Ok(None));
    }

    #[tokio::test(flavor = "current_thread")]
    async fn an_operation_waits_for_its_own_messages_only() {
        let feed = feed();
        assert!(feed.expect().is_none(), "nobody listens");
        let _all = feed.hub().subscribe(EventScope::All);
        assert!(feed.expect().is_none(), "the connection is not live");
        feed.set_live(true);
        let pending = feed.expect().unwrap();
        let origin = String::from_utf8(pending.origin().to_vec()).unwrap();
        let other = feed.expect().unwrap();
        assert_ne!(origin.as_bytes(), other.origin());
        drop(other);
        feed.deliver(&encode("someone-else:1", "u", &[("r", true, "", "user")]));
        feed.deliver(&encode(&origin, "u", &[("r", false, "", "user")]));
        feed.deliver(&encode(&origin, "v", &[("r", false, "", "user")]));
        // Both of its messages are in: no wait.
        tokio::time::timeout(
            Duration::from_secs(5),
            pending.wait(2, Duration::from_secs(60)),
        )
        .await
        .expect("the wait ends at once");
        assert!(
            feed.state.lock().waiting.is_empty(),
            "done waits are removed"
        );

        // A wait for a message that never comes ends when the connection drops.
        let pending = feed.expect().unwrap();
        let waiting = pending.wait(1, Duration::from_secs(60));
        feed.set_live(false);
        tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .expect("the wait ends when the feed drops");
    }

    #[test]
    fn cluster_feeds_start_at_different_nodes_with_the_first_nodes_password() {
        let nodes: Vec<ConnectionInfo> = ["redis://:pw@a:1", "redis://b:2", "redis://c:3"]
            .iter()
            .map(|url| redis::IntoConnectionInfo::into_connection_info(*url).unwrap())
            .collect();
        let topology = Topology::Cluster(nodes);
        let mut starts = std::collections::HashSet::new();
        for id in ["a", "b", "c", "d", "e", "f"] {
            let order = feed_nodes(&topology, id);
            assert_eq!(order.len(), 3);
            assert!(
                order
                    .iter()
                    .all(|node| node.redis_settings().password() == Some("pw"))
            );
            starts.insert(order[0].addr().to_string());
        }
        assert!(starts.len() > 1);
    }
}
