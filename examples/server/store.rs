//! The one place the example server chooses its store.

use std::sync::Arc;

use mutestore::{DurableStore, MemoryStore, SharedMuteStore};

use crate::args::StoreChoice;

/// Opens the chosen store; returns it with how the start-up line names it, or the reason it could
/// not be opened (a data directory another process holds, a damaged log, no permission).
///
/// A [`SharedMuteStore`] so that the backend is picked at run time.
pub fn open_store(choice: &StoreChoice) -> Result<(SharedMuteStore, String), String> {
    match choice {
        StoreChoice::Memory => {
            let store = MemoryStore::new();
            let name = format!(
                "in-memory MemoryStore, mute limit {}, nothing kept after exit",
                store.mute_limit()
            );
            Ok((Arc::new(store), name))
        }
        StoreChoice::Durable(dir) => {
            let store = DurableStore::open(dir).map_err(|error| error.to_string())?;
            let name = format!(
                "DurableStore in {}, {:?} durability, {} users loaded, mute limit {}",
                dir.display(),
                store.durability(),
                store.user_count(),
                store.mute_limit()
            );
            Ok((Arc::new(store), name))
        }
    }
}
