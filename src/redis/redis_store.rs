//! [`RedisStore`]: the [`MuteStore`] kept in Redis or Redis Cluster.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::{join, try_join};
use redis::{FromRedisValue, RedisError, RedisResult, Value};
use tokio::sync::oneshot;
use tokio::task::AbortHandle;

use super::backend_error::{RedisBackendError, failed, unexpected};
use super::cluster_slots::key_slot;
use super::config::RedisConfig;
use super::connection::{RedisConnection, ScriptCall};
use super::event_feed::{self, EventFeed, origin_of};
use super::event_wire::{parse_index_score, parse_millis};
use super::expiry_task::{self, ExpiryWake};
use super::keys::{EXPIRY_BUCKETS, expiry_bucket};
use super::node_pipelines::KeyedCommand;
use super::scripts::{
    EXPIRE_USER, FORGET_ROOM_OF_USER, FORGET_USER, INDEX_DEADLINE, IS_MUTED, LuaScript, MUTE,
    MUTED_AMONG, MUTED_AMONG_ON_NODE, MUTED_ROOMS, SETTLE_EXPIRY_ENTRY, START_FORGETTING_ROOM,
    TAKE_FORGET_BATCH, UNMUTE,
};
use crate::error::{MuteLimitExceeded, StoreError};
use crate::events::{Actor, ChangeCause, ChangeHub, EventScope, Subscription};
use crate::expiry::Expiry;
use crate::ids::{RoomId, UserId};
use crate::mute_list::{MuteList, MuteOutcome};
use crate::store::MuteStore;

/// How many users `forget_room` visits per step (one round trip per node, within the timeout).
const FORGET_ROOM_BATCH: usize = 500;

/// How many users one `muted_among` script reads (so that a large audience does not hold Redis for
/// long in one script; the chunks are pipelined).
const MUTED_AMONG_CHUNK: usize = 250;

/// How many due entries of each expiry index bucket a purge takes per step.
const EXPIRY_BATCH: usize = 128;

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
/// - Each operation on one user runs as one Lua script on the node holding that user's keys, so it
///   is atomic across every process sharing the Redis. Scripts run at the time of the store's
///   clock ([`RedisConfig::with_clock`]): processes sharing the data should agree on the time.
/// - `mute` of a new room also records the user in a per-room index (one round trip before the
///   script and one after), which `forget_room` reads; a timed mute records the user in the
///   expiry index the same way. The indexes may name users who no longer need it; `forget_room`
///   and the purge skip them and clear them.
/// - `forget_room` visits the index in batches of users, each batch within the timeout; if it is
///   interrupted, some users have lost the room and the rest are still listed, and running it
///   again finishes the job.
/// - Events ([`subscribe`](MuteStore::subscribe)) are every change made by any process sharing the
///   data, lapsed deadlines included, delivered through one pub/sub connection per store, opened
///   by [`connect`](Self::connect). When it drops, its subscribers get
///   [`RecvError::Lagged`](crate::RecvError::Lagged) at once, and again once the store has
///   reconnected. While a local subscriber listens, an
///   operation returns once its own events have been delivered (waiting at most the timeout).
/// - Each store runs a background task that purges lapsed mutes at their deadlines (and looks at
///   the expiry index at least once a second); several processes may purge at once, and each
///   lapsed mute is purged, with one `expiry` event, by exactly one of them.
/// - A purge does all it can reach: on a Cluster with a node down (and
///   `cluster-require-full-coverage no`), [`expire_due`](MuteStore::expire_due) purges the mutes
///   the other nodes hold, then returns [`StoreError::Backend`] saying what it left; the
///   background task logs such failures through `tracing` and tries again within a second.
///
/// It needs a Tokio runtime with timers enabled (as `#[tokio::main]` gives); its two background
/// tasks stop when it is dropped.
pub struct RedisStore {
    core: Arc<StoreCore>,
    tasks: [AbortHandle; 2],
}

/// What the operations and the background tasks share.
pub(crate) struct StoreCore {
    connection: RedisConnection,
    config: RedisConfig,
    feed: Arc<EventFeed>,
    wake: Arc<ExpiryWake>,
    /// The pub/sub channel of the store's events.
    channel: Vec<u8>,
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("config", &self.core.config)
            .finish_non_exhaustive()
    }
}

impl Drop for RedisStore {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// The result of a change, and how many event messages its scripts published.
struct Changed<T> {
    value: Result<T, StoreError>,
    published: usize,
}

/// What one purge pass did, and what it left for a later one.
#[derive(Debug, Default)]
pub(crate) struct Pass {
    /// Lapsed mutes removed.
    pub(crate) purged: usize,
    /// Expiry index entries moved to the user's next deadline or removed.
    pub(crate) settled: usize,
    /// Event messages published.
    published: usize,
    /// Expiry index buckets whose due entries could not be read: the pass went on without them.
    unread: usize,
    /// Due entries it read but could not finish (their user's purge or their settle failed):
    /// they stay in the index, and the pass went on past them.
    unfinished: usize,
    /// The first failure, if anything was left.
    first_failure: Option<RedisBackendError>,
}

impl Pass {
    /// Adds what `other` did and left.
    fn absorb(&mut self, other: Pass) {
        self.purged = self.purged.saturating_add(other.purged);
        self.settled = self.settled.saturating_add(other.settled);
        self.published = self.published.saturating_add(other.published);
        self.unread += other.unread;
        self.unfinished += other.unfinished;
        if self.first_failure.is_none() {
            self.first_failure = other.first_failure;
        }
    }

