//! The credential headers and how their values are read.

use super::request::ApiRequest;

/// The header carrying the app's public client key.
pub const CLIENT_KEY_HEADER: &str = "IM-CLIENT-KEY";
/// The header carrying the user's token (raw, without a `Bearer ` prefix).
pub const TOKEN_HEADER: &str = "IM-Authorization";
/// The header carrying the admin API key.
pub const API_KEY_HEADER: &str = "IM-API-KEY";

/// A credential header as sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Credential<'a> {
    /// Not sent, or sent empty.
    Missing,
    /// Sent, but not usable: repeated, or not UTF-8. It can match no secret.
    Unusable,
    /// Sent once, UTF-8, not empty; surrounding spaces and tabs removed.
    Present(&'a str),
}

/// Reads the credential header `name` of `request`, in one pass over its headers.
pub(crate) fn credential<'a>(request: &ApiRequest<'a>, name: &str) -> Credential<'a> {
    let mut values = request.values_of(name);
    let Some(value) = values.next() else {
        return Credential::Missing;
    };
    if values.next().is_some() {
        return Credential::Unusable;
    }
    // Spaces and tabs are single bytes in UTF-8: trimming them first changes no verdict.
    match std::str::from_utf8(trim_spaces_and_tabs(value)) {
        Ok("") => Credential::Missing,
        Ok(text) => Credential::Present(text),
        Err(_) => Credential::Unusable,
    }
}

/// `value` without the spaces and tabs around it.
fn trim_spaces_and_tabs(mut value: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = value {
        value = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = value {
        value = rest;
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_each_shape_of_header() {
        let request = ApiRequest::new("GET", "/me")
            .with_header("im-client-key", b" key ")
            .with_header("IM-Authorization", b"")
            .with_header("IM-API-KEY", b"\xff\xfe");
        assert_eq!(
            credential(&request, CLIENT_KEY_HEADER),
            Credential::Present("key")
        );
        assert_eq!(credential(&request, TOKEN_HEADER), Credential::Missing);
        assert_eq!(credential(&request, API_KEY_HEADER), Credential::Unusable);
        assert_eq!(credential(&request, "X-Other"), Credential::Missing);
        let repeated = ApiRequest::new("GET", "/me")
            .with_header("IM-API-KEY", b"a")
            .with_header("im-api-key", b"a");
        assert_eq!(credential(&repeated, API_KEY_HEADER), Credential::Unusable);
        let padded = ApiRequest::new("GET", "/me")
            .with_header("IM-CLIENT-KEY", b"\t k e y \t")
            .with_header("IM-Authorization", b" \t ")
            .with_header("IM-API-KEY", b" \xff ");
        assert_eq!(
            credential(&padded, CLIENT_KEY_HEADER),
            Credential::Present("k e y")
        );
        assert_eq!(credential(&padded, TOKEN_HEADER), Credential::Missing);
        assert_eq!(credential(&padded, API_KEY_HEADER), Credential::Unusable);
    }
}
