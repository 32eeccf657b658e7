//! [`RedisConnection`]: the store's connection, which replaces its [`Link`] when the link has
//! failed every request for a while.
//!
//! redis-rs reconnects by itself, and that is what normally brings service back. But its Cluster
//! connection can wedge: with redis-rs 1.8.1, a slot refresh that starts while a node's
//! reconnection is waiting for the same lock deadlocks, and from then on every request times out,
//! even to healthy nodes (seen when a node is killed and restarted under load; a new connection
//! works at once). So when every operation has failed for three timeouts (at least a second, see
//! [`rebuild_after`]), the store opens a new link in the background and swaps it in once it answers. During a real outage
//! the new link fails to open, and the old one is kept; attempts are spaced by the same delay.

use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Mutex, RwLock};
use redis::{Cmd, ErrorKind, FromRedisValue, RedisError, RedisResult, ServerErrorKind, Value};

use super::cluster_slots::{SlotOwners, key_slot, node_endpoints};
use super::config::Topology;
use super::link::Link;
use super::node_pipelines::KeyedCommand;
use super::scripts::LuaScript;

/// One run of a script for [`RedisConnection::eval`] or [`RedisConnection::eval_each`]: its keys,
/// all in the Cluster slot `slot`, and its arguments.
pub(crate) struct ScriptCall {
    pub(crate) slot: u16,
    pub(crate) keys: Vec<Vec<u8>>,
    pub(crate) args: Vec<Vec<u8>>,
}

impl ScriptCall {
    /// A call on `keys`, at least one and all in one slot (that of the first), with `args`.
    pub(crate) fn on_keys(keys: Vec<Vec<u8>>, args: Vec<Vec<u8>>) -> Self {
        debug_assert!(!keys.is_empty(), "a script call names its keys");
        Self {
            slot: keys.first().map_or(0, |key| key_slot(key)),
            keys,
            args,
        }
    }

    /// The command that runs the call: `name` is `EVALSHA` with the script's hash as `body`, or
    /// `EVAL` with its text. A Cluster connection routes it by its first key.
    fn command(&self, name: &str, body: &str) -> Cmd {
        let mut command = redis::cmd(name);
        command
            .arg(body)
            .arg(self.keys.len())
            .arg(&self.keys)
            .arg(&self.args);
        command
    }
}

/// Whether `error` says that the node does not have the script (`NOSCRIPT`): the call did not run.
fn script_missing(error: &RedisError) -> bool {
    error.kind() == ErrorKind::Server(ServerErrorKind::NoScript)
}

/// How long every operation must have failed before the link is replaced: three timeouts, and at
/// least a second (saturating: a timeout of `Duration::MAX` never has the link replaced).
fn rebuild_after(timeout: Duration) -> Duration {
    timeout.saturating_mul(3).max(Duration::from_secs(1))
}

/// The connection a store uses. Cloning shares it.
#[derive(Clone)]
pub(crate) struct RedisConnection {
    shared: Arc<Shared>,
}

struct Shared {
    topology: Topology,
    timeout: Duration,
    link: RwLock<Link>,
    /// On a Cluster, the node of each slot, fetched when first needed and dropped when stale.
    owners: Mutex<Option<Arc<SlotOwners>>>,
    health: Mutex<Health>,
}

/// The recent record of a link: how long it has failed, and its replacement.
#[derive(Default)]
struct Health {
    /// When the current run of failed operations began; `None` after a success.
    failing_since: Option<Instant>,
    /// When the last replacement was started, and whether it is still running.
    last_rebuild: Option<Instant>,
    rebuilding: bool,
}

impl Health {
    /// Records an operation at `now` that the backend served or not. Returns `true` when a
    /// replacement should start (and counts it as started): every operation has failed for
    /// `wait`, none is running, and none started within `wait`.
    fn record(&mut self, served: bool, now: Instant, wait: Duration) -> bool {
        if served {
            self.failing_since = None;
            return false;
        }
        let failing_since = *self.failing_since.get_or_insert(now);
        let due = now.duration_since(failing_since) >= wait
            && !self.rebuilding
            && self
                .last_rebuild
                .is_none_or(|last| now.duration_since(last) >= wait);
        if due {
            self.rebuilding = true;
            self.last_rebuild = Some(now);
        }
        due
    }
}

