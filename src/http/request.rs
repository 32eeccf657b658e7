//! [`ApiRequest`]: what the adapter needs to know about an HTTP request.

use smallvec::SmallVec;

/// The largest request body accepted, in bytes (64 KiB). A larger one is refused with
/// `413 PAYLOAD_TOO_LARGE`.
pub const MAX_BODY_BYTES: u64 = 64 * 1024;

/// The most headers a request may carry (each repetition of a name counts). More are refused with
/// `431 HEADERS_TOO_LARGE`.
pub const MAX_HEADER_COUNT: usize = 64;

/// The most bytes a request's headers may hold in total, names and values together (16 KiB). More
/// are refused with `431 HEADERS_TOO_LARGE`.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;

/// How many headers a request holds without a heap allocation: enough for a client's usual few
/// (`Host`, `User-Agent`, `Accept`, the credentials).
const INLINE_HEADERS: usize = 8;

/// An HTTP request as the adapter sees it: method, raw path, headers, and the body.
///
/// Only the mute endpoints (`POST /me/mute/:room` and its admin twin) read a body, an optional
/// JSON object giving the mute's end; every other endpoint ignores it. Any body over
/// [`MAX_BODY_BYTES`] is refused. A transport that streams bodies can stop reading past the limit
/// and report the length it saw with [`with_body_length`](Self::with_body_length): a body that
/// large is never read.
///
/// ```
/// use mutestore::ApiRequest;
///
/// let request = ApiRequest::new("DELETE", "/me/mute/demo-room")
///     .with_header("IM-CLIENT-KEY", b"demo-client-key")
///     .with_header("IM-Authorization", b"demo-token");
/// assert_eq!(request.header("im-client-key"), Some(&b"demo-client-key"[..]));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiRequest<'a> {
    method: &'a str,
    path: &'a str,
    headers: SmallVec<[(&'a str, &'a [u8]); INLINE_HEADERS]>,
    body: &'a [u8],
    body_length: u64,
}

impl<'a> ApiRequest<'a> {
    /// A request with no headers and no body.
    ///
    /// `method` is compared as is (methods are case-sensitive). `path` is the request target's path
    /// exactly as received, still percent-encoded: `%2F` inside a segment must reach the adapter
    /// as `%2F`, not as a `/` that would split the segment. A query string after `?` is ignored,
    /// and so is a fragment after `#`: no request target has one (RFC 9112), and hyper and the
    /// `http` crate drop one a client sends anyway, so the adapter answers such a request as the
    /// axum router does. A `#` inside an id is sent as `%23`.
    #[must_use]
    pub fn new(method: &'a str, path: &'a str) -> Self {
        Self {
            method,
            path,
            headers: SmallVec::new(),
            body: &[],
            body_length: 0,
        }
    }

    /// Adds a header. Names are compared without regard to ASCII case; values are raw bytes,
    /// which need not be UTF-8 (a value that is not is never a valid key or token).
    #[must_use]
    pub fn with_header(mut self, name: &'a str, value: &'a [u8]) -> Self {
        self.headers.push((name, value));
        self
    }

    /// Adds several headers, as [`with_header`](Self::with_header).
    #[must_use]
    pub fn with_headers(mut self, headers: impl IntoIterator<Item = (&'a str, &'a [u8])>) -> Self {
        self.headers.extend(headers);
        self
    }

    /// Sets the body: its bytes and its length.
    #[must_use]
    pub fn with_body(mut self, body: &'a [u8]) -> Self {
        self.body = body;
        self.body_length = u64::try_from(body.len()).unwrap_or(u64::MAX);
        self
    }

    /// Sets the body's length alone, for a transport that counted the bytes without keeping them
    /// because they are past [`MAX_BODY_BYTES`] (such a body is refused unread). The body's bytes
    /// then read as empty: a transport must pass a body within the limit with
    /// [`with_body`](Self::with_body), or a mute with a deadline is taken as a plain mute.
    #[must_use]
    pub fn with_body_length(mut self, length: u64) -> Self {
        self.body = &[];
        self.body_length = length;
        self
    }

