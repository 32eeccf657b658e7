//! [`MuteApi`]: the dispatcher that turns an [`ApiRequest`] into an [`ApiResponse`].

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::authenticator::Authenticator;
use super::credentials::{API_KEY_HEADER, CLIENT_KEY_HEADER, Credential, TOKEN_HEADER, credential};
use super::directory::Directory;
use super::envelope::{ApiError, success};
use super::error_code::ErrorCode;
use super::event_stream::{
    DEFAULT_KEEP_ALIVE_INTERVAL, EventStream, MAX_KEEP_ALIVE_INTERVAL, Registry, StreamShutdown,
};
use super::host_error::HostError;
use super::mute_body::{BodyError, invalid_expiry_message, parse_mute_body};
use super::openapi::OPENAPI_JSON;
use super::path_param::{ParamError, room_param, uid_param};
use super::reply::ApiReply;
use super::request::ApiRequest;
use super::response::ApiResponse;
use super::routes::{Operation, RouteMatch, match_route};
use super::streams_per_user::{DEFAULT_MAX_STREAMS_PER_USER, STREAM_RETRY_AFTER, StreamsPerUser};
use super::user_object::UserObject;
use super::user_profile::UserProfile;
use crate::error::{StoreError, rooms_noun};
use crate::events::{Actor, EventScope};
use crate::expiry::Expiry;
use crate::ids::{RoomId, UserId};
use crate::mute_list::MuteList;
use crate::store::MuteStore;

/// The HTTP surface of a [`MuteStore`], independent of any web framework.
///
/// A host hands it each request's method, raw path, headers and body ([`ApiRequest`]) and sends
/// back the answer: [`serve`](Self::serve) answers every request, `GET /me/events` with an
/// [`EventStream`]; [`handle`](Self::handle) answers every other request with one
/// [`ApiResponse`], for transports that cannot stream. It reaches storage only through `S` and
/// the host only through `A` ([`Authenticator`]) and `D` ([`Directory`]).
///
/// A request is checked in this order, and the first failed check answers it:
/// 1. the route: `404 NOT_FOUND` for an unknown path, `405 METHOD_NOT_ALLOWED` (with `Allow`) for
///    a known path with another method, since the route decides which checks apply;
/// 2. the header limits: `431 HEADERS_TOO_LARGE` past [`MAX_HEADER_COUNT`](crate::MAX_HEADER_COUNT)
///    headers or [`MAX_HEADER_BYTES`](crate::MAX_HEADER_BYTES) of them;
/// 3. then the rows of the contract's error table in the order listed: client key, token (or the
///    admin API key), path parameters and then a mute's body (`400 INVALID_PARAMETER`, both), the
///    admin's user, the room, a room not muted (admin unmute), the mute limit, and the body size.
///    A mute's end that is well-formed but not in the future (by the store's clock, which only
///    the store reads) is refused by the store when the mute is made, after the room's check and
///    before the mute limit's, also `400 INVALID_PARAMETER`;
/// 4. for `GET /me/events`, last, the caller's open streams: `429 TOO_MANY_STREAMS` when they
///    already have as many open as [`with_max_streams_per_user`](Self::with_max_streams_per_user)
///    allows ([`DEFAULT_MAX_STREAMS_PER_USER`] unless set).
///
/// A refused request changes nothing. Store and host failures answer `500 INTERNAL_ERROR` and are
/// logged with `tracing`; their text never reaches the client.
///
/// ```
/// use mutestore::{ApiRequest, MemoryStore, MuteApi, SeedAuthenticator, SeedData, SeedDirectory};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let seed = SeedData::demo();
/// let api = MuteApi::new(MemoryStore::new(), SeedAuthenticator::new(&seed), SeedDirectory::new(&seed));
/// let request = ApiRequest::new("POST", "/me/mute/demo-room")
///     .with_header("IM-CLIENT-KEY", b"demo-client-key")
///     .with_header("IM-Authorization", b"demo-token");
/// let response = api.handle(&request).await;
/// assert_eq!(response.status(), 200);
/// let body: serde_json::Value = serde_json::from_slice(response.body()).unwrap();
/// assert_eq!(body["result"]["mute"], serde_json::json!(["demo-room"]));
/// # }
/// ```
pub struct MuteApi<S, A, D> {
    store: S,
    authenticator: A,
    directory: D,
    streams: Arc<Registry>,
    streams_per_user: Arc<StreamsPerUser>,
    keep_alive: Duration,
}

/// What a mute endpoint is asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Change {
    /// Mute until the end given; idempotent.
    Mute(Expiry),
    /// Unmute; idempotent.
    Unmute,
    /// Unmute a room that must be muted (the admin endpoint).
    UnmuteMuted,
}

