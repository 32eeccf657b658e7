//! The adapter without HTTP: `MuteApi::handle` called directly.

mod common;

use std::future::{Future, ready};
use std::sync::Arc;

use common::failing::{FailingAuthenticator, FailingDirectory, FailingStore};
use common::{API_KEY, CLIENT_KEY, TOKEN, TOKEN_2};
use mutestore::{
    ApiReply, ApiRequest, ApiResponse, Directory, ErrorCode, HostError, ManualClock, MemoryStore,
    MuteApi, MuteStore, Profile, RoomId, SeedAuthenticator, SeedData, SeedDirectory, UserId,
    UserProfile,
};
use proptest::prelude::*;
use serde_json::{Value, json};

type DemoApi<S> = MuteApi<S, SeedAuthenticator, SeedDirectory>;

fn demo_api<S: MuteStore>(store: S) -> DemoApi<S> {
    let seed = SeedData::demo();
    MuteApi::new(
        store,
        SeedAuthenticator::new(&seed),
        SeedDirectory::new(&seed),
    )
}

/// A request described compactly: method, path, credentials, body length or body bytes.
#[derive(Debug, Clone, Copy, Default)]
struct Call<'a> {
    method: &'a str,
    path: &'a str,
    client_key: Option<&'a str>,
    token: Option<&'a str>,
    api_key: Option<&'a str>,
    body: u64,
    bytes: &'a str,
}

impl<'a> Call<'a> {
    fn me(method: &'a str, path: &'a str) -> Self {
        Self {
            method,
            path,
            client_key: Some(CLIENT_KEY),
            token: Some(TOKEN),
            ..Self::default()
        }
    }
    fn admin(method: &'a str, path: &'a str) -> Self {
        Self {
            method,
            path,
            api_key: Some(API_KEY),
            ..Self::default()
        }
    }
    fn with_body(self, bytes: &'a str) -> Self {
        Self { bytes, ..self }
    }
    fn request(&self) -> ApiRequest<'a> {
        let mut request = ApiRequest::new(self.method, self.path);
        request = if self.bytes.is_empty() {
            request.with_body_length(self.body)
        } else {
            request.with_body(self.bytes.as_bytes())
        };
        for (name, value) in [
            ("IM-CLIENT-KEY", self.client_key),
            ("IM-Authorization", self.token),
            ("IM-API-KEY", self.api_key),
        ] {
            if let Some(value) = value {
                request = request.with_header(name, value.as_bytes());
            }
        }
        request
    }
}

fn json_of(response: &ApiResponse) -> Value {
    serde_json::from_slice(response.body()).expect("a JSON body")
}

fn code_of(response: &ApiResponse) -> String {
    let json = json_of(response);
    if response.status() == 200 {
        "OK".to_owned()
    } else {
        json["error"]["code"]
            .as_str()
            .expect("an error code")
            .to_owned()
    }
}

/// Every user's muted rooms, sorted by user.
fn snapshot(store: &MemoryStore) -> Vec<(String, Vec<String>)> {
    let mut users = Vec::new();
    store.for_each_user(|user, rooms| {
        users.push((
            user.to_string(),
            rooms.iter().map(ToString::to_string).collect(),
        ));
    });
    users.sort();
    users
}

#[tokio::test]
async fn the_mute_limit_message_gives_the_limit_in_words_that_agree() {
    for (limit, next, expected) in [
        (
            1,
            "/me/mute/room-2",
            "The user has already muted 1 room, the most allowed.",
        ),
        (
            2,
            "/me/mute/room-3",
            "The user has already muted 2 rooms, the most allowed.",
        ),
    ] {
        let api = demo_api(Arc::new(MemoryStore::with_mute_limit(limit)));
        for path in ["/me/mute/room-1", "/me/mute/room-2"]
            .into_iter()
            .take(limit)
        {
            assert_eq!(
                code_of(&api.handle(&Call::me("POST", path).request()).await),
                "OK"
            );
        }
        let refused = api.handle(&Call::me("POST", next).request()).await;
        assert_eq!(code_of(&refused), "MUTE_LIMIT_EXCEEDED");
        assert_eq!(json_of(&refused)["error"]["message"], expected);
    }
}

