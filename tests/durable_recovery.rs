//! `DurableStore` across reopens: what comes back, what a torn write costs, and what damage does.

#![cfg(feature = "durable")]

mod durable_files;

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use durable_files::{file_len, files_starting_with, log_with_mutes, only_log, room, user};
use mutestore::{
    Actor, Durability, DurableOptions, DurableStore, EventScope, Expiry, MAX_ID_BYTES, ManualClock,
    OpenError, StoreError, UserId,
};

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
fn a_limit_past_what_a_snapshot_frame_holds_is_lowered_to_the_most_it_holds() {
    let dir = tempfile::tempdir().unwrap();
    for (asked, kept) in [
        (usize::MAX, DurableOptions::MAX_MUTE_LIMIT),
        (
            DurableOptions::MAX_MUTE_LIMIT + 1,
            DurableOptions::MAX_MUTE_LIMIT,
        ),
        (
            DurableOptions::MAX_MUTE_LIMIT,
            DurableOptions::MAX_MUTE_LIMIT,
        ),
        (5000, 5000),
    ] {
        let store = DurableOptions::new()
            .mute_limit(asked)
            .open(dir.path())
            .unwrap();
        assert_eq!(store.mute_limit(), kept, "{asked}");
    }
    // Room ids of the longest length, each with a deadline, at that many rooms still fit the
    // 32-bit length of the one frame that holds the user's list.
    let longest_room = 2 + MAX_ID_BYTES + 10;
    assert!(DurableOptions::MAX_MUTE_LIMIT * longest_room < u32::MAX as usize);
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

/// A power cut during the last write can leave its first sector unwritten (still the zeros the log
/// was filled with) and later ones written. That write never returned, so it is cut off like any
/// torn write; a zeroed frame header with a whole frame after it is damage all the same.
#[test]
fn a_last_write_whose_first_bytes_never_reached_the_disk_is_a_torn_write() {
    let dir = tempfile::tempdir().unwrap();
    let lengths = log_with_mutes(dir.path(), 3);
    let log = only_log(dir.path());
    let pristine = fs::read(&log).unwrap();

    let mut bytes = pristine.clone();
    let last = lengths[1] as usize;
    bytes[last..last + 16].fill(0);
    bytes.extend_from_slice(&[0; 4096]);
    fs::write(&log, &bytes).unwrap();
    let store = DurableStore::open(dir.path()).unwrap();
    assert_eq!(store.muted_rooms_sync(&user("alice")), ["r0", "r1"]);
    let torn = store.recovery().torn_tail.clone().expect("a torn tail");
    assert_eq!((torn.file, torn.offset), (log.clone(), lengths[1]));
    store.close().unwrap();

    // The middle frame's header lost, the last frame whole after it: not a torn write.
    let mut bytes = pristine;
    let middle = lengths[0] as usize;
    bytes[middle..middle + 12].fill(0);
    fs::write(&log, &bytes).unwrap();
    match DurableStore::open(dir.path()) {
        Err(OpenError::Damaged { path, offset, .. }) => {
            assert_eq!((path, offset), (log, lengths[0]));
        }
        other => panic!("expected damage, got {other:?}"),
    }
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

/// The open removes the temporaries a crash left (`log-<n>.tmp`, `snapshot-<n>.tmp`) and nothing
/// else: a data directory may be one the user keeps other files in, `*.tmp` ones included.
#[test]
fn an_open_removes_only_its_own_temporary_files() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = DurableStore::open(dir.path()).unwrap();
        store.mute_sync(&user("alice"), &room("a")).unwrap();
    }
    let own = ["log-00000007.tmp", "snapshot-00000003.tmp"];
    let foreign = [
        "notes.tmp",
        "log-draft.tmp",
        "snapshot-.tmp",
        "log-1x.tmp",
        "log-7.tmp",
        "a.txt",
    ];
    for name in own.iter().chain(&foreign) {
        fs::write(dir.path().join(name), "left here").unwrap();
    }
    let store = DurableStore::open(dir.path()).unwrap();
    assert_eq!(state(&store), [("alice".to_owned(), vec!["a".to_owned()])]);
    for name in own {
        assert!(
            !dir.path().join(name).exists(),
            "{name} is the store's and is removed"
        );
    }
    for name in foreign {
        assert!(
            dir.path().join(name).exists(),
            "{name} is not the store's and is kept"
        );
    }
}

