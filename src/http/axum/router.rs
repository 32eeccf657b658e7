//! [`MuteApi::into_router`]: the endpoints as an axum [`Router`].

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::Method;
use axum::http::header::{ACCESS_CONTROL_REQUEST_METHOD, ORIGIN};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::Response;
use axum::routing::any;

use super::cors::CorsPolicy;
use super::event_body::event_response;
use super::request_body::read_body;
use super::request_log::RequestLog;
use super::response::to_axum_response;
use crate::http::api::MuteApi;
use crate::http::authenticator::Authenticator;
use crate::http::directory::Directory;
use crate::http::envelope::ApiError;
use crate::http::error_code::ErrorCode;
use crate::http::reply::ApiReply;
use crate::http::request::ApiRequest;
use crate::http::routes::{Operation, RouteMatch, match_route};
use crate::store::MuteStore;

impl<S, A, D> MuteApi<S, A, D>
where
    S: MuteStore + 'static,
    A: Authenticator + 'static,
    D: Directory + 'static,
{
    /// The endpoints as an axum [`Router`], to serve as it is or to merge into a host's app.
    ///
    /// Every method of every path in [`Operation::ALL`] goes to the adapter, so wrong methods get
    /// the contract's `405` and ids are validated by the contract's rules (a path with an empty id,
    /// such as `/me/mute/`, is routed too and answered `400 INVALID_PARAMETER`). Requests are traced
    /// with `tracing` at `INFO` (method, path, status, latency; never headers, which hold secrets;
    /// nothing is measured when `INFO` is off), CORS follows `cors`, and bodies over 64 KiB get the
    /// `413` envelope.
    ///
    /// `GET /me/events` is answered with the caller's [`EventStream`](crate::EventStream) as
    /// server-sent events (`Content-Type: text/event-stream`, `Cache-Control: no-cache`), with a
    /// keep-alive comment whenever the stream has been quiet for the API's keep-alive interval;
    /// this uses tokio's timer, so the runtime must have it enabled (`#[tokio::main]` does). A
    /// stream holds its connection open until it ends: take
    /// [`stream_shutdown`](MuteApi::stream_shutdown) before calling this, and shut the streams
    /// down when the server stops, or a graceful shutdown waits for them forever (a client that
    /// stopped reading can hold its connection even then: bound the shutdown with a deadline, as
    /// in `docs/HTTP.md`). A user's streams
    /// past [`with_max_streams_per_user`](MuteApi::with_max_streams_per_user) are answered
    /// `429 TOO_MANY_STREAMS`; a stream's place is given back when its body ends or is dropped (the
    /// client left, the server ended it).
    ///
    /// The router has no fallback, so that it merges into an app that has one; for JSON
    /// `404 NOT_FOUND` answers on other paths add [`not_found_fallback`](crate::not_found_fallback).
    /// The state type `T` is the host's: merge before or after the host's own `with_state`.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use mutestore::{CorsPolicy, MemoryStore, MuteApi, SeedAuthenticator, SeedData, SeedDirectory};
    ///
    /// let seed = SeedData::demo();
    /// let store = Arc::new(MemoryStore::new()); // keep a clone to call the store directly
    /// let api = MuteApi::new(Arc::clone(&store), SeedAuthenticator::new(&seed), SeedDirectory::new(&seed));
    /// let app: axum::Router = axum::Router::new()
    ///     .route("/health", axum::routing::get(|| async { "ok" }))
    ///     .merge(api.into_router(CorsPolicy::allow_origins(["https://chat.example.com"])?));
    /// # Ok::<(), mutestore::InvalidOrigin>(())
    /// ```
    pub fn into_router<T>(self, cors: CorsPolicy) -> Router<T>
    where
        T: Clone + Send + Sync + 'static,
    {
        let api = Arc::new(self);
        let mut router = Router::new();
        for path in routed_paths() {
            router = router.route(&path, any(serve::<S, A, D>));
        }
        let mut router: Router<T> = router.with_state(Arc::clone(&api));
        if let Some(cors) = cors.layer() {
            router = router
                .layer(cors)
                .layer(from_fn_with_state(api, preflights_only::<S, A, D>));
        }
        router
    }
}

