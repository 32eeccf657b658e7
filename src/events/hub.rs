//! [`ChangeHub`]: routes each [`ChangeEvent`] to the subscribers of its user and of every user.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use parking_lot::RwLock;

use super::change_event::ChangeEvent;
use super::subscription::{DEFAULT_EVENT_BUFFER, EventQueue, EventScope, Subscription};
use crate::ids::UserId;

/// The subscribers of one store. Publishing with no subscriber costs one atomic load, so stores
/// call [`is_listened`](Self::is_listened) before they build an event.
#[derive(Clone)]
pub(crate) struct ChangeHub {
    inner: Arc<HubInner>,
}

impl fmt::Debug for ChangeHub {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChangeHub")
            .field(
                "subscribers",
                &self.inner.subscribers.load(Ordering::Relaxed),
            )
            .finish()
    }
}

pub(crate) struct HubInner {
    subscribers: AtomicUsize,
    next_id: AtomicU64,
    routes: RwLock<Routes>,
}

#[derive(Default)]
struct Routes {
    by_user: HashMap<UserId, Vec<(u64, Arc<EventQueue>)>, foldhash::fast::RandomState>,
    all: Vec<(u64, Arc<EventQueue>)>,
}

impl Default for ChangeHub {
    fn default() -> Self {
        Self::new()
    }
}

impl ChangeHub {
    pub(crate) fn new() -> Self {
        Self {
            inner: Arc::new(HubInner {
                subscribers: AtomicUsize::new(0),
                next_id: AtomicU64::new(0),
                routes: RwLock::new(Routes::default()),
            }),
        }
    }

    /// Whether anyone subscribes at all.
    #[inline]
    pub(crate) fn is_listened(&self) -> bool {
        self.inner.subscribers.load(Ordering::Acquire) > 0
    }

    /// A new subscription to `scope`'s changes.
    pub(crate) fn subscribe(&self, scope: EventScope) -> Subscription {
        let queue = Arc::new(EventQueue::new(DEFAULT_EVENT_BUFFER));
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        {
            let mut routes = self.inner.routes.write();
            let entry = (id, Arc::clone(&queue));
            match &scope {
                EventScope::User(user) => {
                    routes.by_user.entry(user.clone()).or_default().push(entry)
                }
                EventScope::All => routes.all.push(entry),
            }
            self.inner.subscribers.fetch_add(1, Ordering::AcqRel);
        }
        Subscription::new(queue, Arc::downgrade(&self.inner), id, scope)
    }

    /// Delivers `event` to its user's subscribers and to those of every user.
    pub(crate) fn publish(&self, event: &ChangeEvent) {
        if !self.is_listened() {
            return;
        }
        let routes = self.inner.routes.read();
        let own = routes.by_user.get(&event.user).into_iter().flatten();
        for (_, queue) in own.chain(&routes.all) {
            queue.push(event.clone());
        }
    }

    /// Delivers each of `events`, in order.
    #[cfg_attr(not(feature = "redis"), allow(dead_code))] // Only a networked backend's feed.
    pub(crate) fn publish_all(&self, events: &[ChangeEvent]) {
        for event in events {
            self.publish(event);
        }
    }

    /// Tells every subscriber that events were lost (a backend's feed broke off for a while).
    #[cfg_attr(not(feature = "redis"), allow(dead_code))] // Only a networked backend's feed.
    pub(crate) fn lag_all(&self) {
        let routes = self.inner.routes.read();
        for (_, queue) in routes.by_user.values().flatten().chain(&routes.all) {
            queue.lag(1);
        }
    }
}

impl HubInner {
    pub(super) fn unsubscribe(&self, id: u64, scope: &EventScope) {
        let mut routes = self.routes.write();
        let removed = match scope {
            EventScope::User(user) => {
                let Some(queues) = routes.by_user.get_mut(user) else {
                    return;
                };
                let before = queues.len();
                queues.retain(|(other, _)| *other != id);
                let removed = before - queues.len();
                if queues.is_empty() {
                    routes.by_user.remove(user);
                }
                removed
            }
            EventScope::All => {
                let before = routes.all.len();
                routes.all.retain(|(other, _)| *other != id);
                before - routes.all.len()
            }
        };
        self.subscribers.fetch_sub(removed, Ordering::AcqRel);
    }
}

