//! Every limit, over real HTTP: the documented error at the first value past it, success at the
//! last value within it, and no change to the store from a refused request.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use common::client::{parse_raw_response, raw_exchange};
use common::server::TestServer;
use common::{API_KEY, CLIENT_KEY, TOKEN};
use mutestore::{MAX_BODY_BYTES, MAX_HEADER_BYTES, MAX_HEADER_COUNT, MemoryStore, SeedData};
use serde_json::json;

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

/// The demo seed's credentials, rooms at the id length limit, and users likewise.
fn seed() -> SeedData {
    let seed = json!({
        "clientKeys": [CLIENT_KEY], "apiKeys": [API_KEY],
        "rooms": ["room-1", "room-2", "room-3", "x".repeat(256), "é".repeat(128)],
        "users": [
            {"token": TOKEN, "profile": {"_id": "demo-user"}},
            {"token": "long-token", "profile": {"_id": "u".repeat(256)}}
        ]
    });
    SeedData::from_json(&seed.to_string()).expect("a valid seed")
}

async fn start(limit: usize) -> (TestServer, Arc<MemoryStore>) {
    let store = Arc::new(MemoryStore::with_mute_limit(limit));
    let server = TestServer::start(Arc::clone(&store), &seed()).await;
    (server, store)
}

/// `POST /me/mute/room-1` as the demo user over a raw connection, with `extra` header lines: the
/// status, the response head and the JSON body (`null` when there is none).
async fn mute_with_headers(
    server: &TestServer,
    extra: &[String],
) -> (u16, String, serde_json::Value) {
    let mut request = format!(
        "POST /me/mute/room-1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\nIM-CLIENT-KEY: {CLIENT_KEY}\r\nIM-Authorization: {TOKEN}\r\n"
    );
    for line in extra {
        request.push_str(line);
        request.push_str("\r\n");
    }
    request.push_str("\r\n");
    parse_raw_response(&raw_exchange(server.addr, request.as_bytes()).await)
}

/// The four header lines `mute_with_headers` always sends, and their bytes (names and values).
const BASE_HEADERS: usize = 4;
const BASE_HEADER_BYTES: usize = "Host".len()
    + "x".len()
    + "Connection".len()
    + "close".len()
    + "IM-CLIENT-KEY".len()
    + CLIENT_KEY.len()
    + "IM-Authorization".len()
    + TOKEN.len();

#[tokio::test]
async fn header_count_64_passes_and_65_is_431_without_change() {
    let (server, store) = start(10).await;
    let pads =
        |count: usize| -> Vec<String> { (0..count).map(|n| format!("X-Pad-{n}: p")).collect() };
    let (status, _, json) =
        mute_with_headers(&server, &pads(MAX_HEADER_COUNT - BASE_HEADERS + 1)).await;
    assert_eq!(
        (status, &json["error"]["code"]),
        (431, &json!("HEADERS_TOO_LARGE")),
        "{json}"
    );
    assert_eq!(json["RC"], 431);
    assert!(state(&store).is_empty());

    let (status, _, json) =
        mute_with_headers(&server, &pads(MAX_HEADER_COUNT - BASE_HEADERS)).await;
    assert_eq!(status, 200, "{json}");
    assert_eq!(json["result"]["mute"], json!(["room-1"]));
}

#[tokio::test]
async fn header_bytes_16_kib_pass_and_one_more_is_431_without_change() {
    let (server, store) = start(10).await;
    let pad = |total: usize| {
        vec![format!(
            "X-Pad: {}",
            "p".repeat(total - BASE_HEADER_BYTES - "X-Pad".len())
        )]
    };
    let (status, _, json) = mute_with_headers(&server, &pad(MAX_HEADER_BYTES + 1)).await;
    assert_eq!(
        (status, &json["error"]["code"]),
        (431, &json!("HEADERS_TOO_LARGE")),
        "{json}"
    );
    assert!(state(&store).is_empty());

    let (status, _, json) = mute_with_headers(&server, &pad(MAX_HEADER_BYTES)).await;
    assert_eq!(status, 200, "{json}");
    assert_eq!(json["result"]["mute"], json!(["room-1"]));
}

#[tokio::test]
async fn past_hypers_own_header_limits_the_request_is_refused_before_the_adapter() {
    let (server, store) = start(10).await;
    // More than hyper's 100 headers: hyper's bare 431, no envelope.
    let many: Vec<String> = (0..100).map(|n| format!("X-Pad-{n}: p")).collect();
    let response = raw_lenient(&server, &many).await;
    let text = String::from_utf8_lossy(&response);
    assert!(text.starts_with("HTTP/1.1 431 "), "{text}");
    assert!(!text.contains('{'), "no envelope: {text}");
    // A header section past hyper's buffer: the same 431, unless hyper closes the connection while
    // the client is still sending, which the client sees as a reset.
    let huge = vec![format!("X-Pad: {}", "p".repeat(1024 * 1024))];
    let response = raw_lenient(&server, &huge).await;
    let text = String::from_utf8_lossy(&response);
    assert!(
        response.is_empty() || text.starts_with("HTTP/1.1 431 "),
        "{text}"
    );
    assert!(state(&store).is_empty());
    // And the server goes on serving.
    assert_eq!(mute_with_headers(&server, &[]).await.0, 200);
}

