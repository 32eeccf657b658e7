//! [`ApiResponse`]: status, headers and JSON body, ready for any transport.

use std::borrow::Cow;

use smallvec::SmallVec;

/// The `Content-Type` of every response.
pub const JSON_CONTENT_TYPE: &str = "application/json; charset=utf-8";

/// The headers of a response, in order: each a name, and a value either static or made for it.
/// A response has two at most, held without a heap allocation.
pub(crate) type Headers = SmallVec<[(&'static str, Cow<'static, str>); 2]>;

/// A response of the adapter: a status, a few headers and a JSON body.
///
/// The headers always include `Content-Type: application/json; charset=utf-8`; a `405` also has
/// `Allow`, a `429` for a user's stream past the limit `Retry-After`, and responses about a user
/// have `Cache-Control: no-store`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiResponse {
    status: u16,
    headers: Headers,
    body: Cow<'static, [u8]>,
}

impl ApiResponse {
    /// A JSON response with the standard `Content-Type`.
    pub(crate) fn json(status: u16, body: impl Into<Cow<'static, [u8]>>) -> Self {
        Self {
            status,
            headers: smallvec::smallvec![("Content-Type", Cow::Borrowed(JSON_CONTENT_TYPE))],
            body: body.into(),
        }
    }

    /// Adds a header.
    pub(crate) fn with_header(
        mut self,
        name: &'static str,
        value: impl Into<Cow<'static, str>>,
    ) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    /// The HTTP status code.
    #[must_use]
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The headers, as (name, value) pairs.
    pub fn headers(&self) -> impl Iterator<Item = (&'static str, &str)> + '_ {
        self.headers
            .iter()
            .map(|(name, value)| (*name, value.as_ref()))
    }

    /// The value of header `name` (any ASCII case), if set.
    #[must_use]
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers()
            .find(|(candidate, _)| candidate.eq_ignore_ascii_case(name))
            .map(|(_, value)| value)
    }

    /// The JSON body.
    #[must_use]
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// The JSON body, owned (no copy when it was built for this response).
    #[must_use]
    pub fn into_body(self) -> Cow<'static, [u8]> {
        self.body
    }

    /// The status, the headers and the body, owned, for a transport that passes them on without
    /// copying what is static.
    #[cfg(feature = "axum")]
    pub(crate) fn into_parts(self) -> (u16, Headers, Cow<'static, [u8]>) {
        (self.status, self.headers, self.body)
    }
}