    /// The method.
    #[must_use]
    pub fn method(&self) -> &'a str {
        self.method
    }

    /// The raw path, without any query string or fragment: the target up to its first `?` or `#`.
    #[must_use]
    pub fn path(&self) -> &'a str {
        let end = self
            .path
            .bytes()
            .position(|byte| matches!(byte, b'?' | b'#'))
            .unwrap_or(self.path.len());
        self.path.get(..end).unwrap_or(self.path)
    }

    /// The value of the header `name` (any ASCII case) when it was sent exactly once; `None` when it
    /// is absent or repeated (a repeated credential header is ambiguous and is not guessed at).
    #[must_use]
    pub fn header(&self, name: &str) -> Option<&'a [u8]> {
        let mut values = self.values_of(name);
        let first = values.next()?;
        values.next().is_none().then_some(first)
    }

    /// The values of every header `name` (any ASCII case), in the order sent.
    pub(crate) fn values_of(&self, name: &str) -> impl Iterator<Item = &'a [u8]> {
        self.headers
            .iter()
            .filter(move |(candidate, _)| candidate.eq_ignore_ascii_case(name))
            .map(|&(_, value)| value)
    }

    /// Whether the header `name` was sent at all (even empty or repeated).
    #[must_use]
    pub fn has_header(&self, name: &str) -> bool {
        self.headers
            .iter()
            .any(|(candidate, _)| candidate.eq_ignore_ascii_case(name))
    }

    /// The body's bytes (empty when only its length was given).
    #[must_use]
    pub fn body(&self) -> &'a [u8] {
        self.body
    }

    /// The body's length in bytes.
    #[must_use]
    pub fn body_length(&self) -> u64 {
        self.body_length
    }

    /// Whether the headers are more than [`MAX_HEADER_COUNT`] or hold more than
    /// [`MAX_HEADER_BYTES`], names and values together.
    #[must_use]
    pub fn headers_too_large(&self) -> bool {
        let bytes = self.headers.iter().fold(0usize, |sum, (name, value)| {
            sum.saturating_add(name.len()).saturating_add(value.len())
        });
        self.headers.len() > MAX_HEADER_COUNT || bytes > MAX_HEADER_BYTES
    }

    /// Whether the body is over [`MAX_BODY_BYTES`].
    #[must_use]
    pub fn body_too_large(&self) -> bool {
        self.body_length > MAX_BODY_BYTES
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_found_in_any_case_and_repeats_are_not_guessed_at() {
        let request = ApiRequest::new("GET", "/me?x=1")
            .with_header("Im-Client-Key", b"k")
            .with_header("IM-Authorization", b"t1")
            .with_header("im-authorization", b"t2");
        assert_eq!(request.path(), "/me");
        assert_eq!(request.header("IM-CLIENT-KEY"), Some(&b"k"[..]));
        assert_eq!(request.header("IM-Authorization"), None);
        assert!(request.has_header("IM-AUTHORIZATION"));
        assert!(!request.has_header("IM-API-KEY"));
    }

    #[test]
    fn the_path_ends_at_a_query_or_a_fragment() {
        for (target, path) in [
            ("/me", "/me"),
            ("/me?x=1", "/me"),
            ("/me#x", "/me"),
            ("/me#x?y", "/me"),
            ("/me?y#x", "/me"),
            ("/me/mute/a%23b#c", "/me/mute/a%23b"),
            ("#", ""),
            ("", ""),
        ] {
            assert_eq!(ApiRequest::new("GET", target).path(), path, "{target}");
        }
    }

    #[test]
    fn the_header_limits_are_inclusive() {
        let names: Vec<String> = (0..=MAX_HEADER_COUNT).map(|n| format!("x-{n}")).collect();
        let many = |count: usize| {
            ApiRequest::new("GET", "/me")
                .with_headers(names[..count].iter().map(|name| (name.as_str(), &b""[..])))
        };
        assert!(!many(MAX_HEADER_COUNT).headers_too_large());
        assert!(many(MAX_HEADER_COUNT + 1).headers_too_large());
        // "ab" plus the value: exactly at the limit, then one byte over.
        let value = vec![b'v'; MAX_HEADER_BYTES - 2];
        let request = ApiRequest::new("GET", "/me").with_header("ab", &value);
        assert!(!request.headers_too_large());
        assert!(request.with_header("c", b"").headers_too_large());
    }

    #[test]
    fn the_body_limit_is_inclusive() {
        let at_limit = vec![0u8; 64 * 1024];
        assert!(
            !ApiRequest::new("GET", "/")
                .with_body(&at_limit)
                .body_too_large()
        );
        assert!(
            ApiRequest::new("GET", "/")
                .with_body_length(MAX_BODY_BYTES + 1)
                .body_too_large()
        );
    }
}