impl Drop for HubInner {
    fn drop(&mut self) {
        let routes = self.routes.get_mut();
        for (_, queue) in routes.by_user.values().flatten().chain(&routes.all) {
            queue.close();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::events::{ChangeCause, RecvError};
    use crate::ids::RoomId;

    fn event(user: &str, room: &str) -> ChangeEvent {
        ChangeEvent::muted(
            UserId::new(user).unwrap(),
            RoomId::new(room).unwrap(),
            None,
            ChangeCause::User,
        )
    }

    #[test]
    fn routes_by_user_and_to_all() {
        let hub = ChangeHub::new();
        assert!(!hub.is_listened());
        let mut alice = hub.subscribe(EventScope::User(UserId::new("alice").unwrap()));
        let mut all = hub.subscribe(EventScope::All);
        hub.publish(&event("bob", "r1"));
        hub.publish(&event("alice", "r2"));
        assert_eq!(alice.try_recv().unwrap().unwrap().room.as_str(), "r2");
        assert_eq!(alice.try_recv(), Ok(None));
        assert_eq!(all.try_recv().unwrap().unwrap().room.as_str(), "r1");
        assert_eq!(all.try_recv().unwrap().unwrap().room.as_str(), "r2");
        drop(alice);
        drop(all);
        assert!(!hub.is_listened());
    }

    #[test]
    fn a_full_queue_reports_lag_then_goes_on() {
        let hub = ChangeHub::new();
        let mut all = hub.subscribe(EventScope::All);
        for n in 0..=DEFAULT_EVENT_BUFFER {
            hub.publish(&event("u", &format!("r{n}")));
        }
        hub.publish(&event("u", "after"));
        assert_eq!(
            all.try_recv(),
            Err(RecvError::Lagged(DEFAULT_EVENT_BUFFER as u64 + 1))
        );
        assert_eq!(all.try_recv().unwrap().unwrap().room.as_str(), "after");
    }

    #[test]
    fn a_lost_feed_drops_what_was_queued_before_it() {
        // Events queued before the loss are older than the state a subscriber reads after hearing
        // of it: delivered after the notice, they would undo that state.
        let hub = ChangeHub::new();
        let mut all = hub.subscribe(EventScope::All);
        hub.publish(&event("u", "before"));
        hub.lag_all();
        hub.publish(&event("u", "after"));
        assert_eq!(all.try_recv(), Err(RecvError::Lagged(2)));
        assert_eq!(all.try_recv().unwrap().unwrap().room.as_str(), "after");
        assert_eq!(all.try_recv(), Ok(None));
    }

    #[test]
    fn recv_timeout_takes_a_timeout_no_instant_can_hold() {
        // `Duration::MAX` is how a caller says "as long as it takes".
        let hub = ChangeHub::new();
        let mut all = hub.subscribe(EventScope::All);
        hub.publish(&event("u", "queued"));
        let queued = all.recv_timeout(Duration::MAX).unwrap().unwrap();
        assert_eq!(queued.room.as_str(), "queued");
        let publisher = {
            let hub = hub.clone();
            std::thread::spawn(move || hub.publish(&event("u", "later")))
        };
        let later = all.recv_timeout(Duration::MAX).unwrap().unwrap();
        assert_eq!(later.room.as_str(), "later");
        publisher.join().unwrap();
        drop(hub);
        assert_eq!(all.recv_timeout(Duration::MAX), Err(RecvError::Closed));
    }

    #[test]
    fn dropping_the_hub_closes_subscriptions() {
        let hub = ChangeHub::new();
        let mut all = hub.subscribe(EventScope::All);
        hub.publish(&event("u", "r"));
        drop(hub);
        assert!(
            all.recv_timeout(Duration::from_millis(1))
                .unwrap()
                .is_some()
        );
        assert_eq!(
            all.recv_timeout(Duration::from_millis(1)),
            Err(RecvError::Closed)
        );
    }
}
