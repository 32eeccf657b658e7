//! [`Observed`]: a response as a client sees it, and the checks every response must pass.

use std::fmt::Debug;
use std::task::{Context, Poll, Waker};

use serde_json::{Map, Value};

use super::faults::INTERNAL_MARKERS;
use super::ids::{is_known_param_message, mask_numbers};
use crate::http::api::NO_STREAMS_MESSAGE;
use crate::http::mute_body::is_body_message;
use crate::http::{
    ApiReply, ApiResponse, EVENT_STREAM_CONTENT_TYPE, ErrorCode, EventStream, JSON_CONTENT_TYPE,
    OPENAPI_JSON, RECONNECT_DELAY_MS,
};

/// A response: status, headers (names lower case) and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Observed {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

/// What a response turned out to be.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Answer {
    /// A success envelope with this user object.
    User(Map<String, Value>),
    /// The OpenAPI document.
    OpenApi,
    /// An error envelope with this code.
    Error(ErrorCode),
    /// The CORS layer's empty answer to a preflight.
    Preflight,
    /// An event stream (`GET /me/events`), read up to its first frame.
    Events,
}

impl Observed {
    pub(crate) fn from_api(response: &ApiResponse) -> Self {
        Self {
            status: response.status(),
            headers: response
                .headers()
                .map(|(name, value)| (name.to_ascii_lowercase(), value.to_owned()))
                .collect(),
            body: response.body().to_vec(),
        }
    }

    /// The adapter's answer; an event stream is read up to its first frame, which is ready at once.
    pub(crate) fn from_reply(reply: ApiReply) -> Self {
        match reply {
            ApiReply::Response(response) => Self::from_api(&response),
            ApiReply::Events(mut stream) => Self {
                status: 200,
                headers: stream
                    .headers()
                    .iter()
                    .map(|(name, value)| (name.to_ascii_lowercase(), (*value).to_owned()))
                    .collect(),
                body: first_frame(&mut stream),
            },
        }
    }

    /// Every value of header `name` (lower case).
    fn header_values(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(candidate, _)| candidate == name)
            .map(|(_, value)| value.as_str())
            .collect()
    }

    /// The headers the contract speaks of, for comparing two transports.
    pub(crate) fn contract_headers(&self) -> Vec<(&str, Vec<&str>)> {
        ["content-type", "allow", "cache-control", "retry-after"]
            .into_iter()
            .map(|name| (name, self.header_values(name)))
            .collect()
    }

    /// Checks the response to `request` against the contract and says what it is.
    /// `preflight_allowed` says whether the request was a CORS preflight to a server with CORS
    /// enabled, the one case answered without a JSON body. Panics on any breach.
    pub(crate) fn check(&self, request: &dyn Debug, preflight_allowed: bool) -> Answer {
        let text = String::from_utf8_lossy(&self.body);
        for marker in INTERNAL_MARKERS {
            assert!(
                !text.contains(marker),
                "internal detail {marker:?} in {text} for {request:?}"
            );
            for (name, value) in &self.headers {
                assert!(!value.contains(marker), "internal detail in header {name}");
            }
        }
        if self.body.is_empty() && self.status == 200 && preflight_allowed {
            return Answer::Preflight;
        }
        if self.header_values("content-type") == [EVENT_STREAM_CONTENT_TYPE] {
            assert_eq!(self.status, 200, "an event stream is a 200: {request:?}");
            assert_eq!(
                self.header_values("cache-control"),
                ["no-cache"],
                "{request:?}"
            );
            assert_eq!(
                self.body,
                format!("retry: {RECONNECT_DELAY_MS}\n\n").as_bytes(),
                "an event stream starts with its retry frame: {request:?}"
            );
            return Answer::Events;
        }
        assert_eq!(
            self.header_values("content-type"),
            [JSON_CONTENT_TYPE],
            "one JSON Content-Type, status {} body {text} for {request:?}",
            self.status
        );
        let json: Value = serde_json::from_slice(&self.body).unwrap_or_else(|error| {
            panic!("the body is not JSON ({error}): {text} for {request:?}")
        });
        if self.status == 200 {
            if self.body == OPENAPI_JSON.as_bytes() {
                return Answer::OpenApi;
            }
            return Answer::User(check_success(&json, request));
        }
        let code = check_error(self.status, &json, request);
        if code == ErrorCode::MethodNotAllowed {
            let allow = self.header_values("allow");
            assert_eq!(allow.len(), 1, "one Allow header on a 405: {request:?}");
            for method in allow[0].split(", ") {
                assert!(
                    ["GET", "POST", "DELETE"].contains(&method),
                    "Allow: {allow:?} for {request:?}"
                );
            }
        }
        Answer::Error(code)
    }
}

