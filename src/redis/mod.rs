//! The Redis backend: [`RedisStore`] over one Redis server or a Redis Cluster, configured by
//! [`RedisConfig`]. Enabled by the `redis` feature.
//!
//! - `config`: which servers, the key prefix, the timeout and the mute limit.
//! - `keys`: the key layout and the hash tags that keep each user's data in one Cluster slot.
//! - `scripts`: the Lua scripts that make each per-user change atomic and publish its events.
//! - `event_wire`: the format of the event messages the scripts publish.
//! - `event_feed`: the store's subscriber connection, which delivers every process's events to the
//!   store's subscribers.
//! - `expiry_task`: the background task that purges lapsed mutes at their deadlines.
//! - `cluster_slots`: key slots and the slot map, to pipeline per Cluster node.
//! - `link`: one live standalone or Cluster connection.
//! - `node_pipelines`: per-node pipelines on a Cluster.
//! - `connection`: the store's connection, which replaces a link that has stopped answering.
//! - `redis_store`: the `MuteStore` implementation.

mod backend_error;
mod cluster_slots;
mod config;
mod connection;
mod event_feed;
mod event_wire;
mod expiry_task;
mod keys;
mod link;
mod node_pipelines;
mod redis_store;
mod scripts;

pub use config::{DEFAULT_REDIS_TIMEOUT, RedisConfig, RedisConfigError};
pub use keys::DEFAULT_KEY_PREFIX;
pub use redis_store::RedisStore;

// docs/REDIS.md, compiled as doctests so that its examples cannot drift from the code.
#[doc = include_str!("../../docs/REDIS.md")]
#[cfg(doctest)]
pub struct RedisDoctests;
