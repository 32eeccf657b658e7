//! Per-user room mutes for chat servers: who muted which room, asked on every message by the push
//! pipeline and changed by the `POST /me/mute/:room` and `DELETE /me/mute/:room` endpoints.
//!
//! # Usage
//!
//! ```
//! use mutestore::{MemoryStore, MuteStore, RoomId, UserId};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let store = MemoryStore::new();
//! let user = UserId::new("1485248560558")?;
//! let lobby = RoomId::new("lobby")?;
//! let news = RoomId::new("news")?;
//!
//! store.mute(&user, &lobby).await?;
//! let outcome = store.mute(&user, &news).await?;
//! assert_eq!(outcome.rooms, ["lobby", "news"]); // oldest mute first
//!
//! // Unmuting is idempotent: a room that is not muted is not an error.
//! let outcome = store.unmute(&user, &lobby).await?;
//! assert!(outcome.changed);
//! let outcome = store.unmute(&user, &lobby).await?;
//! assert!(!outcome.changed);
//! assert_eq!(outcome.rooms, ["news"]);
//!
//! // The push pipeline: which of these recipients muted the room?
//! let recipients = [user.clone(), UserId::new("someone-else")?];
//! assert_eq!(store.muted_among(&news, &recipients).await?, [user]);
//! # Ok(())
//! # }
//! ```
//!
//! # Guarantees
//!
//! - Every operation on one user is atomic, and the [`MuteList`] it returns is that user's set right
//!   after it: oldest mute first, re-muting never moves a room, each room once.
//! - A refused operation changes nothing; after a backend failure a change may or may not have been
//!   applied (operations are idempotent: retry). Ids are validated when they are made ([`UserId`],
//!   [`RoomId`]), so a store never sees a malformed one.
//! - A per-user limit (default [`DEFAULT_MUTE_LIMIT`]) refuses a mute of a new room with
//!   [`StoreError::MuteLimitExceeded`]; re-muting a room already muted is always fine.
//!
//! # Timed mutes and change events
//!
//! [`MuteStore::mute_with`] takes an [`Expiry`] ("for 8 hours", "until Monday 9:00") and an
//! [`Actor`] (the user or an administrator). From its deadline on, a timed mute is, to every read,
//! exactly an unmuted room: reads compare deadlines with the store's [`Clock`], so there is no
//! window in which a lapsed mute still shows. The store then purges it on its own, without scanning
//! every user. A plain mute of a timed room removes the deadline; lists carry the deadlines
//! ([`MuteList::until`], [`MuteList::deadlines`]).
//!
//! [`MuteStore::subscribe`] delivers every change as a [`ChangeEvent`] (`room`, `muted`,
//! `untilMS`, `cause`: [`ChangeCause::User`], [`Admin`](ChangeCause::Admin),
//! [`Expiry`](ChangeCause::Expiry) or [`Forget`](ChangeCause::Forget)), for one user
//! ([`EventScope::User`], a user's devices) or all ([`EventScope::All`]); one user's events arrive
//! in the order of the changes, refused and idempotent operations send none, and a subscriber that
//! falls behind is told ([`RecvError::Lagged`]) instead of silently missing changes.
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use mutestore::{
//!     Actor, ChangeCause, EventScope, Expiry, ManualClock, MemoryStore, MuteStore, RoomId, UserId,
//! };
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let clock = Arc::new(ManualClock::new(1_700_000_000_000));
//! let store = MemoryStore::with_clock(clock.clone());
//! let alice = UserId::new("alice")?;
//! let lobby = RoomId::new("lobby")?;
//! let mut devices = store.subscribe(EventScope::User(alice.clone()));
//!
//! let eight_hours = Duration::from_secs(8 * 3600);
//! let outcome = store.mute_with(&alice, &lobby, Expiry::After(eight_hours), Actor::User).await?;
//! assert_eq!(outcome.rooms.until("lobby"), Some(1_700_000_000_000 + 8 * 3_600_000));
//! assert_eq!(devices.recv().await?.cause, ChangeCause::User);
//!
//! clock.advance(eight_hours);
//! assert!(!store.is_muted(&alice, &lobby).await?); // lapsed: unmuted to every read at once
//! store.expire_due().await?; // the store also does this on its own
//! let event = devices.recv().await?;
//! assert_eq!((event.muted, event.cause), (false, ChangeCause::Expiry));
//! # Ok(())
//! # }
//! ```
//!
//! # Stores
//!
//! [`MuteStore`] is the seam where storage plugs in. [`MemoryStore`] keeps everything in memory,
//! behind 128 lock shards, with about one cache line touched per operation and 32 bytes per user
//! with up to three mutes (plus the table's free slots and each distinct room name once). Use it
//! through the trait, or call its `_sync` methods directly.
//!
//! With the `redis` feature, `RedisStore` keeps the sets in Redis or Redis Cluster, so that many
//! server processes share them; `RedisConfig` says where. See `docs/REDIS.md`.
//!
//! A host that picks its backend at run time holds a [`SharedMuteStore`]
//! (`Arc<dyn DynMuteStore>`), which implements [`MuteStore`] too.
//!
//! # Durable storage (feature `durable`, on by default)
//!
//! `DurableStore` is a [`MemoryStore`] for reads over an append-only, checksummed log in a local
//! directory, rebuilt into memory when it is opened (`DurableStore::open(dir)`). In
//! `Durability::Sync` (the default) a change returns once it is on disk, concurrent writers sharing
//! each `fdatasync`; `Durability::Periodic(interval)` returns at once and syncs every `interval`,
//! unless the records waiting for the disk pass `DurableOptions::max_backlog_bytes`.
//! The log is folded into snapshots in the background; one store at a time may open a directory;
//! a torn write at the end of the log is cut off at open, any other damage fails the open naming
//! the file. `docs/DURABILITY.md` has the guarantees, the file format and the measurements.
//!
//! # HTTP (features `http` and `axum`)
//!
//! The feature `http` adds the IMKIT-compatible endpoints (`GET /me`, `POST|DELETE /me/mute/:room`,
//! `POST|DELETE /admin/clients/:uid/mute/:room`, `GET /openapi.json`) and `GET /me/events` (the
//! caller's changes as server-sent events, at most `DEFAULT_MAX_STREAMS_PER_USER` open per user
//! unless set with `MuteApi::with_max_streams_per_user`) as a framework-agnostic adapter:
//! `MuteApi::serve` takes an `ApiRequest` (method, raw path, headers, body) and returns an
//! `ApiReply`, an `ApiResponse` (status, headers, JSON body) or an `EventStream`;
//! `MuteApi::handle` returns an `ApiResponse` alone, for servers that cannot stream. A mute's optional body, `{"durationMS": N}` or
//! `{"untilMS": epoch-ms}`, makes it a timed mute, and user objects list the ends in `muteUntil`.
//! The adapter reaches storage only through a [`MuteStore`] and the host only through two traits:
//! `Authenticator` (client keys, tokens, admin API keys) and `Directory` (rooms, users, profiles).
//! `SeedData` with `SeedAuthenticator` and `SeedDirectory` is a ready in-memory host. The feature
//! `axum` adds `MuteApi::into_router`, a `Router` with CORS (`CorsPolicy`), request tracing and the
//! event streams, to merge into a host's app; the example server
//! (`cargo run --release --example server`) runs it.

#![deny(missing_docs, missing_debug_implementations)]
#![deny(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod clock;
#[cfg(feature = "durable")]
mod durable;
mod error;
mod events;
mod expiry;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
#[cfg(feature = "http")]
mod http;
mod ids;
mod memory;
mod mute_list;
mod ordered_rooms;
#[cfg(feature = "redis")]
mod redis;
mod same_text;
mod store;

pub use clock::{Clock, ManualClock, SharedClock, SystemClock};
#[cfg(feature = "durable")]
#[cfg_attr(docsrs, doc(cfg(feature = "durable")))]
pub use durable::{
    DEFAULT_COMPACT_AFTER_BYTES, DEFAULT_MAX_BACKLOG_BYTES, Durability, DurableOptions,
    DurableStore, OpenError, RecoveryReport, TornTail,
};
pub use error::{MuteLimitExceeded, StoreError};
pub use events::{
    Actor, ChangeCause, ChangeEvent, DEFAULT_EVENT_BUFFER, EventScope, RecvError, Subscription,
};
pub use expiry::{Expiry, InvalidExpiry, MAX_DEADLINE_MS};
pub use ids::{IdError, MAX_ID_BYTES, RoomId, UserId};
pub use memory::{DEFAULT_MUTE_LIMIT, MemoryStore};
pub use mute_list::{Iter as MuteListIter, MuteList, MuteOutcome};
pub use store::{BoxFuture, DynMuteStore, MuteStore, SharedMuteStore};

#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
pub use http::{
    API_KEY_HEADER, ApiReply, ApiRequest, ApiResponse, Authenticator, CLIENT_KEY_HEADER,
    DEFAULT_KEEP_ALIVE_INTERVAL, DEFAULT_MAX_STREAMS_PER_USER, Directory,
    EVENT_STREAM_CONTENT_TYPE, ErrorCode, EventStream, HostError, JSON_CONTENT_TYPE,
    KEEP_ALIVE_FRAME, MAX_BODY_BYTES, MAX_HEADER_BYTES, MAX_HEADER_COUNT, MuteApi, OPENAPI_JSON,
    Operation, Profile, RECONNECT_DELAY_MS, SeedAuthenticator, SeedData, SeedDirectory, SeedError,
    SeedUser, StreamShutdown, TOKEN_HEADER, UserProfile,
};

#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub use http::{CorsPolicy, InvalidOrigin, not_found_fallback};

#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use crate::redis::{
    DEFAULT_KEY_PREFIX, DEFAULT_REDIS_TIMEOUT, RedisConfig, RedisConfigError, RedisStore,
};

// The README's examples are compiled and run as doctests, so the README cannot drift from the code.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

// The same for the durable store's guide.
#[doc = include_str!("../docs/DURABILITY.md")]
#[cfg(all(doctest, feature = "durable"))]
pub struct DurabilityDoctests;
