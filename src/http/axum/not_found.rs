//! The JSON `404 NOT_FOUND` for paths no route has.

use axum::response::Response;

use super::response::to_axum_response;
use crate::http::envelope::ApiError;
use crate::http::error_code::ErrorCode;

/// A fallback handler answering `404 NOT_FOUND` in the error envelope, for a host whose app has no
/// fallback of its own (axum refuses to merge two routers that both have one, so
/// [`MuteApi::into_router`](crate::MuteApi::into_router) sets none):
///
/// ```
/// # use mutestore::{CorsPolicy, MemoryStore, MuteApi, SeedAuthenticator, SeedData, SeedDirectory};
/// # let seed = SeedData::demo();
/// # let api = MuteApi::new(MemoryStore::new(), SeedAuthenticator::new(&seed), SeedDirectory::new(&seed));
/// let app: axum::Router = api
///     .into_router(CorsPolicy::disabled())
///     .fallback(mutestore::not_found_fallback);
/// ```
pub async fn not_found_fallback() -> Response {
    to_axum_response(ApiError::new(ErrorCode::NotFound).into_response())
}
