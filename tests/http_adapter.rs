//! The adapter without HTTP: `MuteApi::handle` called directly.

mod common;

use std::future::{Future, ready};
use std::sync::Arc;

use common::failing::{FailingAuthenticator, FailingDirectory, FailingStore};
use common::{API_KEY, CLIENT_KEY, TOKEN, TOKEN_2};
use mutestore::{
    ApiRequest, ApiResponse, Directory, ErrorCode, HostError, MemoryStore, MuteApi, MuteStore,
    Profile, RoomId, SeedAuthenticator, SeedData, SeedDirectory, UserId, UserProfile,
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

/// A request described compactly: method, path, credentials, body length.
#[derive(Debug, Clone, Copy, Default)]
struct Call<'a> {
    method: &'a str,
    path: &'a str,
    client_key: Option<&'a str>,
    token: Option<&'a str>,
    api_key: Option<&'a str>,
    body: u64,
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
    fn request(&self) -> ApiRequest<'a> {
        let mut request = ApiRequest::new(self.method, self.path).with_body_length(self.body);
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

#[tokio::test]
async fn wrong_methods_and_unknown_paths() {
    let api = demo_api(MemoryStore::new());
    for (path, allow) in [
        ("/me", "GET"),
        ("/me/mute/room-1", "POST, DELETE"),
        ("/me/mute/", "POST, DELETE"),
        ("/admin/clients/demo-user/mute/room-1", "POST, DELETE"),
        ("/openapi.json", "GET"),
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
