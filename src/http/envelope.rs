//! The JSON envelopes every response is wrapped in, and [`ApiError`], a refusal on its way to one.

use std::borrow::Cow;

use serde::Serialize;

use super::error_code::ErrorCode;
use super::response::ApiResponse;

/// A success envelope, `{"RC": 0, "RM": "OK", "result": ...}`, up to its result, as serde_json
/// writes it; a `}` after the result closes it.
const SUCCESS_BEFORE_RESULT: &[u8] = br#"{"RC":0,"RM":"OK","result":"#;

/// The room a success body gets before it grows: enough for a profile of a dozen short fields and
/// a few dozen muted rooms, so that most bodies are written without moving.
const SUCCESS_CAPACITY: usize = 512;

/// `{"RC": <status>, "RM": "<reason>", "error": {"code": ..., "message": ...}}`
#[derive(Serialize)]
struct ErrorEnvelope<'a> {
    #[serde(rename = "RC")]
    rc: u16,
    #[serde(rename = "RM")]
    rm: &'a str,
    error: ErrorBody<'a>,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    code: &'a str,
    message: &'a str,
}

/// Sent if serialising a response ever failed (it cannot for the types used here; this keeps the
/// adapter free of panics all the same).
const SERIALIZATION_FAILED: &[u8] = br#"{"RC":500,"RM":"Internal server error","error":{"code":"INTERNAL_ERROR","message":"The server could not complete the request. Try again later."}}"#;

/// A `200` success envelope around the result `write_result` writes as JSON, all in one buffer.
pub(crate) fn success(
    write_result: impl FnOnce(&mut Vec<u8>) -> serde_json::Result<()>,
) -> ApiResponse {
    let mut body = Vec::with_capacity(SUCCESS_CAPACITY);
    body.extend_from_slice(SUCCESS_BEFORE_RESULT);
    match write_result(&mut body) {
        Ok(()) => {
            body.push(b'}');
            ApiResponse::json(200, body)
        }
        Err(error) => {
            tracing::error!(%error, "serialising a success envelope failed");
            ApiResponse::json(500, SERIALIZATION_FAILED)
        }
    }
}

/// A refused request: the code, a message for people, and a header some refusals carry (`Allow`
/// on a 405, `Retry-After` on a 429 that a later request may pass).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApiError {
    code: ErrorCode,
    message: Cow<'static, str>,
    header: Option<(&'static str, Cow<'static, str>)>,
}

impl ApiError {
    /// The code with its default message.
    pub(crate) fn new(code: ErrorCode) -> Self {
        Self {
            code,
            message: Cow::Borrowed(code.default_message()),
            header: None,
        }
    }

    /// The code with a more specific message. The message is shown to clients: it must never hold
    /// internal details.
    pub(crate) fn with_message(code: ErrorCode, message: impl Into<Cow<'static, str>>) -> Self {
        Self {
            code,
            message: message.into(),
            header: None,
        }
    }

    /// A `405` listing the methods the path accepts.
    pub(crate) fn method_not_allowed(allow: String) -> Self {
        Self::new(ErrorCode::MethodNotAllowed).with_header("Allow", allow)
    }

    /// The same refusal, with the header `name` set to `value` in its response.
    pub(crate) fn with_header(
        mut self,
        name: &'static str,
        value: impl Into<Cow<'static, str>>,
    ) -> Self {
        self.header = Some((name, value.into()));
        self
    }

    /// The error envelope, with its header if it has one.
    pub(crate) fn into_response(self) -> ApiResponse {
        let envelope = ErrorEnvelope {
            rc: self.code.status(),
            rm: self.code.reason(),
            error: ErrorBody {
                code: self.code.as_str(),
                message: &self.message,
            },
        };
        let response = match serde_json::to_vec(&envelope) {
            Ok(body) => ApiResponse::json(self.code.status(), body),
            Err(error) => {
                tracing::error!(%error, "serialising an error envelope failed");
                return ApiResponse::json(500, SERIALIZATION_FAILED);
            }
        };
        match self.header {
            Some((name, value)) => response.with_header(name, value),
            None => response,
        }
    }
}

impl From<ErrorCode> for ApiError {
    fn from(code: ErrorCode) -> Self {
        Self::new(code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn body_json(response: &ApiResponse) -> Value {
        serde_json::from_slice(response.body()).unwrap()
    }

    #[test]
    fn success_wraps_the_result() {
        let response = success(|out| serde_json::to_writer(out, &json!({"_id": "u", "mute": []})));
        assert_eq!(response.status(), 200);
        assert_eq!(
            body_json(&response),
            json!({"RC": 0, "RM": "OK", "result": {"_id": "u", "mute": []}})
        );
        assert_eq!(
            response.body(),
            br#"{"RC":0,"RM":"OK","result":{"_id":"u","mute":[]}}"#
        );
    }

    #[test]
    fn the_success_prefix_is_what_serde_json_writes() {
        #[derive(Serialize)]
        struct Envelope {
            #[serde(rename = "RC")]
            rc: u16,
            #[serde(rename = "RM")]
            rm: &'static str,
            result: u8,
        }
        let whole = serde_json::to_vec(&Envelope {
            rc: 0,
            rm: "OK",
            result: 7,
        })
        .unwrap();
        assert_eq!(whole, [SUCCESS_BEFORE_RESULT, b"7}"].concat());
        assert_eq!(success(|out| serde_json::to_writer(out, &7)).body(), whole);
    }

    #[test]
    fn every_error_envelope_repeats_its_status_as_rc() {
        for code in ErrorCode::ALL {
            let response = ApiError::new(code).into_response();
            assert_eq!(response.status(), code.status());
            assert_eq!(
                body_json(&response),
                json!({
                    "RC": code.status(),
                    "RM": code.reason(),
                    "error": {"code": code.as_str(), "message": code.default_message()}
                })
            );
            assert_eq!(
                response.header("content-type"),
                Some("application/json; charset=utf-8")
            );
        }
        let response = ApiError::method_not_allowed("POST, DELETE".into()).into_response();
        assert_eq!(response.header("Allow"), Some("POST, DELETE"));
        let response = ApiError::new(ErrorCode::TooManyStreams)
            .with_header("Retry-After", "2")
            .into_response();
        assert_eq!(response.header("Retry-After"), Some("2"));
        assert_eq!(response.header("Allow"), None);
    }

    #[test]
    fn the_fallback_body_is_a_valid_envelope() {
        let fallback: Value = serde_json::from_slice(SERIALIZATION_FAILED).unwrap();
        assert_eq!(fallback["RC"], 500);
        assert_eq!(fallback["error"]["code"], "INTERNAL_ERROR");
    }
}
