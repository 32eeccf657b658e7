//! [`ErrorCode`]: every error the HTTP surface answers with, and its status and reason.

use std::fmt;

/// An error the HTTP surface answers with: the `error.code` of the error envelope, which also fixes
/// the HTTP status (the envelope's `RC`) and the short reason (`RM`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    /// 403: the `IM-CLIENT-KEY` header is missing.
    MissingClientKey,
    /// 403: the `IM-CLIENT-KEY` header is not one of the app's keys.
    InvalidClientKey,
    /// 401: the `IM-Authorization` token is missing, unknown or expired.
    InvalidToken,
    /// 401: the admin `IM-API-KEY` header is missing or wrong.
    InvalidApiKey,
    /// 400: a `:room` or `:uid` path segment is not a valid id once percent-decoded, or a mute's
    /// body is not an empty one or `{"durationMS": N}` / `{"untilMS": T}` with an end in the
    /// future. The message says which.
    InvalidParameter,
    /// 404: the admin endpoint's user `:uid` does not exist.
    ClientNotFound,
    /// 404: the room `:room` does not exist in the host's room directory.
    RoomNotFound,
    /// 400: the admin unmute named a room the user has not muted.
    RoomNotMuted,
    /// 400: the mute would take the user past the per-user limit.
    MuteLimitExceeded,
    /// 413: the request body is over [`MAX_BODY_BYTES`](crate::MAX_BODY_BYTES).
    PayloadTooLarge,
    /// 500: the store or a host hook failed. The details go to the logs, never to the client.
    InternalError,
    /// 404: no route has this path.
    NotFound,
    /// 405: the path is known, the method is not; the response carries `Allow`.
    MethodNotAllowed,
    /// 400: the request body could not be read (the client broke off or sent a malformed chunk).
    /// Only transports that stream the body answer with it.
    BadRequest,
    /// 431: the request has more than [`MAX_HEADER_COUNT`](crate::MAX_HEADER_COUNT) headers, or
    /// more than [`MAX_HEADER_BYTES`](crate::MAX_HEADER_BYTES) of them.
    HeadersTooLarge,
    /// 429: the caller already has as many `GET /me/events` streams open as the API allows per
    /// user ([`MuteApi::with_max_streams_per_user`](crate::MuteApi::with_max_streams_per_user)).
    /// The message gives the limit.
    TooManyStreams,
}

impl ErrorCode {
    /// Every code: the rows of the contract's error table in its order, then the codes it does not
    /// list. (The checks run in another order: the route and the header limits come first; see
    /// [`MuteApi`](crate::MuteApi).)
    pub const ALL: [Self; 16] = [
        Self::MissingClientKey,
        Self::InvalidClientKey,
        Self::InvalidToken,
        Self::InvalidApiKey,
        Self::InvalidParameter,
        Self::ClientNotFound,
        Self::RoomNotFound,
        Self::RoomNotMuted,
        Self::MuteLimitExceeded,
        Self::PayloadTooLarge,
        Self::InternalError,
        Self::NotFound,
        Self::MethodNotAllowed,
        Self::BadRequest,
        Self::HeadersTooLarge,
        Self::TooManyStreams,
    ];

    /// The HTTP status, which is also the envelope's `RC`.
    #[must_use]
    pub fn status(self) -> u16 {
        match self {
            Self::MissingClientKey | Self::InvalidClientKey => 403,
            Self::InvalidToken | Self::InvalidApiKey => 401,
            Self::InvalidParameter | Self::RoomNotMuted | Self::MuteLimitExceeded => 400,
            Self::BadRequest => 400,
            Self::ClientNotFound | Self::RoomNotFound | Self::NotFound => 404,
            Self::PayloadTooLarge => 413,
            Self::InternalError => 500,
            Self::MethodNotAllowed => 405,
            Self::HeadersTooLarge => 431,
            Self::TooManyStreams => 429,
        }
    }