/// `{"RC": 0, "RM": "OK", "result": {"_id": ..., "mute": [...], ...}}`; returns `result`.
fn check_success(json: &Value, request: &dyn Debug) -> Map<String, Value> {
    let envelope = json
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {json} for {request:?}"));
    assert_eq!(
        envelope.len(),
        3,
        "RC, RM and result only: {json} for {request:?}"
    );
    assert_eq!(
        envelope.get("RC"),
        Some(&Value::from(0)),
        "{json} for {request:?}"
    );
    assert_eq!(
        envelope.get("RM"),
        Some(&Value::from("OK")),
        "{json} for {request:?}"
    );
    let result = envelope
        .get("result")
        .and_then(Value::as_object)
        .unwrap_or_else(|| panic!("result is not an object: {json} for {request:?}"));
    assert!(
        result.get("_id").is_some_and(Value::is_string),
        "{json} for {request:?}"
    );
    let mute = result
        .get("mute")
        .and_then(Value::as_array)
        .unwrap_or_else(|| panic!("mute is not an array: {json} for {request:?}"));
    let mut rooms: Vec<&str> = mute
        .iter()
        .map(|room| {
            room.as_str()
                .unwrap_or_else(|| panic!("a room is not a string: {json} for {request:?}"))
        })
        .collect();
    rooms.sort_unstable();
    rooms.dedup();
    assert_eq!(
        rooms.len(),
        mute.len(),
        "a room twice: {json} for {request:?}"
    );
    result.clone()
}

/// The error envelope, with `RC` equal to the status and the contract's reason for the code.
fn check_error(status: u16, json: &Value, request: &dyn Debug) -> ErrorCode {
    let envelope = json
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {json} for {request:?}"));
    assert_eq!(
        envelope.len(),
        3,
        "RC, RM and error only: {json} for {request:?}"
    );
    assert_eq!(
        envelope.get("RC"),
        Some(&Value::from(status)),
        "RC is the status: {json} for {request:?}"
    );
    let error = envelope
        .get("error")
        .and_then(Value::as_object)
        .unwrap_or_else(|| panic!("error is not an object: {json} for {request:?}"));
    assert_eq!(
        error.len(),
        2,
        "code and message only: {json} for {request:?}"
    );
    let code_text = error
        .get("code")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let code = ErrorCode::ALL
        .into_iter()
        .find(|code| code.as_str() == code_text)
        .unwrap_or_else(|| panic!("unknown code: {json} for {request:?}"));
    assert_eq!(
        code.status(),
        status,
        "the code's status: {json} for {request:?}"
    );
    assert_eq!(
        envelope.get("RM").and_then(Value::as_str),
        Some(code.reason()),
        "the code's reason: {json} for {request:?}"
    );
    let message = error
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let known = message == code.default_message()
        || (code == ErrorCode::InvalidParameter
            && (is_known_param_message(message) || is_body_message(message)))
        || (code == ErrorCode::MuteLimitExceeded
            && matches!(
                mask_numbers(message).as_str(),
                "The user has already muted # rooms, the most allowed."
                    | "The user has already muted # room, the most allowed."
            ))
        || (code == ErrorCode::TooManyStreams
            && (message == NO_STREAMS_MESSAGE
                || mask_numbers(message)
                    == "The user already has as many event streams open as allowed: #."));
    assert!(
        known,
        "a fixed sentence, nothing of the request in it: {json} for {request:?}"
    );
    code
}

/// The first frame of `stream`, which is ready without waiting.
fn first_frame(stream: &mut EventStream) -> Vec<u8> {
    match stream.poll_frame(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(Some(frame)) => frame,
        Poll::Ready(None) => Vec::new(),
        Poll::Pending => panic!("an event stream's first frame kept waiting"),
    }
}
