//! An [`EventStream`] as the body of an axum response, with keep-alive comments on tokio's timer.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::{Body, Bytes};
use axum::http::HeaderValue;
use axum::response::Response;
use http_body::Frame;
use tokio::time::{Instant, Sleep};

use super::response::header_name;
use crate::http::event_stream::{EventStream, KEEP_ALIVE_FRAME};

/// `200` with the stream's headers and its frames as the body, sent as they come.
pub(crate) fn event_response(stream: EventStream) -> Response {
    let headers = stream.headers();
    let mut response = Response::new(Body::new(EventBody {
        stream,
        keep_alive: None,
    }));
    for (name, value) in headers {
        if let Some(name) = header_name(name) {
            response
                .headers_mut()
                .insert(name, HeaderValue::from_static(value));
        }
    }
    response
}

/// The body: each frame of the stream, and [`KEEP_ALIVE_FRAME`] whenever the stream has been quiet
/// for its keep-alive interval. It ends when the stream ends.
struct EventBody {
    stream: EventStream,
    /// Started the first time the stream waits (so that a body read only up to its first frame
    /// needs no timer), and pushed back at every frame.
    keep_alive: Option<Pin<Box<Sleep>>>,
}

impl http_body::Body for EventBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = &mut *self;
        let interval = this.stream.keep_alive_interval();
        match this.stream.poll_frame(cx) {
            Poll::Ready(Some(frame)) => {
                if let Some(timer) = &mut this.keep_alive {
                    timer.as_mut().reset(Instant::now() + interval);
                }
                return Poll::Ready(Some(Ok(Frame::data(Bytes::from(frame)))));
            }
            Poll::Ready(None) => return Poll::Ready(None),
            Poll::Pending => {}
        }
        let timer = this
            .keep_alive
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(interval)));
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => {
                timer.as_mut().reset(Instant::now() + interval);
                Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(KEEP_ALIVE_FRAME)))))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}
