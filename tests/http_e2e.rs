//! End to end over real HTTP: the axum router on an ephemeral loopback port, a real client.

mod common;

use std::collections::HashSet;
use std::sync::Arc;

use common::client::{Reply, parse_raw_response, raw_exchange};
use common::failing::{FailingStore, INTERNAL_DETAIL};
use common::server::{ALLOWED_ORIGIN, TestServer};
use common::{API_KEY, CLIENT_KEY, TOKEN, TOKEN_2};
use mutestore::{MemoryStore, MuteStore, SeedData, UserId};
use serde_json::{Value, json};

const DEMO_PROFILE_FIELDS: [(&str, &str); 5] = [
    ("_id", "demo-user"),
    ("nickname", "Demo User"),
    ("email", "demo@example.com"),
    ("appID", "SampleApp"),
    ("avatarUrl", "http://example.com/avatarUrl"),
];

/// A seed whose rooms have awkward ids.
fn awkward_seed() -> SeedData {
    let rooms = json!([
        "a b",
        "a/b",
        "ルーム",
        "plus+sign",
        "100%",
        "x".repeat(256),
        "é".repeat(128),
        "room-1"
    ]);
    let seed = json!({
        "clientKeys": [CLIENT_KEY], "apiKeys": [API_KEY], "rooms": rooms,
        "users": [
            {"token": TOKEN, "profile": {"_id": "demo-user"}},
            {"token": TOKEN_2, "profile": {"_id": "user/with slash"}}
        ]
    });
    SeedData::from_json(&seed.to_string()).expect("a valid seed")
}

#[tokio::test]
async fn the_seed_pages_unmute_example() {
    let server = TestServer::demo().await;
    let reply = server.me("DELETE", "/me/mute/demo-room").await;
    let result = reply.expect_ok();
    for (field, value) in DEMO_PROFILE_FIELDS {
        assert_eq!(result[field], value, "{result}");
    }
    assert_eq!(result["mute"], json!([]));
    assert_eq!(result.as_object().map(|o| o.len()), Some(6), "{result}");
    assert_eq!(reply.header("cache-control"), Some("no-store"));
}

#[tokio::test]
async fn mute_and_unmute_keep_order_and_are_idempotent() {
    let server = TestServer::demo().await;
    for room in ["room-3", "room-1", "room-2"] {
        server
            .me("POST", &format!("/me/mute/{room}"))
            .await
            .expect_ok();
    }
    // Muting again neither fails nor moves the room.
    let again = server.me("POST", "/me/mute/room-3").await;
    again.expect_ok();
    assert_eq!(again.mute(), ["room-3", "room-1", "room-2"]);
    assert_eq!(server.my_rooms().await, ["room-3", "room-1", "room-2"]);

    let unmuted = server.me("DELETE", "/me/mute/room-1").await;
    unmuted.expect_ok();
    assert_eq!(unmuted.mute(), ["room-3", "room-2"]);
    // Unmuting a room that is not muted succeeds and changes nothing.
    let again = server.me("DELETE", "/me/mute/room-1").await;
    again.expect_ok();
    assert_eq!(again.mute(), ["room-3", "room-2"]);
    // Re-muting puts the room last: it is a new mute.
    let remuted = server.me("POST", "/me/mute/room-1").await;
    assert_eq!(remuted.mute(), ["room-3", "room-2", "room-1"]);

    let me = server.me("GET", "/me").await.expect_ok();
    for (field, value) in DEMO_PROFILE_FIELDS {
        assert_eq!(me[field], value);
    }
    assert_eq!(me["mute"], json!(["room-3", "room-2", "room-1"]));
}

#[tokio::test]
async fn admin_endpoints_act_on_the_named_user() {
    let server = TestServer::demo().await;
    let reply = server
        .admin("POST", "/admin/clients/demo-user-2/mute/room-7")
        .await;
    let result = reply.expect_ok();
    assert_eq!(
        result,
        json!({"_id": "demo-user-2", "nickname": "Demo User 2", "mute": ["room-7"]})
    );
    // Idempotent.
    let again = server
        .admin("POST", "/admin/clients/demo-user-2/mute/room-7")
        .await;
    assert_eq!(again.mute(), ["room-7"]);
    assert_eq!(
        server.as_user(TOKEN_2, "GET", "/me").await.mute(),
        ["room-7"]
    );
    assert!(server.my_rooms().await.is_empty(), "demo-user is untouched");

    let removed = server
        .admin("DELETE", "/admin/clients/demo-user-2/mute/room-7")
        .await;
    removed.expect_ok();
    assert!(removed.mute().is_empty());
    // Not idempotent: the room is no longer muted.
    server
        .admin("DELETE", "/admin/clients/demo-user-2/mute/room-7")
        .await
        .expect_error(400, "Room is not muted", "ROOM_NOT_MUTED");
    assert!(
        server
            .as_user(TOKEN_2, "GET", "/me")
            .await
            .mute()
            .is_empty()
    );
}

#[tokio::test]
async fn two_users_are_isolated() {
    let server = TestServer::demo().await;
    server.me("POST", "/me/mute/room-1").await.expect_ok();
    server
        .as_user(TOKEN_2, "POST", "/me/mute/room-2")
        .await
        .expect_ok();
    server
        .as_user(TOKEN_2, "POST", "/me/mute/room-1")
        .await
        .expect_ok();
    server.me("DELETE", "/me/mute/room-1").await.expect_ok();
    assert!(server.my_rooms().await.is_empty());
    assert_eq!(
        server.as_user(TOKEN_2, "GET", "/me").await.mute(),
        ["room-2", "room-1"]
    );
}

