//! `DurableStore`'s directory lock across processes: a second process is refused while the first
//! holds the directory, and opens it once the first has let go.
//!
//! This test sits in a test binary of its own because it spawns a process. Between `fork` and
//! `exec`, a child holds copies of every file its parent has open, the lock files of stores that
//! other tests in the same binary are closing and reopening among them; a `flock` is released only
//! when the last copy closes, so a reopen racing with the spawn could see `Locked`.

#![cfg(feature = "durable")]

use mutestore::{DurableStore, OpenError};

const LOCK_CHILD_DIR_ENV: &str = "MUTESTORE_LOCK_CHILD_DIR";

/// Run by `a_second_process_is_refused`: tries to open the directory and says what happened.
#[test]
#[ignore = "the child process of `a_second_process_is_refused`, which runs it"]
fn lock_child() {
    let Ok(dir) = std::env::var(LOCK_CHILD_DIR_ENV) else {
        return;
    };
    match DurableStore::open(&dir) {
        Ok(_) => println!("child: opened"),
        Err(error @ OpenError::Locked { .. }) => println!("child: locked: {error}"),
        Err(other) => println!("child: other error: {other}"),
    }
}

#[test]
fn a_second_process_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let child = || {
        let output = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--ignored", "--exact", "lock_child", "--nocapture"])
            .env(LOCK_CHILD_DIR_ENV, dir.path())
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        let line = stdout
            .lines()
            .find_map(|line| line.find("child: ").map(|at| line[at..].to_string()));
        line.unwrap_or_else(|| panic!("no answer from the child: {stdout}"))
    };
    let store = DurableStore::open(dir.path()).unwrap();
    let answer = child();
    assert!(answer.starts_with("child: locked"), "{answer}");
    assert!(
        answer.contains(&dir.path().display().to_string()),
        "{answer}"
    );
    drop(store);
    assert_eq!(child(), "child: opened");
}