/// Files whose names only look like the store's (`log-7` for `log-00000007`) are not read as
/// data files: before, `log-7` was listed as generation 7 and the open then failed on the
/// missing `log-00000007`.
#[test]
fn names_the_store_does_not_write_are_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = DurableStore::open(dir.path()).unwrap();
        store.mute_sync(&user("alice"), &room("a")).unwrap();
    }
    let foreign = ["log-7", "snapshot-2", "log-000000000", "snapshot-0000001"];
    for name in foreign {
        fs::write(dir.path().join(name), "not a data file").unwrap();
    }
    let store = DurableStore::open(dir.path()).unwrap();
    assert_eq!(state(&store), [("alice".to_owned(), vec!["a".to_owned()])]);
    store.mute_sync(&user("alice"), &room("b")).unwrap();
    store.compact_sync().unwrap();
    drop(store);
    for name in foreign {
        assert_eq!(
            fs::read(dir.path().join(name)).unwrap(),
            b"not a data file",
            "{name} is not the store's and is kept as it was"
        );
    }
    let store = DurableStore::open(dir.path()).unwrap();
    assert_eq!(
        state(&store),
        [("alice".to_owned(), vec!["a".to_owned(), "b".to_owned()])]
    );
}

/// A path that cannot be a data directory is refused with the reason, and nothing is created.
#[test]
fn an_empty_path_or_a_file_is_refused_as_the_data_directory() {
    let error = DurableStore::open("").unwrap_err();
    assert!(matches!(error, OpenError::Io { .. }), "{error:?}");
    assert!(error.to_string().contains("the path is empty"), "{error}");

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    fs::write(&file, "kept").unwrap();
    let error = DurableStore::open(&file).unwrap_err();
    assert!(matches!(error, OpenError::Io { .. }), "{error:?}");
    assert!(error.to_string().contains("not a directory"), "{error}");
    assert_eq!(fs::read(&file).unwrap(), b"kept");
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
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

/// 2026-11-25T00:00:00Z: where the timed tests' clocks start.
const T0: u64 = 1_795_564_800_000;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Options reading `clock`.
fn with_clock(clock: &Arc<ManualClock>) -> DurableOptions {
    DurableOptions::new().clock(clock.clone())
}

/// Every user's list with its deadlines, sorted by user, each list in mute order.
type TimedState = Vec<(String, Vec<(String, Option<u64>)>)>;

fn timed_state(store: &DurableStore) -> TimedState {
    let mut users = Vec::new();
    store.for_each_user(|user, rooms| {
        users.push((
            user.to_string(),
            rooms
                .iter_timed()
                .map(|(room, until)| (room.to_string(), until))
                .collect(),
        ));
    });
    users.sort();
    users
}

fn timed(rooms: &[(&str, Option<u64>)]) -> Vec<(String, Option<u64>)> {
    rooms
        .iter()
        .map(|(room, until)| (room.to_string(), *until))
        .collect()
}

fn mute_until(store: &DurableStore, who: &UserId, what: &str, until: u64) {
    let outcome = store
        .mute_with_sync(who, &room(what), Expiry::At(until), Actor::User)
        .unwrap();
    assert!(outcome.changed, "{who} {what} until {until}");
}

#[test]
fn a_timed_mute_survives_a_reopen_with_its_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let options = with_clock(&clock);
    let alice = user("alice");
    {
        let store = options.open(dir.path()).unwrap();
        let outcome = store
            .mute_with_sync(
                &alice,
                &room("a"),
                Expiry::After(Duration::from_secs(60)),
                Actor::User,
            )
            .unwrap();
        assert_eq!(outcome.rooms.until("a"), Some(T0 + 60_000));
        store.mute_sync(&alice, &room("b")).unwrap();
        store
            .mute_with_sync(&alice, &room("c"), Expiry::At(T0 + 90_000), Actor::Admin)
            .unwrap();
        store.close().unwrap();
    }
    clock.advance(ms(59_999));
    let store = options.open(dir.path()).unwrap();
    let rooms = store.muted_rooms_sync(&alice);
    assert_eq!(rooms, ["a", "b", "c"]);
    assert_eq!(rooms.until("a"), Some(T0 + 60_000));
    assert_eq!(rooms.until("b"), None);
    assert_eq!(rooms.until("c"), Some(T0 + 90_000));
    assert_eq!(store.expire_due_sync(), 0, "nothing has lapsed yet");
    clock.advance(ms(1));
    assert_eq!(store.muted_rooms_sync(&alice), ["b", "c"]);
    assert_eq!(store.expire_due_sync(), 1);
}

