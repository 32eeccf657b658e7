//! The model suite: random operation sequences, timed mutes and moves of the clock among them, run
//! against a store and against a plain reference model; every answer, every deadline, the final
//! state and the change events must match.

use std::collections::BTreeMap;
use std::time::Duration;

use mutestore::{
    Actor, ChangeCause, ChangeEvent, EventScope, Expiry, MuteStore, StoreError, Subscription,
    UserId,
};
use proptest::prelude::*;

use super::{START_MS, Setup, StoreFactory, room, user};

/// The per-user limit the model runs with: above the inline capacity, so sets change form.
pub const MODEL_LIMIT: usize = 5;

/// Users and rooms the operations draw from; a long id and a non-ASCII one are among them.
pub const USERS: [&str; 4] = [
    "u0",
    "u1",
    "a-user-id-longer-than-fifteen-bytes",
    "ユーザー",
];
pub const ROOMS: [&str; 7] = ["r0", "r1", "r2", "r3", "r4", "r5", "a/room with spaces"];

/// One operation on the store.
#[derive(Debug, Clone)]
pub enum Op {
    Mute(usize, usize),
    /// Mute for this many milliseconds.
    MuteFor(usize, usize, u64),
    /// Mute until this many milliseconds from now (zero or less is refused).
    MuteUntil(usize, usize, i64),
    /// Move the clock forward.
    Advance(u64),
    ExpireDue,
    Unmute(usize, usize),
    MutedRooms(usize),
    IsMuted(usize, usize),
    MutedAmong(usize, Vec<usize>),
    ForgetRoom(usize),
    ForgetUser(usize),
}

pub fn op() -> impl Strategy<Value = Op> {
    let u = 0..USERS.len();
    let r = 0..ROOMS.len();
    prop_oneof![
        6 => (u.clone(), r.clone()).prop_map(|(u, r)| Op::Mute(u, r)),
        3 => (u.clone(), r.clone(), 1..40u64).prop_map(|(u, r, d)| Op::MuteFor(u, r, d)),
        1 => (u.clone(), r.clone(), -3..40i64).prop_map(|(u, r, d)| Op::MuteUntil(u, r, d)),
        2 => (0..25u64).prop_map(Op::Advance),
        1 => Just(Op::ExpireDue),
        4 => (u.clone(), r.clone()).prop_map(|(u, r)| Op::Unmute(u, r)),
        1 => u.clone().prop_map(Op::MutedRooms),
        2 => (u.clone(), r.clone()).prop_map(|(u, r)| Op::IsMuted(u, r)),
        1 => (r.clone(), proptest::collection::vec(u.clone(), 0..6)).prop_map(|(r, us)| Op::MutedAmong(r, us)),
        1 => r.prop_map(Op::ForgetRoom),
        1 => u.prop_map(Op::ForgetUser),
    ]
}

/// The reference: each user's rooms in mute order with their deadlines, and the clock. A mute is
/// dropped from the model the moment it lapses, which is what every read of the store must show.
#[derive(Debug)]
pub struct Model {
    users: BTreeMap<String, Vec<(String, Option<u64>)>>,
    now: u64,
    /// The events each user's changes must send, in order. Expiry events are kept apart, in
    /// `lapsed`, until the user's next change: the store may purge them at any time in between.
    events: BTreeMap<String, Vec<Expected>>,
}

/// An event the store must send.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Expected {
    /// One change that is not an expiry.
    Change(String, bool, Option<u64>, &'static str),
    /// Expiries that lapsed between two changes, in any order.
    Expiries(Vec<String>),
}

impl Default for Model {
    fn default() -> Self {
        Self {
            users: BTreeMap::new(),
            now: START_MS,
            events: BTreeMap::new(),
        }
    }
}

impl Model {
    fn rooms(&self, u: usize) -> Vec<String> {
        self.entries(u).into_iter().map(|(r, _)| r).collect()
    }

    fn entries(&self, u: usize) -> Vec<(String, Option<u64>)> {
        self.users.get(USERS[u]).cloned().unwrap_or_default()
    }

    fn send(&mut self, u: &str, room: &str, muted: bool, until: Option<u64>, cause: &'static str) {
        self.events
            .entry(u.to_string())
            .or_default()
            .push(Expected::Change(room.to_string(), muted, until, cause));
    }

    /// Moves the clock, dropping what lapses and expecting an expiry event for each.
    fn advance(&mut self, by: u64) {
        self.now += by;
        let now = self.now;
        for (name, rooms) in &mut self.users {
            let lapsed: Vec<String> = rooms
                .iter()
                .filter(|(_, until)| until.is_some_and(|t| t <= now))
                .map(|(r, _)| r.clone())
                .collect();
            if lapsed.is_empty() {
                continue;
            }
            rooms.retain(|(_, until)| !until.is_some_and(|t| t <= now));
            let events = self.events.entry(name.clone()).or_default();
            match events.last_mut() {
                Some(Expected::Expiries(pending)) => pending.extend(lapsed),
                _ => events.push(Expected::Expiries(lapsed)),
            }
        }
    }