    /// Records `count` buckets left unread because of `error`.
    fn skip_buckets(&mut self, count: usize, error: RedisBackendError) {
        self.unread += count;
        self.first_failure.get_or_insert(error);
    }

    /// Records `count` due entries left unfinished because of `error`.
    fn leave_entries(&mut self, count: usize, error: RedisBackendError) {
        self.unfinished += count;
        self.first_failure.get_or_insert(error);
    }

    /// How many mutes the pass purged when it left nothing, else what it left: the first failure
    /// alone when it could read no bucket at all.
    pub(crate) fn outcome(self) -> Result<usize, RedisBackendError> {
        match self.first_failure {
            None => Ok(self.purged),
            Some(first) if self.unread == EXPIRY_BUCKETS && self.purged == 0 => Err(first),
            Some(first) => Err(RedisBackendError::PurgeIncomplete {
                purged: self.purged,
                unread: self.unread,
                unfinished: self.unfinished,
                first: Box::new(first),
            }),
        }
    }
}

/// A purge's command that failed.
fn purge_failed(source: RedisError) -> RedisBackendError {
    RedisBackendError::Redis {
        operation: "expire_due",
        source,
    }
}

/// A purge's reply as `T`.
fn parse_purge_reply<T: FromRedisValue>(reply: RedisResult<Value>) -> Result<T, RedisBackendError> {
    redis::from_redis_value(reply.map_err(purge_failed)?).map_err(|_| {
        RedisBackendError::UnexpectedReply {
            operation: "expire_due",
            detail: "a purge reply has an unexpected shape",
        }
    })
}

impl RedisStore {
    /// Connects to the Redis or the Cluster that `config` names, with its event feed, and starts
    /// the task that purges lapsed mutes.
    ///
    /// # Errors
    /// [`StoreError::Backend`] when the connection, or the event feed's subscription, is not made
    /// within the configured timeout.
    pub async fn connect(config: RedisConfig) -> Result<Self, StoreError> {
        let timeout = config.timeout;
        let channel = config.events_channel();
        let wake = Arc::new(ExpiryWake::default());
        let feed = Arc::new(EventFeed::new(ChangeHub::new(), Arc::clone(&wake)));
        let (ready, subscribed) = oneshot::channel();
        let feed_task = tokio::spawn(event_feed::run(
            Arc::clone(&feed),
            config.topology.clone(),
            channel.clone(),
            timeout,
            ready,
        ));
        let opened = tokio::time::timeout(
            timeout,
            join(RedisConnection::open(&config.topology, timeout), subscribed),
        )
        .await;
        let connection = match opened {
            Ok((Ok(connection), Ok(Ok(())))) => connection,
            Ok((Err(error), _) | (_, Ok(Err(error)))) => {
                feed_task.abort();
                return Err(failed("connect")(error));
            }
            Ok((_, Err(_))) | Err(_) => {
                feed_task.abort();
                return Err(RedisBackendError::TimedOut {
                    operation: "connect",
                    timeout,
                }
                .into());
            }
        };
        feed.discover_nodes_with(connection.clone());
        let core = Arc::new(StoreCore {
            connection,
            config,
            feed,
            wake: Arc::clone(&wake),
            channel,
        });
        let expiry_task = tokio::spawn(expiry_task::run(Arc::downgrade(&core), wake));
        Ok(Self {
            core,
            tasks: [feed_task.abort_handle(), expiry_task.abort_handle()],
        })
    }

