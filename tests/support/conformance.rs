//! The conformance suite: every operation of `MuteStore`, the order rule, the limit and forget_*.

use std::collections::HashSet;
use std::sync::Arc;

use mutestore::{MuteList, MuteStore, StoreError};

use super::{StoreFactory, room, user};

/// Instantiates every conformance case as a `#[tokio::test]` in a module named `$suite`.
#[macro_export]
macro_rules! conformance_suite {
    ($suite:ident, $factory:expr) => {
        mod $suite {
            #[allow(unused_imports)]
            use super::*;
            $crate::conformance_cases!($factory;
                mute_appends_in_mute_order,
                remute_changes_nothing_and_keeps_its_place,
                unmute_is_idempotent,
                unmute_then_mute_moves_to_the_end,
                reads_reflect_the_state,
                users_are_isolated,
                limit_refuses_only_new_rooms,
                zero_limit_refuses_every_mute,
                muted_among_answers_in_input_order,
                forget_room_clears_it_everywhere,
                forget_user_clears_only_that_user,
                large_sets_keep_order_through_churn,
                awkward_ids_round_trip,
                returned_lists_are_snapshots,
                concurrent_mutes_on_one_user_are_atomic,
            );
        }
    };
}

/// Expands each named case into a test that calls it with a store from the factory.
#[macro_export]
macro_rules! conformance_cases {
    ($factory:expr; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                $crate::support::conformance::$case(&$factory).await;
            }
        )*
    };
}

fn names(list: &MuteList) -> Vec<String> {
    list.iter().map(|r| r.to_string()).collect()
}

pub async fn mute_appends_in_mute_order(factory: &impl StoreFactory) {
    let store = factory.make(100).await;
    let alice = user("alice");
    let mut expected = Vec::new();
    for n in 0..6 {
        let name = format!("room-{n}");
        let outcome = store.mute(&alice, &room(&name)).await.unwrap();
        expected.push(name);
        assert!(outcome.changed, "a new room is a change");
        assert_eq!(names(&outcome.rooms), expected);
    }
}

pub async fn remute_changes_nothing_and_keeps_its_place(factory: &impl StoreFactory) {
    let store = factory.make(100).await;
    let alice = user("alice");
    for rooms in [&["a", "b"][..], &["a", "b", "c", "d", "e"][..]] {
        for r in rooms {
            store.mute(&alice, &room(r)).await.unwrap();
        }
        let again = store.mute(&alice, &room("a")).await.unwrap();
        assert!(!again.changed);
        assert_eq!(names(&again.rooms), *rooms);
    }
}

pub async fn unmute_is_idempotent(factory: &impl StoreFactory) {
    let store = factory.make(100).await;
    let alice = user("alice");
    let unknown = store.unmute(&user("nobody"), &room("a")).await.unwrap();
    assert!(!unknown.changed);
    assert!(unknown.rooms.is_empty());
    for r in ["a", "b", "c"] {
        store.mute(&alice, &room(r)).await.unwrap();
    }
    let first = store.unmute(&alice, &room("b")).await.unwrap();
    assert!(first.changed);
    assert_eq!(first.rooms, ["a", "c"]);
    let second = store.unmute(&alice, &room("b")).await.unwrap();
    assert!(!second.changed);
    assert_eq!(second.rooms, ["a", "c"]);
    let never = store.unmute(&alice, &room("never-muted")).await.unwrap();
    assert!(!never.changed);
    assert_eq!(never.rooms, ["a", "c"]);
    store.unmute(&alice, &room("a")).await.unwrap();
    let last = store.unmute(&alice, &room("c")).await.unwrap();
    assert!(last.changed);
    assert!(last.rooms.is_empty());
    assert!(store.muted_rooms(&alice).await.unwrap().is_empty());
}