#[tokio::test]
async fn every_error_row_of_the_contract() {
    let server = TestServer::demo().await;
    server.me("POST", "/me/mute/demo-room").await.expect_ok();
    let client_key: (&str, &[u8]) = ("IM-CLIENT-KEY", CLIENT_KEY.as_bytes());
    let token: (&str, &[u8]) = ("IM-Authorization", TOKEN.as_bytes());
    let send =
        |method: &'static str, path: &'static str, headers: Vec<(&'static str, &'static [u8])>| {
            let client = server.client.clone();
            async move { client.send(method, path, &headers, Vec::new()).await }
        };

    for method in ["GET", "POST", "DELETE"] {
        let path = if method == "GET" {
            "/me"
        } else {
            "/me/mute/room-1"
        };
        send(method, path, vec![token])
            .await
            .expect_error(403, "Forbidden", "MISSING_CLIENT_KEY");
        send(method, path, vec![("IM-CLIENT-KEY", b"wrong"), token])
            .await
            .expect_error(403, "Forbidden", "INVALID_CLIENT_KEY");
        send(method, path, vec![client_key]).await.expect_error(
            401,
            "Unauthorized",
            "INVALID_TOKEN",
        );
        send(
            method,
            path,
            vec![client_key, ("IM-Authorization", b"expired-token")],
        )
        .await
        .expect_error(401, "Unauthorized", "INVALID_TOKEN");
        // The raw token only: a `Bearer ` prefix makes it another token.
        send(
            method,
            path,
            vec![client_key, ("IM-Authorization", b"Bearer demo-token")],
        )
        .await
        .expect_error(401, "Unauthorized", "INVALID_TOKEN");
    }
    for method in ["POST", "DELETE"] {
        let path = "/admin/clients/demo-user/mute/demo-room";
        send(method, path, vec![])
            .await
            .expect_error(401, "Unauthorized", "INVALID_API_KEY");
        send(method, path, vec![("IM-API-KEY", b"demo-client-key")])
            .await
            .expect_error(401, "Unauthorized", "INVALID_API_KEY");
        // Client credentials do not open admin endpoints.
        send(method, path, vec![client_key, token])
            .await
            .expect_error(401, "Unauthorized", "INVALID_API_KEY");
        server
            .admin(method, "/admin/clients/demo-user/mute/bad%ZZ")
            .await
            .expect_error(400, "Bad Request", "INVALID_PARAMETER");
        server
            .admin(method, "/admin/clients/no-such-user/mute/demo-room")
            .await
            .expect_error(404, "Client not found", "CLIENT_NOT_FOUND");
        server
            .admin(method, "/admin/clients/demo-user/mute/no-such-room")
            .await
            .expect_error(404, "Room not found", "ROOM_NOT_FOUND");
    }
    for method in ["POST", "DELETE"] {
        server.me(method, "/me/mute/%00").await.expect_error(
            400,
            "Bad Request",
            "INVALID_PARAMETER",
        );
        server
            .me(method, "/me/mute/no-such-room")
            .await
            .expect_error(404, "Room not found", "ROOM_NOT_FOUND");
    }
    server
        .admin("DELETE", "/admin/clients/demo-user/mute/room-1")
        .await
        .expect_error(400, "Room is not muted", "ROOM_NOT_MUTED");
    let big = server
        .client
        .send(
            "POST",
            "/me/mute/room-1",
            &[client_key, token],
            vec![b'x'; 64 * 1024 + 1],
        )
        .await;
    big.expect_error(413, "Payload Too Large", "PAYLOAD_TOO_LARGE");
    server
        .bare("GET", "/no/such/route")
        .await
        .expect_error(404, "Not Found", "NOT_FOUND");
    let wrong = server.me("PUT", "/me/mute/room-1").await;
    wrong.expect_error(405, "Method Not Allowed", "METHOD_NOT_ALLOWED");
    assert_eq!(wrong.header("allow"), Some("POST, DELETE"));
    let wrong = server.me("POST", "/me").await;
    wrong.expect_error(405, "Method Not Allowed", "METHOD_NOT_ALLOWED");
    assert_eq!(wrong.header("allow"), Some("GET"));
    let wrong = server
        .admin("GET", "/admin/clients/demo-user/mute/room-1")
        .await;
    assert_eq!(wrong.header("allow"), Some("POST, DELETE"));

    // None of the refusals changed anything.
    assert_eq!(server.my_rooms().await, ["demo-room"]);
    assert!(
        server
            .as_user(TOKEN_2, "GET", "/me")
            .await
            .mute()
            .is_empty()
    );
}

#[tokio::test]
async fn the_mute_limit_refuses_new_rooms_only() {
    let server = TestServer::start(MemoryStore::with_mute_limit(3), &SeedData::demo()).await;
    for room in ["room-1", "room-2", "room-3"] {
        server
            .me("POST", &format!("/me/mute/{room}"))
            .await
            .expect_ok();
    }
    let refused = server.me("POST", "/me/mute/room-4").await;
    refused.expect_error(400, "Mute limit exceeded", "MUTE_LIMIT_EXCEEDED");
    server
        .admin("POST", "/admin/clients/demo-user/mute/room-4")
        .await
        .expect_error(400, "Mute limit exceeded", "MUTE_LIMIT_EXCEEDED");
    assert_eq!(server.my_rooms().await, ["room-1", "room-2", "room-3"]);
    // Re-muting a room already muted is fine at the limit, and unmuting makes room.
    assert_eq!(
        server.me("POST", "/me/mute/room-2").await.mute(),
        ["room-1", "room-2", "room-3"]
    );
    server.me("DELETE", "/me/mute/room-1").await.expect_ok();
    assert_eq!(
        server.me("POST", "/me/mute/room-4").await.mute(),
        ["room-2", "room-3", "room-4"]
    );
    // Another user's limit is their own.
    server
        .as_user(TOKEN_2, "POST", "/me/mute/room-9")
        .await
        .expect_ok();
}

#[tokio::test]
async fn awkward_ids_are_decoded_and_validated() {
    let server = TestServer::start(MemoryStore::new(), &awkward_seed()).await;
    let cases = [
        ("a%20b", "a b"),
        ("a%2Fb", "a/b"),
        ("a%2fb", "a/b"),
        ("%E3%83%AB%E3%83%BC%E3%83%A0", "ルーム"),
        ("plus+sign", "plus+sign"),
        ("100%25", "100%"),
    ];
    let mut expected = Vec::new();
    for (raw, id) in cases {
        let reply = server.me("POST", &format!("/me/mute/{raw}")).await;
        reply.expect_ok();
        if !expected.contains(&id) {
            expected.push(id);
        }
        assert_eq!(reply.mute(), expected, "{raw}");
    }
    // 256 bytes is the longest id, in bytes of UTF-8, not characters.
    let longest = "x".repeat(256);
    assert!(
        server
            .me("POST", &format!("/me/mute/{longest}"))
            .await
            .mute()
            .contains(&longest)
    );
    let accents = "%C3%A9".repeat(128);
    assert!(
        server
            .me("POST", &format!("/me/mute/{accents}"))
            .await
            .mute()
            .contains(&"é".repeat(128))
    );
    let rooms_before = server.my_rooms().await;

    let too_long = "x".repeat(257);
    let accents_too_long = "%C3%A9".repeat(129);
    let malformed = [
        too_long.as_str(),
        accents_too_long.as_str(),
        "%00",
        "a%00b",
        "%1F",
        "%7F",
        "%0A",
        "%ZZ",
        "%",
        "a%2",
        "%%",
        "%FF",
        "%C3",
        "%E3%83",
        "",
    ];
    for raw in malformed {
        for method in ["POST", "DELETE"] {
            server
                .me(method, &format!("/me/mute/{raw}"))
                .await
                .expect_error(400, "Bad Request", "INVALID_PARAMETER");
            server
                .admin(method, &format!("/admin/clients/{raw}/mute/room-1"))
                .await
                .expect_error(400, "Bad Request", "INVALID_PARAMETER");
            server
                .admin(method, &format!("/admin/clients/demo-user/mute/{raw}"))
                .await
                .expect_error(400, "Bad Request", "INVALID_PARAMETER");
        }
    }
    // A real `/` splits the segment: that is another path, not the room "a/b".
    server
        .me("DELETE", "/me/mute/a/b")
        .await
        .expect_error(404, "Not Found", "NOT_FOUND");
    assert_eq!(server.my_rooms().await, rooms_before);

    // `%2F` in a user id too.
    let reply = server
        .admin("POST", "/admin/clients/user%2Fwith%20slash/mute/a%2Fb")
        .await;
    assert_eq!(reply.expect_ok()["_id"], "user/with slash");
    assert_eq!(server.as_user(TOKEN_2, "GET", "/me").await.mute(), ["a/b"]);
    server
        .admin("DELETE", "/admin/clients/user%2Fwith%20slash/mute/a%2Fb")
        .await
        .expect_ok();
}