impl<S, A, D> MuteApi<S, A, D> {
    /// The API over `store`, asking `authenticator` who calls and `directory` what exists.
    ///
    /// To keep a handle on the store (for [`MuteStore::forget_room`] when a room is deleted, say),
    /// pass an `Arc<S>` and keep a clone.
    pub fn new(store: S, authenticator: A, directory: D) -> Self {
        Self {
            store,
            authenticator,
            directory,
            streams: Arc::default(),
            streams_per_user: Arc::new(StreamsPerUser::new(DEFAULT_MAX_STREAMS_PER_USER)),
            keep_alive: DEFAULT_KEEP_ALIVE_INTERVAL,
        }
    }

    /// Sets how long an event stream may stay quiet before its transport sends a keep-alive
    /// comment ([`DEFAULT_KEEP_ALIVE_INTERVAL`] unless set; at least a millisecond, at most a day,
    /// so that a transport's timer arithmetic cannot overflow).
    #[must_use]
    pub fn with_keep_alive_interval(mut self, interval: Duration) -> Self {
        self.keep_alive = interval.clamp(Duration::from_millis(1), MAX_KEEP_ALIVE_INTERVAL);
        self
    }

    /// Sets how many `GET /me/events` streams one user may have open at once
    /// ([`DEFAULT_MAX_STREAMS_PER_USER`] unless set). One more is refused with
    /// `429 TOO_MANY_STREAMS`, a message that gives the limit, `Retry-After: 2` (seconds, the
    /// delay a stream's `retry:` frame asks for; the least a client should wait, since when a
    /// place frees depends on the user's other streams), and no stream; the others are untouched.
    /// A stream stops counting when it ends or is dropped (its client left, the server stopped),
    /// so the client can open one again at once.
    ///
    /// Streams are counted per authenticated user id, whatever the connection or client key, so
    /// one user's streams never take another's places. `0` refuses every stream (the endpoint
    /// still checks credentials first); `usize::MAX` is, in effect, no limit. Set it while
    /// building the API: streams opened before it is set are not counted against the new limit.
    ///
    /// ```
    /// use mutestore::{MemoryStore, MuteApi, SeedAuthenticator, SeedData, SeedDirectory};
    ///
    /// let seed = SeedData::demo();
    /// let api = MuteApi::new(MemoryStore::new(), SeedAuthenticator::new(&seed), SeedDirectory::new(&seed))
    ///     .with_max_streams_per_user(2); // a phone and a laptop
    /// # let _ = api;
    /// ```
    #[must_use]
    pub fn with_max_streams_per_user(mut self, limit: usize) -> Self {
        self.streams_per_user = Arc::new(StreamsPerUser::new(limit));
        self
    }

    /// The handle that ends this API's event streams when the server stops (take it before the
    /// API moves into a router).
    #[must_use]
    pub fn stream_shutdown(&self) -> StreamShutdown {
        StreamShutdown::new(Arc::clone(&self.streams))
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The authenticator.
    pub fn authenticator(&self) -> &A {
        &self.authenticator
    }

    /// The directory.
    pub fn directory(&self) -> &D {
        &self.directory
    }
}

impl<S, A, D> fmt::Debug for MuteApi<S, A, D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MuteApi").finish_non_exhaustive()
    }
}

impl<S: MuteStore, A: Authenticator, D: Directory> MuteApi<S, A, D> {
    /// Answers one request: a successful `GET /me/events` with the caller's [`EventStream`],
    /// every other request with one [`ApiResponse`]. Never panics, whatever the input.
    ///
    /// An event stream is subscribed to the store before this returns, so every change made after
    /// the response's headers have gone out is on it.
    pub async fn serve(&self, request: &ApiRequest<'_>) -> ApiReply {
        match self.respond(request).await {
            Ok(reply) => reply,
            Err(error) => ApiReply::Response(error.into_response()),
        }
    }

    /// Answers one request with one response, for a transport that cannot stream. The same as
    /// [`serve`](Self::serve), except for a `GET /me/events` that passes every check: a stream
    /// cannot be one response, so that is answered `500 INTERNAL_ERROR` and logged as the host's
    /// mistake (serve that route with `serve`). Never panics, whatever the input.
    pub async fn handle(&self, request: &ApiRequest<'_>) -> ApiResponse {
        match self.serve(request).await {
            ApiReply::Response(response) => response,
            ApiReply::Events(_) => {
                tracing::error!(
                    "GET /me/events reached MuteApi::handle, which cannot stream; \
                     serve it with MuteApi::serve"
                );
                ApiError::new(ErrorCode::InternalError).into_response()
            }
        }
    }