#[test]
fn a_reopen_after_the_deadline_purges_what_lapsed_while_closed() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let options = with_clock(&clock);
    let (alice, bob, carol) = (user("alice"), user("bob"), user("carol"));
    {
        let store = options.open(dir.path()).unwrap();
        mute_until(&store, &alice, "a", T0 + 10_000);
        mute_until(&store, &alice, "b", T0 + 3_600_000);
        mute_until(&store, &bob, "x", T0 + 10_000);
        store.mute_sync(&bob, &room("y")).unwrap();
        mute_until(&store, &carol, "only", T0 + 5_000);
        assert_eq!(store.user_count(), 3);
    }
    clock.advance(Duration::from_secs(10));
    {
        let store = options.open(dir.path()).unwrap();
        assert!(!store.is_muted_sync(&alice, &room("a")));
        assert_eq!(
            timed_state(&store),
            [
                ("alice".into(), timed(&[("b", Some(T0 + 3_600_000))])),
                ("bob".into(), timed(&[("y", None)])),
            ]
        );
        // Purged by the open, not only hidden: carol is gone, and nothing is left to purge.
        assert_eq!(store.user_count(), 2);
        let mut feed = mutestore::MuteStore::subscribe(&store, EventScope::All).unwrap();
        assert_eq!(store.expire_due_sync(), 0);
        store.mute_sync(&alice, &room("sentinel")).unwrap();
        let event = feed.try_recv().unwrap().expect("the sentinel's event");
        assert_eq!((event.room.as_str(), event.muted), ("sentinel", true));
        store.unmute_sync(&alice, &room("sentinel")).unwrap();
        // And the next snapshot leaves them off the disk.
        store.compact_sync().unwrap();
    }
    let store = options.open(dir.path()).unwrap();
    assert_eq!(store.recovery().snapshot_users, 2);
    assert_eq!(store.recovery().snapshot_rooms, 2);
    assert_eq!(store.recovery().log_records, 0);
}

/// Plays the same sequence on one store, moving the clock: timed mutes lapse and their rooms are
/// muted again (to the end of the list), a plain re-mute removes a deadline before it lapses (the
/// room keeps its place), a timed re-mute moves a deadline, and the purge happens sometimes by
/// `expire_due`, sometimes by the write.
fn play_timed_sequence(store: &DurableStore, clock: &ManualClock) {
    let (alice, bob, carol) = (user("alice"), user("bob"), user("carol"));
    mute_until(store, &alice, "a", T0 + 10);
    store.mute_sync(&alice, &room("b")).unwrap();
    mute_until(store, &alice, "c", T0 + 100);
    mute_until(store, &alice, "d", T0 + 50);
    mute_until(store, &bob, "x", T0 + 5);
    store.mute_sync(&bob, &room("y")).unwrap();
    mute_until(store, &carol, "m", T0 + 15);
    store.mute_sync(&carol, &room("n")).unwrap();

    clock.set(T0 + 5);
    // x lapsed now: muted again, it goes after y.
    mute_until(store, &bob, "x", T0 + 500);
    clock.set(T0 + 10);
    // a lapsed, not yet purged: the write purges it, and a goes to the end.
    assert_eq!(
        store.mute_sync(&alice, &room("a")).unwrap().rooms,
        ["b", "c", "d", "a"]
    );
    clock.set(T0 + 16);
    assert_eq!(store.forget_room_sync(&room("n")).unwrap(), 1);
    clock.set(T0 + 20);
    // c has not lapsed: a plain mute keeps its place and removes its deadline.
    let outcome = store.mute_sync(&alice, &room("c")).unwrap();
    assert!(outcome.changed);
    assert_eq!(outcome.rooms, ["b", "c", "d", "a"]);
    assert_eq!(outcome.rooms.until("c"), None);
    clock.set(T0 + 30);
    // d has not lapsed: a new deadline keeps its place.
    mute_until(store, &alice, "d", T0 + 1_000);
    mute_until(store, &alice, "e", T0 + 70);
    clock.set(T0 + 70);
    // e lapsed; this time the purge comes first, then the mute.
    store.expire_due_sync();
    store.mute_sync(&alice, &room("e")).unwrap();
    store
        .unmute_by_sync(&bob, &room("y"), Actor::Admin)
        .unwrap();
    clock.set(T0 + 200);
    mute_until(store, &bob, "z", T0 + 300);
}

