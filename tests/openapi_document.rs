//! The OpenAPI document kept in the repository describes exactly the routes the adapter serves.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::client::{parse_raw_response, raw_exchange};
use common::failing::FailingAuthenticator;
use common::server::TestServer;
use common::{API_KEY, CLIENT_KEY, TOKEN};
use mutestore::{
    API_KEY_HEADER, ApiRequest, CLIENT_KEY_HEADER, CorsPolicy, ErrorCode, MAX_BODY_BYTES,
    MAX_HEADER_COUNT, MemoryStore, MuteApi, MuteStore, OPENAPI_JSON, Operation, RoomId,
    SeedAuthenticator, SeedData, SeedDirectory, TOKEN_HEADER, UserId,
};
use serde_json::Value;

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

fn document() -> Value {
    serde_json::from_str(OPENAPI_JSON).expect("the document is JSON")
}

/// (path, method, operationId) of every operation in the document.
fn documented() -> BTreeSet<(String, String, String)> {
    let doc = document();
    let mut operations = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("a path item") {
            assert!(
                METHODS.contains(&method.as_str()),
                "{method} is not a method"
            );
            let id = operation["operationId"].as_str().expect("an operationId");
            operations.insert((path.clone(), method.to_ascii_uppercase(), id.to_owned()));
        }
    }
    operations
}

#[test]
fn paths_methods_and_ids_match_the_route_table() {
    let served: BTreeSet<(String, String, String)> = Operation::ALL
        .iter()
        .map(|op| {
            (
                op.path().to_owned(),
                op.method().to_owned(),
                op.operation_id().to_owned(),
            )
        })
        .collect();
    assert_eq!(documented(), served);
}

#[test]
fn it_is_openapi_3_with_every_reference_resolved() {
    let doc = document();
    assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")));
    let mut refs = Vec::new();
    collect_refs(&doc, &mut refs);
    assert!(!refs.is_empty());
    for reference in refs {
        let pointer = reference.strip_prefix('#').expect("a local reference");
        assert!(doc.pointer(pointer).is_some(), "{reference} resolves");
    }
    // Each templated parameter is declared on its operations.
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for operation in item.as_object().expect("a path item").values() {
            let declared: Vec<String> = operation["parameters"]
                .as_array()
                .map(|params| {
                    params
                        .iter()
                        .map(|p| {
                            let p = p["$ref"]
                                .as_str()
                                .and_then(|r| doc.pointer(&r[1..]))
                                .unwrap_or(p);
                            p["name"].as_str().expect("a name").to_owned()
                        })
                        .collect()
                })
                .unwrap_or_default();
            let templated: Vec<String> = path
                .split('/')
                .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
                .map(str::to_owned)
                .collect();
            assert_eq!(declared, templated, "{path}");
        }
    }
}

#[test]
fn it_lists_every_error_code() {
    let doc = document();
    let listed: Vec<&str> =
        doc["components"]["schemas"]["ErrorEnvelope"]["properties"]["error"]["properties"]["code"]
            ["enum"]
            .as_array()
            .expect("an enum")
            .iter()
            .map(|code| code.as_str().expect("a string"))
            .collect();
    let codes: Vec<&str> = ErrorCode::ALL.iter().map(|code| code.as_str()).collect();
    assert_eq!(listed, codes);
}

#[tokio::test]
async fn every_documented_operation_is_served_and_nothing_else() {
    let seed = SeedData::demo();
    let api = MuteApi::new(
        MemoryStore::new(),
        SeedAuthenticator::new(&seed),
        SeedDirectory::new(&seed),
    );
    let documented = documented();
    let paths: BTreeSet<&String> = documented.iter().map(|(path, _, _)| path).collect();
    for path in paths {
        let concrete = path
            .replace("{uid}", "demo-user")
            .replace("{room}", "room-1");
        for method in METHODS {
            let method = method.to_ascii_uppercase();
            let is_documented = documented.iter().any(|(p, m, _)| p == path && *m == method);
            let response = api.handle(&ApiRequest::new(&method, &concrete)).await;
            let body: Value = serde_json::from_slice(response.body()).expect("JSON");
            let code = body["error"]["code"].as_str().unwrap_or("OK");
            if is_documented {
                assert!(
                    !["NOT_FOUND", "METHOD_NOT_ALLOWED"].contains(&code),
                    "{method} {path}: {code}"
                );
            } else {
                assert_eq!(code, "METHOD_NOT_ALLOWED", "{method} {path}");
            }
        }
    }
}

