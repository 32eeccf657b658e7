//! [`SeedData`]: the keys, rooms and users an in-memory host starts with, and its JSON form.

use std::collections::HashSet;

use serde::Deserialize;
use serde_json::{Value, json};

use super::user_object::Profile;
use crate::ids::{IdError, RoomId, UserId};

/// The seed's JSON form, before validation.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SeedFile {
    client_keys: Vec<String>,
    api_keys: Vec<String>,
    rooms: Vec<String>,
    users: Vec<SeedFileUser>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SeedFileUser {
    token: String,
    profile: Profile,
}

/// Why a seed is not valid. The messages name the offending field by its JSON path.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SeedError {
    /// Not JSON, or not of the seed's shape (a missing or unknown field, a wrong type).
    #[error("{0}")]
    Json(#[from] serde_json::Error),
    /// A key or token is the empty string.
    #[error("`{field}` is empty")]
    EmptySecret {
        /// The JSON path of the field, e.g. `clientKeys[0]`.
        field: String,
    },
    /// A key or token that no request could carry: it begins or ends with a space or a tab, which
    /// HTTP strips from header values, or it holds a control character, which header values
    /// cannot hold. Every request with it would be refused.
    #[error(
        "`{field}` could never be sent in a header: it begins or ends with a space or a tab, or \
         holds a control character"
    )]
    UnsendableSecret {
        /// The JSON path of the field, e.g. `users[0].token`.
        field: String,
    },
    /// A room id is not valid.
    #[error("`rooms[{index}]` is not a valid room id: {source}")]
    InvalidRoom {
        /// Its position in `rooms`.
        index: usize,
        /// What is wrong with it.
        source: IdError,
    },
    /// A profile has no `_id`, or its `_id` is not a string.
    #[error("`users[{index}].profile._id` is missing or not a string")]
    MissingUserId {
        /// The user's position in `users`.
        index: usize,
    },
    /// A profile's `_id` is not a valid user id.
    #[error("`users[{index}].profile._id` is not a valid user id: {source}")]
    InvalidUserId {
        /// The user's position in `users`.
        index: usize,
        /// What is wrong with it.
        source: IdError,
    },
    /// Two users have the same `_id`.
    #[error("`users[{index}].profile._id` repeats the id of an earlier user")]
    DuplicateUser {
        /// The position in `users` of the second one.
        index: usize,
    },
    /// Two users have the same token.
    #[error("`users[{index}].token` repeats the token of an earlier user")]
    DuplicateToken {
        /// The position in `users` of the second one.
        index: usize,
    },
}

/// One user of a seed: a token and a profile whose `_id` is the user's id.
#[derive(Debug, Clone, PartialEq)]
pub struct SeedUser {
    id: UserId,
    token: String,
    profile: Profile,
}

impl SeedUser {
    /// The user's id (the profile's `_id`).
    #[must_use]
    pub fn id(&self) -> &UserId {
        &self.id
    }

    /// The user's token.
    #[must_use]
    pub fn token(&self) -> &str {
        &self.token
    }

    /// The user's profile.
    #[must_use]
    pub fn profile(&self) -> &Profile {
        &self.profile
    }
}

/// The client keys, admin API keys, rooms and users an in-memory host starts with.
///
/// Its JSON form:
///
/// ```
/// let seed = mutestore::SeedData::from_json(r#"{
///   "clientKeys": ["demo-client-key"],
///   "apiKeys": ["demo-api-key"],
///   "rooms": ["demo-room", "room-1"],
///   "users": [
///     {"token": "demo-token", "profile": {"_id": "demo-user", "nickname": "Demo User"}}
///   ]
/// }"#)?;
/// assert_eq!(seed.users()[0].id(), "demo-user");
/// # Ok::<(), mutestore::SeedError>(())
/// ```
///
/// The default is the demo seed ([`SeedData::demo`]).
#[derive(Debug, Clone, PartialEq)]
pub struct SeedData {
    client_keys: Vec<String>,
    api_keys: Vec<String>,
    rooms: Vec<RoomId>,
    users: Vec<SeedUser>,
}

impl SeedData {
    /// Parses and validates a seed in its JSON form. Every field is required and no other field is
    /// allowed; keys and tokens must not be empty nor be what no header could carry (spaces or
    /// tabs around them, control characters in them), room ids and each profile's `_id` must be valid
    /// ids, and neither user ids nor tokens may repeat.
    ///
    /// # Errors
    /// [`SeedError`], naming the field at fault (or the line and column, for JSON errors).
    pub fn from_json(text: &str) -> Result<Self, SeedError> {
        let file: SeedFile = serde_json::from_str(text)?;
        Self::from_file(file)
    }

