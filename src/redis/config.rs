//! [`RedisConfig`]: which Redis to use (one server or a Cluster), the key prefix, the time limit on
//! each operation and the per-user mute limit.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use redis::{ConnectionAddr, ConnectionInfo, IntoConnectionInfo, ProtocolVersion};

use super::keys::KeyPrefix;
use crate::clock::{SharedClock, SystemClock};
use crate::memory::DEFAULT_MUTE_LIMIT;

/// How long an operation may take, round trips and reconnection included, before it fails with
/// [`StoreError::Backend`](crate::StoreError::Backend), unless configured otherwise.
pub const DEFAULT_REDIS_TIMEOUT: Duration = Duration::from_secs(1);

/// Why a [`RedisConfig`] could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RedisConfigError {
    /// A server URL did not parse. The URL itself is not repeated, as it may hold a password.
    #[error("Redis URL number {position} is not valid: {reason}")]
    InvalidUrl {
        /// Which URL, counting from 1 (always 1 for a standalone server).
        position: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// A Cluster configuration was given no node.
    #[error("a Redis Cluster configuration needs at least one node URL")]
    NoClusterNodes,
    /// A Cluster node URL names a Unix socket; Cluster nodes are reached over TCP.
    #[error("Redis Cluster node number {position} is a Unix socket; Cluster nodes must be TCP")]
    UnixSocketInCluster {
        /// Which URL, counting from 1.
        position: usize,
    },
    /// The key prefix is not usable.
    #[error("invalid key prefix: {0}")]
    InvalidKeyPrefix(&'static str),
}

/// One server, or the seed nodes of a Cluster.
#[derive(Clone)]
pub(crate) enum Topology {
    /// A single Redis server (or a proxy that behaves as one).
    Standalone(ConnectionInfo),
    /// Some nodes of a Redis Cluster; the rest are discovered from them.
    Cluster(Vec<ConnectionInfo>),
}

/// Where and how a [`RedisStore`](crate::RedisStore) keeps its data.
///
/// ```
/// use std::time::Duration;
/// use mutestore::RedisConfig;
///
/// let config = RedisConfig::standalone("redis://:secret@127.0.0.1:6379/0")?
///     .with_key_prefix("chat-mutes")?
///     .with_timeout(Duration::from_millis(500))
///     .with_mute_limit(200);
/// assert_eq!(config.key_prefix(), "chat-mutes");
/// // Debug output names the servers but never the password.
/// let shown = format!("{config:?}");
/// assert!(shown.contains("127.0.0.1:6379") && !shown.contains("secret"));
///
/// let cluster = RedisConfig::cluster(["redis://10.0.0.1:7000", "redis://10.0.0.2:7000"])?;
/// assert!(cluster.is_cluster());
/// # Ok::<(), mutestore::RedisConfigError>(())
/// ```
#[derive(Clone)]
pub struct RedisConfig {
    pub(crate) topology: Topology,
    pub(crate) key_prefix: KeyPrefix,
    pub(crate) timeout: Duration,
    pub(crate) mute_limit: usize,
    pub(crate) clock: SharedClock,
}

impl RedisConfig {
    /// One Redis server at `url`: `redis://[user][:password@]host[:port][/db]`, or
    /// `redis+unix:///path/to/socket`.
    /// The store speaks RESP2 whatever protocol the URL asks for.
    ///
    /// # Errors
    /// [`RedisConfigError::InvalidUrl`] when the URL does not parse.
    pub fn standalone(url: &str) -> Result<Self, RedisConfigError> {
        let info = parse_url(url, 1)?;
        Ok(Self::with_topology(Topology::Standalone(info)))
    }

    /// A Redis Cluster reached through any of `nodes` (URLs as for [`standalone`](Self::standalone),
    /// TCP only); the other nodes are discovered. A password in the first URL is used for every
    /// node.
    ///
    /// # Errors
    /// [`RedisConfigError::NoClusterNodes`] for an empty list, [`RedisConfigError::InvalidUrl`] or
    /// [`RedisConfigError::UnixSocketInCluster`] for a bad URL.
    pub fn cluster<I, S>(nodes: I) -> Result<Self, RedisConfigError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut infos = Vec::new();
        for (index, node) in nodes.into_iter().enumerate() {
            let info = parse_url(node.as_ref(), index + 1)?;
            if matches!(info.addr(), ConnectionAddr::Unix(_)) {
                return Err(RedisConfigError::UnixSocketInCluster {
                    position: index + 1,
                });
            }
            infos.push(info);
        }
        if infos.is_empty() {
            return Err(RedisConfigError::NoClusterNodes);
        }
        Ok(Self::with_topology(Topology::Cluster(infos)))
    }

    fn with_topology(topology: Topology) -> Self {
        Self {
            topology,
            key_prefix: KeyPrefix::default(),
            timeout: DEFAULT_REDIS_TIMEOUT,
            mute_limit: DEFAULT_MUTE_LIMIT,
            clock: Arc::new(SystemClock),
        }
    }

    /// Puts every key under `prefix` (default [`DEFAULT_KEY_PREFIX`](crate::DEFAULT_KEY_PREFIX)), so that several stores, or
    /// several test runs, can share one Redis without seeing each other's data.
    ///
    /// # Errors
    /// [`RedisConfigError::InvalidKeyPrefix`] when `prefix` is empty, longer than 64 bytes, or
    /// contains `{`, `}` or a control character (braces would change which Cluster slot a key
    /// lands in).
    pub fn with_key_prefix(mut self, prefix: &str) -> Result<Self, RedisConfigError> {
        self.key_prefix = KeyPrefix::new(prefix).map_err(RedisConfigError::InvalidKeyPrefix)?;
        Ok(self)
    }

    /// Fails any operation that has not finished after `timeout` (default
    /// [`DEFAULT_REDIS_TIMEOUT`]) with [`StoreError::Backend`](crate::StoreError::Backend). It
    /// bounds the whole operation, every round trip and reconnection attempt included, except
    /// [`forget_room`](crate::MuteStore::forget_room), which applies it to each batch of users,
    /// and [`expire_due`](crate::MuteStore::expire_due), which applies it to each round trip of
    /// each step, on each Cluster node separately (so that a node down does not keep the others'
    /// lapsed mutes from being purged).
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Refuses a user's mute of a new room beyond `limit` rooms (default [`DEFAULT_MUTE_LIMIT`]).
    /// Every process sharing the data should use the same limit.
    #[must_use]
    pub fn with_mute_limit(mut self, limit: usize) -> Self {
        self.mute_limit = limit;
        self
    }

    /// Reads the time from `clock` (default [`SystemClock`]): the time every script is run at,
    /// against which deadlines are checked and lapsed mutes purged. Tests pass a
    /// [`ManualClock`](crate::ManualClock). Every process sharing the data should use the same
    /// wall-clock time (deadlines are epoch milliseconds).
    #[must_use]
    pub fn with_clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    /// Whether this is a Cluster configuration.
    #[must_use]
    pub fn is_cluster(&self) -> bool {
        matches!(self.topology, Topology::Cluster(_))
    }

    /// The prefix of every key the store writes.
    #[must_use]
    pub fn key_prefix(&self) -> &str {
        self.key_prefix.as_str()
    }

    /// The time limit on each operation.
    #[must_use]
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The per-user limit on muted rooms.
    #[must_use]
    pub fn mute_limit(&self) -> usize {
        self.mute_limit
    }

    /// The clock the store reads the time from.
    #[must_use]
    pub fn clock(&self) -> &SharedClock {
        &self.clock
    }

    /// The pub/sub channel of the store's change events: one per key prefix and database.
    pub(crate) fn events_channel(&self) -> Vec<u8> {
        let db = match &self.topology {
            Topology::Standalone(info) => info.redis_settings().db(),
            Topology::Cluster(_) => 0,
        };
        self.key_prefix.events_channel(db)
    }
}