pub async fn unmute_then_mute_moves_to_the_end(factory: &impl StoreFactory) {
    let store = factory.make(100).await;
    let alice = user("alice");
    for r in ["a", "b", "c", "d"] {
        store.mute(&alice, &room(r)).await.unwrap();
    }
    store.unmute(&alice, &room("a")).await.unwrap();
    let outcome = store.mute(&alice, &room("a")).await.unwrap();
    assert!(outcome.changed);
    assert_eq!(outcome.rooms, ["b", "c", "d", "a"]);
}

pub async fn reads_reflect_the_state(factory: &impl StoreFactory) {
    let store = factory.make(100).await;
    let alice = user("alice");
    assert!(store.muted_rooms(&alice).await.unwrap().is_empty());
    assert!(!store.is_muted(&alice, &room("a")).await.unwrap());
    store.mute(&alice, &room("a")).await.unwrap();
    store.mute(&alice, &room("b")).await.unwrap();
    assert_eq!(store.muted_rooms(&alice).await.unwrap(), ["a", "b"]);
    assert!(store.is_muted(&alice, &room("a")).await.unwrap());
    assert!(!store.is_muted(&alice, &room("c")).await.unwrap());
    store.unmute(&alice, &room("a")).await.unwrap();
    assert!(!store.is_muted(&alice, &room("a")).await.unwrap());
    assert_eq!(store.mute_limit(), 100);
}

pub async fn users_are_isolated(factory: &impl StoreFactory) {
    let store = factory.make(100).await;
    let (alice, bob) = (user("alice"), user("bob"));
    store.mute(&alice, &room("a")).await.unwrap();
    store.mute(&bob, &room("b")).await.unwrap();
    store.unmute(&bob, &room("a")).await.unwrap();
    assert_eq!(store.muted_rooms(&alice).await.unwrap(), ["a"]);
    assert_eq!(store.muted_rooms(&bob).await.unwrap(), ["b"]);
    assert!(!store.is_muted(&bob, &room("a")).await.unwrap());
    store.forget_user(&bob).await.unwrap();
    assert_eq!(store.muted_rooms(&alice).await.unwrap(), ["a"]);
}

pub async fn limit_refuses_only_new_rooms(factory: &impl StoreFactory) {
    let store = factory.make(5).await;
    assert_eq!(store.mute_limit(), 5);
    let alice = user("alice");
    let rooms: Vec<String> = (0..5).map(|n| format!("r{n}")).collect();
    for r in &rooms {
        store.mute(&alice, &room(r)).await.unwrap();
    }
    match store.mute(&alice, &room("one-too-many")).await {
        Err(StoreError::MuteLimitExceeded(e)) => assert_eq!(e.limit, 5),
        other => panic!("expected the limit error, got {other:?}"),
    }
    assert_eq!(
        names(&store.muted_rooms(&alice).await.unwrap()),
        rooms,
        "refused mute changed nothing"
    );
    assert!(!store.is_muted(&alice, &room("one-too-many")).await.unwrap());
    let again = store.mute(&alice, &room("r2")).await.unwrap();
    assert!(!again.changed, "re-muting at the limit is fine");
    store.unmute(&alice, &room("r0")).await.unwrap();
    assert!(
        store
            .mute(&alice, &room("one-too-many"))
            .await
            .unwrap()
            .changed
    );
    // The limit is per user.
    assert!(store.mute(&user("bob"), &room("r0")).await.is_ok());
}

pub async fn zero_limit_refuses_every_mute(factory: &impl StoreFactory) {
    let store = factory.make(0).await;
    let alice = user("alice");
    assert!(matches!(
        store.mute(&alice, &room("a")).await,
        Err(StoreError::MuteLimitExceeded(_))
    ));
    assert!(store.muted_rooms(&alice).await.unwrap().is_empty());
}

