//! [`Authenticator`]: how the adapter asks the host who is calling.

use std::future::Future;
use std::sync::Arc;

use super::host_error::HostError;
use crate::ids::UserId;

/// The host's answer to "who is calling?": client keys, user tokens and admin API keys.
///
/// The adapter passes the raw header values (only those that are UTF-8 and not empty). An
/// implementation must compare secrets in constant time, so that response timing does not reveal
/// how much of a guess was right; [`SeedAuthenticator`](crate::SeedAuthenticator) shows how.
pub trait Authenticator: Send + Sync {
    /// Whether `key` (the `IM-CLIENT-KEY` header) is one of the app's client keys.
    ///
    /// # Errors
    /// [`HostError`] when the host cannot tell; the request gets `500`.
    fn is_client_key(&self, key: &str) -> impl Future<Output = Result<bool, HostError>> + Send;

    /// The user `token` (the `IM-Authorization` header, no `Bearer ` prefix) belongs to, or `None`
    /// when the token is unknown or expired.
    ///
    /// # Errors
    /// [`HostError`] when the host cannot tell; the request gets `500`.
    fn user_for_token(
        &self,
        token: &str,
    ) -> impl Future<Output = Result<Option<UserId>, HostError>> + Send;

    /// Whether `key` (the `IM-API-KEY` header) is an admin API key.
    ///
    /// # Errors
    /// [`HostError`] when the host cannot tell; the request gets `500`.
    fn is_api_key(&self, key: &str) -> impl Future<Output = Result<bool, HostError>> + Send;
}

/// A shared authenticator, so that one `Arc` of the host's state can serve as both host hooks.
impl<T: Authenticator> Authenticator for Arc<T> {
    fn is_client_key(&self, key: &str) -> impl Future<Output = Result<bool, HostError>> + Send {
        (**self).is_client_key(key)
    }

    fn user_for_token(
        &self,
        token: &str,
    ) -> impl Future<Output = Result<Option<UserId>, HostError>> + Send {
        (**self).user_for_token(token)
    }

    fn is_api_key(&self, key: &str) -> impl Future<Output = Result<bool, HostError>> + Send {
        (**self).is_api_key(key)
    }
}