fn collect_refs<'a>(value: &'a Value, refs: &mut Vec<&'a str>) {
    match value {
        Value::Object(map) => {
            for (key, value) in map {
                match (key.as_str(), value) {
                    ("$ref", Value::String(reference)) => refs.push(reference),
                    _ => collect_refs(value, refs),
                }
            }
        }
        Value::Array(values) => values.iter().for_each(|v| collect_refs(v, refs)),
        _ => {}
    }
}

#[test]
fn it_documents_mute_bodies_mute_until_and_the_event_stream() {
    let doc = document();
    for (path, method) in [
        ("/me/mute/{room}", "post"),
        ("/admin/clients/{uid}/mute/{room}", "post"),
    ] {
        let body = &doc["paths"][path][method]["requestBody"];
        assert_eq!(body["required"], false, "{path}: the body is optional");
        assert_eq!(
            body["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/MuteBody"
        );
    }
    for (path, method) in [
        ("/me/mute/{room}", "delete"),
        ("/admin/clients/{uid}/mute/{room}", "delete"),
        ("/me", "get"),
    ] {
        assert!(
            doc["paths"][path][method]["requestBody"].is_null(),
            "{path}"
        );
    }
    let mute_body = &doc["components"]["schemas"]["MuteBody"];
    let keys: BTreeSet<&str> = mute_body["properties"]
        .as_object()
        .expect("properties")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, BTreeSet::from(["durationMS", "untilMS"]));
    assert_eq!(mute_body["maxProperties"], 1);
    assert_eq!(mute_body["additionalProperties"], false);
    assert_eq!(
        mute_body["properties"]["durationMS"]["maximum"],
        mutestore::MAX_DEADLINE_MS
    );
    assert!(doc["components"]["schemas"]["UserObject"]["properties"]["muteUntil"].is_object());

    let events = &doc["paths"]["/me/events"]["get"];
    assert!(events["responses"]["200"]["content"]["text/event-stream"].is_object());
    for status in ["401", "403", "405", "429"] {
        assert!(events["responses"][status].is_object(), "{status}");
    }
    assert!(events["responses"]["429"]["headers"]["Retry-After"].is_object());
    let causes: Vec<&str> =
        doc["components"]["schemas"]["ChangeEvent"]["properties"]["cause"]["enum"]
            .as_array()
            .expect("an enum")
            .iter()
            .map(|cause| cause.as_str().expect("a string"))
            .collect();
    for cause in &causes {
        let parsed = mutestore::ChangeCause::parse(cause).expect("a cause");
        assert_eq!(parsed.as_str(), *cause);
    }
    assert_eq!(causes, ["user", "admin", "expiry", "forget"]);
}

/// The error statuses of one operation, each with the `error.code`s and the headers (of
/// [`ERROR_HEADERS`]) its responses carry.
type ErrorAnswers = BTreeMap<u16, (BTreeSet<String>, BTreeSet<String>)>;

/// The headers an error response may carry besides `Content-Type`, lower case.
const ERROR_HEADERS: [&str; 2] = ["allow", "retry-after"];

/// What the document says each error status of `operation` can carry: the codes its description
/// lists after "Possible `error.code`:", and the headers it declares.
fn documented_errors(operation: Operation) -> ErrorAnswers {
    let doc = document();
    let responses =
        doc["paths"][operation.path()][operation.method().to_ascii_lowercase()]["responses"]
            .as_object()
            .unwrap_or_else(|| panic!("{}: responses", operation.operation_id()))
            .clone();
    let mut errors = ErrorAnswers::new();
    for (status, response) in responses {
        let status: u16 = status.parse().expect("a status");
        if status < 400 {
            continue;
        }
        let description = response["description"].as_str().expect("a description");
        let (_, listed) = description
            .split_once("Possible `error.code`: ")
            .unwrap_or_else(|| panic!("{status}: no codes in {description:?}"));
        let listed = listed.split(['.', ';']).next().unwrap_or_default();
        let codes = listed
            .split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_owned)
            .collect();
        let headers = response["headers"]
            .as_object()
            .map(|headers| headers.keys().map(|h| h.to_ascii_lowercase()).collect())
            .unwrap_or_default();
        errors.insert(status, (codes, headers));
    }
    errors
}

