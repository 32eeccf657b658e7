//! The axum integration: a ready [`Router`](::axum::Router) over [`MuteApi`](crate::MuteApi).

mod body_length;
mod cors;
mod not_found;
mod request_log;
mod response;
mod router;

pub use cors::{CorsPolicy, InvalidOrigin};
pub use not_found::not_found_fallback;
