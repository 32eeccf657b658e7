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
    ids_with_braces_stay_in_one_slot,
    muted_among_of_a_thousand_users,
    a_host_can_hold_it_as_a_shared_store,
);

use std::sync::Arc;

use mutestore::{MuteStore, RedisConfig, RedisStore, RoomId, SharedMuteStore, UserId};
use support::{room, user};

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
    let config = deployment.config(100);
    let prefix = config.key_prefix().to_string();
    let store = connect(config).await;
    let who = "user {with} braces";
    store.mute(&user(who), &room("b")).await.unwrap();
    store.mute(&user(who), &room("a")).await.unwrap();
    let mut raw = deployment.raw();
    let rooms: Vec<(String, f64)> = redis::cmd("ZRANGE")
        .arg(documented_key(&prefix, "u", who))
        .arg(0)
        .arg(-1)
        .arg("WITHSCORES")
        .query(raw.as_mut())
        .unwrap();
    assert_eq!(rooms, [("b".to_string(), 1.0), ("a".to_string(), 2.0)]);
    let indexed: Vec<String> = redis::cmd("SMEMBERS")
        .arg(documented_key(&prefix, "r", "a"))
        .query(raw.as_mut())
        .unwrap();
    assert_eq!(indexed, [who]);
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
    // moved to the to-visit set, and three users have lost the room but are still listed there.
    let mut raw = deployment.raw();
    let _: () = redis::cmd("RENAME")
        .arg(documented_key(&prefix, "r", "gone"))
        .arg(documented_key(&prefix, "f", "gone"))
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
    for kind in ["r", "f"] {
        let exists: bool = redis::cmd("EXISTS")
            .arg(documented_key(&prefix, kind, "gone"))
            .query(raw.as_mut())
            .unwrap();
        assert!(!exists, "the {kind} key of the forgotten room is gone");
    }
    assert_eq!(store.forget_room(&gone).await.unwrap(), 0);
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
