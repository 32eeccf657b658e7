//! `DurableStore` across reopens: what comes back, what a torn write costs, and what damage does.

#![cfg(feature = "durable")]

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use mutestore::{Durability, DurableOptions, DurableStore, OpenError, RoomId, StoreError, UserId};

fn user(name: &str) -> UserId {
    UserId::new(name).unwrap()
}

fn room(name: &str) -> RoomId {
    RoomId::new(name).unwrap()
}

/// Every user's list, sorted by user, each list in mute order.
fn state(store: &DurableStore) -> Vec<(String, Vec<String>)> {
    let mut users = Vec::new();
    store.for_each_user(|user, rooms| {
        users.push((
            user.to_string(),
            rooms.iter().map(|r| r.to_string()).collect(),
        ));
    });
    users.sort();
    users
}

fn files_starting_with(dir: &Path, prefix: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| {
            path.file_name()
                .and_then(|name| name.to_str())
                .is_some_and(|name| name.starts_with(prefix))
        })
        .collect();
    files.sort();
    files
}

fn only_log(dir: &Path) -> PathBuf {
    let logs = files_starting_with(dir, "log-");
    assert_eq!(logs.len(), 1, "{logs:?}");
    logs[0].clone()
}

fn file_len(path: &Path) -> u64 {
    fs::metadata(path).unwrap().len()
}

#[test]
fn reopen_gives_back_every_list_in_mute_order() {
    let dir = tempfile::tempdir().unwrap();
    let expected = {
        let store = DurableStore::open(dir.path()).unwrap();
        let (alice, bob, carol) = (user("alice"), user("bob"), user("carol"));
        for r in ["a", "b", "c", "d", "e", "f"] {
            store.mute_sync(&alice, &room(r)).unwrap();
        }
        store.unmute_sync(&alice, &room("b")).unwrap();
        store.mute_sync(&alice, &room("b")).unwrap();
        store.mute_sync(&alice, &room("a")).unwrap();
        for r in ["x", "gone", "y"] {
            store.mute_sync(&bob, &room(r)).unwrap();
            store.mute_sync(&carol, &room(r)).unwrap();
        }
        assert_eq!(store.forget_room_sync(&room("gone")).unwrap(), 2);
        store.forget_user_sync(&carol).unwrap();
        store
            .mute_sync(&user(&"u".repeat(256)), &room("ルーム"))
            .unwrap();
        assert_eq!(
            store.muted_rooms_sync(&alice),
            ["a", "c", "d", "e", "f", "b"]
        );
        state(&store)
    };
    let store = DurableStore::open(dir.path()).unwrap();
    assert_eq!(state(&store), expected);
    assert_eq!(store.recovery().log_records, 17);
    assert!(store.recovery().torn_tail.is_none());
}

#[test]
fn a_lower_limit_at_reopen_keeps_every_room() {
    let dir = tempfile::tempdir().unwrap();
    let alice = user("alice");
    {
        let store = DurableStore::open(dir.path()).unwrap();
        for n in 0..5 {
            store.mute_sync(&alice, &room(&format!("r{n}"))).unwrap();
        }
    }
    let store = DurableOptions::new()
        .mute_limit(2)
        .open(dir.path())
        .unwrap();
    assert_eq!(store.muted_rooms_sync(&alice).len(), 5);
    assert!(matches!(
        store.mute_sync(&alice, &room("new")),
        Err(StoreError::MuteLimitExceeded(_))
    ));
    assert!(!store.mute_sync(&alice, &room("r0")).unwrap().changed);
}

#[test]
fn refused_and_idempotent_operations_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let alice = user("alice");
    let options = DurableOptions::new().mute_limit(2);
    {
        let store = options.open(dir.path()).unwrap();
        store.mute_sync(&alice, &room("a")).unwrap();
        store.mute_sync(&alice, &room("b")).unwrap();
    }
    let log = only_log(dir.path());
    let before = file_len(&log);
    {
        let store = options.open(dir.path()).unwrap();
        assert!(store.mute_sync(&alice, &room("c")).is_err());
        assert!(!store.mute_sync(&alice, &room("a")).unwrap().changed);
        assert!(!store.unmute_sync(&alice, &room("z")).unwrap().changed);
        assert!(store.forget_user_sync(&user("nobody")).unwrap().is_empty());
        assert_eq!(store.forget_room_sync(&room("z")).unwrap(), 0);
    }
    assert_eq!(file_len(&log), before, "nothing was appended");
}

