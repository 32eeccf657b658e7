//! The security points of docs/SECURITY.md, each with its test, over real HTTP where a client is
//! involved. (Constant-time comparison is tested where it lives: `src/http/constant_time.rs` and
//! `src/http/secret_table.rs`.)

mod common;

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::Arc;

use common::client::Reply;
use common::events::{Opened, open_with};
use common::failing::{FailingAuthenticator, FailingDirectory, FailingStore};
use common::server::TestServer;
use common::{API_KEY, CLIENT_KEY, TOKEN, TOKEN_2};
use mutestore::{
    CorsPolicy, MemoryStore, MuteApi, Operation, RoomId, SeedAuthenticator, SeedData,
    SeedDirectory, UserId, not_found_fallback,
};

type Headers = Vec<(&'static str, &'static [u8])>;

/// Every user's rooms.
fn state(store: &MemoryStore) -> BTreeMap<String, Vec<String>> {
    let mut users = BTreeMap::new();
    store.for_each_user(|user, rooms| {
        users.insert(
            user.to_string(),
            rooms.iter().map(ToString::to_string).collect(),
        );
    });
    users
}

fn user(id: &str) -> UserId {
    UserId::new(id).expect("a valid user id")
}

fn room(id: &str) -> RoomId {
    RoomId::new(id).expect("a valid room id")
}

/// The demo seed over a store where `demo-user` muted room-1 and `demo-user-2` muted room-2 and
/// room-5.
async fn demo_with_mutes() -> (TestServer, Arc<MemoryStore>) {
    let store = Arc::new(MemoryStore::new());
    store
        .mute_sync(&user("demo-user"), &room("room-1"))
        .expect("a mute");
    for name in ["room-2", "room-5"] {
        store
            .mute_sync(&user("demo-user-2"), &room(name))
            .expect("a mute");
    }
    let server = TestServer::start(Arc::clone(&store), &SeedData::demo()).await;
    (server, store)
}

/// A concrete path for each operation: rooms that exist, and the admin's user `demo-user`, whose
/// room-1 is muted, so that every operation would succeed with the right credentials.
fn concrete_path(operation: Operation) -> String {
    operation.path().replace("{uid}", "demo-user").replace(
        "{room}",
        if operation.method() == "DELETE" {
            "room-1"
        } else {
            "room-3"
        },
    )
}

fn is_admin(operation: Operation) -> bool {
    operation.path().starts_with("/admin/")
}

/// Credentials that are not a valid client key and token.
fn bad_client_credentials() -> Vec<Headers> {
    vec![
        vec![],
        vec![("IM-CLIENT-KEY", CLIENT_KEY.as_bytes())],
        vec![("IM-Authorization", TOKEN.as_bytes())],
        vec![
            ("IM-CLIENT-KEY", CLIENT_KEY.as_bytes()),
            ("IM-Authorization", b"no-such-token"),
        ],
        vec![
            ("IM-CLIENT-KEY", b"no-such-key"),
            ("IM-Authorization", TOKEN.as_bytes()),
        ],
        vec![
            ("IM-CLIENT-KEY", CLIENT_KEY.as_bytes()),
            ("IM-Authorization", b"Bearer demo-token"),
        ],
        vec![
            ("IM-CLIENT-KEY", CLIENT_KEY.as_bytes()),
            ("IM-Authorization", b"demo-toke"),
        ],
        vec![
            ("IM-CLIENT-KEY", CLIENT_KEY.as_bytes()),
            ("IM-Authorization", b"demo-token-"),
        ],
        vec![
            ("IM-CLIENT-KEY", CLIENT_KEY.as_bytes()),
            ("IM-Authorization", b"DEMO-TOKEN"),
        ],
        // Sent twice, even with the same value, is not guessed at.
        vec![
            ("IM-CLIENT-KEY", CLIENT_KEY.as_bytes()),
            ("IM-Authorization", TOKEN.as_bytes()),
            ("IM-Authorization", TOKEN.as_bytes()),
        ],
        vec![
            ("IM-CLIENT-KEY", CLIENT_KEY.as_bytes()),
            ("IM-CLIENT-KEY", CLIENT_KEY.as_bytes()),
            ("IM-Authorization", TOKEN.as_bytes()),
        ],
        // The admin key is not a client credential.
        vec![("IM-API-KEY", API_KEY.as_bytes())],
        vec![
            ("IM-CLIENT-KEY", API_KEY.as_bytes()),
            ("IM-Authorization", TOKEN.as_bytes()),
        ],
        vec![
            ("IM-CLIENT-KEY", CLIENT_KEY.as_bytes()),
            ("IM-Authorization", API_KEY.as_bytes()),
        ],
        vec![
            ("IM-CLIENT-KEY", b"\xff\xfe"),
            ("IM-Authorization", TOKEN.as_bytes()),
        ],
    ]
}

