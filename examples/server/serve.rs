//! The accept loop: each connection served by hyper's HTTP/1 server with a header-read timeout.
//!
//! hyper closes a connection that has not sent a complete request head within the timeout,
//! counted from when it opens and again from the end of each response (so an idle kept-alive
//! connection is closed too). The timer runs only while hyper waits for a request head: a response
//! being sent, however long (an open `GET /me/events` stream), is never cut. Without a timer hyper
//! enforces no such bound, and a client that sends half a request line would hold one of the
//! limited connection slots for good.

use std::future::Future;
use std::pin::pin;
use std::time::Duration;

use axum::Router;
use axum::serve::Listener;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::connection_limit::LimitedListener;

/// Serves `app` on `listener` until `stop` resolves, then stops accepting, lets every open
/// connection finish its request in flight, and returns once all have closed. (Idle connections
/// close at once; one midway through sending a request head gets until its header timeout.)
pub async fn serve(
    mut listener: LimitedListener,
    app: Router,
    header_timeout: Duration,
    stop: impl Future<Output = ()>,
) {
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(header_timeout);
    let (stopping, stopping_seen) = watch::channel(false);
    let mut connections = JoinSet::new();
    let mut stop = pin!(stop);
    loop {
        let (io, _) = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut stop => break,
        };
        let connection =
            http.serve_connection(TokioIo::new(io), TowerToHyperService::new(app.clone()));
        let mut stopping = stopping_seen.clone();
        connections.spawn(async move {
            let mut connection = pin!(connection);
            tokio::select! {
                result = connection.as_mut() => return log_end(result),
                _ = stopping.wait_for(|stopping| *stopping) => {}
            }
            // Ends the connection once its request in flight, if any, is answered.
            connection.as_mut().graceful_shutdown();
            log_end(connection.await);
        });
        // Forget the connections that have ended, so the set holds only open ones.
        while connections.try_join_next().is_some() {}
    }
    // No connection is taken off the backlog any more.
    drop(listener);
    stopping.send_replace(true);
    while connections.join_next().await.is_some() {}
}

/// A connection's end: not worth a line at the default level (a header timeout, a client gone).
fn log_end(result: Result<(), hyper::Error>) {
    if let Err(error) = result {
        tracing::debug!("connection closed: {error}");
    }
}
