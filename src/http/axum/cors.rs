//! [`CorsPolicy`]: which browser origins may call the endpoints.

use std::time::Duration;

use axum::http::header::{ALLOW, CONTENT_TYPE, RETRY_AFTER};
use axum::http::{HeaderName, HeaderValue, Method};
use tower_http::cors::{AllowOrigin, CorsLayer};

/// How long browsers may cache a preflight answer unless told otherwise.
const DEFAULT_MAX_AGE: Duration = Duration::from_secs(600);

/// Which web origins may call the endpoints from a browser.
///
/// The client key is public and web SDKs call `/me` endpoints from pages, so a browser must be let
/// through its CORS preflight (a `DELETE` with the `IM-CLIENT-KEY` and `IM-Authorization` headers
/// always needs one). An allowed origin gets the methods `GET`, `POST` and `DELETE` and the request
/// headers `IM-CLIENT-KEY`, `IM-Authorization` and `Content-Type`, and its scripts may read the
/// response headers `Retry-After` (sent with a refused event stream) and `Allow` (sent with a 405),
/// which browsers hide otherwise.
/// The admin header `IM-API-KEY` is never allowed: the admin key belongs on servers, not in pages.
///
/// ```
/// use mutestore::CorsPolicy;
///
/// let policy = CorsPolicy::allow_origins(["https://chat.example.com"])?;
/// assert!(CorsPolicy::allow_origins(["https://chat.example.com/"]).is_err());
/// # Ok::<(), mutestore::InvalidOrigin>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorsPolicy {
    origins: Origins,
    max_age: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Origins {
    None,
    Any,
    List(Vec<HeaderValue>),
}

/// An origin that is not of the form `scheme://host[:port]`, the form browsers send.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{origin}` is not an origin of the form scheme://host[:port]")]
pub struct InvalidOrigin {
    /// The origin as given.
    pub origin: String,
}

impl CorsPolicy {
    /// No CORS headers: browsers on other origins are refused by their own rules. The default.
    #[must_use]
    pub fn disabled() -> Self {
        Self {
            origins: Origins::None,
            max_age: DEFAULT_MAX_AGE,
        }
    }

    /// Any origin (`Access-Control-Allow-Origin: *`). No cookies are involved, the credentials
    /// travel in headers, so this is safe for the public `/me` endpoints.
    #[must_use]
    pub fn allow_any_origin() -> Self {
        Self {
            origins: Origins::Any,
            ..Self::disabled()
        }
    }

    /// Only these origins, each of the form `scheme://host[:port]` (`https://chat.example.com`).
    /// They are kept as browsers send them: scheme and host in lower case, without the scheme's
    /// default port (`https://Chat.Example.com:443` allows `https://chat.example.com`).
    ///
    /// # Errors
    /// [`InvalidOrigin`] for the first origin not of that form (a trailing `/` or a path included).
    pub fn allow_origins<I>(origins: I) -> Result<Self, InvalidOrigin>
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        let origins = origins
            .into_iter()
            .map(|origin| parse_origin(origin.as_ref()))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            origins: Origins::List(origins),
            ..Self::disabled()
        })
    }

    /// How long browsers may cache a preflight answer (10 minutes unless set).
    #[must_use]
    pub fn with_max_age(mut self, max_age: Duration) -> Self {
        self.max_age = max_age;
        self
    }

    /// The tower-http layer, or `None` when CORS is disabled.
    pub(crate) fn layer(&self) -> Option<CorsLayer> {
        let origin = match &self.origins {
            Origins::None => return None,
            Origins::Any => AllowOrigin::any(),
            Origins::List(origins) => AllowOrigin::list(origins.iter().cloned()),
        };
        Some(
            CorsLayer::new()
                .allow_origin(origin)
                .allow_methods([Method::GET, Method::POST, Method::DELETE])
                .allow_headers([
                    HeaderName::from_static("im-client-key"),
                    HeaderName::from_static("im-authorization"),
                    CONTENT_TYPE,
                ])
                .expose_headers([RETRY_AFTER, ALLOW])
                .max_age(self.max_age),
        )
    }
}

impl Default for CorsPolicy {
    fn default() -> Self {
        Self::disabled()
    }
}

/// An allowed origin as browsers send it in `Origin` (RFC 6454): scheme and host in lower case,
/// and no port where it is the scheme's default. The layer compares origins byte for byte, so
/// `https://Chat.Example.com:443` is kept as `https://chat.example.com`, which is what a page
/// there sends; kept as given, it would let nothing through.
fn parse_origin(origin: &str) -> Result<HeaderValue, InvalidOrigin> {
    let invalid = || InvalidOrigin {
        origin: origin.to_owned(),
    };
    let (scheme, authority) = origin.split_once("://").ok_or_else(invalid)?;
    let scheme_ok = !scheme.is_empty()
        && scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
    // No path, query or fragment, and no user info (`user@host`), which an origin never has.
    let authority_ok = !authority.is_empty()
        && authority
            .bytes()
            .all(|b| b.is_ascii_graphic() && !matches!(b, b'/' | b'?' | b'#' | b'*' | b'@'));
    if !scheme_ok || !authority_ok {
        return Err(invalid());
    }
    let scheme = scheme.to_ascii_lowercase();
    let mut authority = authority.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "http" | "ws" => Some(":80"),
        "https" | "wss" => Some(":443"),
        _ => None,
    };
    if let Some(port) = default_port
        && authority.ends_with(port)
        // `[::1]:443` ends with the port; an IPv6 address alone (`[::443]`) ends with `]`.
        && authority.len() > port.len()
    {
        authority.truncate(authority.len() - port.len());
    }
    // A host, and a port if a colon says there is one.
    if authority.starts_with(':') || authority.ends_with(':') {
        return Err(invalid());
    }
    HeaderValue::from_str(&format!("{scheme}://{authority}")).map_err(|_| invalid())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_must_be_bare() {
        assert!(CorsPolicy::allow_origins(["http://localhost:5173", "https://a.example"]).is_ok());
        for bad in [
            "",
            "*",
            "localhost",
            "https://",
            "https://a.example/",
            "https://a/b",
            "https://a b",
        ] {
            assert_eq!(
                CorsPolicy::allow_origins([bad]),
                Err(InvalidOrigin {
                    origin: bad.to_owned()
                }),
                "{bad}"
            );
        }
        assert!(CorsPolicy::disabled().layer().is_none());
        assert!(CorsPolicy::allow_any_origin().layer().is_some());
    }

    #[test]
    fn origins_are_kept_as_browsers_send_them() {
        for (given, kept) in [
            ("https://Chat.Example.com", "https://chat.example.com"),
            ("HTTPS://chat.example.com:443", "https://chat.example.com"),
            ("http://localhost:80", "http://localhost"),
            ("http://localhost:5173", "http://localhost:5173"),
            ("https://a.example:80", "https://a.example:80"),
            ("http://a.example:443", "http://a.example:443"),
            ("https://[::1]:443", "https://[::1]"),
            ("https://[::443]", "https://[::443]"),
            ("app://Local", "app://local"),
        ] {
            assert_eq!(
                CorsPolicy::allow_origins([given]).map(|policy| policy.origins),
                Ok(Origins::List(vec![HeaderValue::from_static(kept)])),
                "{given}"
            );
        }
        for bad in [
            "https://user@a.example",
            "https://:443",
            "https://a.example:",
        ] {
            assert!(CorsPolicy::allow_origins([bad]).is_err(), "{bad}");
        }
    }
}