    /// The envelope's `RM`: a short reason.
    #[must_use]
    pub fn reason(self) -> &'static str {
        match self {
            Self::MissingClientKey | Self::InvalidClientKey => "Forbidden",
            Self::InvalidToken | Self::InvalidApiKey => "Unauthorized",
            Self::InvalidParameter | Self::BadRequest => "Bad Request",
            Self::ClientNotFound => "Client not found",
            Self::RoomNotFound => "Room not found",
            Self::RoomNotMuted => "Room is not muted",
            Self::MuteLimitExceeded => "Mute limit exceeded",
            Self::PayloadTooLarge => "Payload Too Large",
            Self::InternalError => "Internal server error",
            Self::NotFound => "Not Found",
            Self::MethodNotAllowed => "Method Not Allowed",
            Self::HeadersTooLarge => "Request Header Fields Too Large",
            Self::TooManyStreams => "Too Many Requests",
        }
    }

    /// The envelope's `error.code`, e.g. `"MISSING_CLIENT_KEY"`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::MissingClientKey => "MISSING_CLIENT_KEY",
            Self::InvalidClientKey => "INVALID_CLIENT_KEY",
            Self::InvalidToken => "INVALID_TOKEN",
            Self::InvalidApiKey => "INVALID_API_KEY",
            Self::InvalidParameter => "INVALID_PARAMETER",
            Self::ClientNotFound => "CLIENT_NOT_FOUND",
            Self::RoomNotFound => "ROOM_NOT_FOUND",
            Self::RoomNotMuted => "ROOM_NOT_MUTED",
            Self::MuteLimitExceeded => "MUTE_LIMIT_EXCEEDED",
            Self::PayloadTooLarge => "PAYLOAD_TOO_LARGE",
            Self::InternalError => "INTERNAL_ERROR",
            Self::NotFound => "NOT_FOUND",
            Self::MethodNotAllowed => "METHOD_NOT_ALLOWED",
            Self::BadRequest => "BAD_REQUEST",
            Self::HeadersTooLarge => "HEADERS_TOO_LARGE",
            Self::TooManyStreams => "TOO_MANY_STREAMS",
        }
    }

    /// The envelope's `error.message` when nothing more specific is known: a sentence for people.
    #[must_use]
    pub fn default_message(self) -> &'static str {
        match self {
            Self::MissingClientKey => "The IM-CLIENT-KEY header is required.",
            Self::InvalidClientKey => "The IM-CLIENT-KEY header is not a valid client key.",
            Self::InvalidToken => {
                "The IM-Authorization header is missing, or its token is unknown or expired."
            }
            Self::InvalidApiKey => "The IM-API-KEY header is missing or not a valid API key.",
            Self::InvalidParameter => "A path parameter is not a valid id.",
            Self::ClientNotFound => "No user has this id.",
            Self::RoomNotFound => "No room has this id.",
            Self::RoomNotMuted => "The user has not muted this room.",
            Self::MuteLimitExceeded => "The user has already muted the most rooms allowed.",
            Self::PayloadTooLarge => "The request body is larger than 64 KiB.",
            Self::InternalError => "The server could not complete the request. Try again later.",
            Self::NotFound => "No endpoint has this path.",
            Self::MethodNotAllowed => "This endpoint does not accept this method.",
            Self::BadRequest => "The request body could not be read.",
            Self::HeadersTooLarge => {
                "The request has more than 64 headers, or more than 16 KiB of them."
            }
            Self::TooManyStreams => "The user already has as many event streams open as allowed.",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_of_the_contract() {
        let table: Vec<(u16, &str, &str)> = ErrorCode::ALL
            .iter()
            .map(|code| (code.status(), code.reason(), code.as_str()))
            .collect();
        assert_eq!(
            table,
            [
                (403, "Forbidden", "MISSING_CLIENT_KEY"),
                (403, "Forbidden", "INVALID_CLIENT_KEY"),
                (401, "Unauthorized", "INVALID_TOKEN"),
                (401, "Unauthorized", "INVALID_API_KEY"),
                (400, "Bad Request", "INVALID_PARAMETER"),
                (404, "Client not found", "CLIENT_NOT_FOUND"),
                (404, "Room not found", "ROOM_NOT_FOUND"),
                (400, "Room is not muted", "ROOM_NOT_MUTED"),
                (400, "Mute limit exceeded", "MUTE_LIMIT_EXCEEDED"),
                (413, "Payload Too Large", "PAYLOAD_TOO_LARGE"),
                (500, "Internal server error", "INTERNAL_ERROR"),
                (404, "Not Found", "NOT_FOUND"),
                (405, "Method Not Allowed", "METHOD_NOT_ALLOWED"),
                (400, "Bad Request", "BAD_REQUEST"),
                (431, "Request Header Fields Too Large", "HEADERS_TOO_LARGE"),
                (429, "Too Many Requests", "TOO_MANY_STREAMS"),
            ]
        );
        // The header sentence names the limits in force.
        let headers = ErrorCode::HeadersTooLarge.default_message();
        assert!(
            headers.contains(&crate::MAX_HEADER_COUNT.to_string()),
            "{headers}"
        );
        assert!(
            headers.contains(&format!("{} KiB", crate::MAX_HEADER_BYTES / 1024)),
            "{headers}"
        );
    }
}