    fn from_file(file: SeedFile) -> Result<Self, SeedError> {
        check_secrets("clientKeys", &file.client_keys)?;
        check_secrets("apiKeys", &file.api_keys)?;
        let rooms = file
            .rooms
            .iter()
            .enumerate()
            .map(|(index, room)| {
                RoomId::new(room).map_err(|source| SeedError::InvalidRoom { index, source })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut ids = HashSet::new();
        let mut tokens = HashSet::new();
        let mut users = Vec::with_capacity(file.users.len());
        for (index, user) in file.users.into_iter().enumerate() {
            let Some(Value::String(id)) = user.profile.get("_id") else {
                return Err(SeedError::MissingUserId { index });
            };
            let id =
                UserId::new(id).map_err(|source| SeedError::InvalidUserId { index, source })?;
            check_secret(format!("users[{index}].token"), &user.token)?;
            if !ids.insert(id.clone()) {
                return Err(SeedError::DuplicateUser { index });
            }
            if !tokens.insert(user.token.clone()) {
                return Err(SeedError::DuplicateToken { index });
            }
            users.push(SeedUser {
                id,
                token: user.token,
                profile: user.profile,
            });
        }
        Ok(Self {
            client_keys: file.client_keys,
            api_keys: file.api_keys,
            rooms,
            users,
        })
    }

    /// The demo seed: client key `demo-client-key`, admin API key `demo-api-key`, users
    /// `demo-user` (token `demo-token`) and `demo-user-2` (token `demo-token-2`), and rooms
    /// `demo-room` and `room-1` to `room-100`.
    #[must_use]
    pub fn demo() -> Self {
        let rooms: Vec<String> = std::iter::once("demo-room".to_owned())
            .chain((1..=100).map(|n| format!("room-{n}")))
            .collect();
        let seed = json!({
            "clientKeys": ["demo-client-key"],
            "apiKeys": ["demo-api-key"],
            "rooms": rooms,
            "users": [
                {"token": "demo-token", "profile": {
                    "_id": "demo-user",
                    "nickname": "Demo User",
                    "email": "demo@example.com",
                    "appID": "SampleApp",
                    "avatarUrl": "http://example.com/avatarUrl"
                }},
                {"token": "demo-token-2", "profile": {"_id": "demo-user-2", "nickname": "Demo User 2"}}
            ]
        });
        // The demo seed is valid by construction; the unit tests prove it. Should that ever break,
        // an empty seed is safer than a panic.
        serde_json::from_value(seed)
            .map_err(SeedError::from)
            .and_then(Self::from_file)
            .unwrap_or_else(|_| Self::empty())
    }

    /// A seed with no keys, rooms or users.
    #[must_use]
    pub fn empty() -> Self {
        Self {
            client_keys: Vec::new(),
            api_keys: Vec::new(),
            rooms: Vec::new(),
            users: Vec::new(),
        }
    }

    /// The client keys (`IM-CLIENT-KEY`).
    #[must_use]
    pub fn client_keys(&self) -> &[String] {
        &self.client_keys
    }

    /// The admin API keys (`IM-API-KEY`).
    #[must_use]
    pub fn api_keys(&self) -> &[String] {
        &self.api_keys
    }

    /// The rooms that exist.
    #[must_use]
    pub fn rooms(&self) -> &[RoomId] {
        &self.rooms
    }

    /// The users, with their tokens and profiles.
    #[must_use]
    pub fn users(&self) -> &[SeedUser] {
        &self.users
    }
}

impl Default for SeedData {
    fn default() -> Self {
        Self::demo()
    }
}

fn check_secrets(name: &str, secrets: &[String]) -> Result<(), SeedError> {
    for (index, secret) in secrets.iter().enumerate() {
        check_secret(format!("{name}[{index}]"), secret)?;
    }
    Ok(())
}

/// Refuses a key or token that no request could carry (see [`SeedError::UnsendableSecret`]).
fn check_secret(field: String, secret: &str) -> Result<(), SeedError> {
    let padded = |b: Option<&u8>| matches!(b, Some(b' ' | b'\t'));
    let bytes = secret.as_bytes();
    if bytes.is_empty() {
        Err(SeedError::EmptySecret { field })
    } else if padded(bytes.first())
        || padded(bytes.last())
        || bytes.iter().any(|&b| (b < 0x20 && b != b'\t') || b == 0x7f)
    {
        Err(SeedError::UnsendableSecret { field })
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_seed_is_the_documented_one() {
        let seed = SeedData::demo();
        assert_eq!(seed.client_keys(), ["demo-client-key"]);
        assert_eq!(seed.api_keys(), ["demo-api-key"]);
        assert_eq!(seed.rooms().len(), 101);
        assert_eq!(seed.rooms()[0], "demo-room");
        assert_eq!(seed.rooms()[100], "room-100");
        let ids: Vec<&str> = seed.users().iter().map(|u| u.id().as_str()).collect();
        assert_eq!(ids, ["demo-user", "demo-user-2"]);
        assert_eq!(seed.users()[0].token(), "demo-token");
        assert_eq!(seed.users()[0].profile()["email"], "demo@example.com");
        assert_eq!(seed.users()[1].token(), "demo-token-2");
        assert_eq!(SeedData::default(), seed);
    }

    fn error_of(text: &str) -> String {
        SeedData::from_json(text).unwrap_err().to_string()
    }

    #[test]
    fn malformed_seeds_name_the_problem() {
        let base = |rooms: &str, users: &str| {
            format!(r#"{{"clientKeys":["c"],"apiKeys":["a"],"rooms":{rooms},"users":{users}}}"#)
        };
        assert!(error_of("{").contains("line 1"));
        assert!(error_of(r#"{"clientKeys":["c"]}"#).contains("missing field `apiKeys`"));
        assert!(
            error_of(&base("[]", "[]").replace("\"rooms\"", "\"room\""))
                .contains("unknown field `room`")
        );
        assert_eq!(
            error_of(&base(r#"["ok",""]"#, "[]")),
            "`rooms[1]` is not a valid room id: an id must not be empty"
        );
        assert_eq!(
            error_of(&base("[]", r#"[{"token":"t","profile":{"nickname":"x"}}]"#)),
            "`users[0].profile._id` is missing or not a string"
        );
        assert_eq!(
            error_of(&base("[]", r#"[{"token":"","profile":{"_id":"x"}}]"#)),
            "`users[0].token` is empty"
        );
        assert_eq!(
            error_of(&base(
                "[]",
                r#"[{"token":"t","profile":{"_id":"x"}},{"token":"t","profile":{"_id":"y"}}]"#
            )),
            "`users[1].token` repeats the token of an earlier user"
        );
        assert_eq!(
            error_of(&base(
                "[]",
                r#"[{"token":"t","profile":{"_id":"x"}},{"token":"u","profile":{"_id":"x"}}]"#
            )),
            "`users[1].profile._id` repeats the id of an earlier user"
        );
        assert_eq!(
            error_of(r#"{"clientKeys":[""],"apiKeys":[],"rooms":[],"users":[]}"#),
            "`clientKeys[0]` is empty"
        );
    }

    #[test]
    fn secrets_no_header_could_carry_are_refused() {
        let unsendable = |field: &str| {
            format!(
                "`{field}` could never be sent in a header: it begins or ends with a space or a \
                 tab, or holds a control character"
            )
        };
        for bad in [" k", "k ", "\tk", "k\t", "k\nk", "k\u{7f}", "\r"] {
            let keys = serde_json::json!({
                "clientKeys": ["ok", bad], "apiKeys": [], "rooms": [], "users": []
            });
            assert_eq!(
                error_of(&keys.to_string()),
                unsendable("clientKeys[1]"),
                "{bad:?}"
            );
            let keys = serde_json::json!({
                "clientKeys": [], "apiKeys": [bad], "rooms": [], "users": []
            });
            assert_eq!(
                error_of(&keys.to_string()),
                unsendable("apiKeys[0]"),
                "{bad:?}"
            );
            let token = serde_json::json!({
                "clientKeys": [], "apiKeys": [], "rooms": [],
                "users": [{"token": bad, "profile": {"_id": "x"}}]
            });
            assert_eq!(
                error_of(&token.to_string()),
                unsendable("users[0].token"),
                "{bad:?}"
            );
        }
        // Inside a secret, spaces and tabs are fine: a header value can hold them.
        let seed = serde_json::json!({
            "clientKeys": ["a key"], "apiKeys": ["an\tapi key"], "rooms": [],
            "users": [{"token": "a token", "profile": {"_id": "x"}}]
        });
        assert!(SeedData::from_json(&seed.to_string()).is_ok());
    }
}
