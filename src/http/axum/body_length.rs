//! Measuring a request body without keeping it.

use axum::body::Body;
use axum::http::HeaderMap;
use axum::http::header::CONTENT_LENGTH;
use http_body_util::BodyExt;

use crate::http::request::MAX_BODY_BYTES;

/// How far past [`MAX_BODY_BYTES`] a body is still read (and dropped) before the 413 is sent.
/// Reading it to its end lets the client finish sending and read the answer on a clean connection;
/// a body declared larger than this is not read at all, and the connection is closed after the
/// answer.
const READ_LIMIT: u64 = 16 * MAX_BODY_BYTES;

/// The body broke off or was malformed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct UnreadableBody;

/// The body's length in bytes, or a length over [`READ_LIMIT`] once reading stopped. Nothing is
/// kept.
pub(crate) async fn body_length(
    headers: &HeaderMap,
    mut body: Body,
) -> Result<u64, UnreadableBody> {
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().parse::<u64>().ok());
    if let Some(declared) = declared
        && declared > READ_LIMIT
    {
        return Ok(declared);
    }
    let mut length: u64 = 0;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| UnreadableBody)?;
        if let Some(data) = frame.data_ref() {
            length = length.saturating_add(u64::try_from(data.len()).unwrap_or(u64::MAX));
            if length > READ_LIMIT {
                break;
            }
        }
    }
    Ok(length)
}
