//! [`ApiReply`]: what the adapter answers a request with, one response or an event stream.

use super::event_stream::EventStream;
use super::response::ApiResponse;

/// The answer to one request, from [`MuteApi::serve`](crate::MuteApi::serve).
#[derive(Debug)]
pub enum ApiReply {
    /// A whole response: status, headers, JSON body. Every request but a successful
    /// `GET /me/events` gets one.
    Response(ApiResponse),
    /// `200` with [`EventStream::headers`], and a body of the stream's frames, sent as they come
    /// for as long as the stream lasts.
    Events(EventStream),
}