pub async fn muted_among_answers_in_input_order(factory: &impl StoreFactory) {
    let store = factory.make(100).await;
    let target = room("target");
    let users: Vec<_> = (0..300).map(|n| user(&format!("user-{n:03}"))).collect();
    for (n, u) in users.iter().enumerate() {
        if n % 3 == 0 {
            store.mute(u, &target).await.unwrap();
        }
        // Some users hold many rooms, so both representations are asked.
        let extra = if n % 10 == 0 { 6 } else { 1 };
        for k in 0..extra {
            store.mute(u, &room(&format!("other-{k}"))).await.unwrap();
        }
    }
    let mut asked: Vec<_> = users.iter().rev().cloned().collect();
    asked.push(user("never-seen"));
    asked.push(users[0].clone());
    let muted = store.muted_among(&target, &asked).await.unwrap();
    let expected: Vec<_> = asked
        .iter()
        .filter(|u| {
            u.strip_prefix("user-")
                .and_then(|n| n.parse::<usize>().ok())
                .is_some_and(|n| n % 3 == 0)
        })
        .cloned()
        .collect();
    assert_eq!(muted, expected);
    assert!(store.muted_among(&target, &[]).await.unwrap().is_empty());
    assert!(
        store
            .muted_among(&room("nobody-muted-this"), &asked)
            .await
            .unwrap()
            .is_empty()
    );
}

pub async fn forget_room_clears_it_everywhere(factory: &impl StoreFactory) {
    let store = factory.make(100).await;
    let gone = room("gone");
    for n in 0..50 {
        let u = user(&format!("u{n}"));
        store.mute(&u, &room("before")).await.unwrap();
        if n % 2 == 0 {
            store.mute(&u, &gone).await.unwrap();
        }
        for k in 0..(n % 7) {
            store.mute(&u, &room(&format!("after-{k}"))).await.unwrap();
        }
    }
    let only = user("only-gone");
    store.mute(&only, &gone).await.unwrap();
    assert_eq!(store.forget_room(&gone).await.unwrap(), 26);
    for n in 0..50 {
        let u = user(&format!("u{n}"));
        let expected: Vec<String> = std::iter::once("before".to_string())
            .chain((0..(n % 7)).map(|k| format!("after-{k}")))
            .collect();
        assert_eq!(
            names(&store.muted_rooms(&u).await.unwrap()),
            expected,
            "user u{n}"
        );
        assert!(!store.is_muted(&u, &gone).await.unwrap());
    }
    assert!(store.muted_rooms(&only).await.unwrap().is_empty());
    assert_eq!(store.forget_room(&gone).await.unwrap(), 0);
    assert_eq!(store.forget_room(&room("never")).await.unwrap(), 0);
    // The room can be muted again afterwards.
    assert!(store.mute(&only, &gone).await.unwrap().changed);
}

pub async fn forget_user_clears_only_that_user(factory: &impl StoreFactory) {
    let store = factory.make(100).await;
    let (alice, bob) = (user("alice"), user("bob"));
    for r in ["a", "b", "c", "d"] {
        store.mute(&alice, &room(r)).await.unwrap();
        store.mute(&bob, &room(r)).await.unwrap();
    }
    let forgotten = store.forget_user(&alice).await.unwrap();
    assert_eq!(forgotten, ["a", "b", "c", "d"]);
    assert!(store.muted_rooms(&alice).await.unwrap().is_empty());
    assert_eq!(store.muted_rooms(&bob).await.unwrap(), ["a", "b", "c", "d"]);
    assert!(store.forget_user(&alice).await.unwrap().is_empty());
    assert!(store.mute(&alice, &room("z")).await.unwrap().changed);
}

