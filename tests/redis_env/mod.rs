//! What the Redis tests share: the servers named by the environment, fresh stores on them under
//! keys no other test uses, and redis-server processes a test starts and stops itself.
//!
//! The tests need real servers. `bash .ci/redis.sh` starts them and sets:
//! - `MUTESTORE_REDIS_URL`: a standalone server, e.g. `redis://127.0.0.1:6379`;
//! - `MUTESTORE_REDIS_CLUSTER_NODES`: comma-separated URLs of Cluster nodes;
//! - `MUTESTORE_REDIS_SERVER`: the redis-server binary (default `redis-server` on the `PATH`).
//!
//! A missing variable fails the test that needs it, with a message saying what to set: with the
//! `redis` feature on, the Redis tests never pass without a Redis.

#![allow(dead_code)]

pub mod server_process;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use mutestore::{RedisConfig, RedisStore, SharedClock};

fn required_env(name: &str, example: &str) -> String {
    match std::env::var(name) {
        Ok(value) if !value.trim().is_empty() => value,
        _ => panic!(
            "{name} is not set. The Redis tests need real servers: run `bash .ci/redis.sh`, \
             which starts them and sets it, or start your own and set {name}={example}"
        ),
    }
}

/// The standalone server's URL.
pub fn standalone_url() -> String {
    required_env("MUTESTORE_REDIS_URL", "redis://127.0.0.1:6379")
}

/// The Cluster's node URLs.
pub fn cluster_nodes() -> Vec<String> {
    required_env(
        "MUTESTORE_REDIS_CLUSTER_NODES",
        "redis://127.0.0.1:7000,redis://127.0.0.1:7001,redis://127.0.0.1:7002",
    )
    .split(',')
    .map(|node| node.trim().to_string())
    .filter(|node| !node.is_empty())
    .collect()
}

/// A key prefix no other store in this run, or in an earlier run, has used.
pub fn unique_prefix() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let started = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!(
        "mutestore-test:{}-{started}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// A configuration for the standalone server with a fresh key prefix.
pub fn standalone_config(limit: usize) -> RedisConfig {
    RedisConfig::standalone(&standalone_url())
        .expect("MUTESTORE_REDIS_URL is a Redis URL")
        .with_key_prefix(&unique_prefix())
        .expect("test prefixes are valid")
        .with_mute_limit(limit)
}

/// A configuration for the Cluster with a fresh key prefix.
pub fn cluster_config(limit: usize) -> RedisConfig {
    RedisConfig::cluster(cluster_nodes())
        .expect("MUTESTORE_REDIS_CLUSTER_NODES are Redis URLs")
        .with_key_prefix(&unique_prefix())
        .expect("test prefixes are valid")
        .with_mute_limit(limit)
}

/// An empty store on the standalone server that reads the time from `clock`.
pub async fn standalone_store(limit: usize, clock: SharedClock) -> RedisStore {
    RedisStore::connect(standalone_config(limit).with_clock(clock))
        .await
        .expect("connect to MUTESTORE_REDIS_URL")
}

/// An empty store on the Cluster that reads the time from `clock`.
pub async fn cluster_store(limit: usize, clock: SharedClock) -> RedisStore {
    RedisStore::connect(cluster_config(limit).with_clock(clock))
        .await
        .expect("connect to MUTESTORE_REDIS_CLUSTER_NODES")
}
