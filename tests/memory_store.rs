//! `MemoryStore` against the generic suites.

mod support;

use mutestore::MemoryStore;
use support::Setup;

async fn memory_store(setup: Setup) -> MemoryStore {
    let mut store = MemoryStore::with_clock(setup.shared_clock());
    store.set_mute_limit(setup.limit);
    store
}

conformance_suite!(conformance, memory_store);
model_suite!(model, memory_store);
stress_suite!(stress, memory_store);
timed_suite!(timed, memory_store);
events_suite!(events, memory_store);
