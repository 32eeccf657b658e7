//! [`SeedAuthenticator`]: an [`Authenticator`] over a seed's keys and tokens.

use std::future::{Future, ready};

use super::authenticator::Authenticator;
use super::host_error::HostError;
use super::secret_table::SecretTable;
use super::seed::SeedData;
use crate::ids::UserId;

/// An in-memory [`Authenticator`] over a [`SeedData`]'s client keys, API keys and user tokens.
/// Every comparison of a secret runs in constant time. Tokens never expire.
#[derive(Debug)]
pub struct SeedAuthenticator {
    client_keys: SecretTable<()>,
    api_keys: SecretTable<()>,
    tokens: SecretTable<UserId>,
}

impl SeedAuthenticator {
    /// The keys and tokens of `seed`.
    #[must_use]
    pub fn new(seed: &SeedData) -> Self {
        Self {
            client_keys: SecretTable::new(seed.client_keys().iter().map(|key| (key, ()))),
            api_keys: SecretTable::new(seed.api_keys().iter().map(|key| (key, ()))),
            tokens: SecretTable::new(
                seed.users()
                    .iter()
                    .map(|user| (user.token(), user.id().clone())),
            ),
        }
    }
}

impl Authenticator for SeedAuthenticator {
    fn is_client_key(&self, key: &str) -> impl Future<Output = Result<bool, HostError>> + Send {
        ready(Ok(self.client_keys.contains(key.as_bytes())))
    }

    fn user_for_token(
        &self,
        token: &str,
    ) -> impl Future<Output = Result<Option<UserId>, HostError>> + Send {
        ready(Ok(self.tokens.get(token.as_bytes()).cloned()))
    }

    fn is_api_key(&self, key: &str) -> impl Future<Output = Result<bool, HostError>> + Send {
        ready(Ok(self.api_keys.contains(key.as_bytes())))
    }
}