/// One request sent to a fresh server.
#[derive(Debug, Clone)]
struct Probe {
    method: &'static str,
    path: String,
    headers: Vec<(String, Vec<u8>)>,
    body: Vec<u8>,
    /// Sent raw with a malformed chunked body instead of `body`: a body that cannot be read.
    unreadable_body: bool,
}

/// `operation`'s path with these ids.
fn concrete_path(operation: Operation, uid: &str, room: &str) -> String {
    operation
        .path()
        .replace("{uid}", uid)
        .replace("{room}", room)
}

/// Every credential, valid: each endpoint reads only its own.
fn good_credentials() -> Vec<(String, Vec<u8>)> {
    [
        (CLIENT_KEY_HEADER, CLIENT_KEY),
        (TOKEN_HEADER, TOKEN),
        (API_KEY_HEADER, API_KEY),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_owned(), value.as_bytes().to_vec()))
    .collect()
}

/// Requests that, between them, meet every check `operation` makes: a valid one, then each way of
/// being wrong (one at a time), and every method its path does not serve.
fn probes(operation: Operation) -> Vec<Probe> {
    let base = Probe {
        method: operation.method(),
        path: concrete_path(operation, "demo-user", "room-1"),
        headers: good_credentials(),
        body: Vec::new(),
        unreadable_body: false,
    };
    let mut probes = vec![base.clone()];
    for (uid, room) in [
        ("", ""),
        ("nobody", "room-1"),
        ("demo-user", "no-such-room"),
    ] {
        probes.push(Probe {
            path: concrete_path(operation, uid, room),
            ..base.clone()
        });
    }
    for (header, value) in [
        (None, ""),
        (Some(CLIENT_KEY_HEADER), "wrong"),
        (Some(TOKEN_HEADER), "wrong"),
        (Some(API_KEY_HEADER), "wrong"),
    ] {
        let headers = match header {
            None => Vec::new(),
            Some(header) => good_credentials()
                .into_iter()
                .map(|(name, old)| {
                    let new = if name == header { value.into() } else { old };
                    (name, new)
                })
                .collect(),
        };
        probes.push(Probe {
            headers,
            ..base.clone()
        });
    }
    let mut too_many = good_credentials();
    too_many.extend((0..MAX_HEADER_COUNT).map(|n| (format!("x-filler-{n}"), Vec::new())));
    probes.push(Probe {
        headers: too_many,
        ..base.clone()
    });
    let too_large = vec![b' '; usize::try_from(MAX_BODY_BYTES).expect("a size") + 1];
    for body in [&b"{}"[..], br#"{"untilMS":0}"#, &too_large] {
        probes.push(Probe {
            body: body.to_vec(),
            ..base.clone()
        });
    }
    probes.push(Probe {
        unreadable_body: true,
        ..base.clone()
    });
    for method in ["GET", "PUT", "POST", "DELETE", "OPTIONS", "PATCH", "TRACE"] {
        let served = Operation::ALL
            .iter()
            .any(|op| op.path() == operation.path() && op.method() == method);
        if !served {
            probes.push(Probe {
                method,
                ..base.clone()
            });
        }
    }
    probes
}

/// How many kinds of server [`probe_app`] makes.
const PROBE_SERVERS: usize = 4;

