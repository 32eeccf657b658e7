//! A disk that does not make progress: in `Durability::Periodic`, the records waiting for it are
//! bounded (past `DurableOptions::max_backlog_bytes`, a write waits for its record); in
//! `Durability::Sync`, nothing that rests on a record returns before that record is durable.

#![cfg(all(feature = "durable", unix))]

use std::fs::File;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::pin;
use std::process::Command;
use std::sync::Arc;
use std::sync::mpsc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use mutestore::{
    Durability, DurableOptions, DurableStore, MAX_ID_BYTES, MuteStore, RoomId, StoreError, UserId,
};

/// The failure guard for every wait below: far longer than any of them takes.
const GUARD: Duration = Duration::from_secs(60);

/// Polls `done` until it holds, failing the test after [`GUARD`].
fn wait_for(what: &str, done: impl Fn() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < GUARD, "waited a minute for {what}");
        thread::sleep(Duration::from_millis(5));
    }
}

/// Runs `write` on its own thread and returns its result, failing the test if it has not
/// returned after [`GUARD`].
fn returned<T: Send + 'static>(write: impl FnOnce() -> T + Send + 'static) -> T {
    let (sender, result) = mpsc::channel();
    thread::spawn(move || sender.send(write()));
    result.recv_timeout(GUARD).expect("the write returned")
}

fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path).unwrap().len()
}

/// A store in `Periodic` mode with a backlog limit of `limit` bytes whose flusher is stuck; see
/// [`stalled`].
fn stalled_store(
    dir: &Path,
    limit: u64,
) -> (
    Arc<DurableStore>,
    PathBuf,
    JoinHandle<Result<(), StoreError>>,
) {
    stalled(
        dir,
        DurableOptions::new()
            .durability(Durability::Periodic(Duration::from_secs(3600)))
            .max_backlog_bytes(limit),
    )
}

/// A store opened with `options` whose flusher is stuck, as on a disk that stalls: a compaction closes the log and creates the next one as
/// `log-00000001.tmp`, and a FIFO there makes creating it block until the FIFO is opened for
/// reading. Returns the store once the log is closed (closing trims its preallocated zeros, just
/// before the next log is created: records appended from then on stay in memory), with the FIFO
/// to open to unstick it and the compaction's thread, which then ends with the store failed.
fn stalled(
    dir: &Path,
    options: DurableOptions,
) -> (
    Arc<DurableStore>,
    PathBuf,
    JoinHandle<Result<(), StoreError>>,
) {
    let store = Arc::new(options.open(dir).unwrap());
    let fifo = dir.join("log-00000001.tmp");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let compaction = {
        let store = Arc::clone(&store);
        thread::spawn(move || store.compact_sync())
    };
    let log = dir.join("log-00000000");
    wait_for("the log to be closed", || file_len(&log) < 64 << 10);
    (store, fifo, compaction)
}

#[test]
fn while_the_flusher_is_stuck_writes_below_the_backlog_limit_return_and_past_it_wait() {
    let dir = tempfile::tempdir().unwrap();
    let (store, fifo, compaction) = stalled_store(dir.path(), 512);

    // Below the limit, writes return without the disk.
    let writer = Arc::clone(&store);
    returned(move || {
        for n in 0..5 {
            let (user, room) = (UserId::new("u").unwrap(), RoomId::new(&format!("r{n}")));
            writer.mute_sync(&user, &room.unwrap()).unwrap();
        }
    });

    // A record with two 256-byte ids passes 512 bytes on its own: both writers must wait, the
    // first for its record, the second (past the limit already) before its change.
    let long = |c: &str| c.repeat(MAX_ID_BYTES);
    let (user_a, user_b, room) = (
        UserId::new(&long("a")).unwrap(),
        UserId::new(&long("b")).unwrap(),
        RoomId::new(&long("r")).unwrap(),
    );
    let blocking = {
        let (store, user, room) = (Arc::clone(&store), user_a.clone(), room.clone());
        thread::spawn(move || store.mute_sync(&user, &room))
    };
    let asynchronous = {
        let (store, user, room) = (Arc::clone(&store), user_b.clone(), room.clone());
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        thread::spawn(move || runtime.block_on(store.mute(&user, &room)))
    };
    // Reads go on, and show the first change past the limit applied in memory; a writer that
    // comes once the limit is passed waits before it changes anything.
    wait_for("a change past the limit to be applied", || {
        !store
            .muted_among_sync(&room, &[user_a.clone(), user_b.clone()])
            .is_empty()
    });
    assert!(!blocking.is_finished() && !asynchronous.is_finished());

    // Unstick the flusher: it opens the FIFO, fails to use it as a log, and the store fails. The
    // waiting writers learn that their records never reached the disk; without the limit they
    // would have returned `Ok` long before.
    assert!(store.health().is_ok(), "a stalled disk is not a failure");
    let _reader = File::open(&fifo).unwrap();
    let compacted = compaction.join().unwrap();
    assert!(
        matches!(compacted, Err(StoreError::Backend(_))),
        "{compacted:?}"
    );
    assert!(
        matches!(store.health(), Err(StoreError::Backend(_))),
        "after the failure, the store reports it"
    );
    for writer in [blocking, asynchronous] {
        let written = writer.join().unwrap();
        assert!(
            matches!(written, Err(StoreError::Backend(_))),
            "{written:?}"
        );
    }
}

