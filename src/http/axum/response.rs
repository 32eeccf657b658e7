//! [`ApiResponse`] to an axum response.

use std::borrow::Cow;

use axum::body::{Body, Bytes};
use axum::http::header::{ALLOW, CACHE_CONTROL, CONTENT_TYPE, RETRY_AFTER};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::Response;

use crate::http::response::ApiResponse;

/// The same status, headers and body as an axum [`Response`]. Static header values and bodies are
/// shared, never copied; the others are moved in.
pub(crate) fn to_axum_response(response: ApiResponse) -> Response {
    let (status, headers, body) = response.into_parts();
    let mut axum_response = Response::new(Body::from(body));
    *axum_response.status_mut() =
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let axum_headers = axum_response.headers_mut();
    for (name, value) in headers {
        let Some(name) = header_name(name) else {
            continue;
        };
        let value = match value {
            Cow::Borrowed(value) => {
                HeaderValue::from_maybe_shared(Bytes::from_static(value.as_bytes()))
            }
            Cow::Owned(value) => HeaderValue::from_maybe_shared(Bytes::from(value)),
        };
        if let Ok(value) = value {
            axum_headers.append(name, value);
        }
    }
    axum_response
}

/// The name as an axum header name: the ones the adapter sends known without parsing, any other
/// parsed.
pub(crate) fn header_name(name: &str) -> Option<HeaderName> {
    match name {
        "Content-Type" => Some(CONTENT_TYPE),
        "Cache-Control" => Some(CACHE_CONTROL),
        "Allow" => Some(ALLOW),
        "Retry-After" => Some(RETRY_AFTER),
        other => HeaderName::from_bytes(other.as_bytes()).ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_names_are_the_parsed_ones() {
        for name in [
            "Content-Type",
            "Cache-Control",
            "Allow",
            "Retry-After",
            "X-Other",
        ] {
            assert_eq!(
                header_name(name),
                HeaderName::from_bytes(name.as_bytes()).ok()
            );
        }
        assert_eq!(header_name("not a name"), None);
    }
}