impl RedisConnection {
    /// Connects. Every connection attempt and every response wait is limited to `timeout`; the
    /// caller bounds the whole call.
    pub(crate) async fn open(topology: &Topology, timeout: Duration) -> RedisResult<Self> {
        let link = Link::open(topology, timeout).await?;
        Ok(Self {
            shared: Arc::new(Shared {
                topology: topology.clone(),
                timeout,
                link: RwLock::new(link),
                owners: Mutex::new(None),
                health: Mutex::new(Health::default()),
            }),
        })
    }

    fn link(&self) -> Link {
        self.shared.link.read().clone()
    }

    /// Sends one command; in a Cluster, to the node serving its key.
    pub(crate) async fn query<T: FromRedisValue>(&self, command: &redis::Cmd) -> RedisResult<T> {
        self.link().query(command).await
    }

    /// Runs `script` once, for `call`, on the node serving the call's keys: by its hash
    /// (`EVALSHA`), and when that node does not have it (`NOSCRIPT`: it restarted or failed over,
    /// or its scripts were flushed), again with the script's text (`EVAL`, which also leaves the
    /// script on the node), on the same node. No other node is involved: redis-rs's `Script` would
    /// load the script with `SCRIPT LOAD`, which a Cluster connection sends to every primary, and
    /// which therefore fails (or waits until the timeout) while any primary does not answer. A
    /// call that came back `NOSCRIPT` did not run, so it runs at most once here.
    pub(crate) async fn eval<T: FromRedisValue>(
        &self,
        script: &LuaScript,
        call: &ScriptCall,
    ) -> RedisResult<T> {
        let link = self.link();
        match link.query(&call.command("EVALSHA", script.hash())).await {
            Err(error) if script_missing(&error) => {
                link.query(&call.command("EVAL", script.code())).await
            }
            result => result,
        }
    }

    /// The time by which each node must have answered a round trip that starts now: the
    /// timeout from now (`None`: no limit, for a timeout too large to add).
    fn round_trip_deadline(&self) -> Option<tokio::time::Instant> {
        tokio::time::Instant::now().checked_add(self.shared.timeout)
    }

    /// Sends commands on single keys, pipelined: one pipeline to a standalone server, or one per
    /// Cluster node, all nodes at once, each node within the timeout. Returns each command's reply
    /// in the order of `commands`, an error reply as an error: on a Cluster, a node that fails or
    /// does not answer in time fails its own commands and no others. Fails as a whole only when
    /// nothing could be sent (the standalone server failed; the slot map could not be had).
    pub(crate) async fn query_each(
        &self,
        commands: Vec<KeyedCommand>,
    ) -> RedisResult<Vec<RedisResult<Value>>> {
        self.link()
            .query_each(commands, &self.shared.owners, self.round_trip_deadline())
            .await
    }

    /// Runs `script` once per call, pipelined as [`query_each`](Self::query_each) sends commands,
    /// and with the same results: each call's reply or error, in the order of `calls`. Calls that
    /// find the script missing on their node (`NOSCRIPT`: a node restarted or failed over) are
    /// sent again, within the timeout again, with the script's text (`EVAL`, which also leaves the
    /// script on the node), so that no node depends on another being up (loading the script on
    /// every primary of a Cluster would fail while one is down).
    pub(crate) async fn eval_each(
        &self,
        script: &LuaScript,
        calls: &[ScriptCall],
    ) -> RedisResult<Vec<RedisResult<Value>>> {
        let command = |name: &str, body: &str, call: &ScriptCall| KeyedCommand {
            slot: call.slot,
            command: call.command(name, body),
        };
        let mut replies = self
            .query_each(
                calls
                    .iter()
                    .map(|call| command("EVALSHA", script.hash(), call))
                    .collect(),
            )
            .await?;
        let missing: Vec<usize> = replies
            .iter()
            .enumerate()
            .filter(|(_, reply)| reply.as_ref().is_err_and(script_missing))
            .map(|(position, _)| position)
            .collect();
        if missing.is_empty() {
            return Ok(replies);
        }
        // Should nothing go out this time, those calls keep their `NOSCRIPT` error and the rest
        // their replies.
        if let Ok(again) = self
            .query_each(
                missing
                    .iter()
                    .map(|&p| command("EVAL", script.code(), &calls[p]))
                    .collect(),
            )
            .await
        {
            for (position, reply) in missing.into_iter().zip(again) {
                replies[position] = reply;
            }
        }
        Ok(replies)
    }

