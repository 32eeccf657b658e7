//! The model suite: random operation sequences run against a store and against a plain reference
//! model; every answer and the final state must match.

use std::collections::BTreeMap;

use mutestore::{MuteStore, StoreError, UserId};
use proptest::prelude::*;

use super::{StoreFactory, room, user};

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
        4 => (u.clone(), r.clone()).prop_map(|(u, r)| Op::Unmute(u, r)),
        1 => u.clone().prop_map(Op::MutedRooms),
        2 => (u.clone(), r.clone()).prop_map(|(u, r)| Op::IsMuted(u, r)),
        1 => (r.clone(), proptest::collection::vec(u.clone(), 0..6)).prop_map(|(r, us)| Op::MutedAmong(r, us)),
        1 => r.prop_map(Op::ForgetRoom),
        1 => u.prop_map(Op::ForgetUser),
    ]
}

/// The reference: each user's rooms in mute order.
#[derive(Debug, Default)]
pub struct Model(BTreeMap<String, Vec<String>>);

impl Model {
    fn rooms(&self, u: usize) -> Vec<String> {
        self.0.get(USERS[u]).cloned().unwrap_or_default()
    }
}

fn list(rooms: &mutestore::MuteList) -> Vec<String> {
    rooms.iter().map(|r| r.to_string()).collect()
}

fn assert_no_duplicates(rooms: &[String]) {
    let mut sorted = rooms.to_vec();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), rooms.len(), "duplicates in {rooms:?}");
}

/// Runs `ops` on a fresh store and on the model, comparing every answer and the final state.
pub async fn check(factory: &impl StoreFactory, ops: Vec<Op>) {
    let store = factory.make(MODEL_LIMIT).await;
    let mut model = Model::default();
    for op in ops {
        match &op {
            &Op::Mute(u, r) => {
                let before = model.rooms(u);
                let result = store.mute(&user(USERS[u]), &room(ROOMS[r])).await;
                let present = before.iter().any(|x| x == ROOMS[r]);
                if !present && before.len() >= MODEL_LIMIT {
                    assert!(
                        matches!(result, Err(StoreError::MuteLimitExceeded(_))),
                        "{op:?}: {result:?}"
                    );
                } else {
                    let outcome = result.unwrap();
                    if !present {
                        model
                            .0
                            .entry(USERS[u].to_string())
                            .or_default()
                            .push(ROOMS[r].to_string());
                    }
                    assert_eq!(outcome.changed, !present, "{op:?}");
                    assert_eq!(list(&outcome.rooms), model.rooms(u), "{op:?}");
                }
            }
            &Op::Unmute(u, r) => {
                let outcome = store
                    .unmute(&user(USERS[u]), &room(ROOMS[r]))
                    .await
                    .unwrap();
                let entry = model.0.entry(USERS[u].to_string()).or_default();
                let present = entry.iter().any(|x| x == ROOMS[r]);
                entry.retain(|x| x != ROOMS[r]);
                assert_eq!(outcome.changed, present, "{op:?}");
                assert_eq!(list(&outcome.rooms), model.rooms(u), "{op:?}");
            }
            &Op::MutedRooms(u) => {
                let rooms = store.muted_rooms(&user(USERS[u])).await.unwrap();
                assert_eq!(list(&rooms), model.rooms(u), "{op:?}");
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
                for rooms in model.0.values_mut() {
                    let before = rooms.len();
                    rooms.retain(|x| x != ROOMS[r]);
                    expected += before - rooms.len();
                }
                assert_eq!(count, expected, "{op:?}");
            }
            &Op::ForgetUser(u) => {
                let forgotten = store.forget_user(&user(USERS[u])).await.unwrap();
                assert_eq!(list(&forgotten), model.rooms(u), "{op:?}");
                model.0.remove(USERS[u]);
            }
        }
    }
    for (u, name) in USERS.iter().enumerate() {
        let rooms = list(&store.muted_rooms(&user(name)).await.unwrap());
        assert_no_duplicates(&rooms);
        assert!(rooms.len() <= MODEL_LIMIT);
        assert_eq!(rooms, model.rooms(u), "final state of {name}");
    }
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
