//! [`ApiResponse`] to an axum response.

use std::borrow::Cow;

use axum::body::{Body, Bytes};
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
        let Ok(name) = HeaderName::from_bytes(name.as_bytes()) else {
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