    /// Applies a mute the store accepted; returns whether it changed anything.
    fn mute(&mut self, u: usize, r: usize, until: Option<u64>, cause: &'static str) -> bool {
        let rooms = self.users.entry(USERS[u].to_string()).or_default();
        let changed = match rooms.iter_mut().find(|(x, _)| x == ROOMS[r]) {
            Some((_, old)) if *old == until => false,
            Some((_, old)) => {
                *old = until;
                true
            }
            None => {
                rooms.push((ROOMS[r].to_string(), until));
                true
            }
        };
        if changed {
            self.send(USERS[u], ROOMS[r], true, until, cause);
        }
        changed
    }
}

fn list(rooms: &mutestore::MuteList) -> Vec<String> {
    rooms.iter().map(|r| r.to_string()).collect()
}

fn timed(rooms: &mutestore::MuteList) -> Vec<(String, Option<u64>)> {
    rooms
        .iter_timed()
        .map(|(r, t)| (r.to_string(), t))
        .collect()
}

fn assert_no_duplicates(rooms: &[String]) {
    let mut sorted = rooms.to_vec();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), rooms.len(), "duplicates in {rooms:?}");
}

/// Runs `ops` on a fresh store and on the model, comparing every answer, the final state and the
/// events.
pub async fn check(factory: &impl StoreFactory, ops: Vec<Op>) {
    let setup = Setup::new(MODEL_LIMIT);
    let clock = setup.clock.clone();
    let store = factory.make_with(setup).await;
    let mut feed = store.subscribe(EventScope::All).unwrap();
    let mut model = Model::default();
    for op in &ops {
        let op = op.clone();
        match &op {
            &Op::Mute(u, r) | &Op::MuteFor(u, r, _) | &Op::MuteUntil(u, r, _) => {
                let (expiry, until) = match op {
                    Op::MuteFor(_, _, d) => {
                        (Expiry::After(Duration::from_millis(d)), Some(model.now + d))
                    }
                    Op::MuteUntil(_, _, d) => {
                        let at = model.now.saturating_add_signed(d);
                        (Expiry::At(at), Some(at))
                    }
                    _ => (Expiry::Never, None),
                };
                let actor = if r % 2 == 0 {
                    Actor::User
                } else {
                    Actor::Admin
                };
                let cause = if r % 2 == 0 { "user" } else { "admin" };
                let before = model.rooms(u);
                let result = store
                    .mute_with(&user(USERS[u]), &room(ROOMS[r]), expiry, actor)
                    .await;
                let present = before.iter().any(|x| x == ROOMS[r]);
                if until.is_some_and(|t| t <= model.now) {
                    assert!(
                        matches!(result, Err(StoreError::InvalidExpiry(_))),
                        "{op:?}: {result:?}"
                    );
                } else if !present && before.len() >= MODEL_LIMIT {
                    assert!(
                        matches!(result, Err(StoreError::MuteLimitExceeded(_))),
                        "{op:?}: {result:?}"
                    );
                } else {
                    let outcome = result.unwrap();
                    let changed = model.mute(u, r, until, cause);
                    assert_eq!(outcome.changed, changed, "{op:?}");
                    assert_eq!(timed(&outcome.rooms), model.entries(u), "{op:?}");
                }
            }
            &Op::Advance(by) => {
                clock.advance(Duration::from_millis(by));
                model.advance(by);
            }
            Op::ExpireDue => {
                store.expire_due().await.unwrap();
            }
            &Op::Unmute(u, r) => {
                let actor = if r % 2 == 0 {
                    Actor::User
                } else {
                    Actor::Admin
                };
                let outcome = store
                    .unmute_by(&user(USERS[u]), &room(ROOMS[r]), actor)
                    .await
                    .unwrap();
                let entry = model.users.entry(USERS[u].to_string()).or_default();
                let present = entry.iter().any(|(x, _)| x == ROOMS[r]);
                entry.retain(|(x, _)| x != ROOMS[r]);
                if present {
                    let cause = if r % 2 == 0 { "user" } else { "admin" };
                    model.send(USERS[u], ROOMS[r], false, None, cause);
                }
                assert_eq!(outcome.changed, present, "{op:?}");
                assert_eq!(timed(&outcome.rooms), model.entries(u), "{op:?}");
            }
            &Op::MutedRooms(u) => {
                let rooms = store.muted_rooms(&user(USERS[u])).await.unwrap();
                assert_eq!(timed(&rooms), model.entries(u), "{op:?}");
            }
            &Op::IsMuted(u, r) => {
                let muted = store
                    .is_muted(&user(USERS[u]), &room(ROOMS[r]))
                    .await
                    .unwrap();
                assert_eq!(
                    muted,
                    model.rooms(u).iter().any(|x| x == ROOMS[r]),
                    "{op:?}"
                );
            }
            Op::MutedAmong(r, us) => {
                let asked: Vec<UserId> = us.iter().map(|&u| user(USERS[u])).collect();
                let muted = store.muted_among(&room(ROOMS[*r]), &asked).await.unwrap();
                let expected: Vec<UserId> = us
                    .iter()
                    .filter(|&&u| model.rooms(u).iter().any(|x| x == ROOMS[*r]))
                    .map(|&u| user(USERS[u]))
                    .collect();
                assert_eq!(muted, expected, "{op:?}");
            }
            &Op::ForgetRoom(r) => {
                let count = store.forget_room(&room(ROOMS[r])).await.unwrap();
                let mut expected = 0;
                let mut had_it = Vec::new();
                for (name, rooms) in &mut model.users {
                    let before = rooms.len();
                    rooms.retain(|(x, _)| x != ROOMS[r]);
                    if rooms.len() < before {
                        had_it.push(name.clone());
                    }
                    expected += before - rooms.len();
                }
                for name in had_it {
                    model.send(&name, ROOMS[r], false, None, "forget");
                }
                assert_eq!(count, expected, "{op:?}");
            }
            &Op::ForgetUser(u) => {
                let forgotten = store.forget_user(&user(USERS[u])).await.unwrap();
                assert_eq!(timed(&forgotten), model.entries(u), "{op:?}");
                for name in model.rooms(u) {
                    model.send(USERS[u], &name, false, None, "forget");
                }
                model.users.remove(USERS[u]);
            }
        }
    }
    for (u, name) in USERS.iter().enumerate() {
        let rooms = store.muted_rooms(&user(name)).await.unwrap();
        assert_no_duplicates(&list(&rooms));
        assert!(rooms.len() <= MODEL_LIMIT);
        assert_eq!(timed(&rooms), model.entries(u), "final state of {name}");
    }
    store.expire_due().await.unwrap();
    check_events(&mut feed, &model, &ops).await;
    // Nothing more may come: the next event must be this sentinel's.
    let sentinel = user("sentinel");
    store.mute(&sentinel, &room("sentinel")).await.unwrap();
    let next = tokio::time::timeout(Duration::from_secs(10), feed.recv()).await;
    match next {
        Ok(Ok(event)) => assert_eq!(
            event,
            ChangeEvent::muted(sentinel, room("sentinel"), None, ChangeCause::User),
            "an event too many; ops {ops:?}"
        ),
        other => panic!("the sentinel's event did not come: {other:?}"),
    }
}

