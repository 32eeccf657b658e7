//! `MemoryStore` against the generic suites.

mod support;

use mutestore::MemoryStore;

conformance_suite!(conformance, |limit| async move {
    MemoryStore::with_mute_limit(limit)
});
model_suite!(
    model,
    |limit| async move { MemoryStore::with_mute_limit(limit) }
);
stress_suite!(stress, |limit| async move {
    MemoryStore::with_mute_limit(limit)
});