#[test]
fn a_second_open_of_the_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = DurableStore::open(dir.path()).unwrap();
    match DurableStore::open(dir.path()) {
        Err(error @ OpenError::Locked { .. }) => {
            let message = error.to_string();
            assert!(message.contains("in use"), "{message}");
        }
        other => panic!("expected the lock error, got {other:?}"),
    }
    store.mute_sync(&user("alice"), &room("a")).unwrap();
    store.close().unwrap();
    let again = DurableStore::open(dir.path()).unwrap();
    assert!(again.is_muted_sync(&user("alice"), &room("a")));
}

#[test]
fn compaction_keeps_the_state_and_bounds_the_files() {
    let dir = tempfile::tempdir().unwrap();
    let options = DurableOptions::new()
        .durability(Durability::Periodic(Duration::from_millis(5)))
        .compact_after_bytes(16 << 10);
    let expected = {
        let store = options.open(dir.path()).unwrap();
        for round in 0..20 {
            for n in 0..200 {
                let u = user(&format!("user-{n}"));
                store
                    .mute_sync(&u, &room(&format!("r{}", (n + round) % 7)))
                    .unwrap();
                if n % 3 == 0 {
                    store
                        .unmute_sync(&u, &room(&format!("r{}", round % 7)))
                        .unwrap();
                }
            }
        }
        store.compact_sync().unwrap();
        let logs = files_starting_with(dir.path(), "log-");
        let snapshots = files_starting_with(dir.path(), "snapshot-");
        assert_eq!(snapshots.len(), 1, "{snapshots:?}");
        assert_eq!(logs.len(), 1, "the compacted logs are removed: {logs:?}");
        state(&store)
    };
    let store = options.open(dir.path()).unwrap();
    assert_eq!(state(&store), expected);
    assert_eq!(store.recovery().snapshot_users, expected.len() as u64);
    assert_eq!(store.recovery().log_records, 0);
}

#[test]
fn periodic_changes_are_on_disk_after_a_flush_or_a_close() {
    let dir = tempfile::tempdir().unwrap();
    let options = DurableOptions::new().durability(Durability::Periodic(Duration::from_secs(60)));
    let alice = user("alice");
    {
        let store = options.open(dir.path()).unwrap();
        store.mute_sync(&alice, &room("a")).unwrap();
        store.flush_sync().unwrap();
        store.mute_sync(&alice, &room("b")).unwrap();
        store.close().unwrap();
    }
    let store = options.open(dir.path()).unwrap();
    assert_eq!(store.muted_rooms_sync(&alice), ["a", "b"]);
}

/// Writes `mutes` one mute each to a fresh store and closes it, then returns the log's length
/// after each of them (after the last, the length of the whole log).
fn log_with_mutes(dir: &Path, mutes: usize) -> Vec<u64> {
    let mut lengths = Vec::new();
    for n in 0..mutes {
        let store = DurableStore::open(dir).unwrap();
        store
            .mute_sync(&user("alice"), &room(&format!("r{n}")))
            .unwrap();
        store.close().unwrap();
        lengths.push(file_len(&only_log(dir)));
    }
    lengths
}