    async fn respond(&self, request: &ApiRequest<'_>) -> Result<ApiReply, ApiError> {
        let (operation, params) = match match_route(request.method(), request.path()) {
            RouteMatch::Found(operation, params) => (operation, params),
            RouteMatch::WrongMethod(allow) => return Err(ApiError::method_not_allowed(allow)),
            RouteMatch::NotFound => return Err(ErrorCode::NotFound.into()),
        };
        if request.headers_too_large() {
            return Err(ErrorCode::HeadersTooLarge.into());
        }
        let raw_room = params.room.unwrap_or_default();
        let raw_uid = params.uid.unwrap_or_default();
        let response = match operation {
            Operation::GetOpenApi => {
                refuse_large_body(request)?;
                ApiResponse::json(200, OPENAPI_JSON.as_bytes())
            }
            Operation::GetMe => {
                let user = self.authenticate_client(request).await?;
                refuse_large_body(request)?;
                let profile = self.profile(&user).await?;
                let rooms = self.store.muted_rooms(&user).await.map_err(store_failed)?;
                user_response(&user, profile.as_ref(), &rooms)
            }
            Operation::GetEvents => {
                let user = self.authenticate_client(request).await?;
                refuse_large_body(request)?;
                let slot = self
                    .streams_per_user
                    .try_open(&user)
                    .ok_or_else(|| too_many_streams_error(self.streams_per_user.limit()))?;
                let subscription = self
                    .store
                    .subscribe(EventScope::User(user.clone()))
                    .map_err(store_failed)?;
                return Ok(ApiReply::Events(EventStream::new(
                    user,
                    subscription,
                    self.streams.register(),
                    slot,
                    self.keep_alive,
                )));
            }
            Operation::MuteRoom | Operation::UnmuteRoom => {
                let user = self.authenticate_client(request).await?;
                let room = room_param(raw_room).map_err(invalid_parameter)?;
                let change = if operation == Operation::MuteRoom {
                    Change::Mute(mute_expiry(request)?)
                } else {
                    Change::Unmute
                };
                self.require_room(&room).await?;
                self.change(request, &user, &room, change, Actor::User)
                    .await?
            }
            Operation::AdminMuteRoom | Operation::AdminUnmuteRoom => {
                self.authenticate_admin(request).await?;
                let user = uid_param(raw_uid).map_err(invalid_parameter)?;
                let room = room_param(raw_room).map_err(invalid_parameter)?;
                let change = if operation == Operation::AdminMuteRoom {
                    Change::Mute(mute_expiry(request)?)
                } else {
                    Change::UnmuteMuted
                };
                let exists = self
                    .directory
                    .user_exists(&user)
                    .await
                    .map_err(host_failed)?;
                if !exists {
                    return Err(ErrorCode::ClientNotFound.into());
                }
                self.require_room(&room).await?;
                self.change(request, &user, &room, change, Actor::Admin)
                    .await?
            }
        };
        Ok(ApiReply::Response(response))
    }

    /// The client key, then the token: the calling user.
    async fn authenticate_client(&self, request: &ApiRequest<'_>) -> Result<UserId, ApiError> {
        match credential(request, CLIENT_KEY_HEADER) {
            Credential::Missing => return Err(ErrorCode::MissingClientKey.into()),
            Credential::Unusable => return Err(ErrorCode::InvalidClientKey.into()),
            Credential::Present(key) => {
                let valid = self
                    .authenticator
                    .is_client_key(key)
                    .await
                    .map_err(host_failed)?;
                if !valid {
                    return Err(ErrorCode::InvalidClientKey.into());
                }
            }
        }
        let Credential::Present(token) = credential(request, TOKEN_HEADER) else {
            return Err(ErrorCode::InvalidToken.into());
        };
        self.authenticator
            .user_for_token(token)
            .await
            .map_err(host_failed)?
            .ok_or_else(|| ErrorCode::InvalidToken.into())
    }

    /// The admin API key.
    async fn authenticate_admin(&self, request: &ApiRequest<'_>) -> Result<(), ApiError> {
        let Credential::Present(key) = credential(request, API_KEY_HEADER) else {
            return Err(ErrorCode::InvalidApiKey.into());
        };
        let valid = self
            .authenticator
            .is_api_key(key)
            .await
            .map_err(host_failed)?;
        if valid {
            Ok(())
        } else {
            Err(ErrorCode::InvalidApiKey.into())
        }
    }

    async fn require_room(&self, room: &RoomId) -> Result<(), ApiError> {
        let exists = self
            .directory
            .room_exists(room)
            .await
            .map_err(host_failed)?;
        if exists {
            Ok(())
        } else {
            Err(ErrorCode::RoomNotFound.into())
        }
    }

    /// The user's profile, `None` if the host has none (answered as `{"_id": user}`).
    async fn profile(&self, user: &UserId) -> Result<Option<UserProfile>, ApiError> {
        self.directory.user_profile(user).await.map_err(host_failed)
    }