/// `{"durationMS": 60000}` padded with spaces to `length` bytes.
fn padded_mute_body(length: usize) -> Vec<u8> {
    let mut body = br#"{"durationMS": 60000}"#.to_vec();
    body.resize(length, b' ');
    body
}

#[tokio::test]
async fn bodies_up_to_64_kib_are_read_or_ignored_and_larger_ones_refused() {
    let server = TestServer::demo().await;
    let headers: [(&str, &[u8]); 2] = [
        ("IM-CLIENT-KEY", CLIENT_KEY.as_bytes()),
        ("IM-Authorization", TOKEN.as_bytes()),
    ];
    // A mute reads its body, up to the limit inclusive.
    let at_limit = server
        .client
        .send(
            "POST",
            "/me/mute/room-1",
            &headers,
            padded_mute_body(64 * 1024),
        )
        .await;
    assert_eq!(at_limit.mute(), ["room-1"]);
    assert!(at_limit.expect_ok()["muteUntil"]["room-1"].is_u64());
    // Other endpoints ignore theirs, whatever it holds.
    for (method, path) in [("GET", "/me"), ("DELETE", "/me/mute/room-2")] {
        let ignored = server
            .client
            .send(method, path, &headers, vec![b'{'; 64 * 1024])
            .await;
        assert_eq!(ignored.mute(), ["room-1"], "{method} {path}");
    }
    for path in ["/me/mute/room-2", "/me/mute/room-1", "/me"] {
        let method = if path == "/me" { "GET" } else { "POST" };
        let over = server
            .client
            .send(method, path, &headers, padded_mute_body(64 * 1024 + 1))
            .await;
        over.expect_error(413, "Payload Too Large", "PAYLOAD_TOO_LARGE");
    }
    let unmute_over = server
        .client
        .send("DELETE", "/me/mute/room-1", &headers, vec![0; 200 * 1024])
        .await;
    unmute_over.expect_error(413, "Payload Too Large", "PAYLOAD_TOO_LARGE");
    assert_eq!(server.my_rooms().await, ["room-1"]);
    // A body far past the limit is not even read.
    let huge = server
        .client
        .send(
            "POST",
            "/me/mute/room-3",
            &headers,
            vec![0; 4 * 1024 * 1024],
        )
        .await;
    huge.expect_error(413, "Payload Too Large", "PAYLOAD_TOO_LARGE");
    assert_eq!(server.my_rooms().await, ["room-1"]);
}

#[tokio::test]
async fn backend_failures_are_500_without_details() {
    let server = TestServer::start(FailingStore, &SeedData::demo()).await;
    let replies = [
        server.me("GET", "/me").await,
        server.me("POST", "/me/mute/room-1").await,
        server.me("DELETE", "/me/mute/room-1").await,
        server
            .admin("POST", "/admin/clients/demo-user/mute/room-1")
            .await,
        server
            .admin("DELETE", "/admin/clients/demo-user/mute/room-1")
            .await,
    ];
    for reply in replies {
        reply.expect_error(500, "Internal server error", "INTERNAL_ERROR");
        let body = String::from_utf8_lossy(&reply.body);
        assert!(!body.contains(INTERNAL_DETAIL));
        for detail in ["10.1.2.3", "/var/lib", "5432", "backend", "shard"] {
            assert!(!body.contains(detail), "{body}");
        }
    }
    // Checks that come first still answer first.
    server
        .bare("GET", "/me")
        .await
        .expect_error(403, "Forbidden", "MISSING_CLIENT_KEY");
}

