//! Replays every committed fuzz corpus file, crash regressions included, through the same checks
//! the fuzz targets run, on the stable toolchain.

use std::panic::catch_unwind;
use std::path::{Path, PathBuf};

use mutestore::fuzzing::{check_http, check_ids, check_store};

fn corpus_files(target: &str) -> Vec<PathBuf> {
    let directory = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&directory)
        .unwrap_or_else(|error| panic!("{}: {error}", directory.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    files
}

/// Runs `check` on every file of `target`'s corpus and lists the files it panicked on.
fn replay(target: &str, check: fn(&[u8])) {
    let files = corpus_files(target);
    assert!(!files.is_empty(), "the {target} corpus is empty");
    let failed: Vec<String> = files
        .iter()
        .filter(|path| {
            let data = std::fs::read(path).expect("a readable corpus file");
            catch_unwind(|| check(&data)).is_err()
        })
        .map(|path| path.display().to_string())
        .collect();
    assert!(failed.is_empty(), "{target}: failing inputs {failed:#?}");
}

#[test]
fn the_ids_corpus_passes() {
    replay("ids", check_ids);
}

#[test]
fn the_store_corpus_passes() {
    replay("store", check_store);
}

#[test]
fn the_http_corpus_passes() {
    replay("http", check_http);
}

#[test]
fn short_and_empty_inputs_pass() {
    for data in [
        &b""[..],
        b"\0",
        b"\xff",
        b"%",
        b"\x01\x02\x03\x04\x05\x06\x07\x08",
    ] {
        check_ids(data);
        check_store(data);
        check_http(data);
    }
}