/// Credentials that are not a valid admin API key.
fn bad_admin_credentials() -> Vec<Headers> {
    vec![
        vec![],
        vec![("IM-API-KEY", b"")],
        vec![("IM-API-KEY", b"no-such-key")],
        vec![("IM-API-KEY", b"demo-api-ke")],
        vec![("IM-API-KEY", b"demo-api-key-")],
        vec![("IM-API-KEY", b"DEMO-API-KEY")],
        vec![("IM-API-KEY", b"Bearer demo-api-key")],
        vec![
            ("IM-API-KEY", API_KEY.as_bytes()),
            ("IM-API-KEY", API_KEY.as_bytes()),
        ],
        // Client credentials never reach an admin endpoint, however they are sent.
        vec![
            ("IM-CLIENT-KEY", CLIENT_KEY.as_bytes()),
            ("IM-Authorization", TOKEN.as_bytes()),
        ],
        vec![("IM-API-KEY", CLIENT_KEY.as_bytes())],
        vec![("IM-API-KEY", TOKEN.as_bytes())],
        vec![("IM-CLIENT-KEY", API_KEY.as_bytes())],
        vec![("IM-Authorization", API_KEY.as_bytes())],
    ]
}

/// Sends one request. An event stream, were one opened, is not read: it is answered with the
/// stream's status and headers and an empty body.
async fn send(server: &TestServer, operation: Operation, path: &str, headers: &Headers) -> Reply {
    if operation == Operation::GetEvents && path == "/me/events" {
        return match open_with(&server.client, "GET", headers).await {
            Opened::Refused(reply) => reply,
            Opened::Stream(reader) => Reply {
                status: 200,
                headers: reader.headers,
                body: Default::default(),
            },
        };
    }
    server
        .client
        .send(operation.method(), path, headers, Vec::new())
        .await
}

#[tokio::test]
async fn no_endpoint_works_without_valid_credentials() {
    let (server, store) = demo_with_mutes().await;
    let before = state(&store);
    let guarded: Vec<Operation> = Operation::ALL
        .into_iter()
        .filter(|&operation| operation != Operation::GetOpenApi)
        .collect();
    // A new operation must be added here on purpose, with its credentials decided.
    assert_eq!(guarded.len(), 6);
    for operation in guarded {
        let path = concrete_path(operation);
        let refused = if is_admin(operation) {
            bad_admin_credentials()
        } else {
            bad_client_credentials()
        };
        for headers in &refused {
            for target in [
                path.clone(),
                format!("{path}?IM-API-KEY={API_KEY}&token={TOKEN}"),
            ] {
                let reply = send(&server, operation, &target, headers).await;
                let code = reply.json()["error"]["code"].as_str().map(str::to_owned);
                assert!(
                    [401, 403].contains(&reply.status),
                    "{operation:?} {target} with {headers:?}: {} {code:?}",
                    reply.status
                );
                assert_eq!(state(&store), before, "{operation:?} with {headers:?}");
            }
        }
    }
    // The same requests with valid credentials do work: the refusals above are the credentials'.
    let valid: Headers = vec![
        ("IM-CLIENT-KEY", CLIENT_KEY.as_bytes()),
        ("IM-Authorization", TOKEN.as_bytes()),
    ];
    let stream = send(&server, Operation::GetEvents, "/me/events", &valid).await;
    assert_eq!(
        (stream.status, stream.header("content-type")),
        (200, Some("text/event-stream"))
    );
    for operation in [Operation::GetMe, Operation::MuteRoom] {
        server
            .me(operation.method(), &concrete_path(operation))
            .await
            .expect_ok();
    }
    server
        .admin("POST", &concrete_path(Operation::AdminMuteRoom))
        .await
        .expect_ok();
}

