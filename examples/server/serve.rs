//! The accept loop: each connection served by hyper's HTTP/1 server with a header-read timeout
//! and a write timeout, and each request with a request timeout.
//!
//! hyper closes a connection that has not sent a complete request head within the timeout,
//! counted from when it opens and again from the end of each response (so an idle kept-alive
//! connection is closed too). The timer runs only while hyper waits for a request head: a response
//! being sent, however long (an open `GET /me/events` stream), is never cut. Without a timer hyper
//! enforces no such bound, and a client that sends half a request line would hold one of the
//! limited connection slots for good.
//!
//! Once a head has arrived, the request timeout bounds the time until the app has produced the
//! response head, reading the request body included: a client that declares a `Content-Length`
//! and then sends the body slowly, or not at all, gets `408 REQUEST_TIMEOUT` and its connection is
//! closed (the rest of its body may still be on the way). A response body is not timed: an event
//! stream's head is produced at once, and the stream may then last as long as it likes.
//!
//! The write timeout closes a connection whose writes have stopped going out: a client that stops
//! reading its responses (pipelining requests without reading the answers, or leaving an event
//! stream unread while events come) fills the kernel's buffers, after which every write to its
//! socket stays pending, and without a timer it would hold its slot for good. The timer
//! (`tokio-io-timeout`'s `TimeoutStream`) runs only while a write or flush is pending, and starts
//! again with each one that goes through, so a slow reader is never cut as long as its bytes keep
//! moving, and time spent not writing (an event stream idle between keep-alives, a request being
//! read) never counts. It defaults to 30 s, longer than the other two: a client on a poor link can
//! stall for several seconds while lost packets are sent again, and should not be cut for it, while
//! one that has stopped reading still frees its slot within half a minute.

use std::error::Error as _;
use std::future::Future;
use std::io;
use std::pin::pin;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::header::{CONNECTION, CONTENT_TYPE};
use axum::http::{HeaderValue, Response, StatusCode};
use axum::serve::Listener;
use hyper::server::conn::http1;
use hyper::service::{Service, service_fn};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use mutestore::JSON_CONTENT_TYPE;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_io_timeout::TimeoutStream;

use crate::connection_limit::LimitedListener;

/// How long a connection may take to send a request head, a request to be answered, and a write
/// to make progress.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// From when a connection opens, or its last response ends, to a complete request head.
    pub header: Duration,
    /// From a request head to the app's response head, reading the request body included.
    pub request: Duration,
    /// How long a write (or flush) to the socket may stay pending without any of it going out.
    pub write: Duration,
}

/// Serves `app` on `listener` until `stop` resolves, then stops accepting, lets every open
/// connection finish its request in flight, and returns once all have closed. (Idle connections
/// close at once; one midway through sending a request head gets until its header timeout, one
/// midway through a request until its request timeout, one whose client has stopped reading until
/// its write timeout.)
pub async fn serve(
    mut listener: LimitedListener,
    app: Router,
    timeouts: Timeouts,
    stop: impl Future<Output = ()>,
) {
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(timeouts.header);
    // hyper's `half_close` stays off: a client that shuts its write side is taken as gone. That
    // is what lets the server see at once that an event stream's client has left (and free its
    // place under the per-user cap); with it on, a departed client is noticed only when a
    // keep-alive write fails, up to two intervals later. The cost: a client that half-closes
    // right after its request (`nc -N`) gets no answer.
    let (stopping, stopping_seen) = watch::channel(false);
    let mut connections = JoinSet::new();
    let mut stop = pin!(stop);
    loop {
        let (io, _) = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut stop => break,
        };
        let app = TowerToHyperService::new(app.clone());
        let request_timeout = timeouts.request;
        let service = service_fn(move |request| {
            let response = app.call(request);
            async move {
                match tokio::time::timeout(request_timeout, response).await {
                    Ok(answered) => answered,
                    Err(_elapsed) => Ok(timed_out(request_timeout)),
                }
            }
        });
        // The write timer runs only while a write is pending, and starts again with each write
        // that goes through. (Pinned on the heap: the timer is not `Unpin`, and hyper wants
        // `Unpin` IO.)
        let mut io = TimeoutStream::new(io);
        io.set_write_timeout(Some(timeouts.write));
        let connection = http.serve_connection(TokioIo::new(Box::pin(io)), service);
        let write_timeout = timeouts.write;
        let mut stopping = stopping_seen.clone();
        connections.spawn(async move {
            let mut connection = pin!(connection);
            tokio::select! {
                result = connection.as_mut() => return log_end(result, write_timeout),
                _ = stopping.wait_for(|stopping| *stopping) => {}
            }
            // Ends the connection once its request in flight, if any, is answered.
            connection.as_mut().graceful_shutdown();
            log_end(connection.await, write_timeout);
        });
        // Forget the connections that have ended, so the set holds only open ones.
        while connections.try_join_next().is_some() {}
    }
    // No connection is taken off the backlog any more.
    drop(listener);
    stopping.send_replace(true);
    while connections.join_next().await.is_some() {}
}

/// The answer to a request not answered within `limit`: `408` in the adapter's error envelope, with
/// `Connection: close`, so that the connection is closed after it rather than kept for a next
/// request while the rest of this one's body may still be arriving. (Dropping the app's future
/// drops the request body too, and hyper stops reading it.)
fn timed_out(limit: Duration) -> Response<Body> {
    tracing::info!(
        "request timed out: no response within {} s",
        limit.as_secs()
    );
    let envelope = serde_json::json!({
        "RC": 408,
        "RM": "Request Timeout",
        "error": {
            "code": "REQUEST_TIMEOUT",
            "message": format!(
                "The request body was not received, or the request not answered, within {} s.",
                limit.as_secs()
            ),
        },
    });
    let mut response = Response::new(Body::from(envelope.to_string()));
    *response.status_mut() = StatusCode::REQUEST_TIMEOUT;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(JSON_CONTENT_TYPE));
    headers.insert(CONNECTION, HeaderValue::from_static("close"));
    response
}

/// A connection's end: one line at the default level for a write timeout (a client that stopped
/// reading is worth knowing about); anything else (a header timeout, a client gone) is not worth
/// one.
fn log_end(result: Result<(), hyper::Error>, write_timeout: Duration) {
    let Err(error) = result else { return };
    if is_write_timeout(&error) {
        tracing::info!(
            "connection closed: no write progress within {} s",
            write_timeout.as_secs()
        );
    } else {
        tracing::debug!("connection closed: {error}");
    }
}

/// Whether `error` is the write timer's: `TimeoutStream` fails the pending write with a bare
/// `TimedOut`, which the socket itself never returns without an OS error code (hyper's own header
/// timeout is an error of its own kind, with no IO cause).
fn is_write_timeout(error: &hyper::Error) -> bool {
    let mut cause = error.source();
    while let Some(current) = cause {
        if let Some(io_error) = current.downcast_ref::<io::Error>() {
            return io_error.kind() == io::ErrorKind::TimedOut && io_error.raw_os_error().is_none();
        }
        cause = current.source();
    }
    false
}