/// Sends every request at once, each from its own task on a multi-threaded runtime, and returns
/// the replies in the order given.
async fn send_all(server: &TestServer, requests: Vec<(&'static str, String, bool)>) -> Vec<Reply> {
    let mut tasks = tokio::task::JoinSet::new();
    for (index, (method, path, admin)) in requests.into_iter().enumerate() {
        let client = server.client.clone();
        tasks.spawn(async move {
            let headers: Vec<(&str, &[u8])> = if admin {
                vec![("IM-API-KEY", API_KEY.as_bytes())]
            } else {
                vec![
                    ("IM-CLIENT-KEY", CLIENT_KEY.as_bytes()),
                    ("IM-Authorization", TOKEN.as_bytes()),
                ]
            };
            (
                index,
                client.send(method, &path, &headers, Vec::new()).await,
            )
        });
    }
    let mut replies: Vec<(usize, Reply)> = tasks.join_all().await;
    replies.sort_by_key(|(index, _)| *index);
    replies.into_iter().map(|(_, reply)| reply).collect()
}

fn room_number(room: &str) -> usize {
    room["room-".len()..].parse().expect("room-<n>")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_concurrent_requests_on_one_user() {
    let store = Arc::new(MemoryStore::new());
    let server = TestServer::start(Arc::clone(&store), &SeedData::demo()).await;
    let demo_user = UserId::new("demo-user").expect("a valid id");
    let rooms: Vec<String> = (1..=100).map(|n| format!("room-{n}")).collect();

    // Phase 1: 200 mutes of 100 rooms, each room twice (once through /me, once through admin).
    let requests = rooms
        .iter()
        .flat_map(|room| {
            [
                ("POST", format!("/me/mute/{room}"), false),
                (
                    "POST",
                    format!("/admin/clients/demo-user/mute/{room}"),
                    true,
                ),
            ]
        })
        .collect();
    let replies = send_all(&server, requests).await;
    let final_order: Vec<String> = store
        .muted_rooms(&demo_user)
        .await
        .expect("a list")
        .iter()
        .map(ToString::to_string)
        .collect();
    let mut sorted = final_order.clone();
    sorted.sort();
    let mut expected = rooms.clone();
    expected.sort();
    assert_eq!(sorted, expected, "every room muted once");
    for (index, reply) in replies.iter().enumerate() {
        reply.expect_ok();
        let mute = reply.mute();
        assert_no_duplicates(&mute);
        assert!(
            mute.contains(&rooms[index / 2]),
            "a reply shows its own change"
        );
        // With only additions, every reply is the set at one moment: a prefix of the final order.
        assert_eq!(mute[..], final_order[..mute.len()], "a torn reply");
    }

    // Phase 2, all at once: unmute each odd room twice, mute each even room again twice.
    let requests = rooms
        .iter()
        .chain(rooms.iter())
        .map(|room| {
            let method = if room_number(room) % 2 == 1 {
                "DELETE"
            } else {
                "POST"
            };
            (method, format!("/me/mute/{room}"), false)
        })
        .collect();
    let replies = send_all(&server, requests).await;
    let survivors: Vec<String> = final_order
        .iter()
        .filter(|room| room_number(room).is_multiple_of(2))
        .cloned()
        .collect();
    assert_eq!(
        server.my_rooms().await,
        survivors,
        "the even rooms, in their first order"
    );
    for (index, reply) in replies.iter().enumerate() {
        reply.expect_ok();
        let room = &rooms[index % rooms.len()];
        let mute = reply.mute();
        assert_no_duplicates(&mute);
        assert_eq!(
            mute.contains(room),
            room_number(room).is_multiple_of(2),
            "a reply shows its own change"
        );
        // Nothing moved: every reply keeps the first relative order, and even rooms never leave.
        let positions: Vec<usize> = mute
            .iter()
            .map(|r| {
                final_order
                    .iter()
                    .position(|f| f == r)
                    .expect("a known room")
            })
            .collect();
        assert!(
            positions.windows(2).all(|w| w[0] < w[1]),
            "order kept: {mute:?}"
        );
        assert!(
            survivors.iter().all(|s| mute.contains(s)),
            "even rooms stay: {mute:?}"
        );
    }
}

/// `reply` is an answer to a page of the allowed origin, whose script CORS lets read `header`.
fn assert_page_may_read(reply: &Reply, header: &str) {
    assert_eq!(
        reply.header("access-control-allow-origin"),
        Some(ALLOWED_ORIGIN)
    );
    let exposed = reply
        .header("access-control-expose-headers")
        .unwrap_or_default()
        .to_ascii_lowercase();
    assert!(
        exposed.split(',').any(|name| name.trim() == header),
        "{header} in {exposed:?}"
    );
}

fn assert_no_duplicates(rooms: &[String]) {
    let unique: HashSet<&String> = rooms.iter().collect();
    assert_eq!(unique.len(), rooms.len(), "duplicates in {rooms:?}");
}

#[tokio::test]
async fn a_browser_delete_preflight_passes_for_allowed_origins_only() {
    let server = TestServer::demo().await;
    let preflight = |origin: &'static str| {
        let client = server.client.clone();
        async move {
            client
                .send(
                    "OPTIONS",
                    "/me/mute/demo-room",
                    &[
                        ("Origin", origin.as_bytes()),
                        ("Access-Control-Request-Method", b"DELETE"),
                        (
                            "Access-Control-Request-Headers",
                            b"im-client-key,im-authorization",
                        ),
                    ],
                    Vec::new(),
                )
                .await
        }
    };
    let allowed = preflight(ALLOWED_ORIGIN).await;
    assert!((200..300).contains(&allowed.status), "{}", allowed.status);
    assert_eq!(
        allowed.header("access-control-allow-origin"),
        Some(ALLOWED_ORIGIN)
    );
    let methods = allowed
        .header("access-control-allow-methods")
        .expect("allowed methods")
        .to_ascii_uppercase();
    assert!(methods.contains("DELETE"), "{methods}");
    let headers = allowed
        .header("access-control-allow-headers")
        .expect("allowed headers")
        .to_ascii_lowercase();
    assert!(
        headers.contains("im-client-key") && headers.contains("im-authorization"),
        "{headers}"
    );

    let refused = preflight("https://evil.example").await;
    assert_eq!(refused.header("access-control-allow-origin"), None);

    // An OPTIONS that is not a preflight is an ordinary request: 405 in the envelope, never the
    // CORS layer's empty answer.
    for headers in [
        &[][..],
        &[("Origin", ALLOWED_ORIGIN.as_bytes())],
        &[("Access-Control-Request-Method", &b"DELETE"[..])],
    ] {
        let plain = server
            .client
            .send("OPTIONS", "/me/mute/demo-room", headers, Vec::new())
            .await;
        plain.expect_error(405, "Method Not Allowed", "METHOD_NOT_ALLOWED");
        assert_eq!(plain.header("allow"), Some("POST, DELETE"));
    }

    // A page's script that uses an allowed method on a path without it gets the 405, and can
    // read its `Allow`.
    let wrong_method = server
        .client
        .send("POST", "/me", &FROM_PAGE, Vec::new())
        .await;
    wrong_method.expect_error(405, "Method Not Allowed", "METHOD_NOT_ALLOWED");
    assert_eq!(wrong_method.header("allow"), Some("GET"));
    assert_page_may_read(&wrong_method, "allow");

    // The actual request carries the header the browser checks.
    let actual = server
        .client
        .send("DELETE", "/me/mute/demo-room", &FROM_PAGE, Vec::new())
        .await;
    actual.expect_ok();
    assert_eq!(
        actual.header("access-control-allow-origin"),
        Some(ALLOWED_ORIGIN)
    );
}

#[tokio::test]
async fn the_openapi_document_is_served() {
    let server = TestServer::demo().await;
    let reply = server.bare("GET", "/openapi.json").await;
    assert_eq!(reply.status, 200);
    reply.expect_json_content_type();
    let served = reply.json();
    let kept: Value = serde_json::from_str(mutestore::OPENAPI_JSON).expect("valid JSON");
    assert_eq!(served, kept);
    assert!(
        served["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3."))
    );
}

#[tokio::test]
async fn hostile_requests_never_break_the_server() {
    let server = TestServer::demo().await;
    // Header values that are not UTF-8, and an odd method.
    let raw = b"POST /me/mute/room-1 HTTP/1.1\r\nHost: x\r\nIM-CLIENT-KEY: \xff\xfe\r\nIM-Authorization: demo-token\r\nConnection: close\r\n\r\n";
    let (status, _, json) = parse_raw_response(&raw_exchange(server.addr, raw).await);
    assert_eq!(
        (status, json["error"]["code"].as_str()),
        (403, Some("INVALID_CLIENT_KEY"))
    );
    let raw = b"POST /me/mute/room-1 HTTP/1.1\r\nHost: x\r\nIM-CLIENT-KEY: demo-client-key\r\nIM-Authorization: \x80token\r\nConnection: close\r\n\r\n";
    let (status, _, json) = parse_raw_response(&raw_exchange(server.addr, raw).await);
    assert_eq!(
        (status, json["error"]["code"].as_str()),
        (401, Some("INVALID_TOKEN"))
    );
    let raw = b"BREW /me/mute/room-1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    let (status, head, json) = parse_raw_response(&raw_exchange(server.addr, raw).await);
    assert_eq!(
        (status, json["error"]["code"].as_str()),
        (405, Some("METHOD_NOT_ALLOWED"))
    );
    assert!(
        head.to_ascii_lowercase().contains("allow: post, delete"),
        "{head}"
    );
    // Credentials sent twice are not guessed at.
    let raw = b"GET /me HTTP/1.1\r\nHost: x\r\nIM-CLIENT-KEY: demo-client-key\r\nIM-CLIENT-KEY: demo-client-key\r\nIM-Authorization: demo-token\r\nConnection: close\r\n\r\n";
    let (status, _, json) = parse_raw_response(&raw_exchange(server.addr, raw).await);
    assert_eq!(
        (status, json["error"]["code"].as_str()),
        (403, Some("INVALID_CLIENT_KEY"))
    );
    // A long token within the header limit is just a wrong token; past the limit the adapter
    // refuses the headers; past hyper's own limits hyper refuses the request.
    for (length, status, reason, code) in [
        (8 * 1024, 401, "Unauthorized", "INVALID_TOKEN"),
        (
            60 * 1024,
            431,
            "Request Header Fields Too Large",
            "HEADERS_TOO_LARGE",
        ),
    ] {
        let long = "t".repeat(length);
        let reply = server
            .client
            .send(
                "GET",
                "/me",
                &[
                    ("IM-CLIENT-KEY", CLIENT_KEY.as_bytes()),
                    ("IM-Authorization", long.as_bytes()),
                ],
                Vec::new(),
            )
            .await;
        reply.expect_error(status, reason, code);
    }
    let mut raw = b"GET /me HTTP/1.1\r\nHost: x\r\nIM-Authorization: ".to_vec();
    raw.extend(std::iter::repeat_n(b'a', 1024 * 1024));
    raw.extend(b"\r\nConnection: close\r\n\r\n");
    let response = raw_exchange_lenient(server.addr, &raw).await;
    assert!(
        response.is_empty() || response.starts_with(b"HTTP/1.1 4"),
        "{:?}",
        String::from_utf8_lossy(&response)
    );
    // Chunked bodies are measured as well.
    let mut raw = b"POST /me/mute/room-1 HTTP/1.1\r\nHost: x\r\nIM-CLIENT-KEY: demo-client-key\r\nIM-Authorization: demo-token\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n".to_vec();
    for _ in 0..3 {
        raw.extend(format!("{:x}\r\n", 30 * 1024).as_bytes());
        raw.extend(std::iter::repeat_n(b'z', 30 * 1024));
        raw.extend(b"\r\n");
    }
    raw.extend(b"0\r\n\r\n");
    let (status, _, json) = parse_raw_response(&raw_exchange(server.addr, &raw).await);
    assert_eq!(
        (status, json["error"]["code"].as_str()),
        (413, Some("PAYLOAD_TOO_LARGE"))
    );

    // Still serving, and nothing changed.
    assert!(server.my_rooms().await.is_empty());
}

