//! [`RequestLog`]: a span per request and a line per response at `INFO`; when `INFO` is off,
//! nothing at all, not even a clock read.

use std::fmt;
use std::future::Future;
use std::time::{Duration, Instant};

use axum::extract::Request;
use axum::response::Response;
use tracing::{Instrument, Level, Span};

/// The log of one request, the way tower-http's `TraceLayer` writes it at `INFO`: a span `request`
/// with the method, the path and the HTTP version (never the headers, which hold secrets, nor the
/// query string, where a client may put them), and in it, once the response is ready,
/// `finished processing request` with the latency and the status.
///
/// Whether `INFO` is on is asked per request, so a subscriber set up after the router was built is
/// honoured. It is kept by the handler itself rather than by a layer around the router: each layer
/// costs every request a boxed service call, logging or not.
#[derive(Debug)]
pub(crate) struct RequestLog(Option<(Span, Instant)>);

impl RequestLog {
    /// Starts the log of `request`, if `INFO` is on.
    pub(crate) fn begin(request: &Request) -> Self {
        if !tracing::enabled!(Level::INFO) {
            return Self(None);
        }
        let span = tracing::info_span!(
            "request",
            method = %request.method(),
            path = %request.uri().path(),
            version = ?request.version(),
        );
        Self(Some((span, Instant::now())))
    }

    /// Awaits `answer`, the handling of the request, inside the request's span, then logs the
    /// response.
    pub(crate) async fn around(self, answer: impl Future<Output = Response>) -> Response {
        let Some((span, start)) = self.0 else {
            return answer.await;
        };
        let response = answer.instrument(span.clone()).await;
        span.in_scope(|| {
            tracing::info!(
                latency = %Millis(start.elapsed()),
                status = response.status().as_u16(),
                "finished processing request"
            );
        });
        response
    }
}

/// A latency in whole milliseconds, written as `3 ms`.
struct Millis(Duration);

impl fmt::Display for Millis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ms", self.0.as_millis())
    }
}
