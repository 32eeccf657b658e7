//! The connection to Redis: one server through a reconnecting [`ConnectionManager`], or a Cluster
//! through a [`ClusterConnection`] that follows the slot map. Both reconnect by themselves after a
//! failure; the store bounds every call with its own timeout.

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::join_all;
use parking_lot::Mutex;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClientBuilder;
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{Route, SingleNodeRoutingInfo, SlotAddr};
use redis::{Client, Cmd, FromRedisValue, RedisResult, ScriptInvocation, Value};

use super::cluster_slots::SlotOwners;
use super::config::Topology;

/// The shortest and the longest wait between two reconnection attempts to a standalone server.
/// Short, so that service resumes soon after the server does.
const RECONNECT_MIN_DELAY: Duration = Duration::from_millis(50);
const RECONNECT_MAX_DELAY: Duration = Duration::from_millis(500);

/// A command on one key, with the Cluster slot of that key.
pub(crate) struct KeyedCommand {
    pub(crate) slot: u16,
    pub(crate) command: Cmd,
}

/// A connection to one server or to a Cluster.
pub(crate) enum RedisConnection {
    Standalone(ConnectionManager),
    Cluster {
        connection: ClusterConnection,
        /// The node of each slot, fetched when first needed and dropped when it proves stale.
        owners: Mutex<Option<Arc<SlotOwners>>>,
    },
}

impl RedisConnection {
    /// Connects. Every connection attempt and every response wait is limited to `timeout`; the
    /// caller bounds the whole call.
    pub(crate) async fn open(topology: &Topology, timeout: Duration) -> RedisResult<Self> {
        match topology {
            Topology::Standalone(info) => {
                let client = Client::open(info.clone())?;
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(timeout))
                    .set_response_timeout(Some(timeout))
                    .set_min_delay(RECONNECT_MIN_DELAY)
                    .set_max_delay(RECONNECT_MAX_DELAY);
                let manager = ConnectionManager::new_with_config(client, config).await?;
                Ok(Self::Standalone(manager))
            }
            Topology::Cluster(nodes) => {
                let client = ClusterClientBuilder::new(nodes.iter().cloned())
                    .connection_timeout(timeout)
                    .response_timeout(timeout)
                    .build()?;
                let connection = client.get_async_connection().await?;
                Ok(Self::Cluster {
                    connection,
                    owners: Mutex::new(None),
                })
            }
        }
    }

    /// Sends one command; in a Cluster, to the node serving its key.
    pub(crate) async fn query<T: FromRedisValue>(&self, command: &Cmd) -> RedisResult<T> {
        match self {
            Self::Standalone(manager) => command.query_async(&mut manager.clone()).await,
            Self::Cluster { connection, .. } => command.query_async(&mut connection.clone()).await,
        }
    }

    /// Runs a script (by its hash, loading it first where the server does not know it yet).
    pub(crate) async fn invoke<T: FromRedisValue>(
        &self,
        invocation: &ScriptInvocation<'_>,
    ) -> RedisResult<T> {
        match self {
            Self::Standalone(manager) => invocation.invoke_async(&mut manager.clone()).await,
            Self::Cluster { connection, .. } => {
                invocation.invoke_async(&mut connection.clone()).await
            }
        }
    }

    /// Sends commands on single keys, pipelined: one pipeline to a standalone server, or one per
    /// Cluster node, all nodes at once. Returns the replies in the order of `commands`.
    pub(crate) async fn query_each(&self, commands: Vec<KeyedCommand>) -> RedisResult<Vec<Value>> {
        if commands.is_empty() {
            return Ok(Vec::new());
        }
        match self {
            Self::Standalone(manager) => {
                let mut pipeline = redis::pipe();
                for keyed in commands {
                    pipeline.add_command(keyed.command);
                }
                pipeline.query_async(&mut manager.clone()).await
            }
            Self::Cluster { connection, owners } => {
                query_each_on_cluster(connection, owners, &commands).await
            }
        }
    }
}

async fn query_each_on_cluster(
    connection: &ClusterConnection,
    owners_cache: &Mutex<Option<Arc<SlotOwners>>>,
    commands: &[KeyedCommand],
) -> RedisResult<Vec<Value>> {
    let cached = owners_cache.lock().clone();
    let owners = match cached {
        Some(owners) => owners,
        None => {
            let reply: Value = redis::cmd("CLUSTER")
                .arg("SLOTS")
                .query_async(&mut connection.clone())
                .await?;
            let owners = Arc::new(SlotOwners::from_cluster_slots(&reply).ok_or_else(|| {
                redis::RedisError::from((
                    redis::ErrorKind::UnexpectedReturnType,
                    "CLUSTER SLOTS reply has an unexpected shape",
                ))
            })?);
            *owners_cache.lock() = Some(Arc::clone(&owners));
            owners
        }
    };
    // One group per node; slots no node serves (in the map we hold) go to a last group.
    let unserved = owners.node_count();
    let mut groups: Vec<Vec<usize>> = vec![Vec::new(); unserved + 1];
    for (position, keyed) in commands.iter().enumerate() {
        let node = owners.node_of(keyed.slot).unwrap_or(unserved);
        groups[node].push(position);
    }
    let groups: Vec<Vec<usize>> = groups.into_iter().filter(|g| !g.is_empty()).collect();
    let answers = join_all(
        groups
            .iter()
            .map(|positions| query_group(connection, commands, positions)),
    )
    .await;
    let mut replies = vec![Value::Nil; commands.len()];
    let mut map_was_stale = false;
    for (positions, answer) in groups.iter().zip(answers) {
        let (values, stale) = answer?;
        map_was_stale |= stale;
        for (&position, value) in positions.iter().zip(values) {
            replies[position] = value;
        }
    }
    if map_was_stale {
        *owners_cache.lock() = None;
    }
    Ok(replies)
}

/// Sends the commands at `positions`, all for one node, as one pipeline. When the pipeline fails
/// or any reply is an error (typically `MOVED`: the slot map has changed), sends each command on
/// its own instead, through the cluster connection's own routing, and reports the map as stale.
async fn query_group(
    connection: &ClusterConnection,
    commands: &[KeyedCommand],
    positions: &[usize],
) -> RedisResult<(Vec<Value>, bool)> {
    let mut pipeline = redis::pipe();
    for &position in positions {
        pipeline.add_command(commands[position].command.clone());
    }
    let route = SingleNodeRoutingInfo::SpecificNode(Route::new(
        commands[positions[0]].slot,
        SlotAddr::Master,
    ));
    let piped = connection
        .clone()
        .route_pipeline(pipeline, 0, positions.len(), route)
        .await;
    if let Ok(values) = piped
        && values.len() == positions.len()
        && !values.iter().any(|v| matches!(v, Value::ServerError(_)))
    {
        return Ok((values, false));
    }
    let singles = join_all(positions.iter().map(|&position| async move {
        commands[position]
            .command
            .query_async::<Value>(&mut connection.clone())
            .await
    }))
    .await;
    let values = singles.into_iter().collect::<RedisResult<Vec<Value>>>()?;
    Ok((values, true))
}