/// Server number `server` (below [`PROBE_SERVERS`]), fresh: between them, the servers lead to every
/// answer a store or host can give. Streams are refused everywhere (limit 0), so that no probe
/// waits on an endless stream.
async fn probe_app(server: usize) -> axum::Router {
    let seed = SeedData::demo();
    let api = |store: MemoryStore| {
        MuteApi::new(
            store,
            SeedAuthenticator::new(&seed),
            SeedDirectory::new(&seed),
        )
        .with_max_streams_per_user(0)
        .into_router(CorsPolicy::disabled())
    };
    match server {
        0 => api(MemoryStore::new()),
        1 => {
            // demo-user has muted room-1: the admin's unmute passes its checks.
            let store = MemoryStore::new();
            let user = UserId::new("demo-user").expect("an id");
            let room = RoomId::new("room-1").expect("an id");
            store.mute(&user, &room).await.expect("a mute");
            api(store)
        }
        2 => api(MemoryStore::with_mute_limit(0)),
        3 => MuteApi::new(
            MemoryStore::new(),
            FailingAuthenticator,
            SeedDirectory::new(&seed),
        )
        .with_max_streams_per_user(0)
        .into_router(CorsPolicy::disabled()),
        _ => panic!("no server {server}"),
    }
}

/// The status, `error.code` and [`ERROR_HEADERS`] of the answer to `probe`, sent to `server`.
async fn answer(server: axum::Router, probe: &Probe) -> (u16, String, BTreeSet<String>) {
    let server = TestServer::serve(server).await;
    let (status, headers, json) = if probe.unreadable_body {
        let mut raw = format!("{} {} HTTP/1.1\r\nHost: x\r\n", probe.method, probe.path);
        for (name, value) in &probe.headers {
            raw.push_str(&format!("{name}: {}\r\n", String::from_utf8_lossy(value)));
        }
        raw.push_str("Transfer-Encoding: chunked\r\nConnection: close\r\n\r\nzz\r\n");
        let (status, head, json) =
            parse_raw_response(&raw_exchange(server.addr, raw.as_bytes()).await);
        let headers = head
            .lines()
            .skip(1)
            .filter_map(|line| line.split_once(':'))
            .map(|(name, _)| name.trim().to_ascii_lowercase())
            .collect::<Vec<_>>();
        (status, headers, json)
    } else {
        let headers: Vec<(&str, &[u8])> = probe
            .headers
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_slice()))
            .collect();
        let reply = server
            .client
            .send(probe.method, &probe.path, &headers, probe.body.clone())
            .await;
        let names = reply.headers.keys().map(|name| name.to_string()).collect();
        let json = if reply.status >= 400 {
            reply.json()
        } else {
            Value::Null
        };
        (reply.status, names, json)
    };
    let code = json["error"]["code"].as_str().unwrap_or("OK").to_owned();
    let headers = headers
        .into_iter()
        .filter(|name| ERROR_HEADERS.contains(&name.as_str()))
        .collect();
    (status, code, headers)
}

#[tokio::test]
async fn every_operation_documents_exactly_the_errors_it_answers() {
    // Through the axum router, as the document describes the API served over HTTP: every error
    // status an operation answers is documented on it, with every `error.code` it comes with, and
    // nothing is documented that no request gets. A header an answer carries is declared on it.
    for operation in Operation::ALL {
        let mut answered = ErrorAnswers::new();
        for server in 0..PROBE_SERVERS {
            for probe in probes(operation) {
                let (status, code, headers) = answer(probe_app(server).await, &probe).await;
                if status >= 400 {
                    let (codes, seen) = answered.entry(status).or_default();
                    codes.insert(code);
                    seen.extend(headers);
                }
            }
        }
        let documented = documented_errors(operation);
        let id = operation.operation_id();
        let codes = |answers: &ErrorAnswers| -> BTreeMap<u16, BTreeSet<String>> {
            answers
                .iter()
                .map(|(status, (codes, _))| (*status, codes.clone()))
                .collect()
        };
        assert_eq!(
            codes(&answered),
            codes(&documented),
            "{id}: answered vs documented"
        );
        for (status, (_, headers)) in &answered {
            let declared = &documented[status].1;
            assert!(
                headers.is_subset(declared),
                "{id} {status}: sends {headers:?}, declares {declared:?}"
            );
        }
    }
}