#[test]
fn mute_order_after_replay_equals_the_order_before_close() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let options = with_clock(&clock);
    let expected: TimedState = vec![
        (
            "alice".into(),
            timed(&[
                ("b", None),
                ("c", None),
                ("d", Some(T0 + 1_000)),
                ("a", None),
                ("e", None),
            ]),
        ),
        (
            "bob".into(),
            timed(&[("x", Some(T0 + 500)), ("z", Some(T0 + 300))]),
        ),
    ];
    {
        let store = options.open(dir.path()).unwrap();
        play_timed_sequence(&store, &clock);
        assert_eq!(timed_state(&store), expected);
    }
    // At the time the store closed, and at a later one.
    let store = options.open(dir.path()).unwrap();
    assert_eq!(timed_state(&store), expected);
    assert!(store.recovery().log_records > 15);
    drop(store);
    clock.set(T0 + 400);
    let store = options.open(dir.path()).unwrap();
    let mut later = expected.clone();
    later[1].1.pop(); // bob's z lapsed at T0 + 300
    assert_eq!(timed_state(&store), later);
}

#[test]
fn snapshot_and_log_replay_keep_deadlines_and_order() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let options = with_clock(&clock);
    let (alice, bob) = (user("alice"), user("bob"));
    let before_close = {
        let store = options.open(dir.path()).unwrap();
        mute_until(&store, &alice, "a", T0 + 10);
        mute_until(&store, &alice, "b", T0 + 1_000);
        store.mute_sync(&alice, &room("c")).unwrap();
        mute_until(&store, &bob, "x", T0 + 20);
        store.mute_sync(&bob, &room("y")).unwrap();
        clock.set(T0 + 15);
        // The boundary is taken at T0 + 15: a (lapsed by then) is left out of the snapshot; x
        // (which lapses after it) is kept with its deadline.
        store.compact_sync().unwrap();
        clock.set(T0 + 30);
        // In the new log: b keeps its place and loses its deadline; x lapsed after the boundary,
        // so muted again it goes to the end.
        store.mute_sync(&alice, &room("b")).unwrap();
        mute_until(&store, &alice, "d", T0 + 40);
        store.mute_sync(&alice, &room("a")).unwrap();
        store.mute_sync(&bob, &room("x")).unwrap();
        clock.set(T0 + 35);
        let state = timed_state(&store);
        assert_eq!(
            state,
            [
                (
                    "alice".into(),
                    timed(&[("b", None), ("c", None), ("d", Some(T0 + 40)), ("a", None)])
                ),
                ("bob".into(), timed(&[("y", None), ("x", None)])),
            ]
        );
        state
    };
    let store = options.open(dir.path()).unwrap();
    assert_eq!(store.recovery().snapshot_users, 2);
    assert_eq!(store.recovery().snapshot_rooms, 4, "b, c, x and y");
    assert_eq!(store.recovery().log_records, 4);
    assert_eq!(timed_state(&store), before_close);
    clock.set(T0 + 40);
    assert_eq!(store.muted_rooms_sync(&alice), ["b", "c", "a"]);

    // Compacted again: the new snapshot holds the deadlines it loaded and replayed.
    mute_until(&store, &alice, "f", T0 + 5_000);
    store.compact_sync().unwrap();
    drop(store);
    let store = options.open(dir.path()).unwrap();
    assert_eq!(store.recovery().log_records, 0);
    assert_eq!(store.muted_rooms_sync(&alice).until("f"), Some(T0 + 5_000));
    assert_eq!(
        timed_state(&store)[0].1,
        timed(&[
            ("b", None),
            ("c", None),
            ("a", None),
            ("f", Some(T0 + 5_000))
        ])
    );
}

