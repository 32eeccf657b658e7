//! [`RedisStore`]: the [`MuteStore`] kept in Redis or Redis Cluster.

use std::fmt;
use std::future::Future;

use redis::Value;

use super::backend_error::{RedisBackendError, failed, unexpected};
use super::cluster_slots::key_slot;
use super::config::RedisConfig;
use super::connection::RedisConnection;
use super::node_pipelines::KeyedCommand;
use super::scripts::{FORGET_USER, MUTE, START_FORGETTING_ROOM, UNMUTE};
use crate::error::{MuteLimitExceeded, StoreError};
use crate::ids::{RoomId, UserId};
use crate::mute_list::{MuteList, MuteOutcome};
use crate::store::MuteStore;

/// How many users `forget_room` visits per step (one round trip per node, within the timeout).
const FORGET_ROOM_BATCH: usize = 500;

/// Per-user sets of muted rooms in Redis, shared by every process that uses the same Redis and key
/// prefix. Works with one server or a Redis Cluster.
///
/// ```no_run
/// use mutestore::{MuteStore, RedisConfig, RedisStore, RoomId, UserId};
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let store = RedisStore::connect(RedisConfig::standalone("redis://127.0.0.1:6379")?).await?;
/// // or: RedisConfig::cluster(["redis://10.0.0.1:7000", "redis://10.0.0.2:7000"])?
/// let outcome = store
///     .mute(&UserId::new("1485248560558")?, &RoomId::new("lobby")?)
///     .await?;
/// assert_eq!(outcome.rooms, ["lobby"]);
/// # Ok(())
/// # }
/// ```
///
/// It behaves as [`MemoryStore`](crate::MemoryStore) does (the same test suites run against
/// both), with these differences:
///
/// - Every operation may fail with [`StoreError::Backend`] when Redis is unreachable or slow: it
///   gives up after the configured timeout ([`RedisConfig::with_timeout`]) and never panics or
///   hangs. Service resumes by itself when Redis is back. A change that failed this way may still
///   have been applied, as Redis may have received it before the answer was lost; every change is
///   idempotent, so retrying it is safe.
/// - Each operation on one user runs as one Lua script on the node holding that user's key, so it
///   is atomic across every process sharing the Redis.
/// - `mute` of a new room also records the user in a per-room index (one round trip before the
///   script and one after), which `forget_room` reads. The index may name users who have since
///   unmuted the room or been forgotten; `forget_room` skips them and clears the index.
/// - `forget_room` visits the index in batches of users, each batch within the timeout; if it is
///   interrupted, some users have lost the room and the rest are still listed, and running it
///   again finishes the job.
/// - A concurrent `mute` of a room being forgotten is ordered before or after the `forget_room`
///   for each user, as in memory; the index stays complete either way.
///
/// It needs a Tokio runtime with timers enabled (as `#[tokio::main]` gives).
pub struct RedisStore {
    connection: RedisConnection,
    config: RedisConfig,
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    /// Connects to the Redis or the Cluster that `config` names.
    ///
    /// # Errors
    /// [`StoreError::Backend`] when no connection is made within the configured timeout.
    pub async fn connect(config: RedisConfig) -> Result<Self, StoreError> {
        let timeout = config.timeout;
        let opened =
            tokio::time::timeout(timeout, RedisConnection::open(&config.topology, timeout))
                .await
                .map_err(|_| RedisBackendError::TimedOut {
                    operation: "connect",
                    timeout,
                })?;
        let connection = opened.map_err(failed("connect"))?;
        Ok(Self { connection, config })
    }

    /// The configuration the store was made with.
    #[must_use]
    pub fn config(&self) -> &RedisConfig {
        &self.config
    }

    /// Runs `work` within the configured timeout.
    async fn within<T>(
        &self,
        operation: &'static str,
        work: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        let timeout = self.config.timeout;
        let result = tokio::time::timeout(timeout, work)
            .await
            .unwrap_or_else(|_| Err(RedisBackendError::TimedOut { operation, timeout }.into()));
        self.connection
            .report(!matches!(result, Err(StoreError::Backend(_))));
        result
    }

    fn user_key(&self, user: &[u8]) -> Vec<u8> {
        self.config.key_prefix.user_key(user)
    }

    /// Adds `user` to `room`'s index.
    async fn index(&self, room: &RoomId, user: &UserId) -> Result<(), StoreError> {
        let index_key = self.config.key_prefix.room_index_key(room.as_bytes());
        self.connection
            .query::<()>(redis::cmd("SADD").arg(index_key).arg(user.as_bytes()))
            .await
            .map_err(failed("mute"))
    }

