//! Faults, against redis-server processes each test starts itself: a killed server, a frozen
//! server, a killed Cluster node, nothing listening, a dropped event feed. Every operation must fail with
//! `StoreError::Backend` (no panic, no hang) and the store must serve again, by itself, once the
//! server is back. Needs redis-server and redis-cli (`bash .ci/redis.sh` checks for both).

#![cfg(feature = "redis")]

mod redis_env;

use std::future::Future;
use std::time::Duration;

use futures_util::future::join_all;

use mutestore::{
    EventScope, MuteOutcome, MuteStore, RecvError, RedisConfig, RedisStore, RoomId, StoreError,
    Subscription, UserId,
};
use redis_env::server_process::{ClusterProcesses, ServerProcess, free_port};

/// The store's time limit in these tests.
const TIMEOUT: Duration = Duration::from_millis(300);
/// Far above anything the store should take: reaching it means a hang, and fails the test.
const HANG_DEADLINE: Duration = Duration::from_secs(60);

fn user(name: &str) -> UserId {
    UserId::new(name).unwrap()
}

fn room(name: &str) -> RoomId {
    RoomId::new(name).unwrap()
}

/// Awaits `work`, failing the test if it hangs.
async fn no_hang<T>(what: &str, work: impl Future<Output = T>) -> T {
    tokio::time::timeout(HANG_DEADLINE, work)
        .await
        .unwrap_or_else(|_| panic!("{what} did not finish within {HANG_DEADLINE:?}"))
}

/// Runs every operation once on `who` and `users`, returning each outcome by name.
async fn every_operation(
    store: &RedisStore,
    who: &UserId,
    users: &[UserId],
) -> Vec<(&'static str, Result<(), StoreError>)> {
    let scratch = room("scratch-room");
    vec![
        ("mute", store.mute(who, &scratch).await.map(drop)),
        ("unmute", store.unmute(who, &scratch).await.map(drop)),
        ("muted_rooms", store.muted_rooms(who).await.map(drop)),
        ("is_muted", store.is_muted(who, &scratch).await.map(drop)),
        (
            "muted_among",
            store.muted_among(&scratch, users).await.map(drop),
        ),
        ("forget_room", store.forget_room(&scratch).await.map(drop)),
        ("forget_user", store.forget_user(who).await.map(drop)),
    ]
}

/// Checks that every result is a backend error, and that none shows `secret`.
fn assert_all_backend_errors(results: &[(&str, Result<(), StoreError>)], secret: Option<&str>) {
    for (operation, result) in results {
        match result {
            Err(error @ StoreError::Backend(_)) => {
                if let Some(secret) = secret {
                    assert!(
                        !format!("{error} {error:?}").contains(secret),
                        "{operation}: the error shows the password: {error:?}"
                    );
                }
            }
            other => panic!("{operation}: expected a backend error, got {other:?}"),
        }
    }
}

fn assert_all_ok(results: &[(&str, Result<(), StoreError>)]) {
    for (operation, result) in results {
        assert!(result.is_ok(), "{operation}: {result:?}");
    }
}

