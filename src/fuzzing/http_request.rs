//! [`FuzzRequest`]: an HTTP request decoded from fuzz bytes, mostly from the words the endpoints
//! know, sometimes from raw bytes.

use std::fmt;

use super::http_world::FUZZ_NOW_MS;
use super::input::Input;
use crate::expiry::MAX_DEADLINE_MS;
use crate::http::{ApiRequest, MAX_BODY_BYTES};

/// The method, the request target, the headers and the body of one request.
#[derive(Clone)]
pub(crate) struct FuzzRequest {
    pub(crate) method: String,
    /// The path, still percent-encoded, with any query string.
    pub(crate) target: String,
    pub(crate) headers: Vec<(String, Vec<u8>)>,
    pub(crate) body: FuzzBody,
}

/// A body sent in full, or only its length, as a streaming transport reports it.
#[derive(Clone)]
pub(crate) enum FuzzBody {
    Bytes(Vec<u8>),
    Length(u64),
}

/// Shows long header values and bodies by their length, so that a failure stays readable.
impl fmt::Debug for FuzzRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const SHOWN: usize = 80;
        let headers: Vec<(String, String)> = self
            .headers
            .iter()
            .map(|(name, value)| {
                let shown = String::from_utf8_lossy(&value[..value.len().min(SHOWN)]);
                let value = if value.len() > SHOWN {
                    format!("{shown:?}... ({} bytes)", value.len())
                } else {
                    format!("{shown:?}")
                };
                (format!("{name:?}"), value)
            })
            .collect();
        let body = match &self.body {
            FuzzBody::Bytes(bytes) => format!("{} bytes", bytes.len()),
            FuzzBody::Length(length) => format!("length {length}"),
        };
        f.debug_struct("FuzzRequest")
            .field("method", &self.method)
            .field("target", &self.target)
            .field("headers", &headers)
            .field("body", &body)
            .finish()
    }
}

const METHODS: [&str; 8] = [
    "GET", "POST", "DELETE", "PUT", "HEAD", "OPTIONS", "get", "PATCH",
];

const SEGMENTS: [&str; 20] = [
    "me",
    "mute",
    "admin",
    "clients",
    "openapi.json",
    "",
    "demo-user",
    "demo-user-2",
    "a%2Fslash%20user",
    "%E3%83%A6%E3%83%BC%E3%82%B6%E3%83%BC",
    "demo-room",
    "room-1",
    "room-2",
    "a%2Fb%20room",
    "%E3%83%AB%E3%83%BC%E3%83%A0",
    "%00",
    "%2F",
    "%",
    "ME",
    "events",
];

const HEADER_NAMES: [&str; 12] = [
    "IM-CLIENT-KEY",
    "IM-Authorization",
    "IM-API-KEY",
    "im-client-key",
    "im-authorization",
    "im-api-key",
    "Origin",
    "Access-Control-Request-Method",
    "Content-Type",
    "Content-Length",
    "Host",
    "X-Other",
];

const HEADER_VALUES: [&str; 12] = [
    "demo-client-key",
    "second-client-key",
    "demo-token",
    "demo-token-2",
    "slash-token",
    "token-3",
    "demo-api-key",
    " demo-token\t",
    "Bearer demo-token",
    "",
    "https://chat.example.com",
    "DELETE",
];

impl FuzzRequest {
    /// Decodes one request.
    pub(crate) fn decode(input: &mut Input<'_>) -> Self {
        let method = match input.below(METHODS.len() + 1) {
            index if index < METHODS.len() => METHODS[index].to_owned(),
            _ => input.text(10).into_owned(),
        };
        let target = decode_target(input);
        // Now and then past the adapter's limit on the number of headers.
        let header_count = match input.below(10) {
            9 => 60 + input.below(10),
            few => few,
        };
        let headers = (0..header_count)
            .map(|_| {
                let name = match input.below(HEADER_NAMES.len() + 1) {
                    index if index < HEADER_NAMES.len() => HEADER_NAMES[index].to_owned(),
                    _ => input.text(20).into_owned(),
                };
                let value = match input.below(HEADER_VALUES.len() + 2) {
                    index if index < HEADER_VALUES.len() => {
                        HEADER_VALUES[index].as_bytes().to_vec()
                    }
                    index if index == HEADER_VALUES.len() => input.bytes(64).to_vec(),
                    _ => vec![b'k'; input.below(20_000)],
                };
                (name, value)
            })
            .collect();
        let body = match input.below(6) {
            0 | 1 => FuzzBody::Bytes(Vec::new()),
            2 => FuzzBody::Bytes(match input.below(4) {
                0 => input.bytes(64).to_vec(),
                _ => decode_mute_body(input).into_bytes(),
            }),
            3 => FuzzBody::Bytes(vec![b'{'; 64 * 1024]),
            4 => FuzzBody::Bytes(vec![b'{'; 64 * 1024 + 1]),
            _ => FuzzBody::Length(input.u64()),
        };
        Self {
            method,
            target,
            headers,
            body,
        }
    }