    async fn mute_now(&self, user: &UserId, room: &RoomId) -> Result<MuteOutcome, StoreError> {
        // The index first: should the script then fail or never run, the index names a user who
        // lacks the room, which `forget_room` tolerates. The other order could lose a user.
        self.index(room, user).await?;
        let user_key = self.user_key(user.as_bytes());
        let mut invocation = MUTE.key(user_key);
        invocation.arg(room.as_bytes()).arg(self.config.mute_limit);
        let (changed, rooms): (i64, Vec<Vec<u8>>) = self
            .connection
            .invoke(&invocation)
            .await
            .map_err(failed("mute"))?;
        let changed = match changed {
            -1 => {
                return Err(MuteLimitExceeded {
                    limit: self.config.mute_limit,
                }
                .into());
            }
            0 => false,
            1 => true,
            _ => return Err(unexpected("mute", "the script returned an unknown status")),
        };
        if changed {
            // Again after the change: a `forget_room` may have taken the index away between the
            // first addition and the script, and must not miss this user next time.
            self.index(room, user).await?;
        }
        Ok(MuteOutcome {
            changed,
            rooms: mute_list("mute", rooms)?,
        })
    }

    async fn unmute_now(&self, user: &UserId, room: &RoomId) -> Result<MuteOutcome, StoreError> {
        let user_key = self.user_key(user.as_bytes());
        let mut invocation = UNMUTE.key(user_key);
        invocation.arg(room.as_bytes());
        let (removed, rooms): (i64, Vec<Vec<u8>>) = self
            .connection
            .invoke(&invocation)
            .await
            .map_err(failed("unmute"))?;
        Ok(MuteOutcome {
            changed: removed == 1,
            rooms: mute_list("unmute", rooms)?,
        })
    }

    async fn muted_rooms_now(&self, user: &UserId) -> Result<MuteList, StoreError> {
        let rooms: Vec<Vec<u8>> = self
            .connection
            .query(
                redis::cmd("ZRANGE")
                    .arg(self.user_key(user.as_bytes()))
                    .arg(0)
                    .arg(-1),
            )
            .await
            .map_err(failed("muted_rooms"))?;
        mute_list("muted_rooms", rooms)
    }

    async fn is_muted_now(&self, user: &UserId, room: &RoomId) -> Result<bool, StoreError> {
        let score: Value = self
            .connection
            .query(
                redis::cmd("ZSCORE")
                    .arg(self.user_key(user.as_bytes()))
                    .arg(room.as_bytes()),
            )
            .await
            .map_err(failed("is_muted"))?;
        Ok(score != Value::Nil)
    }

    async fn muted_among_now(
        &self,
        room: &RoomId,
        users: &[UserId],
    ) -> Result<Vec<UserId>, StoreError> {
        let commands: Vec<KeyedCommand> = users
            .iter()
            .map(|user| {
                let key = self.user_key(user.as_bytes());
                let slot = key_slot(&key);
                let mut command = redis::cmd("ZSCORE");
                command.arg(key).arg(room.as_bytes());
                KeyedCommand { slot, command }
            })
            .collect();
        let scores = self
            .connection
            .query_each(commands)
            .await
            .map_err(failed("muted_among"))?;
        if scores.len() != users.len() {
            return Err(unexpected("muted_among", "fewer replies than users"));
        }
        Ok(users
            .iter()
            .zip(scores)
            .filter(|(_, score)| *score != Value::Nil)
            .map(|(user, _)| user.clone())
            .collect())
    }

    /// Moves `room`'s index into its to-visit set; returns how many users are to visit.
    async fn start_forgetting(&self, room: &RoomId) -> Result<i64, StoreError> {
        let prefix = &self.config.key_prefix;
        let mut invocation = START_FORGETTING_ROOM.key(prefix.room_index_key(room.as_bytes()));
        invocation.key(prefix.room_forgetting_key(room.as_bytes()));
        self.connection
            .invoke(&invocation)
            .await
            .map_err(failed("forget_room"))
    }

