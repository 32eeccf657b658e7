//! The events suite: every change reaches subscribers once, with its cause, in order; refused and
//! idempotent operations send nothing; a user's feed carries only that user's changes.
//!
//! "Nothing was sent" is checked without waiting on a timer: after the operation that must send
//! nothing, a sentinel change is made, and the next event must be the sentinel's.

use std::time::Duration;

use mutestore::{
    Actor, ChangeCause, ChangeEvent, EventScope, Expiry, MuteStore, StoreError, Subscription,
    UserId,
};

use super::{START_MS, Setup, StoreFactory, room, user};

/// How long a case waits for an event that must come (a networked backend delivers it
/// asynchronously).
const PATIENCE: Duration = Duration::from_secs(10);

/// Instantiates every events case as a `#[tokio::test]` in a module named `$suite`.
#[macro_export]
macro_rules! events_suite {
    ($suite:ident, $factory:expr) => {
        mod $suite {
            #[allow(unused_imports)]
            use super::*;
            $crate::events_cases!($factory;
                each_change_sends_one_event_with_its_cause,
                idempotent_and_refused_operations_send_nothing,
                a_lapsed_mute_sends_one_expiry_event,
                a_write_purges_first_and_says_so_first,
                forget_sends_forget_events,
                a_user_feed_carries_only_that_user,
                every_subscriber_gets_every_event,
            );
        }
    };
}

/// Expands each named case into a test that calls it with a store from the factory.
#[macro_export]
macro_rules! events_cases {
    ($factory:expr; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                $crate::support::events::$case(&$factory).await;
            }
        )*
    };
}

/// The next event, failing the test if none comes in time.
pub async fn next(feed: &mut Subscription) -> ChangeEvent {
    match tokio::time::timeout(PATIENCE, feed.recv()).await {
        Ok(Ok(event)) => event,
        Ok(Err(error)) => panic!("the feed failed: {error}"),
        Err(_) => panic!("no event within {PATIENCE:?}"),
    }
}