    /// The request as the adapter takes it.
    pub(crate) fn api_request(&self) -> ApiRequest<'_> {
        let request = ApiRequest::new(&self.method, &self.target).with_headers(
            self.headers
                .iter()
                .map(|(name, value)| (name.as_str(), value.as_slice())),
        );
        match &self.body {
            FuzzBody::Bytes(bytes) => request.with_body(bytes),
            FuzzBody::Length(length) => request.with_body_length(*length),
        }
    }

    /// The body's bytes as the adapter reads them (none when only the length is known).
    pub(crate) fn body_bytes(&self) -> &[u8] {
        match &self.body {
            FuzzBody::Bytes(bytes) => bytes,
            FuzzBody::Length(_) => &[],
        }
    }

    /// Whether the body is over the limit.
    pub(crate) fn body_too_large(&self) -> bool {
        self.api_request().body_length() > MAX_BODY_BYTES
    }
}

/// A mute body: a JSON object with one or two members from the keys and values the endpoint knows
/// (ends in the past, now, the future, at and past the latest allowed; durations valid and not;
/// values of the wrong type), or whitespace.
fn decode_mute_body(input: &mut Input<'_>) -> String {
    const KEYS: [&str; 4] = ["durationMS", "untilMS", "durationms", "x"];
    fn member(input: &mut Input<'_>) -> String {
        let key = KEYS[input.below(KEYS.len())];
        let number = match input.below(16) {
            0 => FUZZ_NOW_MS - 1,
            1 => FUZZ_NOW_MS,
            2 => FUZZ_NOW_MS + 1,
            3 => FUZZ_NOW_MS + 60_000,
            4 => 0,
            5 => 1,
            6 => 60_000,
            7 => MAX_DEADLINE_MS - FUZZ_NOW_MS,
            8 => MAX_DEADLINE_MS,
            9 => MAX_DEADLINE_MS + 1,
            10 => u64::MAX,
            11 => return format!("\"{key}\":-1"),
            12 => return format!("\"{key}\":1.5"),
            13 => return format!("\"{key}\":1e3"),
            14 => return format!("\"{key}\":\"60000\""),
            _ => return format!("\"{key}\":{}", input.text(12)),
        };
        format!("\"{key}\":{number}")
    }
    let first = member(input);
    match input.below(6) {
        0 => " \r\n\t".to_owned(),
        1 => {
            let second = member(input);
            format!("{{{first},{second}}}")
        }
        2 => "{}".to_owned(),
        _ => format!("{{{first}}}"),
    }
}

/// A path of known and raw segments, sometimes long ones, sometimes with a query.
fn decode_target(input: &mut Input<'_>) -> String {
    let segment_count = input.below(7);
    let mut target = String::new();
    if input.below(16) != 0 {
        target.push('/');
    }
    for index in 0..segment_count {
        if index > 0 {
            target.push('/');
        }
        match input.below(SEGMENTS.len() + 3) {
            choice if choice < SEGMENTS.len() => target.push_str(SEGMENTS[choice]),
            choice if choice == SEGMENTS.len() => target.push_str(&input.text(40)),
            choice if choice == SEGMENTS.len() + 1 => {
                // Around the id length limit, in bytes once decoded.
                let length = 250 + input.below(10);
                target.push_str(&"x".repeat(length));
            }
            _ => {
                // Escaped three-byte characters: 85 of them is 255 bytes, 86 is 258.
                let count = 84 + input.below(4);
                target.push_str(&"%E3%83%AB".repeat(count));
            }
        }
    }
    if input.below(8) == 0 {
        target.push('?');
        target.push_str(&input.text(20));
    }
    target
}
