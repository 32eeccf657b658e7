//! Sending a [`FuzzRequest`] through the axum router, in process.

use std::future::poll_fn;

use axum::Router;
use axum::body::Body;
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderName, HeaderValue, Method, Request, Uri};
use http_body_util::BodyExt;
use tower_service::Service;

use super::block_on::block_on;
use super::http_request::{FuzzBody, FuzzRequest};
use super::response_check::Observed;
use crate::http::EVENT_STREAM_CONTENT_TYPE;

/// The request as the `http` crate would carry it from hyper, or `None` when hyper could not have
/// delivered it (a method or header that is not a token, a target that is not a path, a body known
/// only by its length, or a `Content-Length` that need not match the body).
pub(crate) fn to_http(request: &FuzzRequest) -> Option<Request<Body>> {
    let method = Method::from_bytes(request.method.as_bytes()).ok()?;
    if !request.target.starts_with('/') {
        return None;
    }
    let uri = Uri::try_from(request.target.as_str()).ok()?;
    if uri.path() != request.api_request().path() {
        return None;
    }
    let FuzzBody::Bytes(body) = &request.body else {
        return None;
    };
    let mut builder = Request::builder().method(method).uri(uri);
    for (name, value) in &request.headers {
        if name.eq_ignore_ascii_case("content-length") {
            return None;
        }
        let name = HeaderName::from_bytes(name.as_bytes()).ok()?;
        let value = HeaderValue::from_bytes(value).ok()?;
        builder = builder.header(name, value);
    }
    builder.body(Body::from(body.clone())).ok()
}

/// Sends `request` through `router` and reads the whole response, or an event stream's first
/// frame (which is ready at once; the rest would wait for changes).
pub(crate) fn call_router(router: &mut Router, request: Request<Body>) -> Observed {
    block_on(async {
        poll_fn(|context| Service::<Request<Body>>::poll_ready(router, context))
            .await
            .unwrap_or_else(|never| match never {});
        let response = router
            .call(request)
            .await
            .unwrap_or_else(|never| match never {});
        let (parts, mut body) = response.into_parts();
        let is_stream = parts
            .headers
            .get(CONTENT_TYPE)
            .is_some_and(|value| value.as_bytes() == EVENT_STREAM_CONTENT_TYPE.as_bytes());
        let body = if is_stream {
            match body.frame().await {
                Some(Ok(frame)) => frame
                    .into_data()
                    .map(|data| data.to_vec())
                    .unwrap_or_default(),
                Some(Err(error)) => panic!("the event stream broke off: {error}"),
                None => Vec::new(),
            }
        } else {
            body.collect()
                .await
                .unwrap_or_else(|error| panic!("the response body broke off: {error}"))
                .to_bytes()
                .to_vec()
        };
        Observed {
            status: parts.status.as_u16(),
            headers: parts
                .headers
                .iter()
                .map(|(name, value)| {
                    let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
                    (name.as_str().to_owned(), value)
                })
                .collect(),
            body,
        }
    })
}
