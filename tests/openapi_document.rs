//! The OpenAPI document kept in the repository describes exactly the routes the adapter serves.

use std::collections::BTreeSet;

use mutestore::{
    ApiRequest, ErrorCode, MemoryStore, MuteApi, OPENAPI_JSON, Operation, SeedAuthenticator,
    SeedData, SeedDirectory,
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