/// Every path template of the route table, once, and each again with every combination of its
/// parameters left empty: axum's `{room}` never matches an empty segment, and the contract answers
/// an empty id with `400 INVALID_PARAMETER`, not `404`.
pub(crate) fn routed_paths() -> Vec<String> {
    let mut paths: Vec<String> = Vec::new();
    for operation in Operation::ALL {
        let segments: Vec<&str> = operation.path().split('/').collect();
        let params: Vec<usize> = (0..segments.len())
            .filter(|&i| segments[i].starts_with('{'))
            .collect();
        for empty in 0..(1u32 << params.len()) {
            let path = segments
                .iter()
                .enumerate()
                .map(|(i, segment)| match params.iter().position(|&p| p == i) {
                    Some(bit) if empty & (1 << bit) != 0 => "",
                    _ => segment,
                })
                .collect::<Vec<_>>()
                .join("/");
            if !paths.contains(&path) {
                paths.push(path);
            }
        }
    }
    paths
}

/// Lets only CORS preflights (`OPTIONS` with `Origin` and `Access-Control-Request-Method`) reach
/// the CORS layer, which would answer any `OPTIONS` with an empty `200`; another `OPTIONS` is an
/// ordinary request, answered by the adapter like any method it does not serve.
async fn preflights_only<S, A, D>(
    State(api): State<Arc<MuteApi<S, A, D>>>,
    request: Request,
    next: Next,
) -> Response
where
    S: MuteStore + 'static,
    A: Authenticator + 'static,
    D: Directory + 'static,
{
    let headers = request.headers();
    let preflight = request.method() == Method::OPTIONS
        && headers.contains_key(ORIGIN)
        && headers.contains_key(ACCESS_CONTROL_REQUEST_METHOD);
    if request.method() == Method::OPTIONS && !preflight {
        return serve(State(api), request).await;
    }
    next.run(request).await
}

/// Hands one request to the adapter, logging it.
async fn serve<S, A, D>(State(api): State<Arc<MuteApi<S, A, D>>>, request: Request) -> Response
where
    S: MuteStore + 'static,
    A: Authenticator + 'static,
    D: Directory + 'static,
{
    let log = RequestLog::begin(&request);
    log.around(answer(&api, request)).await
}

/// The adapter's answer to one request.
async fn answer<S, A, D>(api: &MuteApi<S, A, D>, request: Request) -> Response
where
    S: MuteStore + 'static,
    A: Authenticator + 'static,
    D: Directory + 'static,
{
    let (parts, body) = request.into_parts();
    let Ok(body) = read_body(&parts.headers, body).await else {
        // The route comes first: a path no operation serves with this method is answered 404 or
        // 405 as without a body; only a request the route table accepts is refused for its body.
        if !matches!(
            match_route(parts.method.as_str(), parts.uri.path()),
            RouteMatch::Found(..)
        ) {
            let request = ApiRequest::new(parts.method.as_str(), parts.uri.path());
            if let ApiReply::Response(response) = api.serve(&request).await {
                return to_axum_response(response);
            }
        }
        return to_axum_response(ApiError::new(ErrorCode::BadRequest).into_response());
    };
    let request = ApiRequest::new(parts.method.as_str(), parts.uri.path()).with_headers(
        parts
            .headers
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_bytes())),
    );
    let request = match body.bytes() {
        Some(bytes) => request.with_body(bytes),
        None => request.with_body_length(body.length()),
    };
    match api.serve(&request).await {
        ApiReply::Response(response) => to_axum_response(response),
        ApiReply::Events(stream) => event_response(stream),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_is_routed_with_and_without_its_ids() {
        assert_eq!(
            routed_paths(),
            [
                "/me",
                "/me/mute/{room}",
                "/me/mute/",
                "/admin/clients/{uid}/mute/{room}",
                "/admin/clients//mute/{room}",
                "/admin/clients/{uid}/mute/",
                "/admin/clients//mute/",
                "/openapi.json",
                "/me/events",
            ]
        );
    }
}