/// Takes the events the store sent and compares them, user by user, with the model's.
async fn check_events(feed: &mut Subscription, model: &Model, ops: &[Op]) {
    let expected_count: usize = model
        .events
        .values()
        .flatten()
        .map(|e| match e {
            Expected::Change(..) => 1,
            Expected::Expiries(rooms) => rooms.len(),
        })
        .sum();
    let mut got: BTreeMap<String, Vec<ChangeEvent>> = BTreeMap::new();
    for _ in 0..expected_count {
        let event = match tokio::time::timeout(Duration::from_secs(10), feed.recv()).await {
            Ok(Ok(event)) => event,
            other => {
                panic!("expected {expected_count} events, got {got:?} then {other:?}; ops {ops:?}")
            }
        };
        got.entry(event.user.to_string()).or_default().push(event);
    }
    for name in USERS {
        let expected = model.events.get(name).cloned().unwrap_or_default();
        let mut events = got.remove(name).unwrap_or_default().into_iter();
        for step in expected {
            match step {
                Expected::Change(room, muted, until, cause) => {
                    let event = events.next();
                    let event = event
                        .as_ref()
                        .map(|e| (e.room.to_string(), e.muted, e.until_ms, e.cause.as_str()));
                    assert_eq!(
                        event,
                        Some((room, muted, until, cause)),
                        "{name}; ops {ops:?}"
                    );
                }
                Expected::Expiries(mut rooms) => {
                    let mut seen: Vec<String> = Vec::new();
                    for _ in 0..rooms.len() {
                        let event = events.next().expect("an expiry event");
                        assert_eq!(
                            (event.muted, event.until_ms, event.cause),
                            (false, None, ChangeCause::Expiry),
                            "{name}: {event:?}; ops {ops:?}"
                        );
                        seen.push(event.room.to_string());
                    }
                    rooms.sort();
                    seen.sort();
                    assert_eq!(seen, rooms, "{name}; ops {ops:?}");
                }
            }
        }
        assert_eq!(
            events.next(),
            None,
            "{name}: an event too many; ops {ops:?}"
        );
    }
    assert!(got.is_empty(), "events of unknown users: {got:?}");
}

/// Instantiates the model suite as a proptest test named `$suite`.
#[macro_export]
macro_rules! model_suite {
    ($suite:ident, $factory:expr) => {
        proptest::proptest! {
            #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]
            #[test]
            fn $suite(ops in proptest::collection::vec($crate::support::model::op(), 1..80)) {
                let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
                runtime.block_on($crate::support::model::check(&$factory, ops));
            }
        }
    };
}