    /// The configuration the store was made with.
    #[must_use]
    pub fn config(&self) -> &RedisConfig {
        &self.core.config
    }
}

impl StoreCore {
    /// The time by the store's clock.
    pub(crate) fn now_ms(&self) -> u64 {
        self.config.clock.now_ms()
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

    /// Runs a change within the timeout. `work` gets the origin tag for its scripts; when a local
    /// subscriber listens, waits (at most the timeout, never failing) until the feed has delivered
    /// the event messages the change published.
    async fn change<T, Fut>(
        &self,
        operation: &'static str,
        work: impl FnOnce(Vec<u8>) -> Fut,
    ) -> Result<T, StoreError>
    where
        Fut: Future<Output = Result<Changed<T>, StoreError>>,
    {
        let pending = self.feed.expect();
        let changed = self
            .within(operation, work(origin_of(pending.as_ref())))
            .await?;
        if let Some(pending) = pending {
            pending.wait(changed.published, self.config.timeout).await;
        }
        changed.value
    }

    /// The script call for `user`'s two keys with `args`.
    fn user_call(&self, user: &[u8], args: Vec<Vec<u8>>) -> ScriptCall {
        let key = self.config.key_prefix.user_key(user);
        ScriptCall {
            slot: key_slot(&key),
            keys: vec![key, self.config.key_prefix.deadline_key(user)],
            args,
        }
    }

    /// The script call for `user`'s two keys and the once key of call `nonce` on `user`, with
    /// `args` (see [`FORGET_ROOM_OF_USER`]).
    fn user_call_once(&self, user: &[u8], nonce: &[u8], args: Vec<Vec<u8>>) -> ScriptCall {
        let mut call = self.user_call(user, args);
        call.keys.push(self.config.key_prefix.once_key(user, nonce));
        call
    }

    /// How long a once key lives, in milliseconds: it must outlast every resend of its call, which
    /// all happen within the step's timeout; twice the timeout, at least a second, at most an hour.
    fn once_lifetime_ms(&self) -> String {
        let lifetime = self
            .config
            .timeout
            .saturating_mul(2)
            .clamp(Duration::from_secs(1), Duration::from_secs(3600));
        lifetime.as_millis().to_string()
    }

    /// Runs `script` on `user`'s two keys, on their node (see [`RedisConnection::eval`]).
    async fn eval_user<T: FromRedisValue>(
        &self,
        script: &LuaScript,
        user: &[u8],
        args: &[&[u8]],
    ) -> RedisResult<T> {
        let call = self.user_call(user, args.iter().map(|arg| arg.to_vec()).collect());
        self.connection.eval(script, &call).await
    }

    /// Adds `user` to `room`'s index.
    async fn index_room(&self, room: &RoomId, user: &UserId) -> Result<(), StoreError> {
        let index_key = self.config.key_prefix.room_index_key(room.as_bytes());
        self.connection
            .query::<()>(redis::cmd("SADD").arg(index_key).arg(user.as_bytes()))
            .await
            .map_err(failed("mute"))
    }

    /// Makes `user`'s expiry index entry at or before `deadline` (see [`INDEX_DEADLINE`]).
    async fn index_deadline(&self, user: &UserId, deadline: u64) -> Result<(), StoreError> {
        let bucket = self
            .config
            .key_prefix
            .expiry_bucket_key(expiry_bucket(user.as_bytes()));
        let call = ScriptCall::on_keys(
            vec![bucket],
            vec![user.as_bytes().to_vec(), deadline.to_string().into_bytes()],
        );
        self.connection
            .eval::<()>(&INDEX_DEADLINE, &call)
            .await
            .map_err(failed("mute"))
    }

    async fn mute_now(
        &self,
        user: &UserId,
        room: &RoomId,
        now: u64,
        deadline: Option<u64>,
        cause: ChangeCause,
        origin: Vec<u8>,
    ) -> Result<Changed<MuteOutcome>, StoreError> {
        // The indexes first: should the script then fail or never run, they name a user who
        // lacks the room or the deadline, which `forget_room` and the purge tolerate. The other
        // order could lose a user.
        match deadline {
            Some(deadline) => {
                try_join(
                    self.index_room(room, user),
                    self.index_deadline(user, deadline),
                )
                .await?;
            }
            None => self.index_room(room, user).await?,
        }
        let limit = self.config.mute_limit.to_string();
        // The deadline was checked against `now`; the change itself is judged at the time it is
        // sent, after the index writes, so that it never runs at a time a read has already passed.
        let now_arg = self.now_ms().max(now).to_string();
        let until = deadline.map(|d| d.to_string()).unwrap_or_default();
        let (status, published, rooms, deadlines): (i64, usize, Vec<Vec<u8>>, Vec<Vec<u8>>) = self
            .eval_user(
                &MUTE,
                user.as_bytes(),
                &[
                    user.as_bytes(),
                    room.as_bytes(),
                    limit.as_bytes(),
                    now_arg.as_bytes(),
                    until.as_bytes(),
                    cause.as_str().as_bytes(),
                    &self.channel,
                    &origin,
                ],
            )
            .await
            .map_err(failed("mute"))?;
        let value = match status {
            -1 => Err(MuteLimitExceeded {
                limit: self.config.mute_limit,
            }
            .into()),
            0..=2 => {
                let changed = status > 0;
                // Again after the change. The room index: a `forget_room` may have taken the index
                // away between the first addition and the script, and must not miss this user next
                // time. The expiry index: a purge may have dropped the entry on the strength of a
                // script that ran before this one.
                let room_again = async {
                    if status == 2 {
                        self.index_room(room, user).await
                    } else {
                        Ok(())
                    }
                };
                let deadline_again = async {
                    match deadline {
                        Some(deadline) if changed => self.index_deadline(user, deadline).await,
                        _ => Ok(()),
                    }
                };
                try_join(room_again, deadline_again).await?;
                if changed && let Some(deadline) = deadline {
                    self.wake.hint(deadline);
                }
                Ok(MuteOutcome {
                    changed,
                    rooms: timed_list("mute", rooms, deadlines)?,
                })
            }
            _ => return Err(unexpected("mute", "the script returned an unknown status")),
        };
        Ok(Changed { value, published })
    }

    async fn unmute_now(
        &self,
        user: &UserId,
        room: &RoomId,
        now: u64,
        cause: ChangeCause,
        origin: Vec<u8>,
    ) -> Result<Changed<MuteOutcome>, StoreError> {
        // Judged at the time it is sent (see `mute_now`).
        let now = self.now_ms().max(now).to_string();
        let (removed, published, rooms, deadlines): (i64, usize, Vec<Vec<u8>>, Vec<Vec<u8>>) = self
            .eval_user(
                &UNMUTE,
                user.as_bytes(),
                &[
                    user.as_bytes(),
                    room.as_bytes(),
                    now.as_bytes(),
                    cause.as_str().as_bytes(),
                    &self.channel,
                    &origin,
                ],
            )
            .await
            .map_err(failed("unmute"))?;
        Ok(Changed {
            value: Ok(MuteOutcome {
                changed: removed == 1,
                rooms: timed_list("unmute", rooms, deadlines)?,
            }),
            published,
        })
    }

    async fn muted_rooms_now(&self, user: &UserId) -> Result<MuteList, StoreError> {
        let now = self.now_ms().to_string();
        let (rooms, deadlines): (Vec<Vec<u8>>, Vec<Vec<u8>>) = self
            .eval_user(&MUTED_ROOMS, user.as_bytes(), &[now.as_bytes()])
            .await
            .map_err(failed("muted_rooms"))?;
        timed_list("muted_rooms", rooms, deadlines)
    }

    async fn is_muted_now(&self, user: &UserId, room: &RoomId) -> Result<bool, StoreError> {
        let now = self.now_ms().to_string();
        let muted: i64 = self
            .eval_user(
                &IS_MUTED,
                user.as_bytes(),
                &[room.as_bytes(), now.as_bytes()],
            )
            .await
            .map_err(failed("is_muted"))?;
        Ok(muted == 1)
    }

    async fn muted_among_now(
        &self,
        room: &RoomId,
        users: &[UserId],
    ) -> Result<Vec<UserId>, StoreError> {
        let now = self.now_ms().to_string();
        let muted = match self.muted_among_by_node(room, users, &now).await {
            Ok(muted) => muted,
            Err(_) => {
                // A slot moved, or a Redis older than 7.0 refused the flagged script: ask per user,
                // through the connection's own routing, which follows redirects.
                self.connection.forget_slot_map();
                self.muted_among_by_user(room, users, &now).await?
            }
        };
        Ok(users
            .iter()
            .zip(muted)
            .filter(|(_, muted)| *muted)
            .map(|(user, _)| user.clone())
            .collect())
    }

    /// Whether each of `users` has muted `room`, by one script per chunk of users on one node
    /// ([`MUTED_AMONG`], or [`MUTED_AMONG_ON_NODE`] on a Cluster), the chunks pipelined per node.
    async fn muted_among_by_node(
        &self,
        room: &RoomId,
        users: &[UserId],
        now: &str,
    ) -> RedisResult<Vec<bool>> {
        let prefix = &self.config.key_prefix;
        let keys: Vec<(Vec<u8>, Vec<u8>)> = users
            .iter()
            .map(|user| {
                (
                    prefix.user_key(user.as_bytes()),
                    prefix.deadline_key(user.as_bytes()),
                )
            })
            .collect();
        let slots: Vec<u16> = keys.iter().map(|(key, _)| key_slot(key)).collect();
        let cluster = self.connection.is_cluster();
        let mut chunks: Vec<Vec<usize>> = Vec::new();
        for group in self.connection.node_groups(&slots).await? {
            chunks.extend(group.chunks(MUTED_AMONG_CHUNK).map(<[usize]>::to_vec));
        }
        let calls: Vec<ScriptCall> = chunks
            .iter()
            .map(|chunk| {
                let names = chunk
                    .iter()
                    .flat_map(|&p| [keys[p].0.clone(), keys[p].1.clone()]);
                let mut args = vec![room.as_bytes().to_vec(), now.as_bytes().to_vec()];
                let slot = slots[chunk[0]];
                if cluster {
                    args.extend(names);
                    ScriptCall {
                        slot,
                        keys: Vec::new(),
                        args,
                    }
                } else {
                    ScriptCall {
                        slot,
                        keys: names.collect(),
                        args,
                    }
                }
            })
            .collect();
        let script: &LuaScript = if cluster {
            &MUTED_AMONG_ON_NODE
        } else {
            &MUTED_AMONG
        };
        let replies = every_reply(self.connection.eval_each(script, &calls).await?)?;
        let mut muted = vec![false; users.len()];
        for (chunk, reply) in chunks.iter().zip(replies) {
            let flags: Vec<i64> = redis::from_redis_value(reply)?;
            if flags.len() != chunk.len() {
                return Err(redis::RedisError::from((
                    redis::ErrorKind::UnexpectedReturnType,
                    "muted_among: one answer per user",
                )));
            }
            for (&position, flag) in chunk.iter().zip(flags) {
                muted[position] = flag == 1;
            }
        }
        Ok(muted)
    }

    /// Whether each of `users` has muted `room`, by one [`IS_MUTED`] per user, pipelined per node.
    async fn muted_among_by_user(
        &self,
        room: &RoomId,
        users: &[UserId],
        now: &str,
    ) -> Result<Vec<bool>, StoreError> {
        let calls: Vec<ScriptCall> = users
            .iter()
            .map(|user| {
                self.user_call(
                    user.as_bytes(),
                    vec![room.as_bytes().to_vec(), now.as_bytes().to_vec()],
                )
            })
            .collect();
        let muted = self
            .connection
            .eval_each(&IS_MUTED, &calls)
            .await
            .and_then(every_reply)
            .map_err(failed("muted_among"))?;
        if muted.len() != users.len() {
            return Err(unexpected("muted_among", "fewer replies than users"));
        }
        Ok(muted.iter().map(|muted| *muted == Value::Int(1)).collect())
    }

    /// Takes `room`'s index as a new generation to visit; returns how many generations are left
    /// to visit.
    async fn start_forgetting(&self, room: &RoomId, token: &[u8]) -> Result<i64, StoreError> {
        let prefix = &self.config.key_prefix;
        let (before, after) = prefix.room_generation_key_parts(room.as_bytes());
        let call = ScriptCall::on_keys(
            vec![
                prefix.room_index_key(room.as_bytes()),
                prefix.room_generations_key(room.as_bytes()),
                prefix.legacy_forgetting_key(room.as_bytes()),
            ],
            vec![before, after, token.to_vec()],
        );
        self.connection
            .eval(&START_FORGETTING_ROOM, &call)
            .await
            .map_err(failed("forget_room"))
    }

    /// Removes `room` from a batch of the users of one generation still to visit, then strikes
    /// them off that generation. Returns how many of them had the room and how many event
    /// messages went out, or `None` when no one was left to visit.
    async fn forget_room_batch(
        &self,
        room: &RoomId,
        nonce: &[u8],
        origin: &[u8],
    ) -> Result<Option<(usize, usize)>, StoreError> {
        let prefix = &self.config.key_prefix;
        let (before, after) = prefix.room_generation_key_parts(room.as_bytes());
        let take = ScriptCall::on_keys(
            vec![prefix.room_generations_key(room.as_bytes())],
            vec![before, after, FORGET_ROOM_BATCH.to_string().into_bytes()],
        );
        let taken: Vec<Value> = self
            .connection
            .eval(&TAKE_FORGET_BATCH, &take)
            .await
            .map_err(failed("forget_room"))?;
        let (stamp, users): (Vec<u8>, Vec<Vec<u8>>) = match <[Value; 2]>::try_from(taken) {
            Ok([stamp, users]) => (
                parse_reply("forget_room", stamp)?,
                parse_reply("forget_room", users)?,
            ),
            Err(rest) if rest.is_empty() => return Ok(None),
            Err(_) => {
                return Err(unexpected(
                    "forget_room",
                    "a batch is a stamp and its users, or nothing",
                ));
            }
        };
        if users.is_empty() {
            return Err(unexpected("forget_room", "a batch without users"));
        }
        let now = self.now_ms().to_string();
        let lifetime = self.once_lifetime_ms();
        let calls: Vec<ScriptCall> = users
            .iter()
            .map(|user| {
                self.user_call_once(
                    user,
                    nonce,
                    vec![
                        user.clone(),
                        room.as_bytes().to_vec(),
                        now.as_bytes().to_vec(),
                        lifetime.as_bytes().to_vec(),
                        self.channel.clone(),
                        origin.to_vec(),
                    ],
                )
            })
            .collect();
        let replies = self
            .connection
            .eval_each(&FORGET_ROOM_OF_USER, &calls)
            .await
            .and_then(every_reply)
            .map_err(failed("forget_room"))?;
        let mut had_it: usize = 0;
        let mut published: usize = 0;
        // Sums saturate: the counts come from the server, which this process does not trust to
        // keep them small.
        for reply in replies {
            let (removed, sent): (usize, usize) = parse_reply("forget_room", reply)?;
            had_it = had_it.saturating_add(removed);
            published = published.saturating_add(sent);
        }
        // Struck off only once their removals are done: an interruption before this point leaves
        // them listed, and the next `forget_room` visits them again. Only from the generation they
        // were taken from: a user who muted the room again since is listed in a later generation
        // (or in the index), which this run's visit does not settle.
        self.connection
            .query::<()>(
                redis::cmd("SREM")
                    .arg(prefix.room_generation_key(room.as_bytes(), &stamp))
                    .arg(&users),
            )
            .await
            .map_err(failed("forget_room"))?;
        Ok(Some((had_it, published)))
    }

    async fn forget_room_now(&self, room: &RoomId) -> Result<usize, StoreError> {
        let pending = self.feed.expect();
        let origin = origin_of(pending.as_ref());
        let token = run_token();
        self.within("forget_room", self.start_forgetting(room, &token))
            .await?;
        let (mut had_it, mut published): (usize, usize) = (0, 0);
        for batch in 0_u64.. {
            let nonce = call_nonce(&token, batch);
            let Some((count, sent)) = self
                .within("forget_room", self.forget_room_batch(room, &nonce, &origin))
                .await?
            else {
                break;
            };
            had_it = had_it.saturating_add(count);
            published = published.saturating_add(sent);
        }
        if let Some(pending) = pending {
            pending.wait(published, self.config.timeout).await;
        }
        Ok(had_it)
    }

    async fn forget_user_now(
        &self,
        user: &UserId,
        origin: Vec<u8>,
    ) -> Result<Changed<MuteList>, StoreError> {
        let now = self.now_ms().to_string();
        let (published, rooms, deadlines): (usize, Vec<Vec<u8>>, Vec<Vec<u8>>) = self
            .eval_user(
                &FORGET_USER,
                user.as_bytes(),
                &[user.as_bytes(), now.as_bytes(), &self.channel, &origin],
            )
            .await
            .map_err(failed("forget_user"))?;
        Ok(Changed {
            value: Ok(timed_list("forget_user", rooms, deadlines)?),
            published,
        })
    }

    /// The earliest entry of the expiry index (16 `ZRANGE 0 0`, one pipeline per node, each node
    /// within the timeout): a time at or before the earliest deadline of some user, `None` when
    /// the buckets read are empty. With it, the first failure when some bucket could not be read:
    /// the earliest is then that of the others.
    pub(crate) async fn earliest_indexed(&self) -> (Option<u64>, Option<RedisBackendError>) {
        let commands = (0..EXPIRY_BUCKETS)
            .map(|bucket| {
                let key = self.config.key_prefix.expiry_bucket_key(bucket);
                let slot = key_slot(&key);
                let mut command = redis::cmd("ZRANGE");
                command.arg(key).arg(0).arg(0).arg("WITHSCORES");
                KeyedCommand { slot, command }
            })
            .collect();
        let replies = match self.connection.query_each(commands).await {
            Ok(replies) => replies,
            Err(error) => {
                self.connection.report(false);
                return (None, Some(purge_failed(error)));
            }
        };
        let mut earliest: Option<u64> = None;
        let mut failure = None;
        let mut read_any = false;
        for reply in replies {
            let first =
                parse_purge_reply::<Vec<Vec<u8>>>(reply).and_then(|first| match &*first {
                    [_, score] => parse_index_score(score).map(Some).ok_or(
                        RedisBackendError::UnexpectedReply {
                            operation: "expire_due",
                            detail: "an index score is not a time",
                        },
                    ),
                    _ => Ok(None),
                });
            match first {
                Ok(score) => {
                    read_any = true;
                    if let Some(score) = score {
                        earliest = Some(earliest.map_or(score, |e| e.min(score)));
                    }
                }
                Err(error) => {
                    failure.get_or_insert(error);
                }
            }
        }
        self.connection.report(read_any);
        (earliest, failure)
    }

    /// Purges every mute lapsed at `now` that it can reach, visiting the users the expiry index
    /// lists as due, step by step, each round trip of a step within the timeout on each node.
    /// A bucket it cannot read is left for a later pass; so is a due user whose purge fails (the
    /// pass goes on past its entry). What it left, [`Pass::outcome`] tells.
    pub(crate) async fn expire_pass(&self, now: u64, origin: &[u8]) -> Pass {
        let mut pass = Pass::default();
        let mut buckets: Vec<(usize, usize)> = (0..EXPIRY_BUCKETS).map(|b| (b, 0)).collect();
        let token = run_token();
        for number in 0_u64.. {
            if buckets.is_empty() {
                break;
            }
            let nonce = call_nonce(&token, number);
            let (step, more) = self.expire_step(&buckets, now, &nonce, origin).await;
            pass.absorb(step);
            buckets = more;
        }
        pass
    }

    /// One step of a purge: takes up to [`EXPIRY_BATCH`] due entries of each of `buckets` (each a
    /// bucket and how many of its due entries to pass over: those earlier steps of the pass left
    /// in place), purges those users (each user's script decides, atomically, which mutes have
    /// lapsed, so that concurrent purges send each `expiry` event once), and moves each entry to
    /// the user's next deadline or removes it, unless a mute changed it meanwhile. Each of the
    /// three round trips goes to every node at once, each node within the timeout: what one node
    /// fails to do leaves the others' work standing. Returns what it did and left, and the buckets
    /// that had more due entries than it took, with the number of entries it left in place there.
    async fn expire_step(
        &self,
        buckets: &[(usize, usize)],
        now: u64,
        nonce: &[u8],
        origin: &[u8],
    ) -> (Pass, Vec<(usize, usize)>) {
        let mut step = Pass::default();
        let prefix = &self.config.key_prefix;
        let now_arg = now.to_string();
        let commands = buckets
            .iter()
            .map(|&(bucket, skip)| {
                let key = prefix.expiry_bucket_key(bucket);
                let slot = key_slot(&key);
                let mut command = redis::cmd("ZRANGEBYSCORE");
                command
                    .arg(key)
                    .arg("-inf")
                    .arg(&now_arg)
                    .arg("WITHSCORES")
                    .arg("LIMIT")
                    .arg(skip)
                    .arg(EXPIRY_BATCH);
                KeyedCommand { slot, command }
            })
            .collect();
        let replies = match self.connection.query_each(commands).await {
            Ok(replies) => replies,
            Err(error) => {
                self.connection.report(false);
                step.skip_buckets(buckets.len(), purge_failed(error));
                return (step, Vec::new());
            }
        };
        // Each entry: its bucket's position in `buckets`, the user, the score read.
        let mut entries: Vec<(usize, Vec<u8>, Vec<u8>)> = Vec::new();
        // Per bucket: whether it had more due entries, and how many it leaves in place.
        let mut more = vec![false; buckets.len()];
        let mut left = vec![0_usize; buckets.len()];
        for (at, reply) in replies.into_iter().enumerate() {
            let flat: Vec<Vec<u8>> = match parse_purge_reply(reply) {
                Ok(flat) => flat,
                Err(error) => {
                    step.skip_buckets(1, error);
                    continue;
                }
            };
            more[at] = flat.len() / 2 >= EXPIRY_BATCH;
            let mut pairs = flat.into_iter();
            while let (Some(user), Some(score)) = (pairs.next(), pairs.next()) {
                entries.push((at, user, score));
            }
        }
        self.connection.report(step.unread < buckets.len());
        if entries.is_empty() {
            return (step, Vec::new());
        }
        let lifetime = self.once_lifetime_ms();
        let purges: Vec<ScriptCall> = entries
            .iter()
            .map(|(_, user, _)| {
                self.user_call_once(
                    user,
                    nonce,
                    vec![
                        user.clone(),
                        now_arg.as_bytes().to_vec(),
                        lifetime.as_bytes().to_vec(),
                        self.channel.clone(),
                        origin.to_vec(),
                    ],
                )
            })
            .collect();
        let purged = match self.connection.eval_each(&EXPIRE_USER, &purges).await {
            Ok(purged) => purged,
            Err(error) => {
                // Nothing went out: every entry stays.
                step.leave_entries(entries.len(), purge_failed(error));
                for &(at, _, _) in &entries {
                    left[at] += 1;
                }
                Vec::new()
            }
        };
        let mut settles = Vec::with_capacity(entries.len());
        let mut settling = Vec::with_capacity(entries.len());
        for ((at, user, score), reply) in entries.into_iter().zip(purged) {
            let (count, published, earliest): (usize, usize, Vec<u8>) =
                match parse_purge_reply(reply) {
                    Ok(done) => done,
                    Err(error) => {
                        // The entry stays, for a later pass to visit the user again.
                        step.leave_entries(1, error);
                        left[at] += 1;
                        continue;
                    }
                };
            step.purged = step.purged.saturating_add(count);
            step.published = step.published.saturating_add(published);
            let key = prefix.expiry_bucket_key(buckets[at].0);
            settles.push(ScriptCall {
                slot: key_slot(&key),
                keys: vec![key],
                args: vec![user, score, earliest],
            });
            settling.push(at);
        }
        let settled = match self
            .connection
            .eval_each(&SETTLE_EXPIRY_ENTRY, &settles)
            .await
        {
            Ok(settled) => settled,
            Err(error) => {
                step.leave_entries(settles.len(), purge_failed(error));
                for &at in &settling {
                    left[at] += 1;
                }
                Vec::new()
            }
        };
        for (at, reply) in settling.into_iter().zip(settled) {
            match reply {
                Ok(Value::Int(1)) => step.settled += 1,
                // The entry changed meanwhile and stays, due or not.
                Ok(_) => left[at] += 1,
                Err(error) => {
                    step.leave_entries(1, purge_failed(error));
                    left[at] += 1;
                }
            }
        }
        // A bucket with more due entries is read again, past those this step left in place: what
        // it settled has left the due range (a user's next deadline is after `now`).
        let next = buckets
            .iter()
            .zip(more.iter().zip(left))
            .filter(|(_, (more, _))| **more)
            .map(|(&(bucket, skip), (_, left))| (bucket, skip + left))
            .collect();
        (step, next)
    }
}

/// A token for one `forget_room` run or purge pass: 16 hex digits, different for every call in
/// this process and, by per-process random bits, from those of other processes.
fn run_token() -> Vec<u8> {
    use std::hash::{BuildHasher, RandomState};
    use std::sync::LazyLock;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::{SystemTime, UNIX_EPOCH};
    static RANDOM: LazyLock<RandomState> = LazyLock::new(RandomState::new);
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_nanos());
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("{:016x}", RANDOM.hash_one((nanos, n, std::process::id()))).into_bytes()
}

/// The nonce of call `number` of run `token` (a batch of a `forget_room`, a step of a purge): the
/// once keys of its per-user scripts. A user appears at most once per call.
fn call_nonce(token: &[u8], number: u64) -> Vec<u8> {
    let mut nonce = token.to_vec();
    nonce.push(b'.');
    nonce.extend_from_slice(number.to_string().as_bytes());
    nonce
}

/// Every reply, or the first error: for an operation that needs them all.
fn every_reply(replies: Vec<RedisResult<Value>>) -> RedisResult<Vec<Value>> {
    replies.into_iter().collect()
}

/// A script's reply as `T`.
fn parse_reply<T: FromRedisValue>(operation: &'static str, reply: Value) -> Result<T, StoreError> {
    redis::from_redis_value(reply)
        .map_err(|_| unexpected(operation, "a script reply has an unexpected shape"))
}

/// Rooms read from Redis, oldest mute first, with the deadlines of the timed ones (`deadlines` is
/// `[room, deadline, ...]`), as a list.
fn timed_list(
    operation: &'static str,
    rooms: Vec<Vec<u8>>,
    deadlines: Vec<Vec<u8>>,
) -> Result<MuteList, StoreError> {
    let room_id = |room: &[u8]| {
        RoomId::from_utf8(room).map_err(|_| unexpected(operation, "a stored room id is not valid"))
    };
    if deadlines.is_empty() {
        return rooms.iter().map(|room| room_id(room)).collect();
    }
    let mut until: HashMap<&[u8], u64> = HashMap::with_capacity(deadlines.len() / 2);
    for pair in deadlines.chunks(2) {
        let [room, deadline] = pair else {
            return Err(unexpected(operation, "deadlines come in pairs"));
        };
        let deadline = parse_millis(deadline)
            .ok_or_else(|| unexpected(operation, "a stored deadline is not a time"))?;
        until.insert(room.as_slice(), deadline);
    }
    let timed = rooms
        .iter()
        .map(|room| Ok((room_id(room)?, until.get(room.as_slice()).copied())))
        .collect::<Result<Vec<_>, StoreError>>()?;
    Ok(MuteList::from_timed(timed))
}

impl MuteStore for RedisStore {
    async fn mute_with(
        &self,
        user: &UserId,
        room: &RoomId,
        expiry: Expiry,
        actor: Actor,
    ) -> Result<MuteOutcome, StoreError> {
        let now = self.core.now_ms();
        let deadline = expiry.deadline(now)?;
        // A mute is several writes: the indexes, the script, the indexes again. It runs in a task of
        // its own, so that a caller that stops waiting (a timeout, a client gone) cannot cut it off
        // after the script and before the second index writes, which would leave a timed mute that
        // no purge finds or a muted room that `forget_room` misses.
        let core = Arc::clone(&self.core);
        let (user, room) = (user.clone(), room.clone());
        let mute = tokio::spawn(async move {
            let core = &*core;
            core.change("mute", |origin| {
                core.mute_now(&user, &room, now, deadline, actor.into(), origin)
            })
            .await
        });
        mute.await.unwrap_or_else(|stopped| {
            Err(StoreError::backend(format!(
                "the mute's task stopped: {stopped}"
            )))
        })
    }

