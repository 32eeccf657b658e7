//! The baseline of the HTTP load test (`benches/http_load.sh`): a trivial axum server that answers
//! `DELETE /me/mute/{room}` with a fixed response, and nothing else.
//!
//! ```text
//! cargo run --release --example fixed_body -- [--addr HOST:PORT]
//! ```
//!
//! The response is the example server's own answer to the load test's request (the demo user
//! unmuting `demo-room`), computed once at start-up by the adapter: the same status, headers and
//! body bytes, so that the two servers send the same bytes and differ only in the work behind them.
//! Same runtime as the example server (`#[tokio::main]`), same `axum::serve`, no logging.

use std::io::Write;
use std::process::ExitCode;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::Response;
use axum::routing::delete;
use mutestore::{ApiRequest, MemoryStore, MuteApi, SeedAuthenticator, SeedData, SeedDirectory};
use tokio::net::TcpListener;

/// Where it listens unless `--addr` says otherwise.
const DEFAULT_ADDR: &str = "127.0.0.1:3001";

/// The response sent to every request. Its body and header values are static bytes, so each
/// response shares them without copying or counting references, and the headers are appended to
/// the response's own map as the example server appends the adapter's (`to_axum_response`): the
/// baseline does no more work per response than it must.
#[derive(Clone)]
struct FixedResponse {
    status: StatusCode,
    headers: Vec<(HeaderName, HeaderValue)>,
    body: Bytes,
}

impl FixedResponse {
    /// The example server's answer to the demo user's `DELETE /me/mute/demo-room`.
    async fn demo_unmute() -> Option<Self> {
        let seed = SeedData::demo();
        let api = MuteApi::new(
            MemoryStore::new(),
            SeedAuthenticator::new(&seed),
            SeedDirectory::new(&seed),
        );
        let request = ApiRequest::new("DELETE", "/me/mute/demo-room")
            .with_header("IM-CLIENT-KEY", b"demo-client-key")
            .with_header("IM-Authorization", b"demo-token");
        let answer = api.handle(&request).await;
        let mut headers = Vec::new();
        for (name, value) in answer.headers() {
            // Leaked once at start-up, so that every response shares them.
            let name: &'static str = name.to_ascii_lowercase().leak();
            let value: &'static str = value.to_owned().leak();
            // Checked first: `from_static` panics on a name it cannot take.
            HeaderName::from_bytes(name.as_bytes()).ok()?;
            headers.push((
                HeaderName::from_static(name),
                HeaderValue::from_maybe_shared(Bytes::from_static(value.as_bytes())).ok()?,
            ));
        }
        Some(Self {
            status: StatusCode::from_u16(answer.status()).ok()?,
            headers,
            body: Bytes::from_static(answer.body().to_vec().leak()),
        })
    }

    fn to_response(&self) -> Response {
        let mut response = Response::new(Body::from(self.body.clone()));
        *response.status_mut() = self.status;
        let headers = response.headers_mut();
        for (name, value) in &self.headers {
            headers.append(name.clone(), value.clone());
        }
        response
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let addr = match (args.next().as_deref(), args.next(), args.next()) {
        (None, _, _) => DEFAULT_ADDR.to_owned(),
        (Some("--addr"), Some(addr), None) => addr,
        _ => {
            eprintln!("usage: fixed_body [--addr HOST:PORT]");
            return ExitCode::from(2);
        }
    };
    let Some(fixed) = FixedResponse::demo_unmute().await else {
        eprintln!("error: the adapter's answer cannot be sent as it is");
        return ExitCode::FAILURE;
    };
    let body_bytes = fixed.body.len();
    let app = Router::new().route(
        "/me/mute/{room}",
        delete(move || {
            let response = fixed.to_response();
            async move { response }
        }),
    );
    let listener = match TcpListener::bind(&addr).await {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!("error: cannot listen on {addr}: {error}");
            return ExitCode::FAILURE;
        }
    };
    let local = listener
        .local_addr()
        .map_or_else(|_| addr.clone(), |local| local.to_string());
    println!("fixed-body server listening on http://{local} ({body_bytes}-byte body)");
    let _ = std::io::stdout().flush();
    if let Err(error) = axum::serve(listener, app).await {
        eprintln!("error: the server failed: {error}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