    /// Removes `room` from a batch of the users still to visit, then strikes them off. Returns how
    /// many of them had the room, or `None` when no one was left to visit.
    async fn forget_room_batch(&self, room: &RoomId) -> Result<Option<usize>, StoreError> {
        let forgetting_key = self.config.key_prefix.room_forgetting_key(room.as_bytes());
        let users: Vec<Vec<u8>> = self
            .connection
            .query(
                redis::cmd("SRANDMEMBER")
                    .arg(&forgetting_key)
                    .arg(FORGET_ROOM_BATCH),
            )
            .await
            .map_err(failed("forget_room"))?;
        if users.is_empty() {
            return Ok(None);
        }
        let commands: Vec<KeyedCommand> = users
            .iter()
            .map(|user| {
                let key = self.user_key(user);
                let slot = key_slot(&key);
                let mut command = redis::cmd("ZREM");
                command.arg(key).arg(room.as_bytes());
                KeyedCommand { slot, command }
            })
            .collect();
        let removed = self
            .connection
            .query_each(commands)
            .await
            .map_err(failed("forget_room"))?;
        let had_it = removed.iter().filter(|r| **r == Value::Int(1)).count();
        // Struck off only once their removals are done: an interruption before this point leaves
        // them listed, and the next `forget_room` visits them again.
        self.connection
            .query::<()>(redis::cmd("SREM").arg(&forgetting_key).arg(&users))
            .await
            .map_err(failed("forget_room"))?;
        Ok(Some(had_it))
    }

    async fn forget_user_now(&self, user: &UserId) -> Result<MuteList, StoreError> {
        let invocation = FORGET_USER.key(self.user_key(user.as_bytes()));
        let rooms: Vec<Vec<u8>> = self
            .connection
            .invoke(&invocation)
            .await
            .map_err(failed("forget_user"))?;
        mute_list("forget_user", rooms)
    }
}

/// Rooms read from Redis, oldest mute first, as a list.
fn mute_list(operation: &'static str, rooms: Vec<Vec<u8>>) -> Result<MuteList, StoreError> {
    rooms
        .iter()
        .map(|room| RoomId::from_utf8(room))
        .collect::<Result<MuteList, _>>()
        .map_err(|_| unexpected(operation, "a stored room id is not a valid id"))
}

impl MuteStore for RedisStore {
    async fn mute(&self, user: &UserId, room: &RoomId) -> Result<MuteOutcome, StoreError> {
        self.within("mute", self.mute_now(user, room)).await
    }

    async fn unmute(&self, user: &UserId, room: &RoomId) -> Result<MuteOutcome, StoreError> {
        self.within("unmute", self.unmute_now(user, room)).await
    }

    async fn muted_rooms(&self, user: &UserId) -> Result<MuteList, StoreError> {
        self.within("muted_rooms", self.muted_rooms_now(user)).await
    }

    async fn is_muted(&self, user: &UserId, room: &RoomId) -> Result<bool, StoreError> {
        self.within("is_muted", self.is_muted_now(user, room)).await
    }

    async fn muted_among(
        &self,
        room: &RoomId,
        users: &[UserId],
    ) -> Result<Vec<UserId>, StoreError> {
        if users.is_empty() {
            return Ok(Vec::new());
        }
        self.within("muted_among", self.muted_among_now(room, users))
            .await
    }

    async fn forget_room(&self, room: &RoomId) -> Result<usize, StoreError> {
        self.within("forget_room", self.start_forgetting(room))
            .await?;
        let mut had_it = 0;
        while let Some(count) = self
            .within("forget_room", self.forget_room_batch(room))
            .await?
        {
            had_it += count;
        }
        Ok(had_it)
    }

    async fn forget_user(&self, user: &UserId) -> Result<MuteList, StoreError> {
        self.within("forget_user", self.forget_user_now(user)).await
    }

    // PLACEHOLDER until the scripts know deadlines and publish events (branch work, not main).
    async fn mute_with(
        &self,
        user: &UserId,
        room: &RoomId,
        expiry: crate::Expiry,
        _actor: crate::Actor,
    ) -> Result<MuteOutcome, StoreError> {
        if expiry != crate::Expiry::Never {
            return Err(StoreError::backend("timed mutes are not implemented yet"));
        }
        self.within("mute", self.mute_now(user, room)).await
    }

    async fn unmute_by(
        &self,
        user: &UserId,
        room: &RoomId,
        _actor: crate::Actor,
    ) -> Result<MuteOutcome, StoreError> {
        self.within("unmute", self.unmute_now(user, room)).await
    }

    async fn expire_due(&self) -> Result<usize, StoreError> {
        Ok(0)
    }

    fn subscribe(&self, _scope: crate::EventScope) -> Result<crate::Subscription, StoreError> {
        Err(StoreError::backend("events are not implemented yet"))
    }

    fn mute_limit(&self) -> usize {
        self.config.mute_limit
    }
}
