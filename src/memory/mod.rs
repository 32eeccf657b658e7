//! The in-memory store and the compact structures behind it.

mod memory_store;
mod room_interner;
mod room_names;
mod user_entry;
mod user_table;

pub use memory_store::{DEFAULT_MUTE_LIMIT, MemoryStore};
