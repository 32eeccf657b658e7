//! The axum router's request log, over real HTTP. A test binary of its own: `tracing` caches
//! whether a log line has a listener once per line, process-wide, and when another test's server
//! thread (with no subscriber) reaches a line first while this test's scoped subscriber is the
//! only one registered, the line is cached as unheard and this test sees nothing
//! (tokio-rs/tracing#3611). Here no other test runs.

mod common;

use std::sync::Arc;

use common::server::TestServer;

/// A writer that keeps what the log writes, for a test to read.
#[derive(Clone, Default)]
struct CapturedLog(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for CapturedLog {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("the log").extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn the_request_log_holds_the_path_and_never_the_query_string() {
    use tracing_subscriber::util::SubscriberInitExt;
    // The log is documented as method, path, status and latency: a query string, where a careless
    // client may put its credentials, stays out of it.
    let log = CapturedLog::default();
    let writer = log.clone();
    let _guard = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish()
        .set_default();
    let server = TestServer::demo().await;
    let reply = server
        .me("GET", "/me?IM-Authorization=demo-token&note=query-secret")
        .await;
    assert_eq!(reply.status, 200);
    let text = String::from_utf8_lossy(&log.0.lock().expect("the log")).into_owned();
    assert!(text.contains("finished processing request"), "{text}");
    assert!(text.contains("/me"), "{text}");
    assert!(!text.contains("query-secret"), "{text}");
    assert!(!text.contains("demo-token"), "{text}");
}
