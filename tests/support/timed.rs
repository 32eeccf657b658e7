//! The timed-mute suite: deadlines, their checks, what reads see at and after a deadline, and the
//! purge. Every case moves the store's clock (`Setup::clock`); none sleeps.

use std::time::Duration;

use mutestore::{Actor, Expiry, InvalidExpiry, MAX_DEADLINE_MS, MuteList, MuteStore, StoreError};

use super::{START_MS, Setup, StoreFactory, room, user};

/// Instantiates every timed-mute case as a `#[tokio::test]` in a module named `$suite`.
#[macro_export]
macro_rules! timed_suite {
    ($suite:ident, $factory:expr) => {
        mod $suite {
            #[allow(unused_imports)]
            use super::*;
            $crate::timed_cases!($factory;
                a_timed_mute_reads_as_muted_until_its_deadline,
                bad_deadlines_are_refused_and_change_nothing,
                a_remute_takes_the_new_deadline_and_keeps_its_place,
                a_plain_mute_removes_the_deadline,
                a_lapsed_room_muted_again_goes_to_the_end,
                unmute_removes_a_timed_mute,
                expire_due_purges_each_lapsed_mute_once,
                lapsed_mutes_do_not_count_against_the_limit,
                forget_skips_lapsed_mutes,
                lists_carry_deadlines,
                timed_sets_of_many_rooms_keep_order,
            );
        }
    };
}

/// Expands each named case into a test that calls it with a store from the factory.
#[macro_export]
macro_rules! timed_cases {
    ($factory:expr; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                $crate::support::timed::$case(&$factory).await;
            }
        )*
    };
}

