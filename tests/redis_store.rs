//! `RedisStore` against the generic suites, on a standalone server and on a Cluster, and what only
//! a shared store can show: two stores on one Redis, the stored format, an interrupted
//! `forget_room`. Needs real servers: `bash .ci/redis.sh` (see tests/redis_env).

#![cfg(feature = "redis")]

mod redis_env;
mod support;

/// An empty store on the standalone server, for a suite's setup (its limit and its clock).
async fn standalone_store(setup: support::Setup) -> RedisStore {
    redis_env::standalone_store(setup.limit, setup.shared_clock()).await
}

/// An empty store on the Cluster, for a suite's setup (its limit and its clock).
async fn cluster_store(setup: support::Setup) -> RedisStore {
    redis_env::cluster_store(setup.limit, setup.shared_clock()).await
}

conformance_suite!(standalone, standalone_store);
model_suite!(standalone_model, standalone_store);
stress_suite!(standalone_stress, standalone_store);
timed_suite!(standalone_timed, standalone_store);
events_suite!(standalone_events, standalone_store);

conformance_suite!(cluster, cluster_store);
model_suite!(cluster_model, cluster_store);
stress_suite!(cluster_stress, cluster_store);
timed_suite!(cluster_timed, cluster_store);
events_suite!(cluster_events, cluster_store);

/// The cases below, on each kind of deployment.
macro_rules! on_both {
    ($($case:ident),* $(,)?) => {
        mod shared_standalone {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$case(super::Deployment::Standalone).await;
                }
            )*
        }
        mod shared_cluster {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$case(super::Deployment::Cluster).await;
                }
            )*
        }
    };
}

on_both!(
    two_stores_on_one_redis_share_every_change,
    key_prefixes_keep_stores_apart,
    the_stored_format_is_as_documented,
    an_interrupted_forget_room_is_finished_by_the_next,
    a_forget_room_that_fails_leaves_its_generation_listed,
    ids_with_braces_stay_in_one_slot,
    muted_among_of_a_thousand_users,
    a_host_can_hold_it_as_a_shared_store,
    a_subscriber_sees_the_changes_of_another_store,
    concurrent_purges_send_one_expiry_event_per_lapsed_mute,
    timed_mutes_lapse_on_their_own,
    a_lost_expiry_index_entry_only_delays_the_purge,
    a_mute_whose_deadline_passes_before_it_runs_is_not_listed,
    a_store_with_the_longest_time_limit_serves,
    a_url_that_asks_for_resp3_still_purges,
);

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_util::future::join_all;
use mutestore::{
    Actor, ChangeCause, Clock, EventScope, Expiry, ManualClock, MuteStore, RedisConfig, RedisStore,
    RoomId, SharedMuteStore, UserId,
};
use support::events::{expect, next};
use support::{START_MS, room, user};

#[derive(Clone, Copy)]
enum Deployment {
    Standalone,
    Cluster,
}

impl Deployment {
    fn config(self, limit: usize) -> RedisConfig {
        match self {
            Self::Standalone => redis_env::standalone_config(limit),
            Self::Cluster => redis_env::cluster_config(limit),
        }
    }

    /// A plain connection to one server (for a Cluster, its first node), for pub/sub.
    fn one_server(self) -> redis::Connection {
        let url = match self {
            Self::Standalone => redis_env::standalone_url(),
            Self::Cluster => redis_env::cluster_nodes().remove(0),
        };
        redis::Client::open(url)
            .and_then(|client| client.get_connection())
            .expect("connect to a Redis server")
    }

    /// A plain client connection, to look at and change keys behind the store's back.
    fn raw(self) -> Box<dyn redis::ConnectionLike> {
        match self {
            Self::Standalone => Box::new(
                redis::Client::open(redis_env::standalone_url())
                    .and_then(|client| client.get_connection())
                    .expect("connect to MUTESTORE_REDIS_URL"),
            ),
            Self::Cluster => Box::new(
                redis::cluster::ClusterClient::new(redis_env::cluster_nodes())
                    .and_then(|client| client.get_connection())
                    .expect("connect to MUTESTORE_REDIS_CLUSTER_NODES"),
            ),
        }
    }
}

async fn connect(config: RedisConfig) -> RedisStore {
    RedisStore::connect(config).await.expect("connect")
}

/// The key layout of docs/REDIS.md, written out independently of the crate.
fn documented_key(prefix: &str, kind: &str, id: &str) -> Vec<u8> {
    let hash = id.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("{prefix}:{kind}:{{{hash:016x}}}{id}").into_bytes()
}

/// The expiry index bucket key of docs/REDIS.md: the XOR of the hex digits of the user's tag.
fn documented_bucket(prefix: &str, id: &str) -> Vec<u8> {
    let hash = id.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    });
    let bucket = (0..16).fold(0, |x, digit| x ^ ((hash >> (4 * digit)) & 0xf));
    format!("{prefix}:x:{{x{bucket:x}}}").into_bytes()
}