#[tokio::test]
async fn a_fragment_in_the_target_is_dropped_over_http_and_in_the_adapter_alike() {
    // No request target carries a `#fragment`; a client that sends one anyway gets the same
    // answer from the adapter called directly as from the router behind hyper, which drops it.
    use mutestore::{ApiRequest, MuteApi, SeedAuthenticator, SeedDirectory};
    let server = TestServer::demo().await;
    let seed = SeedData::demo();
    let direct = MuteApi::new(
        MemoryStore::new(),
        SeedAuthenticator::new(&seed),
        SeedDirectory::new(&seed),
    );
    for (method, target) in [
        ("POST", "/me/mute/room-2#x"),
        ("GET", "/me#top"),
        ("POST", "/me/mute/room-3?a=b#x"),
        ("DELETE", "/me/mute/room-2#x?y"),
        ("GET", "/openapi.json#/paths"),
        ("POST", "/me/mute/#x"),
        ("GET", "/me/mute/room-1#x"),
        ("GET", "/me/#x"),
    ] {
        let raw = format!(
            "{method} {target} HTTP/1.1\r\nHost: x\r\nIM-CLIENT-KEY: {CLIENT_KEY}\r\n\
             IM-Authorization: {TOKEN}\r\nConnection: close\r\n\r\n"
        );
        let (status, _, json) =
            parse_raw_response(&raw_exchange(server.addr, raw.as_bytes()).await);
        let request = ApiRequest::new(method, target)
            .with_header("IM-CLIENT-KEY", CLIENT_KEY.as_bytes())
            .with_header("IM-Authorization", TOKEN.as_bytes());
        let response = direct.handle(&request).await;
        let expected: Value = serde_json::from_slice(response.body()).expect("JSON");
        assert_eq!(
            (status, json),
            (response.status(), expected),
            "{method} {target}"
        );
    }
    assert_eq!(server.my_rooms().await, ["room-3"]);
}

/// Like `raw_exchange`, but a connection reset by the server counts as an empty answer.
async fn raw_exchange_lenient(addr: std::net::SocketAddr, request: &[u8]) -> Vec<u8> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let _ = stream.write_all(request).await;
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response).await;
    response
}

#[tokio::test]
async fn the_router_merges_into_a_host_app() {
    use mutestore::{CorsPolicy, MuteApi, SeedAuthenticator, SeedDirectory};
    let seed = SeedData::demo();
    let api = MuteApi::new(
        MemoryStore::new(),
        SeedAuthenticator::new(&seed),
        SeedDirectory::new(&seed),
    );
    #[derive(Clone)]
    struct HostState(&'static str);
    let app =
        axum::Router::new()
            .route(
                "/admin/clients/{uid}",
                axum::routing::get(
                    |axum::extract::State(state): axum::extract::State<HostState>| async move {
                        state.0
                    },
                ),
            )
            .route(
                "/me/profile",
                axum::routing::get(|| async { "host profile" }),
            )
            .merge(api.into_router(CorsPolicy::disabled()))
            .fallback(|| async { (axum::http::StatusCode::IM_A_TEAPOT, "host fallback") })
            .with_state(HostState("host client"));
    let server = TestServer::serve(app).await;
    assert_eq!(
        server.bare("GET", "/admin/clients/demo-user").await.body,
        "host client"
    );
    assert_eq!(server.bare("GET", "/me/profile").await.body, "host profile");
    assert_eq!(server.bare("GET", "/elsewhere").await.status, 418);
    assert_eq!(
        server.me("POST", "/me/mute/room-5").await.mute(),
        ["room-5"]
    );
    assert_eq!(
        server
            .admin("POST", "/admin/clients/demo-user/mute/room-6")
            .await
            .mute(),
        ["room-5", "room-6"]
    );
    server
        .me("POST", "/me/mute/")
        .await
        .expect_error(400, "Bad Request", "INVALID_PARAMETER");
}

/// A server over a store on a manual clock at `now_ms`, with its stream shutdown handle and a
/// keep-alive interval of `keep_alive`.
async fn timed_server(
    now_ms: u64,
    mute_limit: usize,
    keep_alive: std::time::Duration,
) -> (
    TestServer,
    Arc<MemoryStore>,
    Arc<mutestore::ManualClock>,
    mutestore::StreamShutdown,
) {
    let clock = Arc::new(mutestore::ManualClock::new(now_ms));
    let mut store = MemoryStore::with_clock(clock.clone());
    store.set_mute_limit(mute_limit);
    let store = Arc::new(store);
    let seed = SeedData::demo();
    let api = mutestore::MuteApi::new(
        Arc::clone(&store),
        mutestore::SeedAuthenticator::new(&seed),
        mutestore::SeedDirectory::new(&seed),
    )
    .with_keep_alive_interval(keep_alive);
    let (server, shutdown) = serve_with_stream_shutdown(api).await;
    (server, store, clock, shutdown)
}

/// Serves `api` through its router (CORS for [`ALLOWED_ORIGIN`], the JSON 404 fallback), with
/// the handle that ends its event streams.
async fn serve_with_stream_shutdown<S: mutestore::MuteStore + 'static>(
    api: mutestore::MuteApi<S, mutestore::SeedAuthenticator, mutestore::SeedDirectory>,
) -> (TestServer, mutestore::StreamShutdown) {
    let shutdown = api.stream_shutdown();
    let cors = mutestore::CorsPolicy::allow_origins([ALLOWED_ORIGIN]).expect("a valid origin");
    let server = TestServer::serve(
        api.into_router(cors)
            .fallback(mutestore::not_found_fallback),
    )
    .await;
    (server, shutdown)
}

const NOW: u64 = 1_764_108_000_000;
const AN_HOUR: std::time::Duration = std::time::Duration::from_secs(3600);