fn names(list: &MuteList) -> Vec<String> {
    list.iter().map(|r| r.to_string()).collect()
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

pub async fn a_timed_mute_reads_as_muted_until_its_deadline(factory: &impl StoreFactory) {
    let setup = Setup::new(100);
    let clock = setup.clock.clone();
    let store = factory.make_with(setup).await;
    let (alice, bob) = (user("alice"), user("bob"));
    let lobby = room("lobby");
    let outcome = store
        .mute_with(&alice, &lobby, Expiry::After(ms(1000)), Actor::User)
        .await
        .unwrap();
    assert!(outcome.changed);
    assert_eq!(outcome.rooms.until("lobby"), Some(START_MS + 1000));
    store.mute(&bob, &lobby).await.unwrap();

    clock.advance(ms(999));
    assert!(store.is_muted(&alice, &lobby).await.unwrap());
    assert_eq!(store.muted_rooms(&alice).await.unwrap(), ["lobby"]);
    let both = [alice.clone(), bob.clone()];
    assert_eq!(store.muted_among(&lobby, &both).await.unwrap(), both);

    // From the deadline on, every read sees it unmuted, purged or not.
    clock.advance(ms(1));
    assert!(!store.is_muted(&alice, &lobby).await.unwrap());
    assert!(store.muted_rooms(&alice).await.unwrap().is_empty());
    assert_eq!(
        store.muted_among(&lobby, &both).await.unwrap(),
        std::slice::from_ref(&bob)
    );
    let outcome = store.unmute(&alice, &lobby).await.unwrap();
    assert!(!outcome.changed, "a lapsed mute is not there to unmute");
    assert!(store.is_muted(&bob, &lobby).await.unwrap());
}

pub async fn bad_deadlines_are_refused_and_change_nothing(factory: &impl StoreFactory) {
    let store = factory.make(100).await;
    let alice = user("alice");
    store
        .mute_with(
            &alice,
            &room("kept"),
            Expiry::At(START_MS + 50),
            Actor::User,
        )
        .await
        .unwrap();
    let before = store.muted_rooms(&alice).await.unwrap();
    let bad = [
        (Expiry::At(START_MS), "now"),
        (Expiry::At(START_MS - 1), "the past"),
        (Expiry::At(0), "the epoch"),
        (Expiry::After(Duration::ZERO), "zero"),
        (Expiry::At(MAX_DEADLINE_MS + 1), "too late"),
        (Expiry::After(Duration::from_secs(u64::MAX)), "huge"),
    ];
    for (expiry, what) in bad {
        for target in ["new", "kept"] {
            let result = store
                .mute_with(&alice, &room(target), expiry, Actor::User)
                .await;
            assert!(
                matches!(result, Err(StoreError::InvalidExpiry(_))),
                "{what} on {target}: {result:?}"
            );
        }
    }
    let result = store
        .mute_with(&alice, &room("x"), Expiry::At(START_MS), Actor::User)
        .await;
    assert!(matches!(
        result,
        Err(StoreError::InvalidExpiry(InvalidExpiry::NotInFuture { .. }))
    ));
    assert_eq!(store.muted_rooms(&alice).await.unwrap(), before);
    assert_eq!(before.until("kept"), Some(START_MS + 50));
    // The latest allowed deadline is accepted.
    store
        .mute_with(
            &alice,
            &room("far"),
            Expiry::At(MAX_DEADLINE_MS),
            Actor::User,
        )
        .await
        .unwrap();
    assert_eq!(
        store.muted_rooms(&alice).await.unwrap().until("far"),
        Some(MAX_DEADLINE_MS)
    );
}

pub async fn a_remute_takes_the_new_deadline_and_keeps_its_place(factory: &impl StoreFactory) {
    let setup = Setup::new(100);
    let clock = setup.clock.clone();
    let store = factory.make_with(setup).await;
    let alice = user("alice");
    for name in ["a", "b", "c"] {
        store
            .mute_with(&alice, &room(name), Expiry::After(ms(100)), Actor::User)
            .await
            .unwrap();
    }
    let same = store
        .mute_with(&alice, &room("a"), Expiry::At(START_MS + 100), Actor::User)
        .await
        .unwrap();
    assert!(!same.changed, "the same deadline again changes nothing");
    let later = store
        .mute_with(&alice, &room("a"), Expiry::After(ms(500)), Actor::User)
        .await
        .unwrap();
    assert!(later.changed);
    assert_eq!(names(&later.rooms), ["a", "b", "c"]);
    assert_eq!(later.rooms.until("a"), Some(START_MS + 500));
    // A shorter deadline is taken too.
    let sooner = store
        .mute_with(&alice, &room("b"), Expiry::After(ms(10)), Actor::User)
        .await
        .unwrap();
    assert_eq!(sooner.rooms.until("b"), Some(START_MS + 10));
    clock.advance(ms(200));
    let rooms = store.muted_rooms(&alice).await.unwrap();
    assert_eq!(names(&rooms), ["a"]);
    assert_eq!(rooms.until("a"), Some(START_MS + 500));
}

pub async fn a_plain_mute_removes_the_deadline(factory: &impl StoreFactory) {
    let setup = Setup::new(100);
    let clock = setup.clock.clone();
    let store = factory.make_with(setup).await;
    let alice = user("alice");
    store.mute(&alice, &room("first")).await.unwrap();
    store
        .mute_with(&alice, &room("timed"), Expiry::After(ms(100)), Actor::User)
        .await
        .unwrap();
    store.mute(&alice, &room("last")).await.unwrap();
    let plain = store.mute(&alice, &room("timed")).await.unwrap();
    assert!(plain.changed, "removing a deadline is a change");
    assert_eq!(plain.rooms.until("timed"), None);
    assert!(!plain.rooms.has_deadlines());
    assert_eq!(names(&plain.rooms), ["first", "timed", "last"]);
    let again = store.mute(&alice, &room("timed")).await.unwrap();
    assert!(!again.changed);
    clock.advance(ms(1000));
    assert_eq!(
        names(&store.muted_rooms(&alice).await.unwrap()),
        ["first", "timed", "last"]
    );
    assert_eq!(store.expire_due().await.unwrap(), 0);
}

pub async fn a_lapsed_room_muted_again_goes_to_the_end(factory: &impl StoreFactory) {
    let setup = Setup::new(100);
    let clock = setup.clock.clone();
    let store = factory.make_with(setup).await;
    let alice = user("alice");
    store
        .mute_with(&alice, &room("a"), Expiry::After(ms(10)), Actor::User)
        .await
        .unwrap();
    store.mute(&alice, &room("b")).await.unwrap();
    clock.advance(ms(10));
    let outcome = store.mute(&alice, &room("a")).await.unwrap();
    assert!(
        outcome.changed,
        "the lapsed mute was gone: this mutes again"
    );
    assert_eq!(names(&outcome.rooms), ["b", "a"]);
    assert_eq!(outcome.rooms.until("a"), None);
}

pub async fn unmute_removes_a_timed_mute(factory: &impl StoreFactory) {
    let store = factory.make(100).await;
    let alice = user("alice");
    store.mute(&alice, &room("plain")).await.unwrap();
    store
        .mute_with(&alice, &room("timed"), Expiry::After(ms(100)), Actor::User)
        .await
        .unwrap();
    let outcome = store.unmute(&alice, &room("timed")).await.unwrap();
    assert!(outcome.changed);
    assert_eq!(names(&outcome.rooms), ["plain"]);
    assert!(!outcome.rooms.has_deadlines());
    assert_eq!(store.expire_due().await.unwrap(), 0);
    let outcome = store.unmute(&alice, &room("plain")).await.unwrap();
    assert!(outcome.rooms.is_empty());
}

pub async fn expire_due_purges_each_lapsed_mute_once(factory: &impl StoreFactory) {
    let setup = Setup::new(100);
    let clock = setup.clock.clone();
    let store = factory.make_with(setup).await;
    let users: Vec<_> = (0..20).map(|n| user(&format!("user-{n}"))).collect();
    for (n, who) in users.iter().enumerate() {
        store
            .mute_with(
                who,
                &room("soon"),
                Expiry::After(ms(10 + n as u64)),
                Actor::User,
            )
            .await
            .unwrap();
        store
            .mute_with(who, &room("later"), Expiry::After(ms(1000)), Actor::User)
            .await
            .unwrap();
    }
    assert_eq!(store.expire_due().await.unwrap(), 0);
    clock.advance(ms(29));
    // The store's own purge may run at any time; together with ours it purges each mute once.
    let mut purged = store.expire_due().await.unwrap();
    purged += store.expire_due().await.unwrap();
    assert!(purged <= 20, "{purged}");
    for who in &users {
        assert_eq!(names(&store.muted_rooms(who).await.unwrap()), ["later"]);
    }
    clock.advance(ms(1000));
    store.expire_due().await.unwrap();
    for who in &users {
        assert!(store.muted_rooms(who).await.unwrap().is_empty());
        assert!(!store.is_muted(who, &room("later")).await.unwrap());
    }
    assert_eq!(store.expire_due().await.unwrap(), 0);
}

pub async fn lapsed_mutes_do_not_count_against_the_limit(factory: &impl StoreFactory) {
    let setup = Setup::new(2);
    let clock = setup.clock.clone();
    let store = factory.make_with(setup).await;
    let alice = user("alice");
    store.mute(&alice, &room("a")).await.unwrap();
    store
        .mute_with(&alice, &room("b"), Expiry::After(ms(10)), Actor::User)
        .await
        .unwrap();
    let refused = store.mute(&alice, &room("c")).await;
    assert!(matches!(refused, Err(StoreError::MuteLimitExceeded(_))));
    let refused = store
        .mute_with(&alice, &room("c"), Expiry::After(ms(5)), Actor::User)
        .await;
    assert!(matches!(refused, Err(StoreError::MuteLimitExceeded(_))));
    assert_eq!(names(&store.muted_rooms(&alice).await.unwrap()), ["a", "b"]);
    clock.advance(ms(10));
    let outcome = store.mute(&alice, &room("c")).await.unwrap();
    assert_eq!(names(&outcome.rooms), ["a", "c"]);
}

pub async fn forget_skips_lapsed_mutes(factory: &impl StoreFactory) {
    let setup = Setup::new(100);
    let clock = setup.clock.clone();
    let store = factory.make_with(setup).await;
    let (alice, bob, carol) = (user("alice"), user("bob"), user("carol"));
    let gone = room("gone");
    store
        .mute_with(&alice, &gone, Expiry::After(ms(10)), Actor::User)
        .await
        .unwrap();
    store
        .mute_with(&bob, &gone, Expiry::After(ms(100)), Actor::User)
        .await
        .unwrap();
    store.mute(&carol, &gone).await.unwrap();
    store
        .mute_with(&carol, &room("other"), Expiry::After(ms(10)), Actor::User)
        .await
        .unwrap();
    clock.advance(ms(10));
    assert_eq!(store.forget_room(&gone).await.unwrap(), 2, "bob and carol");
    for who in [&alice, &bob, &carol] {
        assert!(!store.is_muted(who, &gone).await.unwrap());
    }
    let forgotten = store.forget_user(&carol).await.unwrap();
    assert!(forgotten.is_empty(), "carol's other mute had lapsed");
    store
        .mute_with(&carol, &room("x"), Expiry::After(ms(50)), Actor::User)
        .await
        .unwrap();
    let forgotten = store.forget_user(&carol).await.unwrap();
    assert_eq!(names(&forgotten), ["x"]);
    assert_eq!(forgotten.until("x"), Some(START_MS + 60));
    assert_eq!(
        store.expire_due().await.unwrap(),
        0,
        "nothing left to purge"
    );
}

pub async fn lists_carry_deadlines(factory: &impl StoreFactory) {
    let store = factory.make(100).await;
    let alice = user("alice");
    store.mute(&alice, &room("p1")).await.unwrap();
    store
        .mute_with(&alice, &room("t1"), Expiry::At(START_MS + 7), Actor::Admin)
        .await
        .unwrap();
    store.mute(&alice, &room("p2")).await.unwrap();
    let outcome = store
        .mute_with(&alice, &room("t2"), Expiry::After(ms(3)), Actor::User)
        .await
        .unwrap();
    let expected = [
        ("t1".to_string(), START_MS + 7),
        ("t2".to_string(), START_MS + 3),
    ];
    for list in [outcome.rooms, store.muted_rooms(&alice).await.unwrap()] {
        assert_eq!(names(&list), ["p1", "t1", "p2", "t2"]);
        let timed: Vec<(String, u64)> = list.deadlines().map(|(r, t)| (r.to_string(), t)).collect();
        assert_eq!(timed, expected);
        assert_eq!(list.until("p1"), None);
    }
}

pub async fn timed_sets_of_many_rooms_keep_order(factory: &impl StoreFactory) {
    let setup = Setup::new(1000);
    let clock = setup.clock.clone();
    let store = factory.make_with(setup).await;
    let alice = user("alice");
    let mut expected = Vec::new();
    for n in 0..40u64 {
        let name = format!("room-{n}");
        let expiry = if n % 3 == 0 {
            Expiry::After(ms(10 + n))
        } else {
            Expiry::Never
        };
        store
            .mute_with(&alice, &room(&name), expiry, Actor::User)
            .await
            .unwrap();
        if n % 3 != 0 || 10 + n > 30 {
            expected.push(name);
        }
    }
    clock.advance(ms(30));
    assert_eq!(names(&store.muted_rooms(&alice).await.unwrap()), expected);
    store.expire_due().await.unwrap();
    assert_eq!(names(&store.muted_rooms(&alice).await.unwrap()), expected);
    clock.advance(ms(100));
    let plain: Vec<String> = (0..40)
        .filter(|n| n % 3 != 0)
        .map(|n| format!("room-{n}"))
        .collect();
    let outcome = store.unmute(&alice, &room("never-muted")).await.unwrap();
    assert_eq!(names(&outcome.rooms), plain);
    assert!(!outcome.rooms.has_deadlines());
}