/// Like `mute_with_headers`, but a connection the server resets counts as an empty answer.
async fn raw_lenient(server: &TestServer, extra: &[String]) -> Vec<u8> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut request = format!(
        "POST /me/mute/room-1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\nIM-CLIENT-KEY: {CLIENT_KEY}\r\nIM-Authorization: {TOKEN}\r\n"
    );
    for line in extra {
        request.push_str(line);
        request.push_str("\r\n");
    }
    request.push_str("\r\n");
    let mut stream = tokio::net::TcpStream::connect(server.addr)
        .await
        .expect("connect");
    let _ = stream.write_all(request.as_bytes()).await;
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response).await;
    response
}

#[tokio::test]
async fn ids_of_256_bytes_pass_and_257_are_400_without_change() {
    let (server, store) = start(10).await;
    let uid_256 = "u".repeat(256);
    for too_long in [
        format!("/me/mute/{}", "x".repeat(257)),
        format!("/me/mute/{}x", "é".repeat(128)),
        format!("/me/mute/{}", "%C3%A9".repeat(128) + "x"),
    ] {
        server
            .me("POST", &too_long)
            .await
            .expect_error(400, "Bad Request", "INVALID_PARAMETER");
    }
    for too_long in [
        format!("/admin/clients/{}/mute/room-1", "u".repeat(257)),
        format!("/admin/clients/{uid_256}/mute/{}", "x".repeat(257)),
    ] {
        server
            .admin("POST", &too_long)
            .await
            .expect_error(400, "Bad Request", "INVALID_PARAMETER");
    }
    assert!(state(&store).is_empty());

    let x_256 = "x".repeat(256);
    let e_256 = "é".repeat(128);
    let reply = server.me("POST", &format!("/me/mute/{x_256}")).await;
    assert_eq!(reply.mute(), [x_256.as_str()]);
    let reply = server
        .me("POST", &format!("/me/mute/{}", "%C3%A9".repeat(128)))
        .await;
    assert_eq!(reply.mute(), [x_256.as_str(), e_256.as_str()]);
    let reply = server
        .admin("POST", &format!("/admin/clients/{uid_256}/mute/{x_256}"))
        .await;
    assert_eq!(reply.expect_ok()["_id"], json!(uid_256));
}

#[tokio::test]
async fn a_body_of_64_kib_passes_and_one_byte_more_is_413_without_change() {
    let (server, store) = start(10).await;
    let limit = usize::try_from(MAX_BODY_BYTES).expect("a small limit");
    let credentials: [(&str, &[u8]); 2] = [
        ("IM-CLIENT-KEY", CLIENT_KEY.as_bytes()),
        ("IM-Authorization", TOKEN.as_bytes()),
    ];
    for (method, path) in [("POST", "/me/mute/room-1"), ("GET", "/me")] {
        server
            .client
            .send(method, path, &credentials, vec![b'{'; limit + 1])
            .await
            .expect_error(413, "Payload Too Large", "PAYLOAD_TOO_LARGE");
    }
    server
        .client
        .send(
            "POST",
            "/admin/clients/demo-user/mute/room-1",
            &[("IM-API-KEY", API_KEY.as_bytes())],
            vec![b'{'; limit + 1],
        )
        .await
        .expect_error(413, "Payload Too Large", "PAYLOAD_TOO_LARGE");
    assert!(state(&store).is_empty());

    // At the limit a mute's body is read: a valid one padded with spaces takes effect.
    let mut body = br#"{"durationMS": 60000}"#.to_vec();
    body.resize(limit, b' ');
    let reply = server
        .client
        .send("POST", "/me/mute/room-1", &credentials, body)
        .await;
    assert_eq!(reply.mute(), ["room-1"]);
    assert!(reply.expect_ok()["muteUntil"]["room-1"].is_u64());
}

#[tokio::test]
async fn the_per_user_mute_limit_refuses_the_next_new_room_without_change() {
    let (server, store) = start(2).await;
    server.me("POST", "/me/mute/room-1").await.expect_ok();
    server.me("POST", "/me/mute/room-2").await.expect_ok();
    let before = state(&store);
    server.me("POST", "/me/mute/room-3").await.expect_error(
        400,
        "Mute limit exceeded",
        "MUTE_LIMIT_EXCEEDED",
    );
    server
        .admin("POST", "/admin/clients/demo-user/mute/room-3")
        .await
        .expect_error(400, "Mute limit exceeded", "MUTE_LIMIT_EXCEEDED");
    assert_eq!(state(&store), before);
    // At the limit a room already muted is still fine, and another user has a limit of their own.
    assert_eq!(
        server.me("POST", "/me/mute/room-1").await.mute(),
        ["room-1", "room-2"]
    );
    let other = server
        .admin(
            "POST",
            &format!("/admin/clients/{}/mute/room-3", "u".repeat(256)),
        )
        .await;
    assert_eq!(other.mute(), ["room-3"]);
}