/// A `/me` request as `demo-user` with a body.
async fn me_with_body(server: &TestServer, method: &str, path: &str, body: &str) -> Reply {
    server
        .client
        .send(
            method,
            path,
            &[
                ("IM-CLIENT-KEY", CLIENT_KEY.as_bytes()),
                ("IM-Authorization", TOKEN.as_bytes()),
                ("Content-Type", b"application/json"),
            ],
            body.as_bytes().to_vec(),
        )
        .await
}

/// An admin request with a body.
async fn admin_with_body(server: &TestServer, method: &str, path: &str, body: &str) -> Reply {
    server
        .client
        .send(
            method,
            path,
            &[("IM-API-KEY", API_KEY.as_bytes())],
            body.as_bytes().to_vec(),
        )
        .await
}

#[tokio::test]
async fn timed_mutes_over_http_show_in_mute_until_and_a_plain_mute_removes_them() {
    let (server, store, clock, _) = timed_server(NOW, 1000, AN_HOUR).await;
    let reply = me_with_body(
        &server,
        "POST",
        "/me/mute/room-1",
        r#"{"durationMS": 60000}"#,
    )
    .await;
    let result = reply.expect_ok();
    assert_eq!(result["mute"], json!(["room-1"]));
    assert_eq!(result["muteUntil"], json!({"room-1": NOW + 60_000}));
    let reply = admin_with_body(
        &server,
        "POST",
        "/admin/clients/demo-user/mute/room-2",
        r#"{"untilMS": 1798761600000}"#,
    )
    .await;
    assert_eq!(
        reply.expect_ok()["muteUntil"],
        json!({"room-1": NOW + 60_000, "room-2": 1_798_761_600_000u64})
    );
    server.me("POST", "/me/mute/room-3").await.expect_ok();
    let me = server.me("GET", "/me").await.expect_ok();
    assert_eq!(me["mute"], json!(["room-1", "room-2", "room-3"]));
    assert_eq!(
        me["muteUntil"],
        json!({"room-1": NOW + 60_000, "room-2": 1_798_761_600_000u64})
    );
    // Refused bodies change nothing.
    for body in [
        r#"{"durationMS": 1, "untilMS": 1798761600000}"#,
        r#"{"durationMS": 0}"#,
        r#"{"durationMS": -5}"#,
        r#"{"durationMS": 1.5}"#,
        r#"{"durationMS": "60000"}"#,
        r#"{"untilMS": 1764107999999}"#,
        r#"{"muteMS": 60000}"#,
        "{\"durationMS\": 60000",
    ] {
        for path in ["/me/mute/room-1", "/me/mute/room-4"] {
            me_with_body(&server, "POST", path, body)
                .await
                .expect_error(400, "Bad Request", "INVALID_PARAMETER");
        }
    }
    assert_eq!(server.my_rooms().await, ["room-1", "room-2", "room-3"]);
    let me = server.me("GET", "/me").await.expect_ok();
    assert_eq!(
        me["muteUntil"],
        json!({"room-1": NOW + 60_000, "room-2": 1_798_761_600_000u64}),
        "a refused body left the deadlines as they were"
    );
    // A plain mute removes a deadline.
    let reply = server.me("POST", "/me/mute/room-1").await;
    assert_eq!(
        reply.expect_ok()["muteUntil"],
        json!({"room-2": 1_798_761_600_000u64})
    );
    let reply = admin_with_body(&server, "POST", "/admin/clients/demo-user/mute/room-2", "").await;
    let result = reply.expect_ok();
    assert!(result.get("muteUntil").is_none(), "{result}");
    // A lapsed mute is gone from the answers at its deadline.
    me_with_body(
        &server,
        "POST",
        "/me/mute/room-5",
        r#"{"durationMS": 1000}"#,
    )
    .await
    .expect_ok();
    clock.advance(std::time::Duration::from_secs(1));
    let me = server.me("GET", "/me").await.expect_ok();
    assert_eq!(me["mute"], json!(["room-1", "room-2", "room-3"]));
    assert!(me.get("muteUntil").is_none(), "{me}");
    drop(store);
}

#[tokio::test]
async fn the_event_stream_reports_each_of_the_callers_changes_with_its_cause() {
    let (server, store, clock, _) = timed_server(NOW, 1000, AN_HOUR).await;
    let mut events = common::events::open_mine(&server.client).await;
    assert_eq!(
        events.headers.get("cache-control").map(|v| v.as_bytes()),
        Some(&b"no-cache"[..])
    );
    server.me("POST", "/me/mute/room-1").await.expect_ok();
    assert_eq!(
        events.next_event().await,
        json!({"room": "room-1", "muted": true, "untilMS": null, "cause": "user"})
    );
    me_with_body(
        &server,
        "POST",
        "/me/mute/room-2",
        r#"{"durationMS": 5000}"#,
    )
    .await
    .expect_ok();
    assert_eq!(
        events.next_event().await,
        json!({"room": "room-2", "muted": true, "untilMS": NOW + 5000, "cause": "user"})
    );
    server.me("DELETE", "/me/mute/room-1").await.expect_ok();
    assert_eq!(
        events.next_event().await,
        json!({"room": "room-1", "muted": false, "untilMS": null, "cause": "user"})
    );
    // The admin's changes to the caller carry cause `admin`.
    admin_with_body(
        &server,
        "POST",
        "/admin/clients/demo-user/mute/demo-room",
        r#"{"untilMS": 1798761600000}"#,
    )
    .await
    .expect_ok();
    assert_eq!(
        events.next_event().await,
        json!({"room": "demo-room", "muted": true, "untilMS": 1_798_761_600_000u64, "cause": "admin"})
    );
    server
        .admin("DELETE", "/admin/clients/demo-user/mute/demo-room")
        .await
        .expect_ok();
    assert_eq!(
        events.next_event().await,
        json!({"room": "demo-room", "muted": false, "untilMS": null, "cause": "admin"})
    );
    // A plain re-mute of a timed room removes its deadline: an event without one.
    server.me("POST", "/me/mute/room-2").await.expect_ok();
    assert_eq!(
        events.next_event().await,
        json!({"room": "room-2", "muted": true, "untilMS": null, "cause": "user"})
    );
    // A timed mute that reaches its end: cause `expiry`.
    me_with_body(
        &server,
        "POST",
        "/me/mute/room-3",
        r#"{"durationMS": 1000}"#,
    )
    .await
    .expect_ok();
    assert_eq!(events.next_event().await["untilMS"], json!(NOW + 1000));
    clock.advance(std::time::Duration::from_secs(1));
    store.expire_due().await.expect("a purge");
    assert_eq!(
        events.next_event().await,
        json!({"room": "room-3", "muted": false, "untilMS": null, "cause": "expiry"})
    );
    // A room the host deleted: cause `forget`.
    store
        .forget_room(&mutestore::RoomId::new("room-2").expect("an id"))
        .await
        .expect("forgotten");
    assert_eq!(
        events.next_event().await,
        json!({"room": "room-2", "muted": false, "untilMS": null, "cause": "forget"})
    );
}

