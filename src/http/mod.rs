//! The HTTP surface, independent of any web framework: requests in, JSON responses out.

pub(crate) mod api;
mod authenticator;
mod constant_time;
mod credentials;
mod directory;
mod envelope;
mod error_code;
mod event_stream;
mod host_error;
pub(crate) mod mute_body;
mod openapi;
pub(crate) mod path_param;
pub(crate) mod percent;
mod reply;
mod request;
mod response;
pub(crate) mod routes;
mod secret_table;
mod seed;
mod seed_authenticator;
mod seed_directory;
mod streams_per_user;
mod user_object;
mod user_profile;

#[cfg(feature = "axum")]
mod axum;

pub use api::MuteApi;
pub use authenticator::Authenticator;
pub use credentials::{API_KEY_HEADER, CLIENT_KEY_HEADER, TOKEN_HEADER};
pub use directory::Directory;
pub use error_code::ErrorCode;
pub use event_stream::{
    DEFAULT_KEEP_ALIVE_INTERVAL, EVENT_STREAM_CONTENT_TYPE, EventStream, KEEP_ALIVE_FRAME,
    RECONNECT_DELAY_MS, StreamShutdown,
};
pub use host_error::HostError;
pub use openapi::OPENAPI_JSON;
pub use reply::ApiReply;
pub use request::{ApiRequest, MAX_BODY_BYTES, MAX_HEADER_BYTES, MAX_HEADER_COUNT};
pub use response::{ApiResponse, JSON_CONTENT_TYPE};
pub use routes::Operation;
pub use seed::{SeedData, SeedError, SeedUser};
pub use seed_authenticator::SeedAuthenticator;
pub use seed_directory::SeedDirectory;
pub use streams_per_user::DEFAULT_MAX_STREAMS_PER_USER;
pub use user_object::Profile;
pub use user_profile::UserProfile;

#[cfg(feature = "axum")]
pub use self::axum::{CorsPolicy, InvalidOrigin, not_found_fallback};

// The HTTP section of the README (docs/HTTP.md), compiled and run as doctests so it cannot drift
// from the code.
#[doc = include_str!("../../docs/HTTP.md")]
#[cfg(doctest)]
pub struct HttpReadmeDoctests;