    async fn unmute_by(
        &self,
        user: &UserId,
        room: &RoomId,
        actor: Actor,
    ) -> Result<MuteOutcome, StoreError> {
        let core = &*self.core;
        let now = core.now_ms();
        core.change("unmute", |origin| {
            core.unmute_now(user, room, now, actor.into(), origin)
        })
        .await
    }

    async fn muted_rooms(&self, user: &UserId) -> Result<MuteList, StoreError> {
        self.core
            .within("muted_rooms", self.core.muted_rooms_now(user))
            .await
    }

    async fn is_muted(&self, user: &UserId, room: &RoomId) -> Result<bool, StoreError> {
        self.core
            .within("is_muted", self.core.is_muted_now(user, room))
            .await
    }

    async fn muted_among(
        &self,
        room: &RoomId,
        users: &[UserId],
    ) -> Result<Vec<UserId>, StoreError> {
        if users.is_empty() {
            return Ok(Vec::new());
        }
        self.core
            .within("muted_among", self.core.muted_among_now(room, users))
            .await
    }

    async fn forget_room(&self, room: &RoomId) -> Result<usize, StoreError> {
        self.core.forget_room_now(room).await
    }

    async fn forget_user(&self, user: &UserId) -> Result<MuteList, StoreError> {
        let core = &*self.core;
        core.change("forget_user", |origin| core.forget_user_now(user, origin))
            .await
    }