#[tokio::test]
async fn refused_and_idempotent_requests_send_no_event() {
    let (server, _store, _clock, _) = timed_server(NOW, 2, AN_HOUR).await;
    server.me("POST", "/me/mute/room-1").await.expect_ok();
    server.me("POST", "/me/mute/room-2").await.expect_ok();
    let mut events = common::events::open_mine(&server.client).await;
    // A bad body, an unknown room, the mute limit, a bad id, bad credentials, an admin unmute of a
    // room not muted, a body over 64 KiB; and changes that change nothing.
    me_with_body(&server, "POST", "/me/mute/room-1", r#"{"durationMS": 0}"#)
        .await
        .expect_error(400, "Bad Request", "INVALID_PARAMETER");
    me_with_body(&server, "POST", "/me/mute/room-1", r#"{"untilMS": 1}"#)
        .await
        .expect_error(400, "Bad Request", "INVALID_PARAMETER");
    server
        .me("POST", "/me/mute/no-such-room")
        .await
        .expect_error(404, "Room not found", "ROOM_NOT_FOUND");
    server.me("POST", "/me/mute/room-3").await.expect_error(
        400,
        "Mute limit exceeded",
        "MUTE_LIMIT_EXCEEDED",
    );
    server
        .admin("POST", "/admin/clients/demo-user/mute/room-3")
        .await
        .expect_error(400, "Mute limit exceeded", "MUTE_LIMIT_EXCEEDED");
    server
        .me("DELETE", "/me/mute/%00")
        .await
        .expect_error(400, "Bad Request", "INVALID_PARAMETER");
    server
        .as_user("wrong-token", "DELETE", "/me/mute/room-1")
        .await
        .expect_error(401, "Unauthorized", "INVALID_TOKEN");
    server
        .admin("DELETE", "/admin/clients/demo-user/mute/room-9")
        .await
        .expect_error(400, "Room is not muted", "ROOM_NOT_MUTED");
    server
        .client
        .send(
            "DELETE",
            "/me/mute/room-1",
            &[
                ("IM-CLIENT-KEY", CLIENT_KEY.as_bytes()),
                ("IM-Authorization", TOKEN.as_bytes()),
            ],
            vec![b' '; 64 * 1024 + 1],
        )
        .await
        .expect_error(413, "Payload Too Large", "PAYLOAD_TOO_LARGE");
    server.me("POST", "/me/mute/room-1").await.expect_ok();
    server.me("DELETE", "/me/mute/room-4").await.expect_ok();
    server.me("GET", "/me").await.expect_ok();
    // Then one change: it is the next event, so none of the above sent one.
    server.me("DELETE", "/me/mute/room-2").await.expect_ok();
    assert_eq!(
        events.next_event().await,
        json!({"room": "room-2", "muted": false, "untilMS": null, "cause": "user"})
    );
    assert_eq!(server.my_rooms().await, ["room-1"]);
}

#[tokio::test]
async fn another_users_changes_never_reach_my_stream() {
    let (server, store, clock, _) = timed_server(NOW, 1000, AN_HOUR).await;
    let mut mine = common::events::open_mine(&server.client).await;
    let mut theirs = common::events::open_as(&server.client, TOKEN_2).await;
    // Everything happens to demo-user-2: their own changes, the admin's, an expiry.
    server
        .as_user(TOKEN_2, "POST", "/me/mute/room-1")
        .await
        .expect_ok();
    server
        .admin("POST", "/admin/clients/demo-user-2/mute/room-2")
        .await
        .expect_ok();
    server
        .client
        .send(
            "POST",
            "/me/mute/room-3",
            &[
                ("IM-CLIENT-KEY", CLIENT_KEY.as_bytes()),
                ("IM-Authorization", TOKEN_2.as_bytes()),
            ],
            br#"{"durationMS": 10}"#.to_vec(),
        )
        .await
        .expect_ok();
    clock.advance(std::time::Duration::from_millis(10));
    store.expire_due().await.expect("a purge");
    for (room, muted, cause) in [
        ("room-1", true, "user"),
        ("room-2", true, "admin"),
        ("room-3", true, "user"),
        ("room-3", false, "expiry"),
    ] {
        let event = theirs.next_event().await;
        assert_eq!(
            (
                event["room"].as_str(),
                event["muted"].as_bool(),
                event["cause"].as_str()
            ),
            (Some(room), Some(muted), Some(cause))
        );
    }
    // Then one change of mine: it is the first event on my stream.
    server.me("POST", "/me/mute/room-9").await.expect_ok();
    assert_eq!(
        mine.next_event().await,
        json!({"room": "room-9", "muted": true, "untilMS": null, "cause": "user"})
    );
}

#[tokio::test]
async fn the_event_stream_needs_the_credentials_of_get_me() {
    let (server, _store, _clock, _) = timed_server(NOW, 1000, AN_HOUR).await;
    let open = |headers: Vec<(&'static str, &'static [u8])>| {
        let client = server.client.clone();
        async move {
            common::events::open_with(&client, "GET", &headers)
                .await
                .expect_refused()
        }
    };
    open(vec![("IM-Authorization", TOKEN.as_bytes())])
        .await
        .expect_error(403, "Forbidden", "MISSING_CLIENT_KEY");
    open(vec![
        ("IM-CLIENT-KEY", b"wrong"),
        ("IM-Authorization", TOKEN.as_bytes()),
    ])
    .await
    .expect_error(403, "Forbidden", "INVALID_CLIENT_KEY");
    open(vec![("IM-CLIENT-KEY", CLIENT_KEY.as_bytes())])
        .await
        .expect_error(401, "Unauthorized", "INVALID_TOKEN");
    open(vec![
        ("IM-CLIENT-KEY", CLIENT_KEY.as_bytes()),
        ("IM-Authorization", b"expired-token"),
    ])
    .await
    .expect_error(401, "Unauthorized", "INVALID_TOKEN");
    open(vec![("IM-API-KEY", API_KEY.as_bytes())])
        .await
        .expect_error(403, "Forbidden", "MISSING_CLIENT_KEY");
    // Other methods: 405 with `Allow: GET`.
    for method in ["POST", "DELETE", "PUT", "HEAD"] {
        let reply = common::events::open_with(
            &server.client,
            method,
            &[
                ("IM-CLIENT-KEY", CLIENT_KEY.as_bytes()),
                ("IM-Authorization", TOKEN.as_bytes()),
            ],
        )
        .await
        .expect_refused();
        assert_eq!(reply.status, 405, "{method}");
        assert_eq!(reply.header("allow"), Some("GET"), "{method}");
    }
    // CORS as on every route.
    let reader = open_events_from_page(&server.client).await.expect_stream();
    assert_eq!(
        reader
            .headers
            .get("access-control-allow-origin")
            .map(|v| v.as_bytes()),
        Some(ALLOWED_ORIGIN.as_bytes())
    );
    assert_eq!(
        reader.headers.get("content-type").map(|v| v.as_bytes()),
        Some(&b"text/event-stream"[..])
    );
}

#[tokio::test]
async fn quiet_streams_get_keep_alives_and_every_stream_ends_on_shutdown() {
    let (server, _store, _clock, shutdown) =
        timed_server(NOW, 1000, std::time::Duration::from_millis(50)).await;
    let mut events = common::events::open_mine(&server.client).await;
    let mut theirs = common::events::open_as(&server.client, TOKEN_2).await;
    for _ in 0..2 {
        assert_eq!(
            events.next_frame(common::events::EVENT_WAIT).await,
            Some(common::events::Frame::Comment("keep-alive".to_owned()))
        );
    }
    // An event pushes the next keep-alive back, and comes through between them.
    server.me("POST", "/me/mute/room-1").await.expect_ok();
    assert_eq!(events.next_event().await["room"], "room-1");
    assert_eq!(shutdown.open_streams(), 2);
    shutdown.shut_down();
    events.expect_end().await;
    theirs.expect_end().await;
    // A stream opened after the shutdown ends at once.
    let mut late = common::events::open_with(
        &server.client,
        "GET",
        &[
            ("IM-CLIENT-KEY", CLIENT_KEY.as_bytes()),
            ("IM-Authorization", TOKEN.as_bytes()),
        ],
    )
    .await
    .expect_stream();
    late.expect_end().await;
    // Other requests are still served.
    server.me("GET", "/me").await.expect_ok();
}

/// A keep-alive interval too long for any timer (a host turning keep-alives "off") is capped, so a
/// stream that waited and then gets an event does not overflow its timer.
#[tokio::test]
async fn an_endless_keep_alive_interval_does_not_break_the_stream() {
    let (server, _store, _clock, _) = timed_server(NOW, 1000, std::time::Duration::MAX).await;
    let mut events = common::events::open_mine(&server.client).await;
    // Let the stream's body be polled and park on its keep-alive timer first.
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    server.me("POST", "/me/mute/room-1").await.expect_ok();
    assert_eq!(
        events.next_event().await,
        json!({"room": "room-1", "muted": true, "untilMS": null, "cause": "user"})
    );
    server.me("POST", "/me/mute/room-2").await.expect_ok();
    assert_eq!(
        events.next_event().await,
        json!({"room": "room-2", "muted": true, "untilMS": null, "cause": "user"})
    );
}

/// The demo seed over a fresh store, with at most `limit` event streams per user.
async fn stream_limited_server(limit: usize) -> (TestServer, mutestore::StreamShutdown) {
    let seed = SeedData::demo();
    let api = mutestore::MuteApi::new(
        MemoryStore::new(),
        mutestore::SeedAuthenticator::new(&seed),
        mutestore::SeedDirectory::new(&seed),
    )
    .with_max_streams_per_user(limit);
    serve_with_stream_shutdown(api).await
}

/// `GET /me/events` as the user of `token`: the stream, or the response that refused it.
async fn open_events_as(server: &TestServer, token: &str) -> common::events::Opened {
    common::events::open_with(
        &server.client,
        "GET",
        &[
            ("IM-CLIENT-KEY", CLIENT_KEY.as_bytes()),
            ("IM-Authorization", token.as_bytes()),
        ],
    )
    .await
}

#[tokio::test]
async fn a_stream_past_the_per_user_limit_is_429_and_a_client_that_leaves_frees_its_place() {
    let (server, shutdown) = stream_limited_server(2).await;
    let mut first = common::events::open_mine(&server.client).await;
    let second = common::events::open_mine(&server.client).await;
    let refused = open_events_as(&server, TOKEN).await.expect_refused();
    refused.expect_error(429, "Too Many Requests", "TOO_MANY_STREAMS");
    assert_eq!(
        refused.json()["error"]["message"],
        "The user already has as many event streams open as allowed: 2."
    );
    assert_eq!(
        refused.header("access-control-allow-origin"),
        None,
        "no Origin, no CORS header: an ordinary refusal"
    );
    assert_eq!(refused.header("retry-after"), Some("2"));
    // A page's script reads the stream with `fetch`: CORS lets it read `Retry-After` too.
    let from_page = open_events_from_page(&server.client).await.expect_refused();
    from_page.expect_error(429, "Too Many Requests", "TOO_MANY_STREAMS");
    assert_eq!(from_page.header("retry-after"), Some("2"));
    assert_page_may_read(&from_page, "retry-after");
    // Another user is not held back by mine.
    let mut theirs = common::events::open_as(&server.client, TOKEN_2).await;
    assert_eq!(shutdown.open_streams(), 3, "the refusal opened nothing");

    // My second client leaves: once the server has seen it go, its place is free again.
    drop(second);
    let guard = std::time::Instant::now() + common::events::EVENT_WAIT;
    while shutdown.open_streams() > 2 {
        assert!(
            std::time::Instant::now() < guard,
            "the server never dropped the stream of a client that left"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let mut again = open_events_as(&server, TOKEN).await.expect_stream();
    assert_eq!(
        again.next_frame(common::events::EVENT_WAIT).await,
        Some(common::events::Frame::Retry(2000))
    );
    open_events_as(&server, TOKEN)
        .await
        .expect_refused()
        .expect_error(429, "Too Many Requests", "TOO_MANY_STREAMS");

    // The open streams were never touched: each carries the next change of its user.
    server.me("POST", "/me/mute/room-1").await.expect_ok();
    let event = json!({"room": "room-1", "muted": true, "untilMS": null, "cause": "user"});
    assert_eq!(first.next_event().await, event);
    assert_eq!(again.next_event().await, event);
    server
        .as_user(TOKEN_2, "POST", "/me/mute/room-2")
        .await
        .expect_ok();
    assert_eq!(theirs.next_event().await["room"], "room-2");

    // Shutdown still ends every stream.
    shutdown.shut_down();
    first.expect_end().await;
    again.expect_end().await;
    theirs.expect_end().await;
}

#[tokio::test]
async fn the_route_is_checked_before_an_unreadable_body() {
    // The route comes first: a known path with another method is 405 with `Allow`, whatever its
    // body, even one that cannot be read (a malformed chunk).
    let server = TestServer::demo().await;
    for (method, path, allow) in [
        ("PUT", "/me", "get"),
        ("PATCH", "/me/mute/room-1", "post, delete"),
        (
            "GET",
            "/admin/clients/demo-user/mute/room-1",
            "post, delete",
        ),
    ] {
        let raw = format!(
            "{method} {path} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\
             Connection: close\r\n\r\nzz\r\n"
        );
        let (status, head, json) =
            parse_raw_response(&raw_exchange(server.addr, raw.as_bytes()).await);
        assert_eq!(
            (status, json["RC"].as_u64(), json["error"]["code"].as_str()),
            (405, Some(405), Some("METHOD_NOT_ALLOWED")),
            "{method} {path}: {head}"
        );
        assert!(
            head.to_ascii_lowercase()
                .contains(&format!("allow: {allow}")),
            "{method} {path}: {head}"
        );
    }
    assert!(server.my_rooms().await.is_empty());
}

/// The headers of a request a page's script sends: the allowed `Origin` and the demo user's
/// credentials.
const FROM_PAGE: [(&str, &[u8]); 3] = [
    ("Origin", ALLOWED_ORIGIN.as_bytes()),
    ("IM-CLIENT-KEY", CLIENT_KEY.as_bytes()),
    ("IM-Authorization", TOKEN.as_bytes()),
];

/// `GET /me/events` as a page's script sends it: with the allowed `Origin` and the demo user's
/// credentials.
async fn open_events_from_page(client: &common::client::HttpClient) -> common::events::Opened {
    common::events::open_with(client, "GET", &FROM_PAGE).await
}
