//! [`StreamsPerUser`]: how many event streams each user has open, held to a limit, and
//! [`StreamSlot`], one open stream's place in that count, given back when it is dropped.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;

use crate::ids::UserId;

/// How many `GET /me/events` streams one user may have open at once, unless set with
/// [`MuteApi::with_max_streams_per_user`](crate::MuteApi::with_max_streams_per_user).
pub const DEFAULT_MAX_STREAMS_PER_USER: usize = 4;

/// The `Retry-After` of a stream refused because the user has as many open as allowed, in
/// seconds: [`RECONNECT_DELAY_MS`](crate::RECONNECT_DELAY_MS) rounded up to whole seconds, the
/// delay every stream already asks of a client before it reconnects. When a place frees depends on
/// the user's other streams, which the server cannot foresee, so this is the least a client should
/// wait, not a promise. A limit of 0 gets none: no wait would help.
pub(crate) const STREAM_RETRY_AFTER: &str = "2";

/// The event streams open per user, for one API, and the most one user may have.
///
/// Only users with a stream open have an entry: a user's entry goes when their last stream does,
/// so the table holds at most one entry per open stream, however many users have come and gone.
/// (std's `HashMap` is seeded per process, like every table keyed by caller ids.)
#[derive(Debug)]
pub(crate) struct StreamsPerUser {
    limit: usize,
    open: Mutex<HashMap<UserId, usize>>,
}

impl StreamsPerUser {
    /// No stream open yet; at most `limit` per user (`0`: none at all).
    pub(crate) fn new(limit: usize) -> Self {
        Self {
            limit,
            open: Mutex::default(),
        }
    }

    /// The most streams one user may have open at once.
    pub(crate) fn limit(&self) -> usize {
        self.limit
    }

    /// A place for one more stream of `user`, counted until the slot is dropped; `None` when the
    /// user already has [`limit`](Self::limit) open.
    pub(crate) fn try_open(self: &Arc<Self>, user: &UserId) -> Option<StreamSlot> {
        {
            let mut open = self.open.lock();
            match open.get_mut(user) {
                Some(count) if *count >= self.limit => return None,
                Some(count) => *count += 1,
                None if self.limit == 0 => return None,
                None => {
                    open.insert(user.clone(), 1);
                }
            }
        }
        Some(StreamSlot {
            counts: Arc::clone(self),
            user: user.clone(),
        })
    }

    /// How many streams `user` has open.
    #[cfg(test)]
    fn open_for(&self, user: &UserId) -> usize {
        self.open.lock().get(user).copied().unwrap_or(0)
    }

    /// How many users have a stream open.
    #[cfg(test)]
    fn users(&self) -> usize {
        self.open.lock().len()
    }
}

/// One open stream's place in its user's count; given back when dropped, the user's entry with
/// it when it was their last.
#[derive(Debug)]
pub(crate) struct StreamSlot {
    counts: Arc<StreamsPerUser>,
    user: UserId,
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut open = self.counts.open.lock();
        if let Some(count) = open.get_mut(&self.user) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.user);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: &str) -> UserId {
        UserId::new(id).unwrap()
    }

    #[test]
    fn each_user_gets_the_limit_and_a_dropped_slot_is_given_back() {
        let counts = Arc::new(StreamsPerUser::new(2));
        let (me, them) = (user("me"), user("them"));
        let first = counts.try_open(&me).expect("a first slot");
        let second = counts.try_open(&me).expect("a second slot");
        assert!(counts.try_open(&me).is_none(), "a third is past the limit");
        assert_eq!(counts.open_for(&me), 2, "a refusal counts nothing");
        let theirs = counts.try_open(&them).expect("another user's own slot");
        drop(first);
        assert_eq!(counts.open_for(&me), 1);
        let again = counts.try_open(&me).expect("a slot again");
        assert!(counts.try_open(&me).is_none());
        drop((second, again, theirs));
        assert_eq!(counts.users(), 0, "no entry is left behind");
    }

    #[test]
    fn the_retry_after_is_the_reconnect_delay_in_whole_seconds() {
        let seconds = crate::RECONNECT_DELAY_MS.div_ceil(1000);
        assert_eq!(STREAM_RETRY_AFTER, seconds.to_string());
    }

    #[test]
    fn a_limit_of_zero_refuses_every_stream_and_keeps_no_entry() {
        let counts = Arc::new(StreamsPerUser::new(0));
        assert!(counts.try_open(&user("me")).is_none());
        assert_eq!(counts.users(), 0);
    }

    #[test]
    fn the_table_holds_only_users_with_a_stream_open() {
        let counts = Arc::new(StreamsPerUser::new(DEFAULT_MAX_STREAMS_PER_USER));
        for n in 0..1000 {
            let slot = counts.try_open(&user(&format!("u{n}"))).expect("a slot");
            assert_eq!(counts.users(), 1);
            drop(slot);
        }
        assert_eq!(counts.users(), 0);
    }

    #[test]
    fn slots_opened_and_dropped_on_many_threads_leave_nothing_behind() {
        let counts = Arc::new(StreamsPerUser::new(3));
        let me = user("me");
        std::thread::scope(|scope| {
            for _ in 0..4 {
                scope.spawn(|| {
                    for _ in 0..1000 {
                        let slot = counts.try_open(&me);
                        assert!(counts.open_for(&me) <= 3);
                        drop(slot);
                    }
                });
            }
        });
        assert_eq!(counts.users(), 0);
    }
}
