//! What the durable test files share: ids, and the store's files in a data directory.

// Each test file uses its own part of this module.
#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};

use mutestore::{DurableStore, RoomId, UserId};

pub fn user(name: &str) -> UserId {
    UserId::new(name).unwrap()
}

pub fn room(name: &str) -> RoomId {
    RoomId::new(name).unwrap()
}

pub fn files_starting_with(dir: &Path, prefix: &str) -> Vec<PathBuf> {
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

pub fn only_log(dir: &Path) -> PathBuf {
    let logs = files_starting_with(dir, "log-");
    assert_eq!(logs.len(), 1, "{logs:?}");
    logs[0].clone()
}

pub fn file_len(path: &Path) -> u64 {
    fs::metadata(path).unwrap().len()
}

/// Writes `mutes` one mute each to a fresh store and closes it, then returns the log's length
/// after each of them (after the last, the length of the whole log).
pub fn log_with_mutes(dir: &Path, mutes: usize) -> Vec<u64> {
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