/// Polls `future` once and drops it, as a timeout or a disconnect does.
fn poll_once_and_drop<F: Future>(future: F) -> bool {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    matches!(future.as_mut().poll(&mut cx), Poll::Ready(_))
}

#[test]
fn writers_that_give_up_while_they_wait_stay_within_the_backlog_limit() {
    let dir = tempfile::tempdir().unwrap();
    let limit = 512;
    let (store, fifo, compaction) = stalled_store(dir.path(), limit);

    let room = RoomId::new("r").unwrap();
    let writes = 10_000;
    let mut returned = 0;
    for n in 0..writes {
        let user = UserId::new(&format!("user-{n}")).unwrap();
        // A request timeout or a client that disconnects drops the future like this.
        if poll_once_and_drop(store.mute(&user, &room)) {
            returned += 1;
        }
    }
    // Past the limit, a writer waits before it changes anything, so a writer that gives up then
    // has added nothing. Without that, every change would be applied and its record queued for
    // a disk that does not move: about 30 bytes each, far past the 512-byte limit.
    let applied = store.user_count();
    let _reader = File::open(&fifo).unwrap();
    let _ = compaction.join().unwrap();
    assert!(returned > 0, "writes below the limit return at once");
    assert!(
        applied < 100,
        "{applied} records (~{} bytes) held in memory with a {limit}-byte backlog limit",
        applied * 30
    );
}

/// A waker that does nothing; the test counts the clones of it that the store keeps.
struct IdleWaker;

impl Wake for IdleWaker {
    fn wake(self: Arc<Self>) {}
}

#[test]
fn writers_that_give_up_while_they_wait_leave_no_waker_behind() {
    let dir = tempfile::tempdir().unwrap();
    let (store, fifo, compaction) = stalled_store(dir.path(), 512);

    let idle = Arc::new(IdleWaker);
    let waker = Waker::from(Arc::clone(&idle));
    let room = RoomId::new("r").unwrap();
    let mut waited = 0;
    for n in 0..10_000 {
        let user = UserId::new(&format!("user-{n}")).unwrap();
        // Polled once, as a request that then times out, and dropped.
        let mut future = pin!(store.mute(&user, &room));
        if future
            .as_mut()
            .poll(&mut Context::from_waker(&waker))
            .is_pending()
        {
            waited += 1;
        }
    }
    // A future that gave up is gone, and so must be what it left to be woken with: otherwise
    // every attempt made while the disk stalls holds memory (here a clone of the waker, in a
    // runtime the task it belongs to) until the disk comes back, the growth the backlog limit
    // is there to prevent.
    let kept = Arc::strong_count(&idle) - 2;
    let _reader = File::open(&fifo).unwrap();
    let _ = compaction.join().unwrap();
    assert!(waited > 9_000, "{waited} writes waited");
    assert_eq!(kept, 0, "wakers of dropped futures kept by the store");
}

#[test]
fn in_sync_mode_a_mute_refused_for_the_limit_waits_for_the_record_it_rests_on() {
    let dir = tempfile::tempdir().unwrap();
    let (store, fifo, compaction) = stalled(
        dir.path(),
        DurableOptions::new()
            .durability(Durability::Sync)
            .mute_limit(1),
    );
    let user = UserId::new("u").unwrap();
    let (first, second) = (
        RoomId::new("first").unwrap(),
        RoomId::new("second").unwrap(),
    );

    // The first mute is applied in memory; its record cannot reach the disk, so it waits.
    let muting = {
        let (store, user, room) = (Arc::clone(&store), user.clone(), first.clone());
        thread::spawn(move || store.mute_sync(&user, &room))
    };
    wait_for("the first mute to be applied", || {
        store.is_muted_sync(&user, &first)
    });

    // A second room is over the limit only because of the first, which a crash now would undo:
    // the refusal must not be reported before that record is durable.
    assert!(
        !poll_once_and_drop(store.mute(&user, &second)),
        "the refusal returned before the record it rests on was durable"
    );
    let refusing = {
        let (store, user, room) = (Arc::clone(&store), user.clone(), second.clone());
        thread::spawn(move || store.mute_sync(&user, &room))
    };

    // Unstick the flusher: the store fails, and both writers learn that the first record never
    // reached the disk.
    let _reader = File::open(&fifo).unwrap();
    let _ = compaction.join().unwrap();
    for writer in [muting, refusing] {
        let written = writer.join().unwrap();
        assert!(
            matches!(written, Err(StoreError::Backend(_))),
            "{written:?}"
        );
    }
    assert!(!store.is_muted_sync(&user, &second));
}