#[test]
fn refused_and_idempotent_timed_mutes_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let options = with_clock(&clock).mute_limit(1);
    let alice = user("alice");
    {
        let store = options.open(dir.path()).unwrap();
        mute_until(&store, &alice, "a", T0 + 100);
    }
    let log = only_log(dir.path());
    let before = file_len(&log);
    {
        let store = options.open(dir.path()).unwrap();
        for expiry in [
            Expiry::At(T0),
            Expiry::At(T0 - 1),
            Expiry::After(Duration::ZERO),
            Expiry::At(mutestore::MAX_DEADLINE_MS + 1),
        ] {
            assert!(
                matches!(
                    store.mute_with_sync(&alice, &room("b"), expiry, Actor::User),
                    Err(StoreError::InvalidExpiry(_))
                ),
                "{expiry:?}"
            );
        }
        assert!(matches!(
            store.mute_with_sync(&alice, &room("b"), Expiry::At(T0 + 5), Actor::User),
            Err(StoreError::MuteLimitExceeded(_))
        ));
        let again = store
            .mute_with_sync(&alice, &room("a"), Expiry::At(T0 + 100), Actor::Admin)
            .unwrap();
        assert!(!again.changed);
        assert_eq!(store.expire_due_sync(), 0);
        clock.advance(ms(100));
        assert_eq!(
            store.expire_due_sync(),
            1,
            "a lapsing writes nothing either"
        );
    }
    assert_eq!(file_len(&log), before, "nothing was appended");
}

/// CRC-32 (IEEE), as the data files use, for writing files by hand.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A data file as the store writes it: the header, then one frame per payload.
fn data_file(magic: &[u8; 8], generation: u64, payloads: &[Vec<u8>]) -> Vec<u8> {
    let mut file = magic.to_vec();
    file.extend_from_slice(&generation.to_le_bytes());
    for payload in payloads {
        let offset = file.len() as u64;
        let len = payload.len() as u32;
        let payload_crc = crc32(payload);
        let mut covered = offset.to_le_bytes().to_vec();
        covered.extend_from_slice(&len.to_le_bytes());
        covered.extend_from_slice(&payload_crc.to_le_bytes());
        file.extend_from_slice(&len.to_le_bytes());
        file.extend_from_slice(&payload_crc.to_le_bytes());
        file.extend_from_slice(&crc32(&covered).to_le_bytes());
        file.extend_from_slice(payload);
    }
    file
}

/// An id as the files hold it: one byte `len - 1`, then the bytes.
fn id(out: &mut Vec<u8>, id: &str) {
    out.push((id.len() - 1) as u8);
    out.extend_from_slice(id.as_bytes());
}

/// A snapshot and a log as the version before deadlines wrote them (frame kind 0x01 for users,
/// records 0x01 to 0x04 with no time) still open, and the store goes on writing after them.
#[test]
fn files_of_the_format_before_deadlines_still_open() {
    let dir = tempfile::tempdir().unwrap();
    // Snapshot 1: alice [a, b, c], bob [x].
    let mut users = vec![0x01];
    id(&mut users, "alice");
    users.push(3);
    for r in ["a", "b", "c"] {
        id(&mut users, r);
    }
    id(&mut users, "bob");
    users.push(1);
    id(&mut users, "x");
    let mut end = vec![0x02];
    end.extend_from_slice(&2u64.to_le_bytes());
    end.extend_from_slice(&4u64.to_le_bytes());
    fs::write(
        dir.path().join("snapshot-00000001"),
        data_file(b"MUTESNP1", 1, &[users, end]),
    )
    .unwrap();
    // Log 1, in two frames: mute alice d, unmute alice a, mute alice a, forget_room x,
    // mute carol r, forget_user carol; then zeros, as a log still being written has.
    let mut first = Vec::new();
    for (tag, who, what) in [(0x01, "alice", "d"), (0x02, "alice", "a")] {
        first.push(tag);
        id(&mut first, who);
        id(&mut first, what);
    }
    let mut second = vec![0x01];
    id(&mut second, "alice");
    id(&mut second, "a");
    second.push(0x04);
    id(&mut second, "x");
    second.push(0x01);
    id(&mut second, "carol");
    id(&mut second, "r");
    second.push(0x03);
    id(&mut second, "carol");
    let mut log = data_file(b"MUTELOG1", 1, &[first, second]);
    log.extend_from_slice(&[0; 4096]);
    fs::write(dir.path().join("log-00000001"), &log).unwrap();

    let clock = Arc::new(ManualClock::new(T0));
    let options = with_clock(&clock);
    let expected: TimedState = vec![(
        "alice".into(),
        timed(&[("b", None), ("c", None), ("d", None), ("a", None)]),
    )];
    {
        let store = options.open(dir.path()).unwrap();
        assert_eq!(store.recovery().snapshot_users, 2);
        assert_eq!(store.recovery().snapshot_rooms, 4);
        assert_eq!(store.recovery().log_records, 6);
        assert!(store.recovery().torn_tail.is_none());
        assert_eq!(timed_state(&store), expected);
        // The new version appends its own records (with times) after the old ones.
        mute_until(&store, &alice_id(), "t", T0 + 50);
    }
    {
        let store = options.open(dir.path()).unwrap();
        assert_eq!(store.recovery().log_records, 7);
        assert_eq!(
            store.muted_rooms_sync(&alice_id()).until("t"),
            Some(T0 + 50)
        );
        // And folds everything into a snapshot of the new format.
        store.compact_sync().unwrap();
    }
    let store = options.open(dir.path()).unwrap();
    assert_eq!(store.recovery().log_records, 0);
    assert_eq!(
        timed_state(&store)[0].1,
        timed(&[
            ("b", None),
            ("c", None),
            ("d", None),
            ("a", None),
            ("t", Some(T0 + 50))
        ])
    );
}