    /// The last checks, then the change itself, on behalf of `actor`. Everything that can refuse
    /// the request runs before the store is changed, except the checks the store makes atomically
    /// with the change (a mute's end against its clock, the mute limit) and the admin's "not
    /// muted", which an unmute that changed nothing reveals.
    async fn change(
        &self,
        request: &ApiRequest<'_>,
        user: &UserId,
        room: &RoomId,
        change: Change,
        actor: Actor,
    ) -> Result<ApiResponse, ApiError> {
        if request.body_too_large() {
            return Err(self.refuse_large_change(user, room, change).await);
        }
        let profile = self.profile(user).await?;
        let outcome = match change {
            Change::Mute(expiry) => self.store.mute_with(user, room, expiry, actor).await,
            Change::Unmute | Change::UnmuteMuted => self.store.unmute_by(user, room, actor).await,
        }
        .map_err(store_failed)?;
        if change == Change::UnmuteMuted && !outcome.changed {
            return Err(ErrorCode::RoomNotMuted.into());
        }
        Ok(user_response(user, profile.as_ref(), &outcome.rooms))
    }

    /// The answer to a change whose body is too large. The two rows listed before
    /// `PAYLOAD_TOO_LARGE` that depend on the user's set are checked first, by reading it; a
    /// failed read leaves the answer at 413, listed before 500.
    async fn refuse_large_change(&self, user: &UserId, room: &RoomId, change: Change) -> ApiError {
        let earlier = match change {
            Change::UnmuteMuted => match self.store.is_muted(user, room).await {
                Ok(false) => Some(ApiError::new(ErrorCode::RoomNotMuted)),
                Ok(true) | Err(_) => None,
            },
            Change::Mute(_) => match self.store.muted_rooms(user).await {
                Ok(rooms) if !rooms.contains(room) && rooms.len() >= self.store.mute_limit() => {
                    Some(mute_limit_error(self.store.mute_limit()))
                }
                Ok(_) | Err(_) => None,
            },
            Change::Unmute => None,
        };
        earlier.unwrap_or_else(|| ApiError::new(ErrorCode::PayloadTooLarge))
    }
}

/// How long the mute that `request`'s body asks for lasts. A body over the limit is not read: the
/// request is refused for its size later, by the contract's order.
fn mute_expiry(request: &ApiRequest<'_>) -> Result<Expiry, ApiError> {
    if request.body_too_large() {
        return Ok(Expiry::Never);
    }
    parse_mute_body(request.body()).map_err(invalid_body)
}

fn refuse_large_body(request: &ApiRequest<'_>) -> Result<(), ApiError> {
    if request.body_too_large() {
        Err(ErrorCode::PayloadTooLarge.into())
    } else {
        Ok(())
    }
}

fn user_response(user: &UserId, profile: Option<&UserProfile>, mute: &MuteList) -> ApiResponse {
    let object = UserObject {
        user,
        profile,
        mute,
    };
    success(|out| object.write_json(out)).with_header("Cache-Control", "no-store")
}

fn invalid_parameter(error: ParamError) -> ApiError {
    ApiError::with_message(ErrorCode::InvalidParameter, error.to_string())
}

fn invalid_body(error: BodyError) -> ApiError {
    ApiError::with_message(ErrorCode::InvalidParameter, error.message())
}

fn mute_limit_error(limit: usize) -> ApiError {
    ApiError::with_message(
        ErrorCode::MuteLimitExceeded,
        format!(
            "The user has already muted {limit} {}, the most allowed.",
            rooms_noun(&limit)
        ),
    )
}

/// The refusal of an event stream when the cap is 0: no count to compare the user's streams with.
pub(crate) const NO_STREAMS_MESSAGE: &str = "This server opens no event streams.";

/// The refusal of a stream past the per-user limit, with `Retry-After` when waiting can help: a
/// place frees when one of the user's streams ends. At 0 no stream ever opens, so none is sent.
fn too_many_streams_error(limit: usize) -> ApiError {
    match limit {
        0 => ApiError::with_message(ErrorCode::TooManyStreams, NO_STREAMS_MESSAGE),
        _ => ApiError::with_message(
            ErrorCode::TooManyStreams,
            format!("The user already has as many event streams open as allowed: {limit}."),
        )
        .with_header("Retry-After", STREAM_RETRY_AFTER),
    }
}

fn store_failed(error: StoreError) -> ApiError {
    match error {
        StoreError::MuteLimitExceeded(exceeded) => mute_limit_error(exceeded.limit),
        StoreError::InvalidExpiry(invalid) => {
            ApiError::with_message(ErrorCode::InvalidParameter, invalid_expiry_message(invalid))
        }
        other => {
            tracing::error!(error = %other, "the mute store failed");
            ApiError::new(ErrorCode::InternalError)
        }
    }
}

fn host_failed(error: HostError) -> ApiError {
    tracing::error!(error = %error, "a host hook failed");
    ApiError::new(ErrorCode::InternalError)
}