/// Runs `f` with a `tracing` subscriber on this thread; returns its result and what was logged.
fn with_log_lines<T>(f: impl FnOnce() -> T) -> (T, String) {
    use std::sync::{Arc, Mutex};
    use tracing_subscriber::util::SubscriberInitExt;

    #[derive(Clone, Default)]
    struct Lines(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Lines {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    let lines = Lines::default();
    let writer = lines.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let result = {
        let _default = subscriber.set_default();
        f()
    };
    let text = String::from_utf8_lossy(&lines.0.lock().unwrap()).into_owned();
    (result, text)
}

#[test]
fn a_torn_write_at_the_end_is_cut_off_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let lengths = log_with_mutes(dir.path(), 3);
    let log = only_log(dir.path());
    // The last write, cut in the middle.
    let torn_at = (lengths[1] + lengths[2]) / 2;
    fs::OpenOptions::new()
        .write(true)
        .open(&log)
        .unwrap()
        .set_len(torn_at)
        .unwrap();
    let (store, log_lines) = with_log_lines(|| DurableStore::open(dir.path()).unwrap());
    assert_eq!(store.muted_rooms_sync(&user("alice")), ["r0", "r1"]);
    assert!(
        log_lines.contains("WARN") && log_lines.contains("torn write"),
        "{log_lines}"
    );
    assert!(
        log_lines.contains(&log.display().to_string()),
        "{log_lines}"
    );
    let torn = store
        .recovery()
        .torn_tail
        .clone()
        .expect("a torn tail is reported");
    assert_eq!(torn.file, log);
    assert_eq!(torn.offset, lengths[1]);
    assert_eq!(torn.discarded_bytes, torn_at - lengths[1]);
    store.mute_sync(&user("alice"), &room("after")).unwrap();
    store.close().unwrap();
    let store = DurableStore::open(dir.path()).unwrap();
    assert!(store.recovery().torn_tail.is_none());
    assert_eq!(
        store.muted_rooms_sync(&user("alice")),
        ["r0", "r1", "after"]
    );
}

#[test]
fn a_scrambled_last_frame_followed_by_zeros_is_a_torn_write() {
    let dir = tempfile::tempdir().unwrap();
    let lengths = log_with_mutes(dir.path(), 2);
    let log = only_log(dir.path());
    let mut bytes = fs::read(&log).unwrap();
    let last = bytes.len() - 2;
    bytes[last] ^= 0x55;
    bytes.extend_from_slice(&[0; 4096]);
    fs::write(&log, &bytes).unwrap();
    let store = DurableStore::open(dir.path()).unwrap();
    assert_eq!(store.muted_rooms_sync(&user("alice")), ["r0"]);
    assert_eq!(
        store.recovery().torn_tail.as_ref().unwrap().offset,
        lengths[0]
    );
}

fn expect_damaged(dir: &Path, file: &Path) -> OpenError {
    match DurableStore::open(dir) {
        Err(error @ OpenError::Damaged { .. }) => {
            let OpenError::Damaged { path, .. } = &error else {
                unreachable!()
            };
            assert_eq!(path, file);
            let name = file.file_name().unwrap().to_str().unwrap();
            assert!(error.to_string().contains(name), "{error}");
            error
        }
        other => panic!("expected damage in {}, got {other:?}", file.display()),
    }
}

#[test]
fn a_bad_checksum_before_the_end_is_an_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let lengths = log_with_mutes(dir.path(), 3);
    let log = only_log(dir.path());
    let mut bytes = fs::read(&log).unwrap();
    // Inside the second frame's payload: a frame follows it.
    let at = (lengths[0] + lengths[1]) as usize / 2 + 4;
    bytes[at] ^= 0x01;
    fs::write(&log, &bytes).unwrap();
    let error = expect_damaged(dir.path(), &log);
    let OpenError::Damaged { offset, .. } = error else {
        unreachable!()
    };
    assert_eq!(offset, lengths[0]);
    assert_eq!(
        fs::read(&log).unwrap(),
        bytes,
        "a failed open changes nothing"
    );
}

#[test]
fn garbage_after_the_log_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    log_with_mutes(dir.path(), 2);
    let log = only_log(dir.path());
    let mut bytes = fs::read(&log).unwrap();
    bytes.extend(b"this is not a frame, and more bytes follow it".iter());
    fs::write(&log, &bytes).unwrap();
    expect_damaged(dir.path(), &log);
}

#[test]
fn a_damaged_snapshot_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = DurableStore::open(dir.path()).unwrap();
        for n in 0..50 {
            store
                .mute_sync(&user(&format!("user-{n}")), &room("r"))
                .unwrap();
        }
        store.compact_sync().unwrap();
    }
    let snapshots = files_starting_with(dir.path(), "snapshot-");
    let snapshot = &snapshots[0];
    let pristine = fs::read(snapshot).unwrap();
    for damage in 0..3 {
        let mut bytes = pristine.clone();
        match damage {
            0 => bytes[40] ^= 0x10,
            1 => bytes.truncate(bytes.len() - 5),
            _ => bytes[..8].copy_from_slice(b"GARBAGE!"),
        }
        fs::write(snapshot, &bytes).unwrap();
        expect_damaged(dir.path(), snapshot);
    }
    fs::write(snapshot, &pristine).unwrap();
    assert_eq!(DurableStore::open(dir.path()).unwrap().user_count(), 50);
}

