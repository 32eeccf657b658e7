//! Reading a request body: kept up to the limit, measured past it.

use axum::body::{Body, Bytes};
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

/// A body as read: its bytes while within [`MAX_BODY_BYTES`], and its length (a length over
/// [`READ_LIMIT`] once reading stopped).
#[derive(Debug, Default)]
pub(crate) struct ReadBody {
    kept: Kept,
    length: u64,
}

/// The bytes kept: none, one chunk as it came (the usual case, no copy), or several joined.
#[derive(Debug, Default)]
enum Kept {
    #[default]
    Empty,
    One(Bytes),
    Joined(Vec<u8>),
}

impl ReadBody {
    /// The bytes, when the body is within [`MAX_BODY_BYTES`]; `None` past it.
    pub(crate) fn bytes(&self) -> Option<&[u8]> {
        if self.length > MAX_BODY_BYTES {
            return None;
        }
        Some(match &self.kept {
            Kept::Empty => &[],
            Kept::One(bytes) => bytes,
            Kept::Joined(bytes) => bytes,
        })
    }

    /// The length in bytes.
    pub(crate) fn length(&self) -> u64 {
        self.length
    }

    fn keep(&mut self, data: Bytes) {
        self.kept = match std::mem::take(&mut self.kept) {
            Kept::Empty => Kept::One(data),
            Kept::One(first) => Kept::Joined([&first[..], &data[..]].concat()),
            Kept::Joined(mut joined) => {
                joined.extend_from_slice(&data);
                Kept::Joined(joined)
            }
        };
    }
}

/// Reads `body`: its bytes up to [`MAX_BODY_BYTES`], and its length, counted (and the bytes
/// dropped) up to [`READ_LIMIT`]. A body declared longer than that is not read.
pub(crate) async fn read_body(
    headers: &HeaderMap,
    mut body: Body,
) -> Result<ReadBody, UnreadableBody> {
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().parse::<u64>().ok());
    if let Some(declared) = declared
        && declared > READ_LIMIT
    {
        return Ok(ReadBody {
            kept: Kept::Empty,
            length: declared,
        });
    }
    let mut read = ReadBody::default();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| UnreadableBody)?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        read.length = read
            .length
            .saturating_add(u64::try_from(data.len()).unwrap_or(u64::MAX));
        if read.length > READ_LIMIT {
            break;
        }
        if read.length <= MAX_BODY_BYTES {
            read.keep(data);
        } else {
            read.kept = Kept::Empty;
        }
    }
    Ok(read)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block_on<F: std::future::Future>(future: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a runtime")
            .block_on(future)
    }

    /// A body of ready chunks.
    struct Chunks(std::collections::VecDeque<Bytes>);

    impl http_body::Body for Chunks {
        type Data = Bytes;
        type Error = std::convert::Infallible;
        fn poll_frame(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
            std::task::Poll::Ready(
                self.0
                    .pop_front()
                    .map(|chunk| Ok(http_body::Frame::data(chunk))),
            )
        }
    }

    #[test]
    fn chunks_are_joined_within_the_limit_and_dropped_past_it() {
        let chunks = |sizes: &[usize]| {
            Body::new(Chunks(
                sizes
                    .iter()
                    .zip(b'a'..)
                    .map(|(&size, byte)| Bytes::from(vec![byte; size]))
                    .collect(),
            ))
        };
        let read = block_on(read_body(&HeaderMap::new(), chunks(&[2, 3]))).unwrap();
        assert_eq!(read.bytes(), Some(&b"aabbb"[..]));
        assert_eq!(read.length(), 5);
        let limit = usize::try_from(MAX_BODY_BYTES).unwrap();
        let read = block_on(read_body(&HeaderMap::new(), chunks(&[limit, 1]))).unwrap();
        assert_eq!(read.bytes(), None);
        assert_eq!(read.length(), MAX_BODY_BYTES + 1);
        let read = block_on(read_body(&HeaderMap::new(), chunks(&[limit]))).unwrap();
        assert_eq!(read.bytes().map(<[u8]>::len), Some(limit));
        let read = block_on(read_body(&HeaderMap::new(), Body::from("x"))).unwrap();
        assert_eq!(read.bytes(), Some(&b"x"[..]));
        let read = block_on(read_body(&HeaderMap::new(), Body::empty())).unwrap();
        assert_eq!(read.bytes(), Some(&b""[..]));
    }
}