/// Parses a server URL. The store reads replies as RESP2 gives them (`WITHSCORES` flat, for one),
/// so it speaks RESP2 whatever protocol the URL asks for (`?protocol=resp3`).
fn parse_url(url: &str, position: usize) -> Result<ConnectionInfo, RedisConfigError> {
    let info = url
        .into_connection_info()
        .map_err(|error| RedisConfigError::InvalidUrl {
            position,
            reason: error.to_string(),
        })?;
    let settings = info
        .redis_settings()
        .clone()
        .set_protocol(ProtocolVersion::RESP2);
    Ok(info.set_redis_settings(settings))
}

/// A server's address and database, and whether credentials are set, without the credentials.
struct Redacted<'a>(&'a ConnectionInfo);

impl fmt::Debug for Redacted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let settings = self.0.redis_settings();
        let mut node = f.debug_struct("Node");
        node.field("address", &format_args!("{}", self.0.addr()))
            .field("db", &settings.db());
        if settings.username().is_some() {
            node.field("username", &"<set>");
        }
        if settings.password().is_some() {
            node.field("password", &"<redacted>");
        }
        node.finish()
    }
}

/// Shows the servers, the database and whether credentials are set; never a password.
impl fmt::Debug for RedisConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut config = f.debug_struct("RedisConfig");
        match &self.topology {
            Topology::Standalone(info) => config.field("standalone", &Redacted(info)),
            Topology::Cluster(nodes) => {
                config.field("cluster", &nodes.iter().map(Redacted).collect::<Vec<_>>())
            }
        };
        config
            .field("key_prefix", &self.key_prefix)
            .field("timeout", &self.timeout)
            .field("mute_limit", &self.mute_limit)
            .field("clock", &self.clock)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::redis::keys::DEFAULT_KEY_PREFIX;

    #[test]
    fn debug_never_shows_credentials() {
        let config =
            RedisConfig::standalone("redis://admin:hunter2@cache.internal:6380/3").unwrap();
        let shown = format!("{config:?}");
        assert!(shown.contains("cache.internal:6380"), "{shown}");
        assert!(shown.contains("db: 3"), "{shown}");
        assert!(
            !shown.contains("hunter2") && !shown.contains("admin"),
            "{shown}"
        );
        let cluster =
            RedisConfig::cluster(["redis://:hunter2@a:7000", "redis://:hunter2@b:7001"]).unwrap();
        let shown = format!("{cluster:?}");
        assert!(
            shown.contains("a:7000") && shown.contains("b:7001"),
            "{shown}"
        );
        assert!(!shown.contains("hunter2"), "{shown}");
    }

    #[test]
    fn bad_configurations_are_refused_without_echoing_the_url() {
        let error = RedisConfig::standalone("http://:hunter2@host").unwrap_err();
        assert!(matches!(
            error,
            RedisConfigError::InvalidUrl { position: 1, .. }
        ));
        assert!(!error.to_string().contains("hunter2"), "{error}");
        assert_eq!(
            RedisConfig::cluster(Vec::<String>::new()).unwrap_err(),
            RedisConfigError::NoClusterNodes
        );
        assert!(matches!(
            RedisConfig::cluster(["redis://a:1", "not a url"]).unwrap_err(),
            RedisConfigError::InvalidUrl { position: 2, .. }
        ));
        assert_eq!(
            RedisConfig::cluster(["redis+unix:///tmp/redis.sock"]).unwrap_err(),
            RedisConfigError::UnixSocketInCluster { position: 1 }
        );
        assert!(matches!(
            RedisConfig::standalone("redis://a:1")
                .unwrap()
                .with_key_prefix("x{y}"),
            Err(RedisConfigError::InvalidKeyPrefix(_))
        ));
    }

    #[test]
    fn defaults_and_setters() {
        let config = RedisConfig::standalone("redis://127.0.0.1/").unwrap();
        assert!(!config.is_cluster());
        assert_eq!(config.key_prefix(), DEFAULT_KEY_PREFIX);
        assert_eq!(config.timeout(), DEFAULT_REDIS_TIMEOUT);
        assert!(config.timeout() <= Duration::from_secs(2));
        assert_eq!(config.mute_limit(), DEFAULT_MUTE_LIMIT);
        let config = config
            .with_timeout(Duration::from_millis(250))
            .with_mute_limit(7);
        assert_eq!(config.timeout(), Duration::from_millis(250));
        assert_eq!(config.mute_limit(), 7);
        let clock = Arc::new(crate::ManualClock::new(42));
        let config = config.with_clock(clock);
        assert_eq!(config.clock().now_ms(), 42);
        assert!(format!("{config:?}").contains("ManualClock"));
    }

    #[test]
    fn the_events_channel_names_the_database_when_it_is_not_0() {
        let channel = |url: &str| {
            let config = RedisConfig::standalone(url).unwrap();
            String::from_utf8(config.with_key_prefix("p").unwrap().events_channel()).unwrap()
        };
        assert_eq!(channel("redis://127.0.0.1"), "p:events");
        assert_eq!(channel("redis://127.0.0.1/0"), "p:events");
        assert_eq!(channel("redis://127.0.0.1/1"), "p:events:1");
        assert_eq!(channel("redis://127.0.0.1/15"), "p:events:15");
        let cluster = RedisConfig::cluster(["redis://a:1"]).unwrap();
        assert_eq!(cluster.events_channel(), b"mutestore:events");
    }
}