#[tokio::test]
async fn the_first_failed_check_answers() {
    // demo-user has muted room-1 and is at the limit of one room.
    let store = Arc::new(MemoryStore::with_mute_limit(1));
    let api = demo_api(Arc::clone(&store));
    assert_eq!(
        code_of(
            &api.handle(&Call::me("POST", "/me/mute/room-1").request())
                .await
        ),
        "OK"
    );
    let big = 64 * 1024 + 1;
    let no_key = |call: Call<'static>| Call {
        client_key: None,
        ..call
    };
    let cases: Vec<(Call<'static>, &str)> = vec![
        // The route comes first: it decides which checks apply.
        (
            Call {
                method: "PUT",
                ..no_key(Call::me("", "/me/mute/%ZZ"))
            },
            "METHOD_NOT_ALLOWED",
        ),
        (
            Call {
                body: big,
                ..no_key(Call::me("GET", "/nowhere"))
            },
            "NOT_FOUND",
        ),
        // Then the rows in the contract's order.
        (
            Call {
                token: None,
                body: big,
                ..no_key(Call::me("POST", "/me/mute/%ZZ"))
            },
            "MISSING_CLIENT_KEY",
        ),
        (
            Call {
                client_key: Some("bad"),
                token: None,
                ..Call::me("POST", "/me/mute/%ZZ")
            },
            "INVALID_CLIENT_KEY",
        ),
        (
            Call {
                token: Some("bad"),
                body: big,
                ..Call::me("POST", "/me/mute/%ZZ")
            },
            "INVALID_TOKEN",
        ),
        (
            Call {
                token: None,
                ..Call::me("GET", "/me")
            },
            "INVALID_TOKEN",
        ),
        (
            Call {
                body: big,
                ..Call::me("DELETE", "/me/mute/%ZZ")
            },
            "INVALID_PARAMETER",
        ),
        (
            Call {
                body: big,
                ..Call::me("POST", "/me/mute/no-such-room")
            },
            "ROOM_NOT_FOUND",
        ),
        (
            Call {
                body: big,
                ..Call::me("POST", "/me/mute/room-2")
            },
            "MUTE_LIMIT_EXCEEDED",
        ),
        (
            Call {
                body: big,
                ..Call::me("POST", "/me/mute/room-1")
            },
            "PAYLOAD_TOO_LARGE",
        ),
        (
            Call {
                body: big,
                ..Call::me("DELETE", "/me/mute/room-1")
            },
            "PAYLOAD_TOO_LARGE",
        ),
        (
            Call {
                body: big,
                ..Call::me("GET", "/me")
            },
            "PAYLOAD_TOO_LARGE",
        ),
        (
            Call {
                method: "GET",
                path: "/openapi.json",
                body: big,
                ..Call::default()
            },
            "PAYLOAD_TOO_LARGE",
        ),
        (
            Call {
                api_key: Some("bad"),
                body: big,
                ..Call::admin("DELETE", "/admin/clients/%00/mute/%ZZ")
            },
            "INVALID_API_KEY",
        ),
        (
            Call {
                api_key: None,
                ..Call::me("POST", "/admin/clients/demo-user/mute/room-1")
            },
            "INVALID_API_KEY",
        ),
        (
            Call {
                body: big,
                ..Call::admin("DELETE", "/admin/clients/%00/mute/no-such-room")
            },
            "INVALID_PARAMETER",
        ),
        (
            Call {
                body: big,
                ..Call::admin("DELETE", "/admin/clients/nobody/mute/%ZZ")
            },
            "INVALID_PARAMETER",
        ),
        (
            Call {
                body: big,
                ..Call::admin("DELETE", "/admin/clients/nobody/mute/no-such-room")
            },
            "CLIENT_NOT_FOUND",
        ),
        (
            Call {
                body: big,
                ..Call::admin("DELETE", "/admin/clients/demo-user/mute/no-such-room")
            },
            "ROOM_NOT_FOUND",
        ),
        (
            Call {
                body: big,
                ..Call::admin("DELETE", "/admin/clients/demo-user/mute/room-2")
            },
            "ROOM_NOT_MUTED",
        ),
        (
            Call {
                body: big,
                ..Call::admin("POST", "/admin/clients/demo-user/mute/room-2")
            },
            "MUTE_LIMIT_EXCEEDED",
        ),
        (
            Call {
                body: big,
                ..Call::admin("DELETE", "/admin/clients/demo-user/mute/room-1")
            },
            "PAYLOAD_TOO_LARGE",
        ),
        (
            Call::admin("DELETE", "/admin/clients/demo-user-2/mute/room-1"),
            "ROOM_NOT_MUTED",
        ),
        (
            Call::admin("POST", "/admin/clients/demo-user/mute/room-3"),
            "MUTE_LIMIT_EXCEEDED",
        ),
        // A mute's body is checked with the path parameters: after the credentials and the ids,
        // before the admin's user and the room.
        (
            Call {
                token: Some("bad"),
                ..Call::me("POST", "/me/mute/room-1")
            }
            .with_body("{"),
            "INVALID_TOKEN",
        ),
        (
            Call::me("POST", "/me/mute/%ZZ").with_body("{"),
            "INVALID_PARAMETER",
        ),
        (
            Call::me("POST", "/me/mute/no-such-room").with_body(r#"{"durationMS": 0}"#),
            "INVALID_PARAMETER",
        ),
        (
            Call::admin("POST", "/admin/clients/nobody/mute/no-such-room").with_body("[]"),
            "INVALID_PARAMETER",
        ),
        // An end the store judges (by its clock) is judged when the mute is made: after the room,
        // before the mute limit.
        (
            Call::me("POST", "/me/mute/no-such-room").with_body(r#"{"untilMS": 1}"#),
            "ROOM_NOT_FOUND",
        ),
        (
            Call::me("POST", "/me/mute/room-2").with_body(r#"{"untilMS": 1}"#),
            "INVALID_PARAMETER",
        ),
        (
            Call::me("POST", "/me/mute/room-2").with_body(r#"{"untilMS": 253402300799999}"#),
            "MUTE_LIMIT_EXCEEDED",
        ),
        // A body over the limit is not read: its size answers, at its row.
        (
            Call {
                body: big,
                ..Call::me("POST", "/me/mute/no-such-room")
            },
            "ROOM_NOT_FOUND",
        ),
        // An unmute ignores its body.
        (
            Call::admin("DELETE", "/admin/clients/demo-user-2/mute/room-1").with_body("{"),
            "ROOM_NOT_MUTED",
        ),
        // GET /me/events checks what GET /me checks, in the same order.
        (
            Call {
                client_key: None,
                body: big,
                ..Call::me("GET", "/me/events")
            },
            "MISSING_CLIENT_KEY",
        ),
        (
            Call {
                client_key: Some("bad"),
                ..Call::me("GET", "/me/events")
            },
            "INVALID_CLIENT_KEY",
        ),
        (
            Call {
                token: Some("bad"),
                body: big,
                ..Call::me("GET", "/me/events")
            },
            "INVALID_TOKEN",
        ),
        (
            Call {
                body: big,
                ..Call::me("GET", "/me/events")
            },
            "PAYLOAD_TOO_LARGE",
        ),
        (
            Call {
                body: big,
                ..Call::me("POST", "/me/events")
            },
            "METHOD_NOT_ALLOWED",
        ),
    ];
    let before = snapshot(&store);
    for (call, expected) in cases {
        let response = api.handle(&call.request()).await;
        assert_eq!(code_of(&response), expected, "{call:?}");
        assert_eq!(
            snapshot(&store),
            before,
            "a refusal changed nothing: {call:?}"
        );
    }
}

/// A user's muted rooms, each with its deadline if timed.
type TimedRooms = Vec<(String, Option<u64>)>;

/// Every user's muted rooms with their deadlines, sorted by user.
fn timed_snapshot(store: &MemoryStore) -> Vec<(String, TimedRooms)> {
    let mut users = Vec::new();
    store.for_each_user(|user, rooms| {
        users.push((
            user.to_string(),
            rooms
                .iter_timed()
                .map(|(room, until)| (room.to_string(), until))
                .collect(),
        ));
    });
    users.sort();
    users
}

/// The time on the manual clocks of these tests: 2026-11-25T22:00:00Z, say.
const NOW: u64 = 1_764_108_000_000;

/// A store on a manual clock at [`NOW`], the clock, and the demo API over the store.
fn timed_demo() -> (
    Arc<MemoryStore>,
    Arc<ManualClock>,
    DemoApi<Arc<MemoryStore>>,
) {
    let clock = Arc::new(ManualClock::new(NOW));
    let store = Arc::new(MemoryStore::with_clock(clock.clone()));
    let api = demo_api(Arc::clone(&store));
    (store, clock, api)
}

#[tokio::test]
async fn mute_bodies_good_and_bad() {
    let (store, _clock, api) = timed_demo();
    // Each good body, on a room of its own: the deadline it gives (none for a plain mute).
    let max = mutestore::MAX_DEADLINE_MS;
    let good: [(&str, Option<u64>); 8] = [
        ("", None),
        (" \r\n\t ", None),
        (r#"{"durationMS": 1}"#, Some(NOW + 1)),
        (r#"{"durationMS":60000}"#, Some(NOW + 60_000)),
        ("\n{ \"durationMS\" : 3600000 }\n", Some(NOW + 3_600_000)),
        (r#"{"untilMS": 1764108000001}"#, Some(NOW + 1)),
        (r#"{"untilMS": 1798761600000}"#, Some(1_798_761_600_000)),
        (r#"{"untilMS": 253402300799999}"#, Some(max)),
    ];
    let mut expected = Vec::new();
    for (index, (body, until)) in good.into_iter().enumerate() {
        let room = format!("room-{}", index + 1);
        let path = format!("/me/mute/{room}");
        let response = api
            .handle(&Call::me("POST", &path).with_body(body).request())
            .await;
        assert_eq!(code_of(&response), "OK", "{body:?}: {}", json_of(&response));
        expected.push((room.clone(), until));
        let result = &json_of(&response)["result"];
        assert_eq!(result["mute"].as_array().map(Vec::len), Some(index + 1));
        assert_eq!(
            result["muteUntil"].get(&room).and_then(Value::as_u64),
            until,
            "{body:?}"
        );
    }
    assert_eq!(timed_snapshot(&store), [("demo-user".to_owned(), expected)]);
    // The admin twin reads the same bodies.
    let response = api
        .handle(
            &Call::admin("POST", "/admin/clients/demo-user-2/mute/room-9")
                .with_body(r#"{"durationMS": 5000}"#)
                .request(),
        )
        .await;
    assert_eq!(
        json_of(&response)["result"]["muteUntil"],
        json!({"room-9": NOW + 5_000})
    );

    let before = timed_snapshot(&store);
    let bad = [
        // Not a JSON object.
        "{",
        "}",
        "null",
        "60000",
        "\"durationMS\"",
        r#"[{"durationMS": 1}]"#,
        r#"{"durationMS": 1} trailing"#,
        r#"{"durationMS": 1}{}"#,
        r#"{durationMS: 1}"#,
        r#"{'durationMS': 1}"#,
        "\u{feff}{\"durationMS\": 1}",
        // Keys.
        "{}",
        r#"{"durationMS": 1, "untilMS": 1798761600000}"#,
        r#"{"durationMS": 1, "reason": "meeting"}"#,
        r#"{"durationms": 1}"#,
        r#"{"DurationMS": 1}"#,
        r#"{"durationMS": 1, "durationMS": 2}"#,
        // Values.
        r#"{"durationMS": 0}"#,
        r#"{"durationMS": -1}"#,
        r#"{"durationMS": -0}"#,
        r#"{"durationMS": 1.5}"#,
        r#"{"durationMS": 60000.0}"#,
        r#"{"durationMS": 6e4}"#,
        r#"{"durationMS": "60000"}"#,
        r#"{"durationMS": null}"#,
        r#"{"durationMS": true}"#,
        r#"{"durationMS": [60000]}"#,
        r#"{"durationMS": 253402300800000}"#,
        r#"{"durationMS": 18446744073709551616}"#,
        r#"{"untilMS": -1}"#,
        r#"{"untilMS": "1798761600000"}"#,
        r#"{"untilMS": 1798761600000.5}"#,
        r#"{"untilMS": 253402300800000}"#,
        // Ends the store refuses by its clock: past, now, and a duration that lands after 9999.
        r#"{"untilMS": 0}"#,
        r#"{"untilMS": 1}"#,
        r#"{"untilMS": 1764107999999}"#,
        r#"{"untilMS": 1764108000000}"#,
        r#"{"durationMS": 253402300799999}"#,
    ];
    for body in bad {
        for call in [
            Call::me("POST", "/me/mute/room-1"),
            Call::me("POST", "/me/mute/room-20"),
            Call::admin("POST", "/admin/clients/demo-user/mute/room-1"),
            Call::admin("POST", "/admin/clients/demo-user/mute/room-20"),
        ] {
            let response = api.handle(&call.with_body(body).request()).await;
            assert_eq!(code_of(&response), "INVALID_PARAMETER", "{body:?} {call:?}");
            let message = json_of(&response)["error"]["message"]
                .as_str()
                .expect("a message")
                .to_owned();
            assert!(message.ends_with('.'), "{message}");
            assert!(
                message.contains("durationMS")
                    || message.contains("untilMS")
                    || message.contains("body")
                    || message.contains("end"),
                "a message about the body: {message}"
            );
            assert!(!message.contains("reason") && !message.contains("trailing"));
            assert_eq!(timed_snapshot(&store), before, "{body:?} changed nothing");
        }
    }
    // Unmutes and reads ignore their bodies, whatever they hold.
    for call in [
        Call::me("GET", "/me"),
        Call::me("DELETE", "/me/mute/room-20"),
        Call::admin("DELETE", "/admin/clients/demo-user/mute/room-8"),
    ] {
        let response = api.handle(&call.with_body("{").request()).await;
        assert_eq!(code_of(&response), "OK", "{call:?}");
    }
}

#[tokio::test]
async fn mute_until_only_for_timed_mutes_and_a_plain_mute_removes_the_deadline() {
    let (store, clock, api) = timed_demo();
    let mute = |path: &'static str, body: &'static str| {
        let api = &api;
        async move {
            json_of(
                &api.handle(&Call::me("POST", path).with_body(body).request())
                    .await,
            )
        }
    };
    let response = mute("/me/mute/room-1", "").await;
    assert_eq!(
        response["result"],
        json!({
            "_id": "demo-user", "nickname": "Demo User", "email": "demo@example.com",
            "appID": "SampleApp", "avatarUrl": "http://example.com/avatarUrl", "mute": ["room-1"]
        }),
        "no muteUntil without a timed mute"
    );
    let response = mute("/me/mute/room-2", r#"{"durationMS": 1000}"#).await;
    assert_eq!(response["result"]["mute"], json!(["room-1", "room-2"]));
    assert_eq!(
        response["result"]["muteUntil"],
        json!({"room-2": NOW + 1000})
    );
    // Re-muting with another end keeps the place and takes the end, for a plain room too.
    let response = mute("/me/mute/room-1", r#"{"untilMS": 1764108500000}"#).await;
    assert_eq!(response["result"]["mute"], json!(["room-1", "room-2"]));
    assert_eq!(
        response["result"]["muteUntil"],
        json!({"room-1": 1_764_108_500_000u64, "room-2": NOW + 1000})
    );
    // `muteUntil` comes right after `mute`, in mute order.
    let text = String::from_utf8(
        api.handle(&Call::me("GET", "/me").request())
            .await
            .into_body()
            .into_owned(),
    )
    .expect("UTF-8");
    assert!(
        text.contains(r#""mute":["room-1","room-2"],"muteUntil":{"room-1":1764108500000,"room-2":1764108001000}"#),
        "{text}"
    );
    // A plain mute removes the deadline; the last one gone takes `muteUntil` with it.
    let response = mute("/me/mute/room-1", "").await;
    assert_eq!(
        response["result"]["muteUntil"],
        json!({"room-2": NOW + 1000})
    );
    let response = mute("/me/mute/room-2", "  ").await;
    assert_eq!(response["result"]["mute"], json!(["room-1", "room-2"]));
    assert!(response["result"].get("muteUntil").is_none(), "{response}");

    // A timed mute that lapses leaves both lists, purged or not yet.
    mute("/me/mute/room-3", r#"{"durationMS": 10}"#).await;
    clock.advance(std::time::Duration::from_millis(10));
    let me = json_of(&api.handle(&Call::me("GET", "/me").request()).await);
    assert_eq!(me["result"]["mute"], json!(["room-1", "room-2"]));
    assert!(me["result"].get("muteUntil").is_none(), "{me}");
    store.expire_due().await.expect("a purge");
    assert_eq!(
        timed_snapshot(&store),
        [(
            "demo-user".to_owned(),
            vec![("room-1".to_owned(), None), ("room-2".to_owned(), None)]
        )]
    );
}

/// The next frame of `stream` as text.
async fn frame_text(stream: &mut mutestore::EventStream) -> Option<String> {
    let frame = tokio::time::timeout(std::time::Duration::from_secs(10), stream.next_frame())
        .await
        .expect("a frame in time")?;
    Some(String::from_utf8(frame).expect("UTF-8"))
}

#[tokio::test]
async fn the_event_entry_point_authenticates_like_get_me_and_streams_the_callers_changes() {
    let (store, clock, api) = timed_demo();
    // Refusals are the same responses as GET /me's.
    for call in [
        Call {
            client_key: None,
            ..Call::me("GET", "/me/events")
        },
        Call {
            client_key: Some("bad"),
            ..Call::me("GET", "/me/events")
        },
        Call {
            token: None,
            ..Call::me("GET", "/me/events")
        },
        Call {
            token: Some(API_KEY),
            ..Call::me("GET", "/me/events")
        },
        Call::admin("GET", "/me/events"),
    ] {
        let ApiReply::Response(refused) = api.serve(&call.request()).await else {
            panic!("a stream for {call:?}");
        };
        let as_get_me = api
            .handle(
                &Call {
                    path: "/me",
                    ..call
                }
                .request(),
            )
            .await;
        assert_eq!(refused, as_get_me, "{call:?}");
        assert!([401, 403].contains(&refused.status()));
    }
    let ApiReply::Events(mut mine) = api.serve(&Call::me("GET", "/me/events").request()).await
    else {
        panic!("no stream");
    };
    assert_eq!(mine.user().as_str(), "demo-user");
    assert_eq!(
        mine.headers(),
        [
            ("Content-Type", "text/event-stream"),
            ("Cache-Control", "no-cache")
        ]
    );
    assert_eq!(
        mine.keep_alive_interval(),
        mutestore::DEFAULT_KEEP_ALIVE_INTERVAL
    );
    let ApiReply::Events(mut theirs) = api
        .serve(
            &Call {
                token: Some(TOKEN_2),
                ..Call::me("GET", "/me/events")
            }
            .request(),
        )
        .await
    else {
        panic!("no stream");
    };
    assert_eq!(
        frame_text(&mut mine).await.as_deref(),
        Some("retry: 2000\n\n")
    );
    assert_eq!(
        frame_text(&mut theirs).await.as_deref(),
        Some("retry: 2000\n\n")
    );

    let calls = [
        Call::me("POST", "/me/mute/room-1"),
        Call::me("POST", "/me/mute/room-2").with_body(r#"{"durationMS": 5}"#),
        // Refused: no event.
        Call::me("POST", "/me/mute/room-3").with_body(r#"{"durationMS": 0}"#),
        Call::me("POST", "/me/mute/no-such-room"),
        // Idempotent: no event.
        Call::me("POST", "/me/mute/room-1"),
        Call::me("DELETE", "/me/mute/room-4"),
        Call::me("DELETE", "/me/mute/room-1"),
        Call::admin("POST", "/admin/clients/demo-user/mute/room-5"),
        Call::admin("DELETE", "/admin/clients/demo-user/mute/room-5"),
        // Another user's: not on my stream.
        Call::admin("POST", "/admin/clients/demo-user-2/mute/room-6"),
    ];
    for call in calls {
        api.handle(&call.request()).await;
    }
    clock.advance(std::time::Duration::from_millis(5));
    assert_eq!(store.expire_due().await.expect("a purge"), 1);
    let expected = [
        r#"{"room":"room-1","muted":true,"untilMS":null,"cause":"user"}"#.to_owned(),
        format!(
            r#"{{"room":"room-2","muted":true,"untilMS":{},"cause":"user"}}"#,
            NOW + 5
        ),
        r#"{"room":"room-1","muted":false,"untilMS":null,"cause":"user"}"#.to_owned(),
        r#"{"room":"room-5","muted":true,"untilMS":null,"cause":"admin"}"#.to_owned(),
        r#"{"room":"room-5","muted":false,"untilMS":null,"cause":"admin"}"#.to_owned(),
        r#"{"room":"room-2","muted":false,"untilMS":null,"cause":"expiry"}"#.to_owned(),
    ];
    for data in expected {
        assert_eq!(
            frame_text(&mut mine).await,
            Some(format!("data: {data}\n\n"))
        );
    }
    assert_eq!(
        frame_text(&mut theirs).await.as_deref(),
        Some("data: {\"room\":\"room-6\",\"muted\":true,\"untilMS\":null,\"cause\":\"admin\"}\n\n")
    );
    // Nothing else is queued on either: the next frames are these.
    store
        .forget_room(&RoomId::new("room-6").expect("an id"))
        .await
        .expect("forgotten");
    assert_eq!(
        frame_text(&mut theirs).await.as_deref(),
        Some(
            "data: {\"room\":\"room-6\",\"muted\":false,\"untilMS\":null,\"cause\":\"forget\"}\n\n"
        )
    );
    api.stream_shutdown().shut_down();
    assert_eq!(frame_text(&mut mine).await, None);
    assert_eq!(frame_text(&mut theirs).await, None);
}

#[tokio::test]
async fn handle_cannot_stream_and_answers_500_to_a_passing_event_request() {
    let api = demo_api(MemoryStore::new());
    let response = api.handle(&Call::me("GET", "/me/events").request()).await;
    assert_eq!(code_of(&response), "INTERNAL_ERROR");
    assert_eq!(
        api.stream_shutdown().open_streams(),
        0,
        "the stream was dropped"
    );
    // A store that cannot deliver events is a 500 through `serve` as well.
    let failing = demo_api(FailingStore);
    let ApiReply::Response(response) = failing
        .serve(&Call::me("GET", "/me/events").request())
        .await
    else {
        panic!("a stream from a failing store");
    };
    assert_eq!(code_of(&response), "INTERNAL_ERROR");
}

/// `GET /me/events` through `serve`: the stream, or the response that refused it.
async fn open_events(
    api: &DemoApi<MemoryStore>,
    call: Call<'_>,
) -> Result<mutestore::EventStream, ApiResponse> {
    match api.serve(&call.request()).await {
        ApiReply::Events(stream) => Ok(stream),
        ApiReply::Response(response) => Err(response),
    }
}

#[tokio::test]
async fn one_stream_past_the_per_user_limit_is_429_until_one_of_the_users_streams_is_dropped() {
    let api = demo_api(MemoryStore::new());
    let mine = Call::me("GET", "/me/events");
    let theirs = Call {
        token: Some(TOKEN_2),
        ..mine
    };
    let mut open = Vec::new();
    for n in 0..mutestore::DEFAULT_MAX_STREAMS_PER_USER {
        let stream = open_events(&api, mine)
            .await
            .unwrap_or_else(|refused| panic!("stream {n} refused: {}", json_of(&refused)));
        open.push(stream);
    }
    let refused = open_events(&api, mine)
        .await
        .expect_err("a stream past the limit");
    assert_eq!(refused.status(), 429);
    assert_eq!(
        refused.header("Content-Type"),
        Some(mutestore::JSON_CONTENT_TYPE)
    );
    assert_eq!(
        json_of(&refused),
        json!({
            "RC": 429,
            "RM": "Too Many Requests",
            "error": {
                "code": "TOO_MANY_STREAMS",
                "message": "The user already has as many event streams open as allowed: 4."
            }
        })
    );
    // A place frees when one of the user's streams ends, which no one can foresee: the header
    // asks for the least wait, the stream's own reconnection delay in seconds.
    assert_eq!(refused.header("Retry-After"), Some("2"));
    assert_eq!(
        refused.header("Retry-After"),
        Some(
            mutestore::RECONNECT_DELAY_MS
                .div_ceil(1000)
                .to_string()
                .as_str()
        )
    );
    assert_eq!(
        api.stream_shutdown().open_streams(),
        mutestore::DEFAULT_MAX_STREAMS_PER_USER,
        "the refusal opened nothing"
    );
    // Another user has places of their own.
    let mut other = open_events(&api, theirs)
        .await
        .expect("another user's stream");
    // A stream dropped (its client left) gives its place back at once, and only that one.
    drop(open.pop());
    open.push(open_events(&api, mine).await.expect("a stream again"));
    assert_eq!(
        code_of(
            &open_events(&api, mine)
                .await
                .expect_err("past the limit again")
        ),
        "TOO_MANY_STREAMS"
    );
    // The refusals touched neither the open streams nor the store: each stream carries the next
    // change, and only it.
    api.handle(&Call::me("POST", "/me/mute/room-1").request())
        .await;
    let event =
        "data: {\"room\":\"room-1\",\"muted\":true,\"untilMS\":null,\"cause\":\"user\"}\n\n";
    for stream in &mut open {
        assert_eq!(frame_text(stream).await.as_deref(), Some("retry: 2000\n\n"));
        assert_eq!(frame_text(stream).await.as_deref(), Some(event));
    }
    assert_eq!(
        frame_text(&mut other).await.as_deref(),
        Some("retry: 2000\n\n")
    );
    assert_eq!(
        snapshot(api.store()),
        [("demo-user".to_owned(), vec!["room-1".to_owned()])]
    );
}

#[tokio::test]
async fn the_stream_limit_is_the_hosts_to_set_and_zero_refuses_every_stream() {
    let mine = Call::me("GET", "/me/events");
    let one = demo_api(MemoryStore::new()).with_max_streams_per_user(1);
    let kept = open_events(&one, mine).await.expect("a first stream");
    let refused = open_events(&one, mine).await.expect_err("a second");
    assert_eq!(
        json_of(&refused)["error"]["message"],
        "The user already has as many event streams open as allowed: 1."
    );
    drop(kept);
    open_events(&one, mine)
        .await
        .expect("a stream once the first is dropped");

    let none = demo_api(MemoryStore::new()).with_max_streams_per_user(0);
    let refused = open_events(&none, mine)
        .await
        .expect_err("no stream at all");
    assert_eq!(refused.status(), 429);
    assert_eq!(
        json_of(&refused)["error"],
        json!({
            "code": "TOO_MANY_STREAMS",
            "message": "This server opens no event streams."
        })
    );
    assert_eq!(
        refused.header("Retry-After"),
        None,
        "no wait gets a stream at 0"
    );
    assert_eq!(none.stream_shutdown().open_streams(), 0);
    // The limit is the last check: credentials come first.
    let no_token = Call {
        token: None,
        ..mine
    };
    assert_eq!(
        code_of(&open_events(&none, no_token).await.expect_err("no token")),
        "INVALID_TOKEN"
    );
    // Other endpoints never count.
    let response = none.handle(&Call::me("GET", "/me").request()).await;
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn wrong_methods_and_unknown_paths() {
    let api = demo_api(MemoryStore::new());
    for (path, allow) in [
        ("/me", "GET"),
        ("/me/mute/room-1", "POST, DELETE"),
        ("/me/mute/", "POST, DELETE"),
        ("/admin/clients/demo-user/mute/room-1", "POST, DELETE"),
        ("/openapi.json", "GET"),
        ("/me/events", "GET"),
    ] {
        for method in [
            "GET", "POST", "DELETE", "PUT", "PATCH", "HEAD", "OPTIONS", "get", "BREW", "",
        ] {
            if allow.split(", ").any(|m| m == method) {
                continue;
            }
            let response = api.handle(&ApiRequest::new(method, path)).await;
            assert_eq!(code_of(&response), "METHOD_NOT_ALLOWED", "{method} {path}");
            assert_eq!(response.header("Allow"), Some(allow));
        }
    }
    for path in [
        "",
        "/",
        "/me/",
        "/me/mute",
        "/me/mute/a/b",
        "/admin/clients/u/mute",
        "/openapi",
        "/ME",
        "/me/events/",
        "/me/event",
    ] {
        let response = api.handle(&ApiRequest::new("GET", path)).await;
        assert_eq!(code_of(&response), "NOT_FOUND", "{path}");
        assert_eq!(response.header("Allow"), None);
    }
    // A query string is not part of the path.
    let response = api
        .handle(&Call::me("POST", "/me/mute/room-1?mute=false").request())
        .await;
    assert_eq!(json_of(&response)["result"]["mute"], json!(["room-1"]));
    // Nor is a fragment, which no request target carries: it is dropped, as hyper drops it, not
    // taken into the last segment (`room-2#x` would be a room that does not exist).
    for path in [
        "/me/mute/room-2#x",
        "/me/mute/room-2#x?y",
        "/me/mute/room-2?y#x",
    ] {
        let response = api.handle(&Call::me("POST", path).request()).await;
        assert_eq!(code_of(&response), "OK", "{path}");
        assert_eq!(
            json_of(&response)["result"]["mute"],
            json!(["room-1", "room-2"]),
            "{path}"
        );
    }
    for (method, path, code) in [
        ("GET", "/me#top", "OK"),
        ("GET", "/openapi.json#/paths", "OK"),
        ("POST", "/me/mute/#x", "INVALID_PARAMETER"),
        ("GET", "/me/mute/room-1#x", "METHOD_NOT_ALLOWED"),
        ("GET", "/me/#x", "NOT_FOUND"),
        ("GET", "#/me", "NOT_FOUND"),
    ] {
        let response = api.handle(&Call::me(method, path).request()).await;
        assert_eq!(code_of(&response), code, "{method} {path}");
    }
    // `%23` is a `#` inside an id, not a fragment.
    let response = api
        .handle(&Call::me("DELETE", "/me/mute/room%231").request())
        .await;
    assert_eq!(code_of(&response), "ROOM_NOT_FOUND");
}

#[tokio::test]
async fn credentials_absent_empty_repeated_or_not_utf8() {
    let api = demo_api(MemoryStore::new());
    let send = |headers: Vec<(&'static str, &'static [u8])>| {
        let request = ApiRequest::new("GET", "/me").with_headers(headers);
        let api = &api;
        async move { code_of(&api.handle(&request).await) }
    };
    let token: (&str, &[u8]) = ("IM-Authorization", TOKEN.as_bytes());
    let key: (&str, &[u8]) = ("im-client-key", CLIENT_KEY.as_bytes());
    assert_eq!(
        send(vec![("IM-CLIENT-KEY", b""), token]).await,
        "MISSING_CLIENT_KEY"
    );
    assert_eq!(
        send(vec![("IM-CLIENT-KEY", b"  "), token]).await,
        "MISSING_CLIENT_KEY"
    );
    assert_eq!(send(vec![key, key, token]).await, "INVALID_CLIENT_KEY");
    assert_eq!(
        send(vec![("IM-CLIENT-KEY", b"demo-client-key\xff"), token]).await,
        "INVALID_CLIENT_KEY"
    );
    assert_eq!(
        send(vec![("IM-CLIENT-KEY", b"DEMO-CLIENT-KEY"), token]).await,
        "INVALID_CLIENT_KEY"
    );
    assert_eq!(
        send(vec![key, token, ("IM-AUTHORIZATION", TOKEN_2.as_bytes())]).await,
        "INVALID_TOKEN"
    );
    assert_eq!(
        send(vec![key, ("IM-Authorization", b"")]).await,
        "INVALID_TOKEN"
    );
    assert_eq!(
        send(vec![key, ("IM-Authorization", b"demo-token2")]).await,
        "INVALID_TOKEN"
    );
    assert_eq!(
        send(vec![key, ("iM-aUtHoRiZaTiOn", b" demo-token ")]).await,
        "OK"
    );
    // The client key is no admin key, and the admin key no client key.
    assert_eq!(
        send(vec![("IM-CLIENT-KEY", API_KEY.as_bytes()), token]).await,
        "INVALID_CLIENT_KEY"
    );
    let admin = ApiRequest::new("POST", "/admin/clients/demo-user/mute/room-1")
        .with_header("IM-API-KEY", CLIENT_KEY.as_bytes());
    assert_eq!(code_of(&api.handle(&admin).await), "INVALID_API_KEY");
}

/// A directory that knows every room and user, with the platform's sample profile for one user
/// and no profile for any other.
#[derive(Debug)]
struct SampleDirectory;

fn sample_profile() -> Profile {
    let Value::Object(profile) = json!({
        "_id": "1485248560558",
        "email": "test@test.com",
        "nickname": "Test AB",
        "appID": "SampleApp",
        "avatarUrl": "http://example.com/avatarUrl",
        "address": {"port": 56216, "family": "IPv6", "address": "::1"},
        "userAgent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_11_6) AppleWebKit/537.36",
        "mute": ["a-stale-list-the-engine-replaces"],
        "lastLoginTimeMS": 1487068306745u64
    }) else {
        unreachable!("a JSON object literal")
    };
    profile
}

impl Directory for SampleDirectory {
    fn room_exists(&self, _: &RoomId) -> impl Future<Output = Result<bool, HostError>> + Send {
        ready(Ok(true))
    }
    fn user_exists(&self, _: &UserId) -> impl Future<Output = Result<bool, HostError>> + Send {
        ready(Ok(true))
    }
    fn user_profile(
        &self,
        user: &UserId,
    ) -> impl Future<Output = Result<Option<UserProfile>, HostError>> + Send {
        ready(Ok(
            (user == "1485248560558").then(|| UserProfile::new(&sample_profile()))
        ))
    }
}

#[tokio::test]
async fn profiles_pass_through_and_the_engine_sets_mute() {
    let seed = SeedData::demo();
    let api = MuteApi::new(
        MemoryStore::new(),
        SeedAuthenticator::new(&seed),
        SampleDirectory,
    );
    let response = api
        .handle(&Call::admin("POST", "/admin/clients/1485248560558/mute/demo-room").request())
        .await;
    let mut expected = sample_profile();
    expected.insert("mute".into(), json!(["demo-room"]));
    assert_eq!(
        json_of(&response),
        json!({"RC": 0, "RM": "OK", "result": expected})
    );
    let response = api
        .handle(&Call::admin("DELETE", "/admin/clients/1485248560558/mute/demo-room").request())
        .await;
    expected.insert("mute".into(), json!([]));
    assert_eq!(json_of(&response)["result"], Value::Object(expected));
    // A user the host has no profile for still has `_id`.
    let response = api
        .handle(&Call::admin("POST", "/admin/clients/no%20profile/mute/x").request())
        .await;
    assert_eq!(
        json_of(&response)["result"],
        json!({"_id": "no profile", "mute": ["x"]})
    );
}

#[tokio::test]
async fn host_and_store_failures_are_500_and_change_nothing() {
    let seed = SeedData::demo();
    let store = Arc::new(MemoryStore::new());
    let failing_auth = MuteApi::new(
        Arc::clone(&store),
        FailingAuthenticator,
        SeedDirectory::new(&seed),
    );
    let failing_dir = MuteApi::new(
        Arc::clone(&store),
        SeedAuthenticator::new(&seed),
        FailingDirectory,
    );
    let failing_store = demo_api(FailingStore);
    let calls = [
        Call::me("GET", "/me"),
        Call::me("POST", "/me/mute/room-1"),
        Call::me("DELETE", "/me/mute/room-1"),
        Call::admin("POST", "/admin/clients/demo-user/mute/room-1"),
        Call::admin("DELETE", "/admin/clients/demo-user/mute/room-1"),
    ];
    for call in calls {
        let request = call.request();
        let dir_response = failing_dir.handle(&request).await;
        for response in [
            failing_auth.handle(&request).await,
            failing_store.handle(&request).await,
        ]
        .into_iter()
        .chain((call.method != "GET").then_some(dir_response))
        {
            assert_eq!(code_of(&response), "INTERNAL_ERROR", "{call:?}");
            let body = String::from_utf8_lossy(response.body()).into_owned();
            assert!(
                !body.contains("10.1.2.3") && !body.contains("/var/lib"),
                "{body}"
            );
        }
    }
    assert!(snapshot(&store).is_empty());
    // Checks that need no host answer first, even when the host is down.
    let response = failing_auth.handle(&ApiRequest::new("GET", "/me")).await;
    assert_eq!(code_of(&response), "MISSING_CLIENT_KEY");
    let response = failing_dir
        .handle(&Call::me("POST", "/me/mute/%00").request())
        .await;
    assert_eq!(code_of(&response), "INVALID_PARAMETER");
}

fn known_statuses() -> Vec<u16> {
    let mut statuses: Vec<u16> = ErrorCode::ALL.iter().map(|code| code.status()).collect();
    statuses.push(200);
    statuses
}

fn any_method() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("GET".to_owned()),
        Just("POST".to_owned()),
        Just("DELETE".to_owned()),
        "[A-Za-z]{0,8}",
    ]
}

fn any_path() -> impl Strategy<Value = String> {
    let segment = prop_oneof![
        Just("me".to_owned()),
        Just("mute".to_owned()),
        Just("admin".to_owned()),
        Just("clients".to_owned()),
        Just("demo-user".to_owned()),
        Just("room-1".to_owned()),
        Just("openapi.json".to_owned()),
        "[%0-9A-Fa-f/ ?#+.\\\\\u{7f}\u{0}-\u{1f}ア]{0,12}",
        ".{0,300}",
    ];
    prop::collection::vec(segment, 0..7).prop_map(|segments| format!("/{}", segments.join("/")))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Whatever comes in, the adapter answers with JSON and never panics; an answer that is not a
    /// success changed nothing.
    #[test]
    fn any_input_gets_an_envelope(
        method in any_method(),
        path in any_path(),
        headers in prop::collection::vec(
            (
                prop_oneof![Just("IM-CLIENT-KEY"), Just("IM-Authorization"), Just("IM-API-KEY"), Just("X-Other")],
                prop_oneof![
                    Just(CLIENT_KEY.as_bytes().to_vec()),
                    Just(TOKEN.as_bytes().to_vec()),
                    Just(API_KEY.as_bytes().to_vec()),
                    prop::collection::vec(any::<u8>(), 0..40),
                ],
            ),
            0..5,
        ),
        body in prop_oneof![Just(0u64), 0u64..200_000, Just(u64::MAX)],
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread().build().expect("a runtime");
        let store = Arc::new(MemoryStore::with_mute_limit(2));
        let api = demo_api(Arc::clone(&store));
        let request = ApiRequest::new(&method, &path)
            .with_headers(headers.iter().map(|(name, value)| (*name, value.as_slice())))
            .with_body_length(body);
        let response = runtime.block_on(api.handle(&request));
        let json = json_of(&response);
        prop_assert!(known_statuses().contains(&response.status()));
        prop_assert_eq!(response.header("Content-Type"), Some("application/json; charset=utf-8"));
        if response.status() == 200 {
            // A success envelope, or the OpenAPI document, which is served bare.
            prop_assert!(json["RC"] == json!(0) || json["openapi"].is_string(), "{}", json);
        } else {
            prop_assert_eq!(&json["RC"], &json!(response.status()));
            prop_assert!(snapshot(&store).is_empty());
        }
    }
}