/// A power cut can lose one sector of the last write and keep the others. When a sector boundary
/// falls inside that write's frame header, the header is left half zeros: on one side of the
/// boundary it is what was there before the write (the zeros the log was filled with), on the
/// other what was written. That is a torn write like a wholly zeroed header, and is cut off; a
/// header damaged otherwise before the same bytes stays damage.
#[test]
fn a_last_frame_header_split_by_a_lost_sector_is_a_torn_write() {
    let mute = |who: &str, what: &str| {
        let mut record = vec![0x01];
        id(&mut record, who);
        id(&mut record, what);
        record
    };
    let (r0, r1) = ("0".repeat(225), "1".repeat(225));
    let frames = [
        mute("alice", &r0),
        mute("alice", &r1),
        mute(&"u".repeat(256), &"r".repeat(256)),
    ];
    let whole = data_file(b"MUTELOG1", 0, &frames);
    // The last frame's header starts 6 bytes before the first 512-byte boundary; the frame ends
    // in the third sector.
    let last = whole.len() - 12 - frames[2].len();
    assert_eq!((last, whole.len()), (506, 1033));
    let lost_sectors = [("the first", 0..512), ("the second", 512..1024)];
    for (which, sector) in lost_sectors {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log-00000000");
        let mut bytes = whole.clone();
        bytes[last.max(sector.start)..sector.end].fill(0);
        bytes.resize(4096, 0);
        fs::write(&log, &bytes).unwrap();
        let store = DurableStore::open(dir.path())
            .unwrap_or_else(|e| panic!("{which} sector of the last write lost: {e}"));
        assert_eq!(store.muted_rooms_sync(&user("alice")), [r0.as_str(), &r1]);
        assert_eq!(store.user_count(), 1);
        let torn = store.recovery().torn_tail.clone().expect("a torn tail");
        assert_eq!((torn.file, torn.offset), (log.clone(), last as u64));
        assert_eq!(torn.discarded_bytes, whole.len() as u64 - last as u64);
        store.close().unwrap();
        assert_eq!(file_len(&log), last as u64, "cut off at the torn write");
    }
    // The same header with a byte changed instead, its frame whole after it: damage.
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log-00000000");
    let mut bytes = whole.clone();
    bytes[last + 1] ^= 0x10;
    bytes.resize(4096, 0);
    fs::write(&log, &bytes).unwrap();
    expect_damaged(dir.path(), &log);
}

fn alice_id() -> UserId {
    user("alice")
}

