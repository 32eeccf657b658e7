//! The `http` check: requests decoded from fuzz bytes, answered by the adapter directly and by the
//! axum router over a twin store; both answers must obey the contract, agree with each other, and
//! change exactly what a success says and nothing otherwise.

use serde_json::{Map, Value};

use super::block_on::block_on;
use super::http_request::FuzzRequest;
use super::http_world::{API_KEYS, CLIENT_KEYS, FUZZ_NOW_MS, Snapshot, TOKENS, World, fuzz_seed};
use super::input::Input;
use super::response_check::{Answer, Observed};
use super::router_call::{call_router, to_http};
use crate::expiry::MAX_DEADLINE_MS;
use crate::http::path_param::{room_param, uid_param};
use crate::http::routes::{Operation, RouteMatch, match_route};
use crate::http::{CorsPolicy, SeedData, not_found_fallback};
use crate::memory::DEFAULT_MUTE_LIMIT;

/// The most requests one input sends.
const MAX_REQUESTS: usize = 16;

/// The origin the router lets through CORS.
const ALLOWED_ORIGIN: &str = "https://chat.example.com";

/// Sends the requests `data` decodes to through both transports and panics at the first breach
/// of the contract or disagreement between them.
pub fn check_http(data: &[u8]) {
    let mut input = Input::new(data);
    let fault_mask = if input.below(4) == 0 { input.u64() } else { 0 };
    let mute_limit = input
        .pick(&[0, 1, 2, 3, DEFAULT_MUTE_LIMIT])
        .unwrap_or(DEFAULT_MUTE_LIMIT);
    let seed = fuzz_seed();
    let direct = World::new(&seed, mute_limit, fault_mask);
    let routed = World::new(&seed, mute_limit, fault_mask);
    let direct_api = direct.api();
    let mirror_api = routed.api();
    let cors = CorsPolicy::allow_origins([ALLOWED_ORIGIN])
        .unwrap_or_else(|error| panic!("the fuzz origin: {error}"));
    let mut router = routed
        .api()
        .into_router::<()>(cors)
        .fallback(not_found_fallback);

    for _ in 0..MAX_REQUESTS {
        if input.is_empty() {
            break;
        }
        let request = FuzzRequest::decode(&mut input);
        let before = direct.snapshot();
        let direct_answer =
            Observed::from_reply(block_on(direct_api.serve(&request.api_request())));
        let mut routed_answer = match to_http(&request) {
            Some(http_request) => call_router(&mut router, http_request),
            None => Observed::from_reply(block_on(mirror_api.serve(&request.api_request()))),
        };
        let answer = direct_answer.check(&request, false);
        if request.method == "HEAD" && routed_answer.body.is_empty() {
            // HTTP gives no body to a HEAD response: the router drops the one the adapter made.
            routed_answer.body.clone_from(&direct_answer.body);
        }
        let routed_kind = routed_answer.check(&request, is_preflight(&request));
        if routed_kind != Answer::Preflight {
            assert_eq!(
                (direct_answer.status, &direct_answer.body),
                (routed_answer.status, &routed_answer.body),
                "the adapter and the router disagree on {request:?}"
            );
            assert_eq!(
                direct_answer.contract_headers(),
                routed_answer.contract_headers(),
                "headers differ on {request:?}"
            );
        }
        let after = direct.snapshot();
        check_effect(&seed, &request, &answer, &before, &after);
        assert_eq!(
            after,
            routed.snapshot(),
            "the twin stores differ after {request:?}"
        );
    }
}

/// A CORS preflight: `OPTIONS` with `Origin` and `Access-Control-Request-Method`.
fn is_preflight(request: &FuzzRequest) -> bool {
    let has = |name: &str| {
        request
            .headers
            .iter()
            .any(|(candidate, _)| candidate.eq_ignore_ascii_case(name))
    };
    request.method == "OPTIONS" && has("origin") && has("access-control-request-method")
}

/// The value of credential header `name` by the documented rule: sent once, UTF-8, spaces and
/// tabs around it removed, not empty.
fn credential(request: &FuzzRequest, name: &str) -> Option<String> {
    let mut values = request
        .headers
        .iter()
        .filter(|(candidate, _)| candidate.eq_ignore_ascii_case(name))
        .map(|(_, value)| value);
    let value = values.next()?;
    if values.next().is_some() {
        return None;
    }
    let text = std::str::from_utf8(value).ok()?.trim_matches([' ', '\t']);
    (!text.is_empty()).then(|| text.to_owned())
}

/// The seed user the request's credentials name, if they are valid client credentials.
fn client_caller(request: &FuzzRequest) -> Option<&'static str> {
    let key = credential(request, "IM-CLIENT-KEY")?;
    if !CLIENT_KEYS.contains(&key.as_str()) {
        return None;
    }
    let token = credential(request, "IM-Authorization")?;
    TOKENS
        .iter()
        .find(|(candidate, _)| *candidate == token)
        .map(|&(_, user)| user)
}

fn has_api_key(request: &FuzzRequest) -> bool {
    credential(request, "IM-API-KEY").is_some_and(|key| API_KEYS.contains(&key.as_str()))
}