/// A configuration for `deployment` whose stores read `clock`.
fn config_with_clock(deployment: Deployment, clock: &Arc<ManualClock>) -> RedisConfig {
    deployment.config(100).with_clock(clock.clone())
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

async fn two_stores_on_one_redis_share_every_change(deployment: Deployment) {
    let config = deployment.config(100);
    let (first, second) = (connect(config.clone()).await, connect(config).await);
    let (alice, bob) = (user("alice"), user("bob"));
    first.mute(&alice, &room("lobby")).await.unwrap();
    let outcome = second.mute(&alice, &room("news")).await.unwrap();
    assert_eq!(outcome.rooms, ["lobby", "news"]);
    assert!(!second.mute(&alice, &room("lobby")).await.unwrap().changed);
    second.mute(&bob, &room("lobby")).await.unwrap();
    assert_eq!(
        first
            .muted_among(&room("lobby"), &[bob.clone(), alice.clone()])
            .await
            .unwrap(),
        [bob.clone(), alice.clone()]
    );
    assert_eq!(second.forget_room(&room("lobby")).await.unwrap(), 2);
    assert_eq!(first.muted_rooms(&alice).await.unwrap(), ["news"]);
    assert!(first.muted_rooms(&bob).await.unwrap().is_empty());
    assert_eq!(first.forget_user(&alice).await.unwrap(), ["news"]);
    assert!(second.muted_rooms(&alice).await.unwrap().is_empty());
}

async fn key_prefixes_keep_stores_apart(deployment: Deployment) {
    let (first, second) = (
        connect(deployment.config(100)).await,
        connect(deployment.config(100)).await,
    );
    let alice = user("alice");
    first.mute(&alice, &room("lobby")).await.unwrap();
    assert!(second.muted_rooms(&alice).await.unwrap().is_empty());
    assert_eq!(second.forget_room(&room("lobby")).await.unwrap(), 0);
    assert_eq!(first.muted_rooms(&alice).await.unwrap(), ["lobby"]);
}

async fn the_stored_format_is_as_documented(deployment: Deployment) {
    let clock = Arc::new(ManualClock::new(START_MS));
    let config = config_with_clock(deployment, &clock);
    let prefix = config.key_prefix().to_string();
    let store = connect(config).await;
    let who = "user {with} braces";
    // Subscribed before the changes, to read the event messages as they are published.
    let mut listener = deployment.one_server();
    let mut pubsub = listener.as_pubsub();
    pubsub.subscribe(format!("{prefix}:events")).unwrap();
    pubsub
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();

    store.mute(&user(who), &room("b")).await.unwrap();
    store.mute(&user(who), &room("a")).await.unwrap();
    let deadline = START_MS + 60_000;
    store
        .mute_with(&user(who), &room("t"), Expiry::At(deadline), Actor::Admin)
        .await
        .unwrap();
    let mut raw = deployment.raw();
    let rooms: Vec<(String, f64)> = redis::cmd("ZRANGE")
        .arg(documented_key(&prefix, "u", who))
        .arg(0)
        .arg(-1)
        .arg("WITHSCORES")
        .query(raw.as_mut())
        .unwrap();
    assert_eq!(
        rooms,
        [
            ("b".to_string(), 1.0),
            ("a".to_string(), 2.0),
            ("t".to_string(), 3.0)
        ]
    );
    let deadlines: Vec<(String, u64)> = redis::cmd("ZRANGE")
        .arg(documented_key(&prefix, "d", who))
        .arg(0)
        .arg(-1)
        .arg("WITHSCORES")
        .query(raw.as_mut())
        .unwrap();
    assert_eq!(deadlines, [("t".to_string(), deadline)]);
    let indexed: Vec<String> = redis::cmd("SMEMBERS")
        .arg(documented_key(&prefix, "r", "a"))
        .query(raw.as_mut())
        .unwrap();
    assert_eq!(indexed, [who]);
    // The expiry index entry is at or before the deadline, and due from the same millisecond.
    let hint: f64 = redis::cmd("ZSCORE")
        .arg(documented_bucket(&prefix, who))
        .arg(who)
        .query(raw.as_mut())
        .unwrap();
    assert!(
        hint <= deadline as f64 && hint > (deadline - 1) as f64,
        "{hint}"
    );

    let field = |text: &str| format!("{}:{text}", text.len());
    let message = |room: &str, muted: &str, until: &str, cause: &str| {
        [
            field("1"),
            field(""),
            field(who),
            field(room),
            field(muted),
            field(until),
            field(cause),
        ]
        .concat()
    };
    let published: Vec<String> = (0..3)
        .map(|_| pubsub.get_message().unwrap().get_payload().unwrap())
        .collect();
    assert_eq!(
        published,
        [
            message("b", "1", "", "user"),
            message("a", "1", "", "user"),
            message("t", "1", &deadline.to_string(), "admin"),
        ]
    );

    // Past the deadline, the purge removes the room from both sets and the index.
    clock.set(deadline);
    store.expire_due().await.unwrap();
    let exists: bool = redis::cmd("EXISTS")
        .arg(documented_key(&prefix, "d", who))
        .query(raw.as_mut())
        .unwrap();
    assert!(!exists, "the deadline set goes with its last deadline");
    let hint: Option<f64> = redis::cmd("ZSCORE")
        .arg(documented_bucket(&prefix, who))
        .arg(who)
        .query(raw.as_mut())
        .unwrap();
    assert_eq!(hint, None);
    assert_eq!(
        pubsub
            .get_message()
            .unwrap()
            .get_payload::<String>()
            .unwrap(),
        message("t", "0", "", "expiry")
    );
}

async fn an_interrupted_forget_room_is_finished_by_the_next(deployment: Deployment) {
    let config = deployment.config(100);
    let prefix = config.key_prefix().to_string();
    let store = connect(config).await;
    let gone = room("gone");
    let users: Vec<UserId> = (0..20).map(|n| user(&format!("u{n}"))).collect();
    for u in &users {
        store.mute(u, &room("kept")).await.unwrap();
        store.mute(u, &gone).await.unwrap();
    }
    // A forget_room that stopped after taking the index and clearing three users: the index has
    // become a generation, and three users have lost the room but are still listed in it.
    let mut raw = deployment.raw();
    let _: () = redis::cmd("RENAME")
        .arg(documented_key(&prefix, "r", "gone"))
        .arg(documented_generation(&prefix, "gone", "1-a"))
        .query(raw.as_mut())
        .unwrap();
    let _: () = redis::cmd("SADD")
        .arg(documented_key(&prefix, "g", "gone"))
        .arg("1-a")
        .query(raw.as_mut())
        .unwrap();
    for u in &users[..3] {
        let removed: i64 = redis::cmd("ZREM")
            .arg(documented_key(&prefix, "u", u))
            .arg("gone")
            .query(raw.as_mut())
            .unwrap();
        assert_eq!(removed, 1);
    }
    // Meanwhile a new user mutes the room, into a fresh index.
    let late = user("late");
    store.mute(&late, &gone).await.unwrap();

    assert_eq!(store.forget_room(&gone).await.unwrap(), 17 + 1);
    for u in users.iter().chain([&late]) {
        assert!(!store.is_muted(u, &gone).await.unwrap(), "{u}");
    }
    assert_eq!(store.muted_rooms(&users[0]).await.unwrap(), ["kept"]);
    let mut runs = RawRuns {
        raw,
        prefix,
        room: "gone",
    };
    assert!(
        !runs.any_key_left(&["1-a"]),
        "the keys of the forgotten room are gone"
    );
    assert_eq!(store.forget_room(&gone).await.unwrap(), 0);
}

async fn a_forget_room_that_fails_leaves_its_generation_listed(deployment: Deployment) {
    let config = deployment.config(100);
    let prefix = config.key_prefix().to_string();
    let store = connect(config).await;
    let gone = room("gone");
    let users: Vec<UserId> = (0..5).map(|n| user(&format!("u{n}"))).collect();
    for u in users.iter().chain([&user("poison")]) {
        store.mute(u, &gone).await.unwrap();
    }
    // One user's set is not a sorted set any more: the visit of that user fails, and so does the
    // batch, before its strike-off.
    let mut raw = deployment.raw();
    let poison = documented_key(&prefix, "u", "poison");
    let _: () = redis::cmd("SET")
        .arg(&poison)
        .arg("not a sorted set")
        .query(raw.as_mut())
        .unwrap();
    assert!(matches!(
        store.forget_room(&gone).await,
        Err(mutestore::StoreError::Backend(_))
    ));
    // The run took the index as one generation, listed by its stamp (the server's time in
    // microseconds, a dash, the run's token in 16 hex digits), and struck no one off it.
    let stamps: Vec<String> = redis::cmd("SMEMBERS")
        .arg(documented_key(&prefix, "g", "gone"))
        .query(raw.as_mut())
        .unwrap();
    let [stamp] = stamps.as_slice() else {
        panic!("one generation: {stamps:?}");
    };
    let (micros, token) = stamp.split_once('-').expect("a dash");
    assert!(
        micros.len() >= 16 && micros.bytes().all(|b| b.is_ascii_digit()),
        "{stamp}"
    );
    assert!(
        token.len() == 16 && token.bytes().all(|b| b.is_ascii_hexdigit()),
        "{stamp}"
    );
    let mut listed: Vec<String> = redis::cmd("SMEMBERS")
        .arg(documented_generation(&prefix, "gone", stamp))
        .query(raw.as_mut())
        .unwrap();
    listed.sort();
    assert_eq!(listed, ["poison", "u0", "u1", "u2", "u3", "u4"]);
    let index: bool = redis::cmd("EXISTS")
        .arg(documented_key(&prefix, "r", "gone"))
        .query(raw.as_mut())
        .unwrap();
    assert!(!index, "the index became the generation");

    // Once the user's set is repaired, the next forget_room finishes the job.
    let _: () = redis::cmd("DEL").arg(&poison).query(raw.as_mut()).unwrap();
    store.forget_room(&gone).await.unwrap();
    for u in &users {
        assert!(!store.is_muted(u, &gone).await.unwrap(), "{u}");
    }
    let mut runs = RawRuns {
        raw,
        prefix,
        room: "gone",
    };
    assert!(!runs.any_key_left(&[stamp.as_str()]));
}

async fn ids_with_braces_stay_in_one_slot(deployment: Deployment) {
    let store = connect(deployment.config(100)).await;
    let names = [
        "{",
        "}",
        "}{",
        "{a}",
        "a}b{c",
        "{}",
        "x{y}z",
        "{{}}",
        "ルーム{1}",
    ];
    let users: Vec<UserId> = names.iter().map(|n| user(n)).collect();
    let rooms: Vec<RoomId> = names.iter().map(|n| room(n)).collect();
    for u in &users {
        for r in &rooms {
            store.mute(u, r).await.unwrap();
        }
        assert_eq!(store.muted_rooms(u).await.unwrap(), names);
    }
    assert_eq!(store.muted_among(&rooms[3], &users).await.unwrap(), users);
    assert!(store.unmute(&users[0], &rooms[3]).await.unwrap().changed);
    assert_eq!(store.forget_room(&rooms[3]).await.unwrap(), users.len() - 1);
    assert!(
        store
            .muted_among(&rooms[3], &users)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store.forget_user(&users[1]).await.unwrap().len(),
        names.len() - 1
    );
}

async fn muted_among_of_a_thousand_users(deployment: Deployment) {
    let store = connect(deployment.config(100)).await;
    let target = room("target");
    let users: Vec<UserId> = (0..1000).map(|n| user(&format!("member-{n}"))).collect();
    for (n, u) in users.iter().enumerate() {
        if n % 7 == 0 {
            store.mute(u, &target).await.unwrap();
        }
    }
    let expected: Vec<UserId> = users.iter().step_by(7).cloned().collect();
    assert_eq!(store.muted_among(&target, &users).await.unwrap(), expected);
    // Every user twice, in reverse: answers follow the input, repeats included.
    let asked: Vec<UserId> = users
        .iter()
        .rev()
        .chain(users.iter().rev())
        .cloned()
        .collect();
    let answered = store.muted_among(&target, &asked).await.unwrap();
    assert_eq!(answered.len(), 2 * expected.len());
    assert!(
        answered
            .iter()
            .rev()
            .take(expected.len())
            .eq(expected.iter())
    );
    assert_eq!(store.forget_room(&target).await.unwrap(), expected.len());
}

async fn a_host_can_hold_it_as_a_shared_store(deployment: Deployment) {
    let store: SharedMuteStore = Arc::new(connect(deployment.config(3)).await);
    let alice = user("alice");
    assert_eq!(store.mute_limit(), 3);
    assert!(store.mute(&alice, &room("lobby")).await.unwrap().changed);
    assert!(store.is_muted(&alice, &room("lobby")).await.unwrap());
    let task = {
        let store = Arc::clone(&store);
        tokio::spawn(async move { store.muted_rooms(&user("alice")).await.unwrap() })
    };
    assert_eq!(task.await.unwrap(), ["lobby"]);
}

async fn a_subscriber_sees_the_changes_of_another_store(deployment: Deployment) {
    let clock = Arc::new(ManualClock::new(START_MS));
    let config = config_with_clock(deployment, &clock);
    let (first, second) = (connect(config.clone()).await, connect(config).await);
    let alice = user("alice");
    let mut feed = second.subscribe(EventScope::All).unwrap();
    // The first store's own subscribers get every change too, its own and the second's.
    let mut own = first.subscribe(EventScope::User(alice.clone())).unwrap();
    first
        .mute_with(&alice, &room("lobby"), Expiry::Never, Actor::Admin)
        .await
        .unwrap();
    first
        .mute_with(&alice, &room("news"), Expiry::After(ms(50)), Actor::User)
        .await
        .unwrap();
    first.unmute(&alice, &room("lobby")).await.unwrap();
    first
        .mute_with(&alice, &room("lobby"), Expiry::Never, Actor::User)
        .await
        .unwrap();
    first
        .unmute_by(&alice, &room("lobby"), Actor::Admin)
        .await
        .unwrap();
    clock.advance(ms(50));
    // Whichever store's purge gets there first, the expiry reaches both feeds.
    first.expire_due().await.unwrap();
    second.mute(&alice, &room("back")).await.unwrap();
    use ChangeCause::{Admin, Expiry as Lapsed, User};
    for feed in [&mut feed, &mut own] {
        expect(feed, &alice, "lobby", true, None, Admin).await;
        expect(feed, &alice, "news", true, Some(START_MS + 50), User).await;
        expect(feed, &alice, "lobby", false, None, User).await;
        expect(feed, &alice, "lobby", true, None, User).await;
        expect(feed, &alice, "lobby", false, None, Admin).await;
        expect(feed, &alice, "news", false, None, Lapsed).await;
        expect(feed, &alice, "back", true, None, User).await;
    }
}

async fn concurrent_purges_send_one_expiry_event_per_lapsed_mute(deployment: Deployment) {
    let clock = Arc::new(ManualClock::new(START_MS));
    let config = config_with_clock(deployment, &clock);
    let stores = join_all((0..3).map(|_| connect(config.clone()))).await;
    let watcher = connect(config).await;
    let mut feed = watcher.subscribe(EventScope::All).unwrap();
    let users: Vec<UserId> = (0..60).map(|n| user(&format!("member-{n}"))).collect();
    for (n, who) in users.iter().enumerate() {
        let store = &stores[n % 3];
        store
            .mute_with(
                who,
                &room("timed"),
                Expiry::After(ms(10 + n as u64 % 7)),
                Actor::User,
            )
            .await
            .unwrap();
        store.mute(who, &room("kept")).await.unwrap();
    }
    clock.advance(ms(20));
    // Three stores purge at once, while writes to the same users purge them too (and the stores'
    // own background purges may join in).
    let purges = join_all(stores.iter().map(|store| async move {
        let mut purged = 0;
        for _ in 0..3 {
            purged += store.expire_due().await.unwrap();
        }
        purged
    }));
    let never = room("never-muted");
    let writes = join_all(
        users
            .iter()
            .step_by(2)
            .map(|who| stores[1].unmute(who, &never)),
    );
    let (purged, written) = futures_util::future::join(purges, writes).await;
    assert!(purged.iter().sum::<usize>() <= users.len(), "{purged:?}");
    for outcome in written {
        assert_eq!(outcome.unwrap().rooms, ["kept"]);
    }
    for store in &stores {
        assert_eq!(store.expire_due().await.unwrap(), 0);
    }
    for who in &users {
        assert!(!watcher.is_muted(who, &room("timed")).await.unwrap());
    }

    // Every mute event, then exactly one expiry event per user.
    let mut expiries: BTreeMap<String, usize> = BTreeMap::new();
    let mut mutes = 0;
    while mutes < 2 * users.len() || expiries.len() < users.len() {
        let event = next(&mut feed).await;
        match event.cause {
            ChangeCause::User => mutes += 1,
            ChangeCause::Expiry => {
                assert_eq!(event.room, "timed");
                *expiries.entry(event.user.to_string()).or_default() += 1;
            }
            other => panic!("unexpected {other:?}: {event:?}"),
        }
    }
    // Any duplicate would come soon after: none may.
    let late = tokio::time::timeout(Duration::from_millis(500), feed.recv()).await;
    assert!(late.is_err(), "an event too many: {late:?}");
    assert!(expiries.values().all(|count| *count == 1), "{expiries:?}");
}

async fn timed_mutes_lapse_on_their_own(deployment: Deployment) {
    // The system clock: the background purge runs at the deadline, nobody calls expire_due.
    let config = deployment.config(100);
    let prefix = config.key_prefix().to_string();
    let (store, other) = (connect(config.clone()).await, connect(config).await);
    let alice = user("alice");
    let mut feed = other.subscribe(EventScope::User(alice.clone())).unwrap();
    let outcome = store
        .mute_with(&alice, &room("brief"), Expiry::After(ms(300)), Actor::User)
        .await
        .unwrap();
    let until = outcome.rooms.until("brief").expect("a deadline");
    expect(
        &mut feed,
        &alice,
        "brief",
        true,
        Some(until),
        ChangeCause::User,
    )
    .await;
    expect(&mut feed, &alice, "brief", false, None, ChangeCause::Expiry).await;
    assert!(!store.is_muted(&alice, &room("brief")).await.unwrap());
    let mut raw = deployment.raw();
    for kind in ["u", "d"] {
        let exists: bool = redis::cmd("EXISTS")
            .arg(documented_key(&prefix, kind, "alice"))
            .query(raw.as_mut())
            .unwrap();
        assert!(!exists, "the {kind} key is gone");
    }
    let hint: Option<f64> = redis::cmd("ZSCORE")
        .arg(documented_bucket(&prefix, "alice"))
        .arg("alice")
        .query(raw.as_mut())
        .unwrap();
    assert_eq!(hint, None, "the index entry is gone");
}

async fn a_lost_expiry_index_entry_only_delays_the_purge(deployment: Deployment) {
    let clock = Arc::new(ManualClock::new(START_MS));
    let config = config_with_clock(deployment, &clock);
    let prefix = config.key_prefix().to_string();
    let store = connect(config).await;
    let (alice, bob) = (user("alice"), user("bob"));
    let mut feed = store.subscribe(EventScope::All).unwrap();
    store
        .mute_with(&alice, &room("t"), Expiry::After(ms(10)), Actor::User)
        .await
        .unwrap();
    expect(
        &mut feed,
        &alice,
        "t",
        true,
        Some(START_MS + 10),
        ChangeCause::User,
    )
    .await;
    // The index loses alice's entry (as if both of the mute's updates had been lost).
    let mut raw = deployment.raw();
    let removed: i64 = redis::cmd("ZREM")
        .arg(documented_bucket(&prefix, "alice"))
        .arg("alice")
        .query(raw.as_mut())
        .unwrap();
    assert_eq!(removed, 1);
    clock.advance(ms(10));
    // Reads do not depend on the index...
    assert!(!store.is_muted(&alice, &room("t")).await.unwrap());
    assert!(store.muted_rooms(&alice).await.unwrap().is_empty());
    assert!(
        store
            .muted_among(&room("t"), std::slice::from_ref(&alice))
            .await
            .unwrap()
            .is_empty()
    );
    // ...only the purge does, and it waits for the user's next write.
    assert_eq!(store.expire_due().await.unwrap(), 0);
    store.mute(&alice, &room("next")).await.unwrap();
    expect(&mut feed, &alice, "t", false, None, ChangeCause::Expiry).await;
    expect(&mut feed, &alice, "next", true, None, ChangeCause::User).await;

    // An entry left behind by an unmute costs a visit that purges nothing, and is cleared.
    store
        .mute_with(&bob, &room("s"), Expiry::After(ms(10)), Actor::User)
        .await
        .unwrap();
    store.unmute(&bob, &room("s")).await.unwrap();
    clock.advance(ms(10));
    assert_eq!(store.expire_due().await.unwrap(), 0);
    let hint: Option<f64> = redis::cmd("ZSCORE")
        .arg(documented_bucket(&prefix, "bob"))
        .arg("bob")
        .query(raw.as_mut())
        .unwrap();
    assert_eq!(hint, None);
    expect(
        &mut feed,
        &bob,
        "s",
        true,
        Some(START_MS + 20),
        ChangeCause::User,
    )
    .await;
    expect(&mut feed, &bob, "s", false, None, ChangeCause::User).await;
    store.mute(&bob, &room("sentinel")).await.unwrap();
    expect(&mut feed, &bob, "sentinel", true, None, ChangeCause::User).await;
}

/// A clock that moves on by 10 ms each time it is read, so that no two readings are the same.
#[derive(Debug)]
struct TickingClock(AtomicU64);

impl Clock for TickingClock {
    fn now_ms(&self) -> u64 {
        self.0.fetch_add(10, Ordering::SeqCst)
    }
}

async fn a_mute_whose_deadline_passes_before_it_runs_is_not_listed(deployment: Deployment) {
    // The store checks a deadline at one reading of its clock and makes the change at a later
    // one (after the index writes). A deadline that passes in between makes a mute that lapses at
    // once, as in MemoryStore; and a lapsed mute is never in a list, the mute's own included.
    let clock = Arc::new(TickingClock(AtomicU64::new(START_MS)));
    let store = connect(deployment.config(100).with_clock(clock)).await;
    let who = user("alice");
    store.mute(&who, &room("kept")).await.unwrap();
    let outcome = store
        .mute_with(&who, &room("brief"), Expiry::After(ms(1)), Actor::User)
        .await
        .unwrap();
    assert!(outcome.changed);
    assert_eq!(
        outcome.rooms,
        ["kept"],
        "deadlines listed: {:?}",
        outcome.rooms.deadlines().collect::<Vec<_>>()
    );
    assert_eq!(store.muted_rooms(&who).await.unwrap(), ["kept"]);
    assert!(!store.is_muted(&who, &room("brief")).await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stores_on_two_databases_of_one_server_do_not_see_each_others_events() {
    // One server, one key prefix, two databases: two data sets that share nothing.
    let prefix = redis_env::unique_prefix();
    let on_database = |db: u32| {
        RedisConfig::standalone(&format!("{}/{db}", redis_env::standalone_url()))
            .unwrap()
            .with_key_prefix(&prefix)
            .unwrap()
    };
    let (first, second) = (connect(on_database(0)).await, connect(on_database(1)).await);
    let mut feed = second.subscribe(EventScope::All).unwrap();
    let (alice, bob) = (user("alice"), user("bob"));
    first.mute(&alice, &room("lobby")).await.unwrap();
    assert!(second.muted_rooms(&alice).await.unwrap().is_empty());
    // Returns once its own event is delivered, after anything published before it.
    second.mute(&bob, &room("news")).await.unwrap();
    let event = next(&mut feed).await;
    assert_eq!(
        (event.user, event.room.as_str()),
        (bob, "news"),
        "the first event the store on database 1 delivers is a change on database 1"
    );
}

async fn a_store_with_the_longest_time_limit_serves(deployment: Deployment) {
    // A host that wants no practical time limit may say so with the longest duration there is.
    let store = connect(deployment.config(100).with_timeout(Duration::MAX)).await;
    let served = tokio::spawn(async move {
        let who = user("alice");
        let muted = store.mute(&who, &room("lobby")).await?;
        let read = store.is_muted(&who, &room("lobby")).await?;
        Ok::<_, mutestore::StoreError>((muted.rooms.len(), read))
    })
    .await
    .expect("no operation panics");
    assert_eq!(served.unwrap(), (1, true));
}

async fn a_url_that_asks_for_resp3_still_purges(deployment: Deployment) {
    // redis-rs takes `?protocol=resp3` in a URL, and RESP3 changes the shape of some replies
    // (`WITHSCORES` as pairs); the store reads them as RESP2, so it speaks RESP2 whatever the URL.
    let resp3 = |url: String| format!("{url}/?protocol=resp3");
    let config = match deployment {
        Deployment::Standalone => RedisConfig::standalone(&resp3(redis_env::standalone_url())),
        Deployment::Cluster => {
            RedisConfig::cluster(redis_env::cluster_nodes().into_iter().map(resp3))
        }
    }
    .expect("valid URLs")
    .with_key_prefix(&redis_env::unique_prefix())
    .expect("a valid prefix");
    let clock = Arc::new(ManualClock::new(START_MS));
    let store = connect(config.with_clock(clock.clone())).await;
    let alice = user("alice");
    let mut feed = store.subscribe(EventScope::All).unwrap();
    store
        .mute_with(&alice, &room("brief"), Expiry::After(ms(10)), Actor::User)
        .await
        .unwrap();
    expect(
        &mut feed,
        &alice,
        "brief",
        true,
        Some(START_MS + 10),
        ChangeCause::User,
    )
    .await;
    clock.advance(ms(20));
    // The store's own background purge may get there first, so the count is 0 or 1; what must
    // hold is that the call succeeds and the expiry event goes out.
    assert!(store.expire_due().await.unwrap() <= 1);
    expect(&mut feed, &alice, "brief", false, None, ChangeCause::Expiry).await;
}

/// The key of one generation of `room` (docs/REDIS.md): the users its `forget_room`s still have to
/// visit.
fn documented_generation(prefix: &str, room: &str, stamp: &str) -> Vec<u8> {
    let hash = room.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("{prefix}:v:{{{hash:016x}}}{stamp}:{room}").into_bytes()
}

/// The steps of `forget_room` runs on one room as docs/REDIS.md describes them, sent as plain
/// commands (a test runs one step at a time, so each needs no script to be atomic), so that a test
/// can interleave the steps of several runs and mutes at will.
struct RawRuns {
    raw: Box<dyn redis::ConnectionLike>,
    prefix: String,
    room: &'static str,
}

impl RawRuns {
    /// A run's start: the index becomes generation `stamp`.
    fn start(&mut self, stamp: &str) {
        let index = documented_key(&self.prefix, "r", self.room);
        let exists: bool = redis::cmd("EXISTS")
            .arg(&index)
            .query(self.raw.as_mut())
            .unwrap();
        if exists {
            let _: () = redis::cmd("RENAME")
                .arg(&index)
                .arg(documented_generation(&self.prefix, self.room, stamp))
                .query(self.raw.as_mut())
                .unwrap();
            let _: () = redis::cmd("SADD")
                .arg(documented_key(&self.prefix, "g", self.room))
                .arg(stamp)
                .query(self.raw.as_mut())
                .unwrap();
        }
    }

    /// A run's batch: the users of a listed generation, with its stamp.
    fn take(&mut self) -> (String, Vec<String>) {
        let stamps: Vec<String> = redis::cmd("SMEMBERS")
            .arg(documented_key(&self.prefix, "g", self.room))
            .query(self.raw.as_mut())
            .unwrap();
        for stamp in stamps {
            let users: Vec<String> = redis::cmd("SRANDMEMBER")
                .arg(documented_generation(&self.prefix, self.room, &stamp))
                .arg(500)
                .query(self.raw.as_mut())
                .unwrap();
            if !users.is_empty() {
                return (stamp, users);
            }
        }
        panic!("no generation of {} lists a user", self.room);
    }

    /// A run's visit of `user`: removes the room; returns whether the user had it.
    fn visit(&mut self, user: &str) -> bool {
        let removed: i64 = redis::cmd("ZREM")
            .arg(documented_key(&self.prefix, "u", user))
            .arg(self.room)
            .query(self.raw.as_mut())
            .unwrap();
        removed == 1
    }

    /// A run's end of batch: strikes `users` off generation `stamp`.
    fn strike_off(&mut self, stamp: &str, users: &[String]) {
        let _: () = redis::cmd("SREM")
            .arg(documented_generation(&self.prefix, self.room, stamp))
            .arg(users)
            .query(self.raw.as_mut())
            .unwrap();
    }

    /// Whether any key of the room's forgetting is left: the index, the list of generations, a
    /// generation, or an earlier version's to-visit set.
    fn any_key_left(&mut self, stamps: &[&str]) -> bool {
        let mut keys = vec![
            documented_key(&self.prefix, "r", self.room),
            documented_key(&self.prefix, "g", self.room),
            documented_key(&self.prefix, "f", self.room),
        ];
        keys.extend(
            stamps
                .iter()
                .map(|stamp| documented_generation(&self.prefix, self.room, stamp)),
        );
        keys.iter().any(|key| {
            redis::cmd("EXISTS")
                .arg(key)
                .query::<bool>(self.raw.as_mut())
                .unwrap()
        })
    }
}

/// Two `forget_room`s of one room overlapping a user's new mute of it, run step by step: A takes
/// the index as a generation and a batch of it (alice), and removes the room from her; alice mutes
/// the room again, into a fresh index; B starts, taking that index as a second generation; A
/// strikes its batch off. B started after alice's second mute, so the room must still be removed
/// from her: she is listed in B's generation, which A's strike-off does not touch, and the next
/// batch (here a later `forget_room`'s, which shares the work) visits her.
async fn a_user_who_mutes_again_between_two_forget_rooms_is_forgotten(deployment: Deployment) {
    let config = deployment.config(100);
    let prefix = config.key_prefix().to_string();
    let store = connect(config).await;
    let (gone, alice) = (room("gone"), user("alice"));
    store.mute(&alice, &gone).await.unwrap();
    let mut runs = RawRuns {
        raw: deployment.raw(),
        prefix,
        room: "gone",
    };
    runs.start("1-a");
    let (stamp, batch) = runs.take();
    assert_eq!(
        (stamp.as_str(), batch.as_slice()),
        ("1-a", ["alice".to_string()].as_slice())
    );
    assert!(runs.visit("alice"));
    assert!(store.mute(&alice, &gone).await.unwrap().changed);
    runs.start("2-b");
    runs.strike_off(&stamp, &batch);

    assert_eq!(store.forget_room(&gone).await.unwrap(), 1, "alice, once");
    assert!(!store.is_muted(&alice, &gone).await.unwrap());
    assert!(!runs.any_key_left(&["1-a", "2-b"]));
}

/// Two runs take the same user from the same generation and both visit her (the second finds the
/// room gone); she then mutes the room again, and a third run starts. The two strike-offs, one of
/// them a repeat, must not settle what the third run owes her.
async fn two_runs_visiting_one_user_leave_a_later_mute_listed(deployment: Deployment) {
    let config = deployment.config(100);
    let prefix = config.key_prefix().to_string();
    let store = connect(config).await;
    let (gone, alice, bob) = (room("gone"), user("alice"), user("bob"));
    store.mute(&alice, &gone).await.unwrap();
    store.mute(&bob, &gone).await.unwrap();
    let mut runs = RawRuns {
        raw: deployment.raw(),
        prefix,
        room: "gone",
    };
    runs.start("1-a");
    // B starts with nothing in the index: it shares A's generation.
    runs.start("2-b");
    let (stamp_a, batch_a) = runs.take();
    let (stamp_b, batch_b) = runs.take();
    assert_eq!((stamp_a.as_str(), stamp_b.as_str()), ("1-a", "1-a"));
    assert!(batch_a.contains(&"alice".to_string()) && batch_b.contains(&"alice".to_string()));
    let removed = batch_a.iter().filter(|u| runs.visit(u)).count();
    let removed_again = batch_b.iter().filter(|u| runs.visit(u)).count();
    assert_eq!((removed, removed_again), (2, 0));
    assert!(store.mute(&alice, &gone).await.unwrap().changed);
    runs.start("3-c");
    runs.strike_off(&stamp_a, &batch_a);
    runs.strike_off(&stamp_b, &batch_b);

    assert_eq!(store.forget_room(&gone).await.unwrap(), 1, "alice, once");
    assert!(!store.is_muted(&alice, &gone).await.unwrap());
    assert!(!store.is_muted(&bob, &gone).await.unwrap());
    assert!(!runs.any_key_left(&["1-a", "3-c"]));
}

/// A `forget_room` of an earlier version kept the users it had still to visit in one set,
/// `f:{room}`; one interrupted there leaves that set behind. The next `forget_room` takes it over.
async fn a_to_visit_set_of_an_earlier_version_is_finished(deployment: Deployment) {
    let config = deployment.config(100);
    let prefix = config.key_prefix().to_string();
    let store = connect(config).await;
    let gone = room("gone");
    let users: Vec<UserId> = (0..10).map(|n| user(&format!("u{n}"))).collect();
    for u in &users {
        store.mute(u, &gone).await.unwrap();
    }
    // The earlier version's start moved the index to the to-visit set; it had visited u0 (who lost
    // the room) when it stopped. Then u9 unmuted, and "late" muted the room into a fresh index.
    let mut raw = deployment.raw();
    let _: () = redis::cmd("RENAME")
        .arg(documented_key(&prefix, "r", "gone"))
        .arg(documented_key(&prefix, "f", "gone"))
        .query(raw.as_mut())
        .unwrap();
    let removed: i64 = redis::cmd("ZREM")
        .arg(documented_key(&prefix, "u", "u0"))
        .arg("gone")
        .query(raw.as_mut())
        .unwrap();
    assert_eq!(removed, 1);
    store.unmute(&users[9], &gone).await.unwrap();
    let late = user("late");
    store.mute(&late, &gone).await.unwrap();

    assert_eq!(store.forget_room(&gone).await.unwrap(), 8 + 1);
    for u in users.iter().chain([&late]) {
        assert!(!store.is_muted(u, &gone).await.unwrap(), "{u}");
    }
    let mut runs = RawRuns {
        raw,
        prefix,
        room: "gone",
    };
    assert!(!runs.any_key_left(&[]));
    assert_eq!(store.forget_room(&gone).await.unwrap(), 0);
}

mod forget_room_races {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn standalone() {
        super::a_user_who_mutes_again_between_two_forget_rooms_is_forgotten(
            super::Deployment::Standalone,
        )
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn cluster() {
        super::a_user_who_mutes_again_between_two_forget_rooms_is_forgotten(
            super::Deployment::Cluster,
        )
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn shared_visits_standalone() {
        super::two_runs_visiting_one_user_leave_a_later_mute_listed(super::Deployment::Standalone)
            .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn shared_visits_cluster() {
        super::two_runs_visiting_one_user_leave_a_later_mute_listed(super::Deployment::Cluster)
            .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn earlier_version_standalone() {
        super::a_to_visit_set_of_an_earlier_version_is_finished(super::Deployment::Standalone)
            .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn earlier_version_cluster() {
        super::a_to_visit_set_of_an_earlier_version_is_finished(super::Deployment::Cluster).await;
    }
}
