//! The adapter's in-process unmute request, repeated: the same request as `benches/adapter.rs`
//! (`DELETE /me/mute/demo-room` with the demo credentials, the demo user having muted two rooms),
//! handled N times. Made for counting instructions, which unlike times are the same on every run:
//!
//! ```text
//! cargo build --release --example unmute_requests
//! valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.0 target/release/examples/unmute_requests 0
//! valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.N target/release/examples/unmute_requests 10000
//! ```
//!
//! The difference of the two totals, over 10,000, is the instructions per request. For a profile
//! by function and line (`callgrind_annotate --inclusive=yes /tmp/cg.N`), build with
//! `CARGO_PROFILE_RELEASE_DEBUG=true`; the counts barely move.

use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::process::ExitCode;
use std::task::{Context, Poll, Waker};

use mutestore::{
    ApiRequest, MemoryStore, MuteApi, RoomId, SeedAuthenticator, SeedData, SeedDirectory, UserId,
};

/// Runs a future that is ready on its first poll, as every future over `MemoryStore` and the seed
/// hosts is; `None` if it was not.
fn ready_now<F: Future>(future: F) -> Option<F::Output> {
    let mut future = pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(output) => Some(output),
        Poll::Pending => None,
    }
}

fn main() -> ExitCode {
    let Some(count) = std::env::args().nth(1).and_then(|n| n.parse::<u64>().ok()) else {
        eprintln!("usage: unmute_requests COUNT");
        return ExitCode::from(2);
    };
    let seed = SeedData::demo();
    let api = MuteApi::new(
        MemoryStore::new(),
        SeedAuthenticator::new(&seed),
        SeedDirectory::new(&seed),
    );
    let (Ok(user), Ok(first), Ok(second)) = (
        UserId::new("demo-user"),
        RoomId::new("room-1"),
        RoomId::new("room-2"),
    ) else {
        return ExitCode::FAILURE;
    };
    for room in [first, second] {
        if api.store().mute_sync(&user, &room).is_err() {
            return ExitCode::FAILURE;
        }
    }
    let request = ApiRequest::new("DELETE", "/me/mute/demo-room")
        .with_header("IM-CLIENT-KEY", b"demo-client-key")
        .with_header("IM-Authorization", b"demo-token");
    for _ in 0..count {
        match ready_now(api.handle(black_box(&request))) {
            Some(response) if response.status() == 200 => {
                black_box(response);
            }
            _ => {
                eprintln!("the request failed");
                return ExitCode::FAILURE;
            }
        }
    }
    ExitCode::SUCCESS
}
