//! The one place the example server chooses its store.

use std::sync::Arc;

use mutestore::{MemoryStore, SharedMuteStore};

/// The store the server runs on, and how the start-up line names it.
///
/// A [`SharedMuteStore`] so that the backend can be picked at run time: a durable store slots in
/// here next to the in-memory one.
pub fn open_store() -> (SharedMuteStore, String) {
    let store = MemoryStore::new();
    let name = format!(
        "in-memory MemoryStore, mute limit {}, nothing kept after exit",
        store.mute_limit()
    );
    (Arc::new(store), name)
}