#[tokio::test]
async fn me_endpoints_never_touch_another_users_mutes() {
    let (server, store) = demo_with_mutes().await;
    let theirs = state(&store)["demo-user-2"].clone();
    let as_me = |extra: Headers| {
        let mut headers: Headers = vec![
            ("IM-CLIENT-KEY", CLIENT_KEY.as_bytes()),
            ("IM-Authorization", TOKEN.as_bytes()),
        ];
        headers.extend(extra);
        headers
    };
    let attempts: Vec<(&str, &str, Headers)> = vec![
        // Their rooms, named as mine.
        ("DELETE", "/me/mute/room-2", as_me(vec![])),
        ("POST", "/me/mute/room-5", as_me(vec![])),
        ("DELETE", "/me/mute/room-5", as_me(vec![])),
        // Their id wherever a client might slip it in.
        ("DELETE", "/me/mute/room-2?uid=demo-user-2", as_me(vec![])),
        (
            "DELETE",
            "/me/mute/room-2",
            as_me(vec![("X-User-Id", b"demo-user-2")]),
        ),
        (
            "DELETE",
            "/me/mute/room-2",
            as_me(vec![("IM-API-KEY", API_KEY.as_bytes())]),
        ),
        ("GET", "/me?_id=demo-user-2", as_me(vec![])),
        // Paths that climb out of /me.
        (
            "DELETE",
            "/me/../admin/clients/demo-user-2/mute/room-2",
            as_me(vec![]),
        ),
        (
            "DELETE",
            "/me/mute/..%2F..%2Fadmin%2Fclients%2Fdemo-user-2%2Fmute%2Froom-2",
            as_me(vec![]),
        ),
        ("DELETE", "/me/demo-user-2/mute/room-2", as_me(vec![])),
        // Their token next to mine is not guessed at.
        (
            "DELETE",
            "/me/mute/room-2",
            as_me(vec![("IM-Authorization", TOKEN_2.as_bytes())]),
        ),
    ];
    for (method, path, headers) in &attempts {
        let reply = server.client.send(method, path, headers, Vec::new()).await;
        if reply.status == 200 {
            assert_eq!(
                reply.expect_ok()["_id"],
                "demo-user",
                "{method} {path} answered for someone else"
            );
        }
        assert_eq!(
            state(&store).get("demo-user-2"),
            Some(&theirs),
            "{method} {path} with {headers:?} changed another user's mutes"
        );
    }
    // Only my own set moved.
    assert_eq!(state(&store)["demo-user"], ["room-1"]);
}

#[tokio::test]
async fn client_credentials_on_admin_endpoints_are_invalid_api_key() {
    let (server, store) = demo_with_mutes().await;
    let before = state(&store);
    for operation in [Operation::AdminMuteRoom, Operation::AdminUnmuteRoom] {
        let reply = server
            .me(operation.method(), &concrete_path(operation))
            .await;
        reply.expect_error(401, "Unauthorized", "INVALID_API_KEY");
    }
    assert_eq!(state(&store), before);
    // With the API key, the admin acts on `:uid`, whatever client headers come along.
    let reply = server
        .client
        .send(
            "POST",
            "/admin/clients/demo-user-2/mute/room-3",
            &[
                ("IM-API-KEY", API_KEY.as_bytes()),
                ("IM-CLIENT-KEY", CLIENT_KEY.as_bytes()),
                ("IM-Authorization", TOKEN.as_bytes()),
            ],
            Vec::new(),
        )
        .await;
    assert_eq!(reply.expect_ok()["_id"], "demo-user-2");
    assert_eq!(state(&store)["demo-user"], ["room-1"]);
}

/// Words of the failing hooks' error (`common::failing::INTERNAL_DETAIL`) and of the library's own
/// error wrappers, none of which may reach a client.
const INTERNAL_WORDS: [&str; 7] = [
    "10.1.2.3",
    "5432",
    "/var/lib",
    "shard-7",
    "storage backend failed",
    "host hook failed",
    "connection to",
];

fn assert_no_internal_words(reply: &Reply, what: &str) {
    let body = String::from_utf8_lossy(&reply.body);
    for word in INTERNAL_WORDS {
        assert!(!body.contains(word), "{what}: {word:?} in {body}");
        for (name, value) in &reply.headers {
            let value = String::from_utf8_lossy(value.as_bytes());
            assert!(!value.contains(word), "{what}: {word:?} in header {name}");
        }
    }
}

