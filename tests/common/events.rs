//! A client for `GET /me/events`: opens the stream and reads its server-sent events.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::header::HeaderMap;
use serde_json::Value;

use super::client::{HttpClient, Reply};
use super::{CLIENT_KEY, TOKEN};

/// How long a test waits for an event it expects before it fails.
pub const EVENT_WAIT: Duration = Duration::from_secs(10);

/// What `GET /me/events` answered: a stream, or an ordinary (error) response.
pub enum Opened {
    Stream(EventReader),
    Refused(Reply),
}

impl Opened {
    /// The stream; panics with the response if it was refused.
    pub fn expect_stream(self) -> EventReader {
        match self {
            Self::Stream(reader) => reader,
            Self::Refused(reply) => panic!(
                "no stream: {} {}",
                reply.status,
                String::from_utf8_lossy(&reply.body)
            ),
        }
    }

    /// The refusal; panics if a stream was opened.
    pub fn expect_refused(self) -> Reply {
        match self {
            Self::Stream(reader) => panic!("a stream was opened: {:?}", reader.headers),
            Self::Refused(reply) => reply,
        }
    }
}

/// Opens `GET /me/events` with `headers`.
pub async fn open_with(client: &HttpClient, method: &str, headers: &[(&str, &[u8])]) -> Opened {
    let response = client
        .send_streaming(method, "/me/events", headers, Vec::new())
        .await;
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let is_stream = headers
        .get("content-type")
        .is_some_and(|value| value == "text/event-stream");
    if is_stream {
        assert_eq!(status, 200);
        return Opened::Stream(EventReader {
            headers,
            body: response.into_body(),
            buffer: Vec::new(),
        });
    }
    let body = response
        .into_body()
        .collect()
        .await
        .expect("a whole body")
        .to_bytes();
    Opened::Refused(Reply {
        status,
        headers,
        body,
    })
}

/// Opens the stream of the user of `token`, and waits for its first frame (the `retry` field), so
/// that every change made from now on is on it.
pub async fn open_as(client: &HttpClient, token: &str) -> EventReader {
    let mut reader = open_with(
        client,
        "GET",
        &[
            ("IM-CLIENT-KEY", CLIENT_KEY.as_bytes()),
            ("IM-Authorization", token.as_bytes()),
        ],
    )
    .await
    .expect_stream();
    let first = reader.next_frame(EVENT_WAIT).await.expect("a first frame");
    assert_eq!(first, Frame::Retry(2000));
    reader
}

/// `demo-user`'s stream.
pub async fn open_mine(client: &HttpClient) -> EventReader {
    open_as(client, TOKEN).await
}

/// One frame of the stream.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    Retry(u64),
    Comment(String),
    Data(Value),
}

/// An open stream.
pub struct EventReader {
    pub headers: HeaderMap,
    body: Incoming,
    buffer: Vec<u8>,
}

impl EventReader {
    /// The next frame, `None` when the stream ended; panics if none comes within `wait`.
    pub async fn next_frame(&mut self, wait: Duration) -> Option<Frame> {
        match tokio::time::timeout(wait, self.read_frame()).await {
            Ok(frame) => frame,
            Err(_) => panic!("no frame within {wait:?}"),
        }
    }

    /// The next frame if one comes within `wait`: `Err(())` when none came.
    pub async fn frame_within(&mut self, wait: Duration) -> Result<Option<Frame>, ()> {
        tokio::time::timeout(wait, self.read_frame())
            .await
            .map_err(|_| ())
    }

    /// The next event (`data:` frame), skipping comments; panics at the end of the stream or
    /// after [`EVENT_WAIT`].
    pub async fn next_event(&mut self) -> Value {
        loop {
            match self.next_frame(EVENT_WAIT).await {
                Some(Frame::Data(event)) => return event,
                Some(Frame::Comment(_)) => {}
                other => panic!("expected an event, got {other:?}"),
            }
        }
    }

    /// Asserts that the stream ends (after any comments) within [`EVENT_WAIT`].
    pub async fn expect_end(&mut self) {
        loop {
            match self.next_frame(EVENT_WAIT).await {
                None => return,
                Some(Frame::Comment(_)) => {}
                other => panic!("expected the end, got {other:?}"),
            }
        }
    }

    async fn read_frame(&mut self) -> Option<Frame> {
        loop {
            if let Some(end) = self.buffer.windows(2).position(|pair| pair == b"\n\n") {
                let frame: Vec<u8> = self.buffer.drain(..end + 2).collect();
                return Some(parse_frame(&frame[..end]));
            }
            match self.body.frame().await {
                None => {
                    assert!(self.buffer.is_empty(), "a torn frame at the end");
                    return None;
                }
                Some(Err(error)) => panic!("the stream broke off: {error}"),
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        let data: Bytes = data;
                        self.buffer.extend_from_slice(&data);
                    }
                }
            }
        }
    }
}

/// One frame's lines: exactly one field or comment per frame, as the server writes them.
fn parse_frame(frame: &[u8]) -> Frame {
    let text = std::str::from_utf8(frame).expect("UTF-8 frames");
    assert!(!text.contains('\n'), "one line per frame: {text:?}");
    if let Some(comment) = text.strip_prefix(':') {
        return Frame::Comment(comment.trim().to_owned());
    }
    if let Some(retry) = text.strip_prefix("retry: ") {
        return Frame::Retry(retry.parse().expect("a retry delay"));
    }
    let data = text
        .strip_prefix("data: ")
        .unwrap_or_else(|| panic!("an unknown frame: {text:?}"));
    let event: Value = serde_json::from_str(data).expect("JSON data");
    let object = event.as_object().expect("an object");
    assert_eq!(
        object.keys().map(String::as_str).collect::<Vec<_>>(),
        ["room", "muted", "untilMS", "cause"],
        "{event}"
    );
    Frame::Data(event)
}