    /// Positions of `slots` grouped by the node serving them: one group on a standalone server.
    pub(crate) async fn node_groups(&self, slots: &[u16]) -> RedisResult<Vec<Vec<usize>>> {
        self.link().node_groups(slots, &self.shared.owners).await
    }

    /// Every node of the Cluster as `CLUSTER SLOTS` names it now, primaries and replicas, as
    /// `(host, port)`; none on a standalone server. The command goes to whichever node redis-rs
    /// picks among those it knows, which need not be among the configured ones.
    pub(crate) async fn cluster_node_endpoints(&self) -> RedisResult<Vec<(String, u16)>> {
        if !self.is_cluster() {
            return Ok(Vec::new());
        }
        let reply: Value = self.query(redis::cmd("CLUSTER").arg("SLOTS")).await?;
        Ok(node_endpoints(&reply))
    }

    /// Drops the slot map, to fetch a fresh one when next needed.
    pub(crate) fn forget_slot_map(&self) {
        *self.shared.owners.lock() = None;
    }

    /// Whether the store is on a Cluster.
    pub(crate) fn is_cluster(&self) -> bool {
        self.link().is_cluster()
    }

    /// Records how an operation went: whether the backend served it. When every operation has
    /// failed for [`rebuild_after`], starts opening a new link in the background.
    pub(crate) fn report(&self, served: bool) {
        let wait = rebuild_after(self.shared.timeout);
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if !self
            .shared
            .health
            .lock()
            .record(served, Instant::now(), wait)
        {
            return;
        }
        let shared = Arc::clone(&self.shared);
        runtime.spawn(async move {
            let opened =
                tokio::time::timeout(shared.timeout, Link::open(&shared.topology, shared.timeout))
                    .await;
            if let Ok(Ok(link)) = opened {
                *shared.link.write() = link;
                *shared.owners.lock() = None;
            }
            shared.health.lock().rebuilding = false;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replacement_starts_after_failures_for_the_whole_wait() {
        let wait = Duration::from_secs(3);
        let start = Instant::now();
        let at = |seconds: u64| start + Duration::from_secs(seconds);
        let mut health = Health::default();
        assert!(!health.record(false, at(0), wait));
        assert!(!health.record(false, at(2), wait));
        // A success in between starts the count again.
        assert!(!health.record(true, at(2), wait));
        assert!(!health.record(false, at(3), wait));
        assert!(!health.record(false, at(5), wait));
        assert!(health.record(false, at(6), wait), "failing since 3, for 3");
        // One at a time, and spaced by the wait.
        assert!(!health.record(false, at(7), wait));
        health.rebuilding = false;
        assert!(!health.record(false, at(8), wait));
        assert!(health.record(false, at(9), wait));
    }

    #[test]
    fn the_wait_is_three_timeouts_and_at_least_a_second() {
        assert_eq!(
            rebuild_after(Duration::from_secs(1)),
            Duration::from_secs(3)
        );
        assert_eq!(
            rebuild_after(Duration::from_millis(100)),
            Duration::from_secs(1)
        );
        assert_eq!(rebuild_after(Duration::MAX), Duration::MAX);
    }
}