    async fn expire_due(&self) -> Result<usize, StoreError> {
        let core = &*self.core;
        let now = core.now_ms();
        let pending = core.feed.expect();
        let pass = core.expire_pass(now, &origin_of(pending.as_ref())).await;
        if let Some(pending) = pending {
            pending.wait(pass.published, core.config.timeout).await;
        }
        Ok(pass.outcome()?)
    }

    fn subscribe(&self, scope: EventScope) -> Result<Subscription, StoreError> {
        Ok(self.core.feed.hub().subscribe(scope))
    }

    fn mute_limit(&self) -> usize {
        self.core.config.mute_limit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused() -> RedisBackendError {
        purge_failed(std::io::Error::from(std::io::ErrorKind::ConnectionRefused).into())
    }

    fn unexpected_purge() -> RedisBackendError {
        RedisBackendError::UnexpectedReply {
            operation: "expire_due",
            detail: "a purge reply has an unexpected shape",
        }
    }

    #[test]
    fn a_pass_that_left_nothing_counts_its_purges() {
        let mut pass = Pass::default();
        pass.absorb(Pass {
            purged: 3,
            settled: 3,
            ..Pass::default()
        });
        pass.absorb(Pass {
            purged: 2,
            settled: 1,
            ..Pass::default()
        });
        assert_eq!(pass.outcome().unwrap(), 5);
    }

    #[test]
    fn a_pass_that_left_work_says_what_it_did_and_left() {
        let mut pass = Pass {
            purged: 7,
            ..Pass::default()
        };
        pass.skip_buckets(5, refused());
        pass.leave_entries(2, unexpected_purge());
        let error = pass.outcome().unwrap_err();
        assert!(matches!(
            &error,
            RedisBackendError::PurgeIncomplete {
                purged: 7,
                unread: 5,
                unfinished: 2,
                first,
            } if matches!(**first, RedisBackendError::Redis { .. })
        ));
        let text = error.to_string();
        for part in [
            "purged 7",
            "5 expiry index buckets",
            "2 due users",
            "refused",
        ] {
            assert!(text.contains(part), "{text}");
        }
    }

    #[test]
    fn a_pass_that_reached_nothing_fails_with_its_first_failure() {
        let mut pass = Pass::default();
        pass.skip_buckets(EXPIRY_BUCKETS, refused());
        assert!(matches!(
            pass.outcome(),
            Err(RedisBackendError::Redis {
                operation: "expire_due",
                ..
            })
        ));
    }
}