/// Retries `read` until it succeeds: the store must resume by itself.
async fn until_it_serves<T>(what: &str, mut read: impl AsyncFnMut() -> Result<T, StoreError>) -> T {
    no_hang(what, async {
        loop {
            match read().await {
                Ok(value) => return value,
                Err(StoreError::Backend(_)) => tokio::time::sleep(Duration::from_millis(50)).await,
                Err(other) => panic!("{what}: {other:?}"),
            }
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_server_fails_every_operation_then_service_resumes() {
    let secret = "s3cret-password";
    let mut server = ServerProcess::start(&["--requirepass", secret]);
    let url = format!("redis://:{secret}@127.0.0.1:{}", server.port());
    let config = RedisConfig::standalone(&url).unwrap().with_timeout(TIMEOUT);
    assert!(!format!("{config:?}").contains(secret));
    let store = RedisStore::connect(config).await.unwrap();
    assert!(!format!("{store:?}").contains(secret));
    let (alice, bob) = (user("alice"), user("bob"));
    store.mute(&alice, &room("lobby")).await.unwrap();
    store.mute(&alice, &room("news")).await.unwrap();

    server.kill();
    // Several rounds, the last after the client's reconnection attempts have run out: repeated
    // failures must not wedge the connection.
    for pause in [0, 0, 3] {
        tokio::time::sleep(Duration::from_secs(pause)).await;
        let results = no_hang(
            "operations on a dead server",
            every_operation(&store, &bob, &[alice.clone(), bob.clone()]),
        )
        .await;
        assert_all_backend_errors(&results, Some(secret));
    }

    server.restart();
    let rooms = until_it_serves("muted_rooms after the restart", async || {
        store.muted_rooms(&alice).await
    })
    .await;
    assert_eq!(
        rooms,
        ["lobby", "news"],
        "the data the server had synced is served again"
    );
    let results = every_operation(&store, &bob, &[alice.clone(), bob.clone()]).await;
    assert_all_ok(&results);
    assert_eq!(
        store
            .muted_among(&room("news"), &[bob.clone(), alice.clone()])
            .await
            .unwrap(),
        [alice]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_server_times_out_every_operation_then_service_resumes() {
    let server = ServerProcess::start(&[]);
    let config = RedisConfig::standalone(&server.url())
        .unwrap()
        .with_timeout(TIMEOUT);
    let store = RedisStore::connect(config).await.unwrap();
    let (alice, bob) = (user("alice"), user("bob"));
    store.mute(&alice, &room("lobby")).await.unwrap();

    server.pause();
    // The writes here are on bob: a frozen server may still run a request it received once it
    // wakes, as any server may run a request whose answer was lost.
    let results = no_hang(
        "operations on a frozen server",
        every_operation(&store, &bob, &[alice.clone(), bob.clone()]),
    )
    .await;
    assert_all_backend_errors(&results, None);

    server.resume();
    let rooms = until_it_serves("muted_rooms after the freeze", async || {
        store.muted_rooms(&alice).await
    })
    .await;
    assert_eq!(rooms, ["lobby"]);
    assert_all_ok(&every_operation(&store, &bob, &[alice.clone(), bob.clone()]).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_cluster_node_fails_its_users_then_service_resumes() {
    let mut cluster = ClusterProcesses::start();
    let config = RedisConfig::cluster(cluster.urls())
        .unwrap()
        .with_timeout(TIMEOUT);
    let store = RedisStore::connect(config).await.unwrap();
    // Enough users that every node holds some.
    let users: Vec<UserId> = (0..30).map(|n| user(&format!("user-{n}"))).collect();
    let lobby = room("lobby");
    for user in &users {
        store.mute(user, &lobby).await.unwrap();
    }

    cluster.nodes[1].kill();
    // All users at once: each operation on the dead node waits out the timeout.
    let all = join_all(
        users
            .iter()
            .map(|user| every_operation(&store, user, &users)),
    );
    let mut failed = 0;
    for results in no_hang("operations with a node down", all).await {
        for (operation, result) in &results {
            match result {
                Ok(()) => {}
                Err(StoreError::Backend(_)) => failed += 1,
                Err(other) => panic!("{operation}: {other:?}"),
            }
        }
    }
    assert!(
        failed > 0,
        "some operations must reach the dead node and fail"
    );
    let among = no_hang(
        "muted_among with a node down",
        store.muted_among(&lobby, &users),
    )
    .await;
    assert!(
        matches!(among, Err(StoreError::Backend(_))),
        "muted_among over every node: {among:?}"
    );

    cluster.nodes[1].restart();
    cluster.wait_until_ok();
    let muted = until_it_serves("muted_among after the restart", async || {
        store.muted_among(&lobby, &users).await
    })
    .await;
    // The operations above forgot some users and re-muted none, so the survivors are a subset.
    assert!(muted.iter().all(|u| users.contains(u)));
    for user in &users {
        until_it_serves("mute after the restart", async || {
            store.mute(user, &lobby).await
        })
        .await;
    }
    assert_all_ok(&every_operation(&store, &users[0], &users).await);
    store.mute(&users[0], &lobby).await.unwrap();
    assert_eq!(store.muted_among(&lobby, &users).await.unwrap(), users);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connecting_to_nothing_fails_with_a_backend_error() {
    let url = format!("redis://127.0.0.1:{}", free_port());
    let standalone = RedisConfig::standalone(&url).unwrap().with_timeout(TIMEOUT);
    let result = no_hang("connect", RedisStore::connect(standalone)).await;
    assert!(matches!(result, Err(StoreError::Backend(_))), "{result:?}");
    let cluster = RedisConfig::cluster([url]).unwrap().with_timeout(TIMEOUT);
    let result = no_hang("connect", RedisStore::connect(cluster)).await;
    assert!(matches!(result, Err(StoreError::Backend(_))), "{result:?}");
}

/// The id a Cluster node goes by.
fn node_id(node: &ServerProcess) -> String {
    let client = redis::Client::open(node.url()).unwrap();
    let mut connection = client.get_connection().unwrap();
    redis::cmd("CLUSTER")
        .arg("MYID")
        .query(&mut connection)
        .unwrap()
}

/// Moves `slots` slots, with their keys, from one node to another.
fn reshard(cluster: &ClusterProcesses, from: usize, to: usize, slots: usize) {
    let output = std::process::Command::new(redis_env::server_process::cli_binary())
        .arg("--cluster")
        .arg("reshard")
        .arg(format!("127.0.0.1:{}", cluster.nodes[0].port()))
        .args(["--cluster-from", &node_id(&cluster.nodes[from])])
        .args(["--cluster-to", &node_id(&cluster.nodes[to])])
        .args(["--cluster-slots", &slots.to_string()])
        .arg("--cluster-yes")
        .output()
        .expect("run redis-cli --cluster reshard");
    assert!(
        output.status.success(),
        "reshard failed: {}",
        String::from_utf8_lossy(&output.stdout)
    );
    cluster.wait_until_ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_stay_right_while_slots_move_between_nodes() {
    let cluster = ClusterProcesses::start();
    let config = RedisConfig::cluster(cluster.urls()).unwrap();
    let store = RedisStore::connect(config).await.unwrap();
    let lobby = room("lobby");
    let users: Vec<UserId> = (0..600).map(|n| user(&format!("member-{n}"))).collect();
    for user in users.iter().step_by(3) {
        store.mute(user, &lobby).await.unwrap();
    }
    let expected: Vec<UserId> = users.iter().step_by(3).cloned().collect();
    // The store now holds the slot map.
    assert_eq!(store.muted_among(&lobby, &users).await.unwrap(), expected);

    // Part of node 0's slots go to node 1 and part to node 2: the map the store holds is stale,
    // and one node's batch now spans three nodes.
    reshard(&cluster, 0, 1, 1500);
    reshard(&cluster, 0, 2, 1500);
    for _ in 0..3 {
        assert_eq!(store.muted_among(&lobby, &users).await.unwrap(), expected);
    }
    for user in &expected {
        assert_eq!(store.muted_rooms(user).await.unwrap(), ["lobby"]);
    }
    assert_eq!(store.forget_room(&lobby).await.unwrap(), expected.len());
    assert!(store.muted_among(&lobby, &users).await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_adapter_answers_500_without_details_while_redis_is_down() {
    use mutestore::{ApiRequest, MuteApi, SeedAuthenticator, SeedData, SeedDirectory};

    let secret = "adapter-s3cret";
    let mut server = ServerProcess::start(&["--requirepass", secret]);
    let url = format!("redis://:{secret}@127.0.0.1:{}", server.port());
    let config = RedisConfig::standalone(&url).unwrap().with_timeout(TIMEOUT);
    let store = RedisStore::connect(config).await.unwrap();
    let seed = SeedData::demo();
    let api = MuteApi::new(
        store,
        SeedAuthenticator::new(&seed),
        SeedDirectory::new(&seed),
    );
    let request = |method, path| {
        ApiRequest::new(method, path)
            .with_header("IM-CLIENT-KEY", b"demo-client-key")
            .with_header("IM-Authorization", b"demo-token")
    };
    let muted = api.handle(&request("POST", "/me/mute/demo-room")).await;
    assert_eq!(muted.status(), 200);

    server.kill();
    for (method, path) in [
        ("GET", "/me"),
        ("POST", "/me/mute/demo-room"),
        ("DELETE", "/me/mute/demo-room"),
    ] {
        let response = no_hang(
            "a request with Redis down",
            api.handle(&request(method, path)),
        )
        .await;
        assert_eq!(response.status(), 500, "{method} {path}");
        let body = String::from_utf8_lossy(response.body());
        assert!(body.contains("INTERNAL_ERROR"), "{body}");
        for detail in [secret, "127.0.0.1", &server.port().to_string(), "redis"] {
            assert!(!body.contains(detail), "the body shows {detail:?}: {body}");
        }
    }

    server.restart();
    let me = no_hang("GET /me after the restart", async {
        loop {
            let response = api.handle(&request("GET", "/me")).await;
            if response.status() == 200 {
                return response;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert!(String::from_utf8_lossy(me.body()).contains("demo-room"));
}

/// The next event's room, or the error, failing the test on a hang.
async fn next_room(feed: &mut Subscription) -> Result<String, RecvError> {
    no_hang("the next event", feed.recv())
        .await
        .map(|event| event.room.to_string())
}

/// Makes the `n`th change with `change` (each must publish an event), for n = 1, 2, ..., until
/// `feed` carries an event, past any `Lagged`, and returns its room. After a feed's connection
/// drops, its subscribers hear `Lagged` at once and again once it is subscribed again, and a
/// change made before then reaches no one: which change is the first to arrive is not known.
async fn until_the_feed_carries(
    feed: &mut Subscription,
    mut change: impl AsyncFnMut(u32) -> Result<MuteOutcome, StoreError>,
) -> String {
    no_hang("an event through the feed", async {
        for n in 1.. {
            if change(n).await.is_err() {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
            loop {
                match tokio::time::timeout(Duration::from_secs(1), feed.recv()).await {
                    Ok(Ok(event)) => return event.room.to_string(),
                    Ok(Err(RecvError::Lagged(_))) => {}
                    Ok(Err(error)) => panic!("the feed: {error:?}"),
                    // Not this change's: made before the feed was back.
                    Err(_) => break,
                }
            }
        }
        unreachable!("the changes run out only after u32::MAX attempts")
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_event_feed_lags_its_subscribers_then_events_resume() {
    let mut server = ServerProcess::start(&[]);
    let config = RedisConfig::standalone(&server.url())
        .unwrap()
        .with_timeout(TIMEOUT);
    let store = RedisStore::connect(config.clone()).await.unwrap();
    let other = RedisStore::connect(config).await.unwrap();
    let alice = user("alice");
    let mut feed = store.subscribe(EventScope::All).unwrap();
    other.mute(&alice, &room("before")).await.unwrap();
    assert_eq!(next_room(&mut feed).await, Ok("before".to_string()));

    // The server drops every subscriber connection, the store's feed among them.
    let mut admin = redis::Client::open(server.url())
        .unwrap()
        .get_connection()
        .unwrap();
    let killed: i64 = redis::cmd("CLIENT")
        .arg("KILL")
        .arg("TYPE")
        .arg("pubsub")
        .query(&mut admin)
        .unwrap();
    assert!(killed >= 2, "both stores' feeds: {killed}");
    // The feed comes back and says that events may have been missed; then they flow again.
    assert!(matches!(
        next_room(&mut feed).await,
        Err(RecvError::Lagged(_))
    ));
    let arrived = until_the_feed_carries(&mut feed, async |n| {
        other.mute(&alice, &room(&format!("after-drop-{n}"))).await
    })
    .await;
    assert!(arrived.starts_with("after-drop-"), "{arrived}");

    // The same when the whole server goes away for a while: the subscribers hear at once that
    // events may be missed, while the server is still down, and again when the feed is back.
    server.kill();
    assert!(matches!(
        next_room(&mut feed).await,
        Err(RecvError::Lagged(_))
    ));
    assert!(matches!(
        other.mute(&alice, &room("while-down")).await,
        Err(StoreError::Backend(_))
    ));
    server.restart();
    assert!(matches!(
        next_room(&mut feed).await,
        Err(RecvError::Lagged(_))
    ));
    until_it_serves("mute after the restart", async || {
        other.mute(&alice, &room("after-restart")).await
    })
    .await;
    assert_eq!(next_room(&mut feed).await, Ok("after-restart".to_string()));
    // The store's own changes too, through the same feed, once each (its command connection
    // notices the restart on its first use).
    until_it_serves("unmute after the restart", async || {
        store.unmute(&alice, &room("after-restart")).await
    })
    .await;
    assert_eq!(next_room(&mut feed).await, Ok("after-restart".to_string()));
    assert_eq!(feed.try_recv(), Ok(None));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_feed_that_goes_silent_is_replaced_and_lags_its_subscribers() {
    let server = ServerProcess::start(&[]);
    let config = RedisConfig::standalone(&server.url())
        .unwrap()
        .with_timeout(TIMEOUT);
    let store = RedisStore::connect(config.clone()).await.unwrap();
    let other = RedisStore::connect(config).await.unwrap();
    let alice = user("alice");
    let mut feed = store.subscribe(EventScope::All).unwrap();
    // A frozen server keeps its connections open and answers nothing: only the feed's keep-alive
    // PING, sent after 5 s without messages, can tell.
    server.pause();
    tokio::time::sleep(Duration::from_secs(7)).await;
    server.resume();
    assert!(matches!(
        next_room(&mut feed).await,
        Err(RecvError::Lagged(_))
    ));
    let arrived = until_the_feed_carries(&mut feed, async |n| {
        other
            .mute(&alice, &room(&format!("after-freeze-{n}")))
            .await
    })
    .await;
    assert!(arrived.starts_with("after-freeze-"), "{arrived}");
}

/// A plain connection to one node.
fn node_connection(node: &ServerProcess) -> redis::Connection {
    redis::Client::open(node.url())
        .and_then(|client| client.get_connection())
        .expect("connect to a Cluster node")
}

/// Moves one slot, with its keys, from one node to another, as `redis-cli --cluster reshard` does.
fn move_slot(cluster: &ClusterProcesses, slot: u16, from: usize, to: usize) {
    let (source, target) = (&cluster.nodes[from], &cluster.nodes[to]);
    let (mut src, mut dst) = (node_connection(source), node_connection(target));
    let setslot = |connection: &mut redis::Connection, state: &str, node: &str| {
        redis::cmd("CLUSTER")
            .arg("SETSLOT")
            .arg(slot)
            .arg(state)
            .arg(node)
            .query::<()>(connection)
            .expect("CLUSTER SETSLOT");
    };
    setslot(&mut dst, "IMPORTING", &node_id(source));
    setslot(&mut src, "MIGRATING", &node_id(target));
    let keys: Vec<Vec<u8>> = redis::cmd("CLUSTER")
        .arg("GETKEYSINSLOT")
        .arg(slot)
        .arg(1000)
        .query(&mut src)
        .unwrap();
    if !keys.is_empty() {
        redis::cmd("MIGRATE")
            .arg("127.0.0.1")
            .arg(target.port())
            .arg("")
            .arg(0)
            .arg(5000)
            .arg("KEYS")
            .arg(&keys)
            .query::<()>(&mut src)
            .expect("MIGRATE");
    }
    for node in &cluster.nodes {
        setslot(&mut node_connection(node), "NODE", &node_id(target));
    }
    cluster.wait_until_ok();
}

/// The hash of `id` its keys are tagged with (docs/REDIS.md).
fn key_tag(id: &str) -> u64 {
    id.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The key of `user`'s muted rooms under the default prefix (docs/REDIS.md).
fn default_user_key(user: &str) -> String {
    format!("mutestore:u:{{{:016x}}}{user}", key_tag(user))
}

/// The key of `room`'s index under the default prefix (docs/REDIS.md).
fn default_room_index_key(room: &str) -> String {
    format!("mutestore:r:{{{:016x}}}{room}", key_tag(room))
}

/// The key of `user`'s expiry index bucket under the default prefix: the bucket is the XOR of the
/// 16 hex digits of the user's tag (docs/REDIS.md).
fn default_bucket_key(user: &str) -> String {
    let tag = key_tag(user);
    let bucket = (0..16).fold(0, |bucket, digit| bucket ^ ((tag >> (4 * digit)) & 0xf));
    format!("mutestore:x:{{x{bucket:x}}}")
}

/// redis-rs retries a whole pipeline, on the node a `MOVED` reply names, when any one of its replies
/// is a redirect; the users its node still serves are then visited again (finding the room gone),
/// and when the retries run out the store sends every command of the group again on its own. Each
/// visit keeps its reply under a once key (docs/REDIS.md), so those runs again reply as the first
/// did, and the count is right.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forget_room_counts_right_when_slots_moved_since_the_map_was_read() {
    let cluster = ClusterProcesses::start();
    let config = RedisConfig::cluster(cluster.urls()).unwrap();
    let store = RedisStore::connect(config).await.unwrap();
    let lobby = room("lobby");
    let users: Vec<UserId> = (0..300).map(|n| user(&format!("member-{n}"))).collect();
    let warm_up = room("warm-up");
    for user in &users {
        store.mute(user, &lobby).await.unwrap();
        store.mute(user, &warm_up).await.unwrap();
    }
    // The store now holds the slot map, and every node has the scripts.
    assert_eq!(store.forget_room(&warm_up).await.unwrap(), users.len());
    assert_eq!(store.muted_among(&lobby, &users).await.unwrap(), users);

    // A few slots of node 0 that hold some of these users (and no expiry index bucket, which the
    // store's purge task reads every second: a redirect there would refresh its map) move to
    // node 1. A pipeline the store sends to node 0 by its map now holds users node 0 still serves
    // and users it no longer does.
    let mut first = node_connection(&cluster.nodes[0]);
    let slot_of = |connection: &mut redis::Connection, key: &str| -> u16 {
        redis::cmd("CLUSTER")
            .arg("KEYSLOT")
            .arg(key)
            .query(connection)
            .unwrap()
    };
    let buckets: Vec<u16> = (0..16)
        .map(|bucket| slot_of(&mut first, &format!("mutestore:x:{{x{bucket:x}}}")))
        .collect();
    let mut moved: Vec<u16> = Vec::new();
    for user in &users {
        let slot = slot_of(&mut first, &default_user_key(user));
        let on_first: usize = redis::cmd("CLUSTER")
            .arg("COUNTKEYSINSLOT")
            .arg(slot)
            .query(&mut first)
            .unwrap();
        if on_first > 0 && !buckets.contains(&slot) && !moved.contains(&slot) && moved.len() < 10 {
            moved.push(slot);
        }
    }
    assert_eq!(moved.len(), 10);
    for &slot in &moved {
        move_slot(&cluster, slot, 0, 1);
    }
    let forgotten = no_hang("forget_room", store.forget_room(&lobby)).await;
    assert!(store.muted_among(&lobby, &users).await.unwrap().is_empty());
    assert_eq!(forgotten.unwrap(), users.len());
}

/// Under `maxmemory` with the `noeviction` policy, Redis refuses a script's first write when it may
/// grow memory (`SET`), and lets deletions (`ZREM`) through. A purge only deletes, so it must work
/// at the memory limit, including for a user the expiry index names who has nothing lapsed (an
/// entry left behind by an unmute): the per-user script's once key is written only when the script
/// did something, after its deletions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_purge_at_the_memory_limit_still_purges() {
    use std::sync::Arc;
    let server = ServerProcess::start(&[]);
    let clock = Arc::new(mutestore::ManualClock::new(1_000_000));
    let config = RedisConfig::standalone(&server.url())
        .unwrap()
        .with_clock(clock.clone());
    let store = RedisStore::connect(config).await.unwrap();
    let (alice, bob) = (user("alice"), user("bob"));
    // Alice's timed mute is unmuted: her expiry index entry stays, due at the deadline, and she
    // has nothing to purge. Bob's timed mute lapses.
    store
        .mute_with(
            &alice,
            &room("a"),
            mutestore::Expiry::After(Duration::from_millis(50)),
            mutestore::Actor::User,
        )
        .await
        .unwrap();
    store.unmute(&alice, &room("a")).await.unwrap();
    store
        .mute_with(
            &bob,
            &room("b"),
            mutestore::Expiry::After(Duration::from_millis(50)),
            mutestore::Actor::User,
        )
        .await
        .unwrap();
    // Memory is full: writes that grow memory are refused, deletions are not.
    let mut raw = redis::Client::open(server.url())
        .unwrap()
        .get_connection()
        .unwrap();
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("maxmemory-policy")
        .arg("noeviction")
        .query(&mut raw)
        .unwrap();
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("maxmemory")
        .arg(1)
        .query(&mut raw)
        .unwrap();
    clock.advance(Duration::from_millis(100));
    let purged = no_hang("expire_due", store.expire_due()).await;
    let left: usize = redis::cmd("ZCARD")
        .arg(default_user_key("bob"))
        .query(&mut raw)
        .unwrap();
    assert_eq!(left, 0, "bob's lapsed mute is purged");
    assert!(purged.is_ok(), "the purge at the memory limit: {purged:?}");
}

/// The node of `cluster` that serves `key`'s slot (the others answer `MOVED`).
fn holder_of(cluster: &ClusterProcesses, key: &str) -> usize {
    cluster
        .nodes
        .iter()
        .position(|node| {
            redis::cmd("EXISTS")
                .arg(key)
                .query::<i64>(&mut node_connection(node))
                .is_ok()
        })
        .expect("some node serves every slot")
}

/// How many rooms `user` has in Redis under the default prefix, lapsed or not, on `node`.
fn stored_rooms(node: &ServerProcess, user: &str) -> usize {
    redis::cmd("ZCARD")
        .arg(default_user_key(user))
        .query(&mut node_connection(node))
        .unwrap()
}

/// Waits until none of `names` has a room left in Redis, on its node by `node_of`.
async fn until_purged(
    cluster: &ClusterProcesses,
    node_of: &std::collections::HashMap<String, usize>,
    names: &[String],
) {
    for name in names {
        while stored_rooms(&cluster.nodes[node_of[name]], name) > 0 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// The users named `<stem>-<n>` for `n` below `count`, each muted in `room` until `after` from now.
async fn timed_mutes(store: &RedisStore, stem: &str, count: usize, after: Duration) -> Vec<String> {
    let names: Vec<String> = (0..count).map(|n| format!("{stem}-{n}")).collect();
    for name in &names {
        store
            .mute_with(
                &user(name),
                &room("lobby"),
                mutestore::Expiry::After(after),
                mutestore::Actor::User,
            )
            .await
            .unwrap();
    }
    names
}

/// With `cluster-require-full-coverage no`, the nodes left serve their slots while one is down. A
/// purge, the background task's and `expire_due`, must then purge every lapsed mute whose user and
/// expiry index bucket it can reach (on nodes that lost their scripts too), and `expire_due` must
/// still report that it could not do everything; the background task purges the rest once the node
/// is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_purge_with_a_cluster_node_down_purges_what_the_other_nodes_hold() {
    use std::collections::HashMap;
    use std::sync::Arc;
    let mut cluster = ClusterProcesses::start();
    serve_partial_coverage(&cluster);
    let clock = Arc::new(mutestore::ManualClock::new(1_000_000));
    let config = RedisConfig::cluster(cluster.urls())
        .unwrap()
        .with_timeout(TIMEOUT)
        .with_clock(clock.clone());
    let store = RedisStore::connect(config).await.unwrap();
    // Left to the background task, then to `expire_due`.
    let early = timed_mutes(&store, "early", 40, Duration::from_millis(50)).await;
    let late = timed_mutes(&store, "late", 40, Duration::from_secs(3600)).await;
    // Where each user's rooms and expiry index entry are.
    let user_node: HashMap<String, usize> = early
        .iter()
        .chain(&late)
        .map(|name| (name.clone(), holder_of(&cluster, &default_user_key(name))))
        .collect();
    let mut bucket_node: HashMap<String, usize> = HashMap::new();
    for bucket in 0..16 {
        let key = format!("mutestore:x:{{x{bucket:x}}}");
        let node = holder_of(&cluster, &key);
        let listed: Vec<String> = redis::cmd("ZRANGE")
            .arg(&key)
            .arg(0)
            .arg(-1)
            .query(&mut node_connection(&cluster.nodes[node]))
            .unwrap();
        for name in listed {
            bucket_node.insert(name, node);
        }
    }
    assert_eq!(bucket_node.len(), user_node.len(), "every user is indexed");
    let down = 1;
    let reachable = |names: &[String]| -> Vec<String> {
        names
            .iter()
            .filter(|&name| bucket_node[name] != down && user_node[name] != down)
            .cloned()
            .collect()
    };
    let (early_reachable, late_reachable) = (reachable(&early), reachable(&late));
    assert!(
        !early_reachable.is_empty()
            && !late_reachable.is_empty()
            && early_reachable.len() < early.len(),
        "some users, not all, are reachable with node {down} down"
    );
    cluster.nodes[down].kill();
    clock.advance(Duration::from_millis(100));
    no_hang(
        "the background purge with a node down",
        until_purged(&cluster, &user_node, &early_reachable),
    )
    .await;

    // The nodes left lose their scripts (as on a restart): the purge's scripts must reach them
    // again without the node that is down.
    for (number, node) in cluster.nodes.iter().enumerate() {
        if number != down {
            flush_scripts(node);
        }
    }
    clock.advance(Duration::from_secs(3600));
    let purged = no_hang("expire_due with a node down", store.expire_due()).await;
    // The background task may have purged some first; between them, every reachable user's lapsed
    // mute is gone.
    for name in &late_reachable {
        assert_eq!(
            stored_rooms(&cluster.nodes[user_node[name]], name),
            0,
            "{name}'s lapsed mute is purged although node {down} is down (expire_due: {purged:?})"
        );
    }
    assert!(
        matches!(purged, Err(StoreError::Backend(_))),
        "the purge could not reach node {down} and says so: {purged:?}"
    );

    // Once the node is back, the background task purges the rest by itself.
    cluster.nodes[down].restart();
    cluster.wait_until_ok();
    no_hang(
        "the background purge after the restart",
        until_purged(&cluster, &user_node, &[early, late].concat()),
    )
    .await;
    let again = until_it_serves("expire_due after the restart", async || {
        store.expire_due().await
    })
    .await;
    assert_eq!(again, 0, "nothing is left to purge");
}

/// Sets `cluster-require-full-coverage no` on every node: the nodes left then serve their slots
/// while one is down.
fn serve_partial_coverage(cluster: &ClusterProcesses) {
    for node in &cluster.nodes {
        let _: () = redis::cmd("CONFIG")
            .arg("SET")
            .arg("cluster-require-full-coverage")
            .arg("no")
            .query(&mut node_connection(node))
            .unwrap();
    }
}

/// Drops every script `node` holds, as a restart or a failover to a replica does.
fn flush_scripts(node: &ServerProcess) {
    let _: () = redis::cmd("SCRIPT")
        .arg("FLUSH")
        .query(&mut node_connection(node))
        .unwrap();
}

/// With a primary that does not answer (a host down or cut off: its connections stay open, as a
/// frozen process's do) and `cluster-require-full-coverage no`, the nodes left lose their scripts
/// (as on a restart or a failover) before each operation: every single-script operation on a user
/// and rooms whose keys they hold must still succeed. The store sends the script's text to the
/// key's own node; loading the script on every primary (redis-rs's `Script`, `SCRIPT LOAD`) would
/// wait for the silent one until the timeout.
///
/// A killed process would not do: its connection is refused at once, and redis-rs 1.8.1 then
/// leaves the node out of `SCRIPT LOAD` (checked by hand), so the load succeeds on the others.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scripts_lost_with_a_cluster_node_down_run_on_the_nodes_left() {
    let cluster = ClusterProcesses::start();
    serve_partial_coverage(&cluster);
    // Roomy: the test checks that each operation succeeds, not how fast.
    let config = RedisConfig::cluster(cluster.urls())
        .unwrap()
        .with_timeout(Duration::from_secs(2));
    let store = RedisStore::connect(config).await.unwrap();
    let down = 1;
    // A user whose rooms and expiry index bucket, and two rooms whose indexes, are on the nodes
    // left.
    let name = (0..)
        .map(|n| format!("user-{n}"))
        .find(|name| {
            holder_of(&cluster, &default_user_key(name)) != down
                && holder_of(&cluster, &default_bucket_key(name)) != down
        })
        .unwrap();
    let rooms: Vec<String> = (0..)
        .map(|n| format!("room-{n}"))
        .filter(|room| holder_of(&cluster, &default_room_index_key(room)) != down)
        .take(2)
        .collect();
    let (alice, lobby, later) = (user(&name), room(&rooms[0]), room(&rooms[1]));
    // Every script has run on the nodes once.
    store.mute(&alice, &lobby).await.unwrap();
    assert_all_ok(&every_operation(&store, &alice, std::slice::from_ref(&alice)).await);

    cluster.nodes[down].pause();
    let lose_scripts = || {
        for (number, node) in cluster.nodes.iter().enumerate() {
            if number != down {
                flush_scripts(node);
            }
        }
    };
    for round in 0..2 {
        lose_scripts();
        let mute = no_hang("mute", store.mute(&alice, &lobby)).await;
        assert!(
            mute.as_ref().is_ok_and(|outcome| outcome.changed),
            "mute {round} with node {down} down: {mute:?}"
        );
        lose_scripts();
        let unmute = no_hang("unmute", store.unmute(&alice, &lobby)).await;
        assert!(
            unmute.as_ref().is_ok_and(|outcome| outcome.changed),
            "unmute {round} with node {down} down: {unmute:?}"
        );
    }
    lose_scripts();
    let timed = mutestore::Expiry::After(Duration::from_secs(3600));
    let timed_mute = no_hang(
        "timed mute",
        store.mute_with(&alice, &later, timed, mutestore::Actor::User),
    )
    .await;
    assert!(timed_mute.is_ok(), "timed mute: {timed_mute:?}");
    lose_scripts();
    store.mute(&alice, &lobby).await.unwrap();
    lose_scripts();
    let is_muted = no_hang("is_muted", store.is_muted(&alice, &lobby)).await;
    assert!(matches!(is_muted, Ok(true)), "is_muted: {is_muted:?}");
    lose_scripts();
    let muted = no_hang("muted_rooms", store.muted_rooms(&alice)).await;
    assert!(
        muted
            .as_ref()
            .is_ok_and(|muted| *muted == [rooms[1].as_str(), rooms[0].as_str()]),
        "muted_rooms: {muted:?}"
    );
    // The room's index lists alice alone, whose node is up.
    lose_scripts();
    let forgotten = no_hang("forget_room", store.forget_room(&lobby)).await;
    assert!(matches!(forgotten, Ok(1)), "forget_room: {forgotten:?}");
    lose_scripts();
    let forgot = no_hang("forget_user", store.forget_user(&alice)).await;
    assert!(
        forgot
            .as_ref()
            .is_ok_and(|muted| *muted == [rooms[1].as_str()]),
        "forget_user: {forgot:?}"
    );
}

/// A standalone server that lost its scripts (a restart, `SCRIPT FLUSH`) runs them again from
/// their text.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scripts_lost_on_a_standalone_server_run_again() {
    let server = ServerProcess::start(&[]);
    let config = RedisConfig::standalone(&server.url())
        .unwrap()
        .with_timeout(Duration::from_secs(2));
    let store = RedisStore::connect(config).await.unwrap();
    let (alice, lobby) = (user("alice"), room("lobby"));
    assert_all_ok(&every_operation(&store, &alice, std::slice::from_ref(&alice)).await);
    flush_scripts(&server);
    assert_all_ok(&every_operation(&store, &alice, std::slice::from_ref(&alice)).await);
    flush_scripts(&server);
    let timed = mutestore::Expiry::After(Duration::from_secs(3600));
    store
        .mute_with(&alice, &lobby, timed, mutestore::Actor::User)
        .await
        .unwrap();
    assert_eq!(store.muted_rooms(&alice).await.unwrap(), ["lobby"]);
}

/// A store given one seed node of a Cluster keeps its event feed when that node goes away: the feed
/// subscribes again on a node the Cluster's slot map names, lags its subscribers, and delivers the
/// events of the users the nodes left serve.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_event_feed_moves_to_another_node_when_its_seed_goes_away() {
    feed_outlives_its_seed(ClusterProcesses::start()).await;
}

/// The same with a password on every node: the nodes the feed finds take the seed URL's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_event_feed_moves_to_another_node_with_the_seeds_password() {
    let secret = "feed-s3cret";
    feed_outlives_its_seed(ClusterProcesses::start_with(&["--requirepass", secret])).await;
}

/// Kills the only configured node of `cluster` under a store's event feed, which must come back on
/// another node, say that events may have been missed, and then carry them again.
async fn feed_outlives_its_seed(mut cluster: ClusterProcesses) {
    serve_partial_coverage(&cluster);
    let seed = cluster.nodes[0].url();
    let config = RedisConfig::cluster([seed]).unwrap().with_timeout(TIMEOUT);
    let store = RedisStore::connect(config).await.unwrap();
    let mut feed = store.subscribe(EventScope::All).unwrap();
    // A user and a room whose keys the seed does not hold, so their mute needs only the others.
    let far = |key: String| holder_of(&cluster, &key) != 0;
    let name = (0..)
        .map(|n| format!("away-{n}"))
        .find(|name| far(default_user_key(name)) && far(default_room_index_key(name)))
        .unwrap();
    let (away, lobby) = (user(&name), room(&name));
    store.mute(&away, &room("before")).await.unwrap();
    assert_eq!(next_room(&mut feed).await, Ok("before".to_string()));

    cluster.nodes[0].kill();
    // The subscribers hear at once that events may be missed; the feed comes back on another
    // node, and the room's mutes and unmutes reach them again.
    assert!(matches!(
        next_room(&mut feed).await,
        Err(RecvError::Lagged(_))
    ));
    let arrived = until_the_feed_carries(&mut feed, async |n| {
        if n % 2 == 1 {
            store.mute(&away, &lobby).await
        } else {
            store.unmute(&away, &lobby).await
        }
    })
    .await;
    assert_eq!(arrived, name);
}
