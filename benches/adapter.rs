//! The HTTP adapter in-process: one `DELETE /me/mute/:room` request handled end to end (credentials,
//! path parsing and id validation, the store, the JSON envelope), no network, beside the store's own
//! unmute, so the adapter's share is visible. The example server's demo seed; the user has muted
//! two rooms.
//!
//! `cargo bench --bench adapter`

use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use criterion::{Criterion, criterion_group, criterion_main};
use mutestore::{
    ApiRequest, MemoryStore, MuteApi, RoomId, SeedAuthenticator, SeedData, SeedDirectory, UserId,
};

/// Runs a future that is ready on its first poll, as every future over `MemoryStore` and the seed
/// hosts is.
fn ready_now<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("the adapter waited on a store that never waits"),
    }
}

fn benches(c: &mut Criterion) {
    let seed = SeedData::demo();
    let api = MuteApi::new(
        MemoryStore::new(),
        SeedAuthenticator::new(&seed),
        SeedDirectory::new(&seed),
    );
    let user = UserId::new("demo-user").unwrap();
    for room in ["room-1", "room-2"] {
        api.store()
            .mute_sync(&user, &RoomId::new(room).unwrap())
            .unwrap();
    }
    let request = ApiRequest::new("DELETE", "/me/mute/demo-room")
        .with_header("IM-CLIENT-KEY", b"demo-client-key")
        .with_header("IM-Authorization", b"demo-token");
    let first = ready_now(api.handle(&request));
    assert_eq!(
        first.status(),
        200,
        "{}",
        String::from_utf8_lossy(first.body())
    );

    let mut group = c.benchmark_group("adapter");
    group.bench_function("unmute_request/in_process", |b| {
        b.iter(|| black_box(ready_now(api.handle(black_box(&request)))))
    });
    let room = RoomId::new("demo-room").unwrap();
    group.bench_function("unmute/store_only", |b| {
        b.iter(|| black_box(api.store().unmute_sync(black_box(&user), black_box(&room))))
    });
    group.finish();
}

criterion_group!(adapter, benches);
criterion_main!(adapter);
