//! A torn write's warning in the log. A test binary of its own: `tracing` caches whether a log
//! line has a listener once per line, process-wide, and when another test's thread (with no
//! subscriber) reaches the warning first while this test's scoped subscriber is the only one
//! registered, the line is cached as unheard and this test reads an empty log
//! (tokio-rs/tracing#3611). The other torn-write tests are in `durable_recovery.rs`.

#![cfg(feature = "durable")]

mod durable_files;

use std::fs;

use durable_files::{log_with_mutes, only_log, room, user};
use mutestore::DurableStore;

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
