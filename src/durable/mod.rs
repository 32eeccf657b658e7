//! The durable store: [`DurableStore`] and what opening and configuring it involves.
//!
//! How the files are laid out: `data_dir` (names, lock), `frame` (checksummed frames and the
//! torn-write rules, read a frame at a time from a `frame_source`), `record` (log records, and the
//! times and deadlines that make a replay reproduce every expiry decision), `snapshot` (snapshot
//! files, with deadlines). How changes reach them: `user_stripes` (per-user order), `journal`
//! (hand-over, time records and group commit), `backlog` (the bound on records held in memory),
//! `flusher` (the log's only writer, and the boundary between logs), `compactor` (snapshots, and
//! how lapsed mutes leave the disk). How a directory is read back: `recovery`, `log_replay`.
//! docs/DURABILITY.md describes the formats and the promises in one place.

mod backlog;
mod compactor;
mod data_dir;
mod durability;
mod durable_store;
mod durable_wait;
mod file_error;
mod flusher;
mod frame;
mod frame_source;
mod journal;
mod log_replay;
mod log_writer;
mod open_error;
mod options;
mod pending_frames;
mod record;
mod recovery;
mod recovery_report;
mod snapshot;
mod storage_failure;
mod user_stripes;
mod wire;

pub use durability::Durability;
pub use durable_store::DurableStore;
pub use open_error::OpenError;
pub use options::{DEFAULT_COMPACT_AFTER_BYTES, DEFAULT_MAX_BACKLOG_BYTES, DurableOptions};
pub use recovery_report::{RecoveryReport, TornTail};