/// What the request did to the store is exactly what its answer says: nothing unless it succeeded,
/// and a success changed only the user it names, as its operation says, with valid credentials.
fn check_effect(
    seed: &SeedData,
    request: &FuzzRequest,
    answer: &Answer,
    before: &Snapshot,
    after: &Snapshot,
) {
    if *answer == Answer::Events {
        let path = request.api_request().path();
        assert_eq!(
            match_route(&request.method, path),
            RouteMatch::Found(Operation::GetEvents, Default::default()),
            "an event stream elsewhere: {request:?}"
        );
        assert!(
            client_caller(request).is_some(),
            "an event stream without credentials: {request:?}"
        );
        assert!(!request.body_too_large(), "a body over 64 KiB succeeded");
    }
    let Answer::User(result) = answer else {
        assert_eq!(before, after, "{answer:?} changed the store: {request:?}");
        return;
    };
    assert!(!request.body_too_large(), "a body over 64 KiB succeeded");
    let path = request.api_request().path();
    let RouteMatch::Found(operation, params) = match_route(&request.method, path) else {
        panic!("a success on no route: {request:?}");
    };
    let room = params.room.map(|raw| {
        room_param(raw).unwrap_or_else(|error| panic!("a success with a bad room: {error}"))
    });
    let user = match operation {
        Operation::GetMe | Operation::MuteRoom | Operation::UnmuteRoom => {
            let caller = client_caller(request);
            caller.unwrap_or_else(|| panic!("a /me success without credentials: {request:?}"))
        }
        Operation::AdminMuteRoom | Operation::AdminUnmuteRoom => {
            assert!(has_api_key(request), "an admin success without the key");
            let raw = params.uid.unwrap_or_default();
            let uid = uid_param(raw).unwrap_or_else(|error| panic!("a bad uid: {error}"));
            let known = seed.users().iter().find(|seed_user| *seed_user.id() == uid);
            known
                .map(|seed_user| seed_user.id().as_str())
                .unwrap_or_else(|| panic!("an admin success for an unknown user {uid:?}"))
        }
        _ => panic!("a user object from {operation:?}"),
    };
    let mut expected = before.clone();
    if let Some(room) = &room {
        assert!(seed.rooms().contains(room), "a success on an unknown room");
        let rooms = expected.entry(user.to_owned()).or_default();
        let present = rooms.iter().position(|(r, _)| r == room.as_str());
        match operation {
            Operation::MuteRoom | Operation::AdminMuteRoom => {
                let until = expected_deadline(request.body_bytes()).unwrap_or_else(|| {
                    panic!("a mute succeeded with a body the contract refuses: {request:?}")
                });
                match present {
                    Some(index) => rooms[index].1 = until,
                    None => rooms.push((room.to_string(), until)),
                }
            }
            Operation::AdminUnmuteRoom => {
                assert!(
                    present.is_some(),
                    "an admin unmute of a room not muted succeeded"
                );
                rooms.retain(|(r, _)| r != room.as_str());
            }
            _ => rooms.retain(|(r, _)| r != room.as_str()),
        }
        if rooms.is_empty() {
            expected.remove(user);
        }
    }
    assert_eq!(after, &expected, "{request:?} changed the wrong thing");
    check_user_object(seed, user, result, after);
}

/// The deadline a mute with `body` must get, by the contract's rules read independently of the
/// adapter's parser (on the stores' fixed clock): `None` for no deadline, and no answer at all for
/// a body the contract refuses. Repeated keys are not seen here (a map keeps one); a success with
/// one is not checked for that.
fn expected_deadline(body: &[u8]) -> Option<Option<u64>> {
    if body.iter().all(|b| b" \t\r\n".contains(b)) {
        return Some(None);
    }
    let Ok(Value::Object(members)) = serde_json::from_slice::<Value>(body) else {
        return None;
    };
    if members.len() != 1 {
        return None;
    }
    let (key, value) = members.iter().next()?;
    let millis = value.as_u64().filter(|&millis| millis <= MAX_DEADLINE_MS)?;
    let until = match key.as_str() {
        "durationMS" if millis >= 1 => FUZZ_NOW_MS.checked_add(millis)?,
        "untilMS" => millis,
        _ => return None,
    };
    (until > FUZZ_NOW_MS && until <= MAX_DEADLINE_MS).then_some(Some(until))
}

/// `result` is the seed's profile of `user`, with `_id`, with `mute` as the store holds it now, and
/// with `muteUntil` exactly when some mute is timed.
fn check_user_object(seed: &SeedData, user: &str, result: &Map<String, Value>, after: &Snapshot) {
    let held = after.get(user).map(Vec::as_slice).unwrap_or_default();
    let rooms: Vec<Value> = held
        .iter()
        .map(|(room, _)| Value::from(room.as_str()))
        .collect();
    let deadlines: Map<String, Value> = held
        .iter()
        .filter_map(|(room, until)| Some((room.clone(), Value::from((*until)?))))
        .collect();
    assert_eq!(result.get("_id"), Some(&Value::from(user)));
    assert_eq!(result.get("mute"), Some(&Value::Array(rooms)));
    assert_eq!(
        result.get("muteUntil"),
        (!deadlines.is_empty()).then_some(&Value::Object(deadlines.clone())),
        "muteUntil is the timed mutes, present only when there are some"
    );
    if let Some(Value::Object(written)) = result.get("muteUntil") {
        let order: Vec<&String> = written.keys().collect();
        let expected: Vec<&String> = held
            .iter()
            .filter(|(_, until)| until.is_some())
            .map(|(room, _)| room)
            .collect();
        if cfg!(feature = "preserve_order") {
            assert_eq!(order, expected, "muteUntil in mute order");
        }
    }
    let profile = seed
        .users()
        .iter()
        .find(|seed_user| seed_user.id().as_str() == user)
        .map(|seed_user| seed_user.profile().clone())
        .unwrap_or_default();
    let engine_owned = |key: &str| key == "mute" || key == "muteUntil";
    let passed: Map<String, Value> = result
        .iter()
        .filter(|(key, _)| !engine_owned(key))
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect();
    let mut expected: Map<String, Value> = profile
        .into_iter()
        .filter(|(key, _)| !engine_owned(key))
        .collect();
    expected.insert("_id".to_owned(), Value::from(user));
    assert_eq!(passed, expected, "the profile passes through untouched");
}
