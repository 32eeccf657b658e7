//! The axum integration: a ready [`Router`](::axum::Router) over [`MuteApi`](crate::MuteApi).

mod cors;
mod event_body;
mod not_found;
mod request_body;
mod request_log;
mod response;
mod router;

pub use cors::{CorsPolicy, InvalidOrigin};
pub use not_found::not_found_fallback;
