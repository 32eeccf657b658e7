//! [`ApiResponse`] to an axum response.

use axum::body::Body;
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::Response;

use crate::http::response::ApiResponse;

/// The same status, headers and body as an axum [`Response`].
pub(crate) fn to_axum_response(response: ApiResponse) -> Response {
    let status =
        StatusCode::from_u16(response.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers: Vec<(HeaderName, HeaderValue)> = response
        .headers()
        .filter_map(|(name, value)| {
            let name = HeaderName::from_bytes(name.as_bytes()).ok()?;
            let value = HeaderValue::from_str(value).ok()?;
            Some((name, value))
        })
        .collect();
    let mut axum_response = Response::new(Body::from(response.into_body()));
    *axum_response.status_mut() = status;
    axum_response.headers_mut().extend(headers);
    axum_response
}
