//! `DurableStore::close` reports a failure to seal its log, the last thing it writes.

#![cfg(feature = "durable")]

use std::path::{Path, PathBuf};
use std::process::Command;

use mutestore::{DurableOptions, RoomId, StoreError, UserId};

/// The newest log in `dir`.
fn newest_log(dir: &Path) -> PathBuf {
    let mut logs: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| {
            path.file_name()
                .and_then(|name| name.to_str())
                .is_some_and(|name| name.starts_with("log-") && !name.ends_with(".tmp"))
        })
        .collect();
    logs.sort();
    logs.pop().expect("a log")
}

/// Sets or clears the immutable attribute of `path`; `false` where the file system or the user
/// cannot.
fn immutable(path: &Path, on: bool) -> bool {
    Command::new("chattr")
        .arg(if on { "+i" } else { "-i" })
        .arg(path)
        .status()
        .is_ok_and(|status| status.success())
}

/// Closing trims the log's preallocated end and syncs it. An immutable file refuses the trim:
/// `close` must say so, not return `Ok`; and nothing written before is lost.
#[test]
fn close_reports_a_log_it_could_not_seal_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (alice, lobby) = (UserId::new("alice").unwrap(), RoomId::new("lobby").unwrap());
    let store = DurableOptions::new().open(dir.path()).unwrap();
    store.mute_sync(&alice, &lobby).unwrap();
    let log = newest_log(dir.path());
    if !immutable(&log, true) {
        eprintln!(
            "skipped: `chattr +i` is not available here (needs root and a file system with it)"
        );
        return;
    }
    let closed = store.close();
    assert!(immutable(&log, false), "chattr -i {}", log.display());
    assert!(matches!(closed, Err(StoreError::Backend(_))), "{closed:?}");
    let text = closed.unwrap_err().to_string();
    assert!(text.contains("trimming"), "{text}");

    let reopened = DurableOptions::new().open(dir.path()).unwrap();
    assert_eq!(
        reopened.muted_rooms_sync(&alice).iter().collect::<Vec<_>>(),
        [&lobby]
    );
    reopened.close().unwrap();
}