pub async fn large_sets_keep_order_through_churn(factory: &impl StoreFactory) {
    let store = factory.make(1000).await;
    let alice = user("alice");
    let mut model: Vec<String> = Vec::new();
    for n in 0..200 {
        let name = format!("room-{n}");
        store.mute(&alice, &room(&name)).await.unwrap();
        model.push(name);
    }
    for n in (0..200).step_by(2) {
        let name = format!("room-{n}");
        assert!(store.unmute(&alice, &room(&name)).await.unwrap().changed);
        model.retain(|r| *r != name);
    }
    for n in (0..40).step_by(4) {
        let name = format!("room-{n}");
        store.mute(&alice, &room(&name)).await.unwrap();
        model.push(name);
    }
    assert_eq!(names(&store.muted_rooms(&alice).await.unwrap()), model);
    // Shrink to a couple of rooms and grow again.
    let keep: Vec<String> = model[..2].to_vec();
    for name in &model[2..] {
        store.unmute(&alice, &room(name)).await.unwrap();
    }
    assert_eq!(names(&store.muted_rooms(&alice).await.unwrap()), keep);
    let grown = store.mute(&alice, &room("new")).await.unwrap();
    assert_eq!(grown.rooms.len(), 3);
    assert!(store.is_muted(&alice, &room(&keep[0])).await.unwrap());
}

pub async fn awkward_ids_round_trip(factory: &impl StoreFactory) {
    let store = factory.make(100).await;
    let long_user = user(&"u".repeat(256));
    let awkward = [
        "a/b",
        "with space",
        "ルーム",
        "%2F",
        &"r".repeat(256),
        "\u{85}c1",
    ];
    for r in awkward {
        store.mute(&long_user, &room(r)).await.unwrap();
    }
    assert_eq!(store.muted_rooms(&long_user).await.unwrap(), awkward);
    assert!(store.is_muted(&long_user, &room("ルーム")).await.unwrap());
    assert!(
        !store
            .is_muted(&user(&"u".repeat(255)), &room("ルーム"))
            .await
            .unwrap()
    );
    let among = store
        .muted_among(&room("a/b"), std::slice::from_ref(&long_user))
        .await
        .unwrap();
    assert_eq!(among, [long_user]);
}

pub async fn returned_lists_are_snapshots(factory: &impl StoreFactory) {
    let store = factory.make(100).await;
    let alice = user("alice");
    // 4: the unmute takes the set from the heap back inline while the list shares it.
    for size in [2, 4, 8] {
        store.forget_user(&alice).await.unwrap();
        for n in 0..size {
            store.mute(&alice, &room(&format!("r{n}"))).await.unwrap();
        }
        let before = store.muted_rooms(&alice).await.unwrap();
        let copy = before.to_vec();
        let unmuted = store.unmute(&alice, &room("r0")).await.unwrap();
        let left: Vec<String> = (1..size).map(|n| format!("r{n}")).collect();
        assert_eq!(
            names(&unmuted.rooms),
            left,
            "the unmute's list, with the set shared"
        );
        store.mute(&alice, &room("later")).await.unwrap();
        assert_eq!(
            before.to_vec(),
            copy,
            "a list taken earlier must not change"
        );
        assert_ne!(store.muted_rooms(&alice).await.unwrap(), before);
    }
}

pub async fn concurrent_mutes_on_one_user_are_atomic(factory: &impl StoreFactory) {
    let store = Arc::new(factory.make(1000).await);
    let alice = user("alice");
    let mut tasks = Vec::new();
    for n in 0..64 {
        let store = Arc::clone(&store);
        let alice = alice.clone();
        tasks.push(tokio::spawn(async move {
            store.mute(&alice, &room(&format!("r{n}"))).await.unwrap()
        }));
    }
    let mut sizes = HashSet::new();
    for task in tasks {
        let outcome = task.await.unwrap();
        let unique: HashSet<_> = outcome.rooms.iter().collect();
        assert_eq!(
            unique.len(),
            outcome.rooms.len(),
            "no duplicates in any returned list"
        );
        assert!(outcome.changed);
        // Each change adds exactly one room, so no two results can have the same length.
        assert!(
            sizes.insert(outcome.rooms.len()),
            "two results saw the same state"
        );
    }
    assert_eq!(store.muted_rooms(&alice).await.unwrap().len(), 64);
}