#[tokio::test]
async fn responses_never_contain_internal_error_text() {
    let seed = SeedData::demo();
    let router = |api: axum::Router| api.fallback(not_found_fallback);
    let servers = [
        (
            "failing store",
            TestServer::start(FailingStore, &seed).await,
        ),
        (
            "failing authenticator",
            TestServer::serve(router(
                MuteApi::new(
                    MemoryStore::new(),
                    FailingAuthenticator,
                    SeedDirectory::new(&seed),
                )
                .into_router(CorsPolicy::disabled()),
            ))
            .await,
        ),
        (
            "failing directory",
            TestServer::serve(router(
                MuteApi::new(
                    MemoryStore::new(),
                    SeedAuthenticator::new(&seed),
                    FailingDirectory,
                )
                .into_router(CorsPolicy::disabled()),
            ))
            .await,
        ),
    ];
    for (name, server) in &servers {
        for operation in Operation::ALL {
            let path = concrete_path(operation);
            let reply = if is_admin(operation) {
                server.admin(operation.method(), &path).await
            } else if operation == Operation::GetEvents {
                let credentials: Headers = vec![
                    ("IM-CLIENT-KEY", CLIENT_KEY.as_bytes()),
                    ("IM-Authorization", TOKEN.as_bytes()),
                ];
                send(server, operation, &path, &credentials).await
            } else {
                server.me(operation.method(), &path).await
            };
            if reply.status == 500 {
                reply.expect_error(500, "Internal server error", "INTERNAL_ERROR");
            }
            assert_no_internal_words(&reply, &format!("{name}, {operation:?}"));
        }
    }
    // Every operation met a failure on one of the servers.
    let (_, failing_store) = &servers[0];
    failing_store.me("GET", "/me").await.expect_error(
        500,
        "Internal server error",
        "INTERNAL_ERROR",
    );

    // Nothing of the request is echoed either: not a path, not an id, not a header.
    let (server, _) = demo_with_mutes().await;
    for path in [
        "/var/lib/mutestore/secret.db",
        "/me/mute/%00%2Fvar%2Flib%2Fmutestore",
        "/me/mute/%2Fvar%2Flib%2Fno-such-room",
        "/admin/clients/%2Fvar%2Flib%00/mute/room-1",
    ] {
        let reply = server.me("POST", path).await;
        let body = String::from_utf8_lossy(&reply.body);
        assert!(
            !body.contains("var") && !body.contains("lib"),
            "{path}: {body}"
        );
    }
}

/// The order in which `for_each_user` visits 200 users, which follows their seeded hashes.
fn visiting_order(store: &MemoryStore) -> Vec<String> {
    for n in 0..200 {
        store
            .mute_sync(&user(&format!("user-{n}")), &room("room"))
            .expect("a mute");
    }
    let mut order = Vec::new();
    store.for_each_user(|user, _| order.push(user.to_string()));
    order
}

#[test]
fn two_stores_order_the_same_users_differently() {
    // With a fixed hash, the same users muted in the same order would sit in the same shards and
    // slots of both stores.
    let first = visiting_order(&MemoryStore::new());
    let second = visiting_order(&MemoryStore::new());
    assert_eq!(first.len(), 200);
    assert_ne!(first, second, "two stores hash user ids alike");
}

/// Set in the child processes of `two_processes_order_the_same_users_differently`.
const CHILD_ENV: &str = "MUTESTORE_PRINT_VISITING_ORDER";

/// Run as a child process: prints the visiting order of the first store the process makes. Does
/// nothing in an ordinary test run.
#[test]
fn visiting_order_of_this_process() {
    if std::env::var_os(CHILD_ENV).is_some() {
        println!("ORDER {}", visiting_order(&MemoryStore::new()).join(","));
    }
}

fn visiting_order_in_a_new_process() -> String {
    let output = Command::new(std::env::current_exe().expect("the test binary"))
        .args([
            "--exact",
            "visiting_order_of_this_process",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, "1")
        .output()
        .expect("the test binary runs");
    assert!(output.status.success(), "{output:?}");
    // The harness prints the test's name on the same line, before the order.
    let stdout = String::from_utf8_lossy(&output.stdout);
    stdout
        .split_once("ORDER ")
        .and_then(|(_, rest)| rest.lines().next())
        .map(str::to_owned)
        .unwrap_or_else(|| panic!("no order printed: {output:?}"))
}

#[test]
fn two_processes_order_the_same_users_differently() {
    // A seed fixed at build time, or derived only from a per-process counter, would give the first
    // store of every process the same hash: an attacker could precompute colliding ids.
    let first = visiting_order_in_a_new_process();
    let second = visiting_order_in_a_new_process();
    assert_eq!(first.split(',').count(), 200);
    assert_ne!(first, second, "two processes hash user ids alike");
}
