//! The in-memory store and the compact structures behind it.

mod expiry_index;
mod expiry_timer;
pub(crate) mod interned_list;
mod memory_store;
pub(crate) mod now;
mod prefetch;
mod room_interner;
mod room_names;
mod small_rooms;
mod timed_rooms;
mod user_entry;
mod user_table;

pub use memory_store::{DEFAULT_MUTE_LIMIT, MemoryStore};