/// Asserts the next event is `room` for `who`: muted or not, its deadline and its cause.
pub async fn expect(
    feed: &mut Subscription,
    who: &UserId,
    room_name: &str,
    muted: bool,
    until_ms: Option<u64>,
    cause: ChangeCause,
) {
    let event = next(feed).await;
    let expected = ChangeEvent {
        user: who.clone(),
        room: room(room_name),
        muted,
        until_ms,
        cause,
    };
    assert_eq!(event, expected);
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

pub async fn each_change_sends_one_event_with_its_cause(factory: &impl StoreFactory) {
    let store = factory.make(100).await;
    let alice = user("alice");
    let mut feed = store.subscribe(EventScope::User(alice.clone())).unwrap();
    store.mute(&alice, &room("a")).await.unwrap();
    store
        .mute_with(&alice, &room("b"), Expiry::Never, Actor::Admin)
        .await
        .unwrap();
    store
        .mute_with(&alice, &room("c"), Expiry::After(ms(100)), Actor::User)
        .await
        .unwrap();
    store
        .mute_with(&alice, &room("c"), Expiry::At(START_MS + 200), Actor::Admin)
        .await
        .unwrap();
    store.mute(&alice, &room("c")).await.unwrap();
    store.unmute(&alice, &room("a")).await.unwrap();
    store
        .unmute_by(&alice, &room("b"), Actor::Admin)
        .await
        .unwrap();
    use ChangeCause::{Admin, User};
    expect(&mut feed, &alice, "a", true, None, User).await;
    expect(&mut feed, &alice, "b", true, None, Admin).await;
    expect(&mut feed, &alice, "c", true, Some(START_MS + 100), User).await;
    expect(&mut feed, &alice, "c", true, Some(START_MS + 200), Admin).await;
    expect(&mut feed, &alice, "c", true, None, User).await;
    expect(&mut feed, &alice, "a", false, None, User).await;
    expect(&mut feed, &alice, "b", false, None, Admin).await;
}

pub async fn idempotent_and_refused_operations_send_nothing(factory: &impl StoreFactory) {
    let store = factory.make(2).await;
    let alice = user("alice");
    let mut feed = store.subscribe(EventScope::All).unwrap();
    store.mute(&alice, &room("a")).await.unwrap();
    store
        .mute_with(&alice, &room("b"), Expiry::After(ms(100)), Actor::User)
        .await
        .unwrap();
    expect(&mut feed, &alice, "a", true, None, ChangeCause::User).await;
    expect(
        &mut feed,
        &alice,
        "b",
        true,
        Some(START_MS + 100),
        ChangeCause::User,
    )
    .await;

    store.mute(&alice, &room("a")).await.unwrap(); // already muted
    store
        .mute_with(&alice, &room("b"), Expiry::At(START_MS + 100), Actor::User)
        .await
        .unwrap(); // same deadline
    store.unmute(&alice, &room("never")).await.unwrap(); // not muted
    let limit = store.mute(&alice, &room("third")).await;
    assert!(matches!(limit, Err(StoreError::MuteLimitExceeded(_))));
    let past = store
        .mute_with(&alice, &room("a"), Expiry::At(START_MS), Actor::User)
        .await;
    assert!(matches!(past, Err(StoreError::InvalidExpiry(_))));
    store.forget_room(&room("nobody-muted-it")).await.unwrap();
    store.forget_user(&user("nobody")).await.unwrap();
    assert_eq!(store.expire_due().await.unwrap(), 0);

    store.unmute(&alice, &room("a")).await.unwrap(); // the sentinel
    expect(&mut feed, &alice, "a", false, None, ChangeCause::User).await;
}

pub async fn a_lapsed_mute_sends_one_expiry_event(factory: &impl StoreFactory) {
    let setup = Setup::new(100);
    let clock = setup.clock.clone();
    let store = factory.make_with(setup).await;
    let alice = user("alice");
    let mut feed = store.subscribe(EventScope::User(alice.clone())).unwrap();
    store
        .mute_with(&alice, &room("a"), Expiry::After(ms(50)), Actor::User)
        .await
        .unwrap();
    expect(
        &mut feed,
        &alice,
        "a",
        true,
        Some(START_MS + 50),
        ChangeCause::User,
    )
    .await;
    clock.advance(ms(50));
    store.expire_due().await.unwrap();
    expect(&mut feed, &alice, "a", false, None, ChangeCause::Expiry).await;
    // Reads, another purge and writes elsewhere send nothing more for it.
    assert!(!store.is_muted(&alice, &room("a")).await.unwrap());
    assert_eq!(store.expire_due().await.unwrap(), 0);
    store.unmute(&alice, &room("a")).await.unwrap();
    store.mute(&alice, &room("sentinel")).await.unwrap();
    expect(&mut feed, &alice, "sentinel", true, None, ChangeCause::User).await;
}

pub async fn a_write_purges_first_and_says_so_first(factory: &impl StoreFactory) {
    let setup = Setup::new(100);
    let clock = setup.clock.clone();
    let store = factory.make_with(setup).await;
    let alice = user("alice");
    let mut feed = store.subscribe(EventScope::User(alice.clone())).unwrap();
    store
        .mute_with(&alice, &room("a"), Expiry::After(ms(10)), Actor::User)
        .await
        .unwrap();
    expect(
        &mut feed,
        &alice,
        "a",
        true,
        Some(START_MS + 10),
        ChangeCause::User,
    )
    .await;
    clock.advance(ms(10));
    // Muting the lapsed room again: whoever purges it (the store's timer or this write), its
    // expiry comes before the new mute.
    store.mute(&alice, &room("a")).await.unwrap();
    expect(&mut feed, &alice, "a", false, None, ChangeCause::Expiry).await;
    expect(&mut feed, &alice, "a", true, None, ChangeCause::User).await;
}

pub async fn forget_sends_forget_events(factory: &impl StoreFactory) {
    let store = factory.make(100).await;
    let (alice, bob) = (user("alice"), user("bob"));
    let mut feed = store.subscribe(EventScope::All).unwrap();
    store.mute(&alice, &room("x")).await.unwrap();
    store
        .mute_with(&bob, &room("x"), Expiry::After(ms(100)), Actor::User)
        .await
        .unwrap();
    store.mute(&bob, &room("y")).await.unwrap();
    for _ in 0..3 {
        next(&mut feed).await;
    }
    assert_eq!(store.forget_room(&room("x")).await.unwrap(), 2);
    let mut forgotten = [next(&mut feed).await, next(&mut feed).await];
    forgotten.sort_by(|a, b| a.user.cmp(&b.user));
    for (event, who) in forgotten.iter().zip([&alice, &bob]) {
        assert_eq!(
            *event,
            ChangeEvent::unmuted(who.clone(), room("x"), ChangeCause::Forget)
        );
    }
    store.forget_user(&bob).await.unwrap();
    expect(&mut feed, &bob, "y", false, None, ChangeCause::Forget).await;
}

pub async fn a_user_feed_carries_only_that_user(factory: &impl StoreFactory) {
    let setup = Setup::new(100);
    let clock = setup.clock.clone();
    let store = factory.make_with(setup).await;
    let (alice, bob) = (user("alice"), user("bob"));
    let mut alices = store.subscribe(EventScope::User(alice.clone())).unwrap();
    store.mute(&bob, &room("b1")).await.unwrap();
    store
        .mute_with(&bob, &room("b2"), Expiry::After(ms(5)), Actor::Admin)
        .await
        .unwrap();
    store.forget_room(&room("b1")).await.unwrap();
    clock.advance(ms(5));
    store.expire_due().await.unwrap();
    store.mute(&alice, &room("mine")).await.unwrap();
    expect(&mut alices, &alice, "mine", true, None, ChangeCause::User).await;
}

pub async fn every_subscriber_gets_every_event(factory: &impl StoreFactory) {
    let store = factory.make(100).await;
    let alice = user("alice");
    let mut first = store.subscribe(EventScope::User(alice.clone())).unwrap();
    let mut second = store.subscribe(EventScope::User(alice.clone())).unwrap();
    let mut all = store.subscribe(EventScope::All).unwrap();
    let dropped = store.subscribe(EventScope::User(alice.clone())).unwrap();
    drop(dropped);
    store.mute(&alice, &room("r")).await.unwrap();
    for feed in [&mut first, &mut second, &mut all] {
        expect(feed, &alice, "r", true, None, ChangeCause::User).await;
    }
}