/// A LEB128 varint, as times and deadlines are written.
fn varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// Two logs and no snapshot: a crash came after the flusher started log 1 and before the
/// compactor folded log 0 into a snapshot. The open compacts log 0 with a floor no later than the
/// earliest change of log 1, so a mute still live for that change stays in the snapshot, and the
/// change, replayed after it, finds the room in its place.
#[test]
fn a_compaction_left_by_a_crash_keeps_what_the_next_log_still_saw() {
    let dir = tempfile::tempdir().unwrap();
    // Log 0, at T0: alice mutes a until T0 + 10, then b.
    let mut first = vec![0x05];
    varint(&mut first, T0);
    first.push(0x06);
    id(&mut first, "alice");
    id(&mut first, "a");
    varint(&mut first, T0 + 10);
    first.push(0x01);
    id(&mut first, "alice");
    id(&mut first, "b");
    fs::write(
        dir.path().join("log-00000000"),
        data_file(b"MUTELOG1", 0, &[first]),
    )
    .unwrap();
    // Log 1, at T0 + 5: alice mutes a again, without deadline; a has not lapsed, so it keeps its
    // place.
    let mut second = vec![0x05];
    varint(&mut second, T0 + 5);
    second.push(0x01);
    id(&mut second, "alice");
    id(&mut second, "a");
    fs::write(
        dir.path().join("log-00000001"),
        data_file(b"MUTELOG1", 1, &[second]),
    )
    .unwrap();

    // Opened long after a's deadline: a snapshot read at the open's time would leave a out.
    let clock = Arc::new(ManualClock::new(T0 + 100));
    let options = with_clock(&clock);
    let expected: TimedState = vec![("alice".into(), timed(&[("a", None), ("b", None)]))];
    {
        let store = options.open(dir.path()).unwrap();
        assert_eq!(store.recovery().log_files, 2);
        assert_eq!(timed_state(&store), expected);
        // The open asked for log 0 to be compacted; wait for the compactor (a bounded wait for a
        // file, not for time to pass on any clock the store reads).
        let waited = std::time::Instant::now();
        while dir.path().join("log-00000000").exists() {
            assert!(waited.elapsed() < Duration::from_secs(20), "no compaction");
            std::thread::sleep(ms(2));
        }
    }
    let store = options.open(dir.path()).unwrap();
    assert_eq!(store.recovery().snapshot_rooms, 2, "a and b, as of T0 + 5");
    assert_eq!(store.recovery().log_records, 1);
    assert_eq!(timed_state(&store), expected);
}

/// A data file whose name holds a generation at the end of the `u64` range fails the open naming
/// that file, like any other damage. At `u64::MAX` or one below, the open itself overflowed while
/// counting the generations (a panic). Two below, the open succeeded and the second rotation
/// overflowed in the flusher, which failed the store and left files that the next open panicked
/// on; without overflow checks (a release build) the count wraps round to log and snapshot 0, and
/// a snapshot 0 reads as no snapshot at all.
#[test]
fn a_generation_at_the_end_of_the_range_is_an_error_not_a_panic() {
    let max = u64::MAX;
    let snapshot = |generation: u64| {
        (
            format!("snapshot-{generation}"),
            data_file(b"MUTESNP1", generation, &[end_frame(0, 0)]),
        )
    };
    let log = |generation: u64| {
        (
            format!("log-{generation}"),
            data_file(b"MUTELOG1", generation, &[]),
        )
    };
    let cases: [Vec<(String, Vec<u8>)>; 4] = [
        // A lone snapshot at the largest generation (its contents do not matter).
        vec![(format!("snapshot-{max}"), b"anything".to_vec())],
        // A snapshot and its log one below it, and the log after them at the end of the range.
        vec![snapshot(max - 1), log(max - 1), log(max)],
        // Valid files, one below and two below the end of the range.
        vec![snapshot(max - 1), log(max - 1)],
        vec![snapshot(max - 2), log(max - 2)],
    ];
    for files in &cases {
        let dir = tempfile::tempdir().unwrap();
        for (name, bytes) in files {
            fs::write(dir.path().join(name), bytes).unwrap();
        }
        let names: Vec<&str> = files.iter().map(|(name, _)| name.as_str()).collect();
        let opened = std::panic::catch_unwind(|| DurableStore::open(dir.path()).map(drop));
        match opened {
            Ok(Err(OpenError::Damaged { path, .. })) => {
                let name = path.file_name().unwrap().to_str().unwrap();
                assert!(names.contains(&name), "{names:?}: {name}");
            }
            Ok(other) => panic!("{names:?}: expected damage, got {other:?}"),
            Err(_) => panic!("{names:?}: the open panicked"),
        }
    }
}

/// A data file named with a generation too large for 64 bits is above the largest a store writes
/// too: it fails the open naming it, like any other, instead of being passed over.
#[test]
fn a_generation_past_64_bits_is_an_error_not_ignored() {
    for name in [
        "log-18446744073709551616",
        "snapshot-99999999999999999999999",
    ] {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = DurableStore::open(dir.path()).unwrap();
            store.mute_sync(&user("alice"), &room("a")).unwrap();
        }
        let path = dir.path().join(name);
        fs::write(&path, b"anything").unwrap();
        expect_damaged(dir.path(), &path);
        assert_eq!(
            fs::read(&path).unwrap(),
            b"anything",
            "{name} was left as it was"
        );
    }
}

/// The end frame of a snapshot holding `users` users and `rooms` rooms.
fn end_frame(users: u64, rooms: u64) -> Vec<u8> {
    let mut end = vec![0x02];
    end.extend_from_slice(&users.to_le_bytes());
    end.extend_from_slice(&rooms.to_le_bytes());
    end
}