#[test]
fn a_missing_log_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = DurableStore::open(dir.path()).unwrap();
        store.mute_sync(&user("alice"), &room("a")).unwrap();
        store.compact_sync().unwrap();
        store.mute_sync(&user("alice"), &room("b")).unwrap();
    }
    fs::remove_file(only_log(dir.path())).unwrap();
    assert!(matches!(
        DurableStore::open(dir.path()),
        Err(OpenError::Incomplete { .. })
    ));
}

/// Flips each byte of a small log in turn: every open either fails with `Damaged` or succeeds
/// with a prefix of the changes, reporting a torn tail; none panics and none invents data.
#[test]
fn no_single_flipped_byte_panics_or_loses_data_silently() {
    let dir = tempfile::tempdir().unwrap();
    let lengths = log_with_mutes(dir.path(), 3);
    let log = only_log(dir.path());
    let pristine = fs::read(&log).unwrap();
    let all = ["r0", "r1", "r2"];
    for at in 0..pristine.len() {
        let mut bytes = pristine.clone();
        bytes[at] ^= 0x80;
        fs::write(&log, &bytes).unwrap();
        match DurableStore::open(dir.path()) {
            Ok(store) => {
                let torn = store.recovery().torn_tail.clone();
                let rooms = store.muted_rooms_sync(&user("alice"));
                assert!(
                    torn.is_some(),
                    "byte {at}: a flipped byte was read without complaint"
                );
                assert!(
                    at as u64 >= lengths[1],
                    "byte {at}: only the last frame is torn"
                );
                assert_eq!(rooms, all[..2], "byte {at}");
            }
            Err(OpenError::Damaged { path, .. }) => assert_eq!(path, log),
            Err(other) => panic!("byte {at}: {other}"),
        }
    }
}

#[test]
fn after_a_failed_write_changes_are_refused_and_acknowledged_ones_kept() {
    let dir = tempfile::tempdir().unwrap();
    let alice = user("alice");
    {
        let store = DurableStore::open(dir.path()).unwrap();
        store.mute_sync(&alice, &room("kept")).unwrap();
        // A directory where the next log's file must be created makes the rotation fail.
        let blocker = dir.path().join("log-00000001.tmp");
        fs::create_dir(&blocker).unwrap();
        let failure = store.compact_sync().unwrap_err();
        assert!(matches!(failure, StoreError::Backend(_)), "{failure:?}");
        assert!(failure.to_string().contains("log-00000001"), "{failure}");
        for attempt in [
            store.mute_sync(&alice, &room("refused")).map(drop),
            store.unmute_sync(&alice, &room("kept")).map(drop),
            store.forget_room_sync(&room("kept")).map(drop),
            store.compact_sync(),
        ] {
            assert!(
                matches!(attempt, Err(StoreError::Backend(_))),
                "{attempt:?}"
            );
        }
        // Every change accepted before the failure was synced before the failing step.
        store.flush_sync().unwrap();
        assert_eq!(store.muted_rooms_sync(&alice), ["kept"], "reads go on");
        assert!(store.close().is_err());
        fs::remove_dir(&blocker).unwrap();
    }
    let store = DurableStore::open(dir.path()).unwrap();
    assert_eq!(store.muted_rooms_sync(&alice), ["kept"]);
    store.mute_sync(&alice, &room("again")).unwrap();
}

#[test]
fn a_zero_compaction_threshold_compacts_after_every_write_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let options = DurableOptions::new().compact_after_bytes(0);
    let alice = user("alice");
    {
        let store = options.open(dir.path()).unwrap();
        for n in 0..20 {
            store.mute_sync(&alice, &room(&format!("r{n}"))).unwrap();
        }
        store.unmute_sync(&alice, &room("r3")).unwrap();
        store.compact_sync().unwrap();
        assert_eq!(files_starting_with(dir.path(), "log-").len(), 1);
        store.mute_sync(&alice, &room("last")).unwrap();
    }
    let store = options.open(dir.path()).unwrap();
    let rooms = store.muted_rooms_sync(&alice);
    assert_eq!(rooms.len(), 20);
    assert!(!rooms.contains("r3") && rooms.contains("r19") && rooms.contains("last"));
}