/// At the largest generation a store writes (2^63 - 1), files still open; the next rotation
/// would go past it, so it fails the store with an error instead, and what was acknowledged stays.
#[test]
fn the_largest_generation_opens_and_a_rotation_past_it_fails_the_store() {
    let last = i64::MAX as u64;
    let dir = tempfile::tempdir().unwrap();
    fs::write(
        dir.path().join(format!("snapshot-{last}")),
        data_file(b"MUTESNP1", last, &[end_frame(0, 0)]),
    )
    .unwrap();
    fs::write(
        dir.path().join(format!("log-{last}")),
        data_file(b"MUTELOG1", last, &[]),
    )
    .unwrap();
    let alice = user("alice");
    {
        let store = DurableStore::open(dir.path()).unwrap();
        store.mute_sync(&alice, &room("kept")).unwrap();
        let failure = store.compact_sync().unwrap_err();
        assert!(matches!(failure, StoreError::Backend(_)), "{failure:?}");
        assert!(store.mute_sync(&alice, &room("refused")).is_err());
    }
    let store = DurableStore::open(dir.path()).unwrap();
    assert_eq!(store.muted_rooms_sync(&alice), ["kept"]);
}

/// One snapshot frame's users, each a name and its rooms.
type Frame<'a> = &'a [(&'a str, &'a [&'a str])];

/// A snapshot in the plain format (frame kind 0x01) holding `frames` of users, each user a name
/// and its rooms, with an end frame whose totals match what the frames list; and an empty log of
/// the same generation.
fn write_plain_snapshot(dir: &Path, frames: &[Frame<'_>]) -> PathBuf {
    let mut payloads = Vec::new();
    let (mut users, mut rooms) = (0, 0);
    for frame in frames {
        let mut payload = vec![0x01];
        for (name, listed) in *frame {
            id(&mut payload, name);
            payload.push(listed.len() as u8);
            for room in *listed {
                id(&mut payload, room);
            }
            users += 1;
            rooms += listed.len() as u64;
        }
        payloads.push(payload);
    }
    payloads.push(end_frame(users, rooms));
    let snapshot = dir.join("snapshot-00000001");
    fs::write(&snapshot, data_file(b"MUTESNP1", 1, &payloads)).unwrap();
    fs::write(dir.join("log-00000001"), data_file(b"MUTELOG1", 1, &[])).unwrap();
    snapshot
}

/// A store lists each user once, each with the rooms it has, each room once. A snapshot that
/// breaks that, though its checksums and totals hold, is damage: loading it would merge the
/// listings silently.
#[test]
fn a_snapshot_listing_a_user_or_a_room_twice_is_damage() {
    let sound = tempfile::tempdir().unwrap();
    write_plain_snapshot(
        sound.path(),
        &[
            &[("alice", &["a", "b"])],
            &[("bob", &["a"]), ("carol", &["c"])],
        ],
    );
    let store = DurableStore::open(sound.path()).unwrap();
    assert_eq!(
        state(&store),
        [
            ("alice".to_owned(), vec!["a".to_owned(), "b".to_owned()]),
            ("bob".to_owned(), vec!["a".to_owned()]),
            ("carol".to_owned(), vec!["c".to_owned()]),
        ]
    );
    drop(store);

    let cases: [(&str, &[Frame<'_>]); 4] = [
        (
            "a user in two frames",
            &[&[("alice", &["a", "b"])], &[("alice", &["c"])]],
        ),
        (
            "a user twice in one frame",
            &[&[("alice", &["a"]), ("bob", &["b"]), ("alice", &["c"])]],
        ),
        (
            "a room twice for one user",
            &[&[("alice", &["a", "b", "a"])]],
        ),
        (
            "a user with no rooms",
            &[&[("alice", &[]), ("bob", &["b"])]],
        ),
    ];
    for (case, frames) in cases {
        let dir = tempfile::tempdir().unwrap();
        let snapshot = write_plain_snapshot(dir.path(), frames);
        match DurableStore::open(dir.path()) {
            Err(OpenError::Damaged { path, .. }) => assert_eq!(path, snapshot, "{case}"),
            Err(other) => panic!("{case}: {other}"),
            Ok(store) => panic!("{case}: opened, with {:?}", state(&store)),
        }
    }
}
