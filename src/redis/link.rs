//! [`Link`]: one live connection to Redis, either a reconnecting [`ConnectionManager`] to one
//! server or a [`ClusterConnection`] that follows the Cluster's slot map. Both reconnect by
//! themselves after a failure; cloning one is cheap and shares it.

use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClientBuilder;
use redis::cluster_async::ClusterConnection;
use redis::{Client, Cmd, FromRedisValue, RedisResult, Value};
use tokio::time::Instant;

use super::cluster_slots::SlotOwners;
use super::config::Topology;
use super::node_pipelines::{
    KeyedCommand, by_deadline, no_answer, query_each_on_cluster, reply_result, slot_owners,
};

/// The shortest and the longest wait between two reconnection attempts to a standalone server.
/// Short, so that service resumes soon after the server does.
const RECONNECT_MIN_DELAY: Duration = Duration::from_millis(50);
const RECONNECT_MAX_DELAY: Duration = Duration::from_millis(500);

/// A connection to one server or to a Cluster.
#[derive(Clone)]
pub(crate) enum Link {
    Standalone(ConnectionManager),
    Cluster(ClusterConnection),
}

impl Link {
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
                Ok(Self::Cluster(client.get_async_connection().await?))
            }
        }
    }

    /// Sends one command; in a Cluster, to the node serving its key.
    pub(crate) async fn query<T: FromRedisValue>(&self, command: &Cmd) -> RedisResult<T> {
        match self {
            Self::Standalone(manager) => command.query_async(&mut manager.clone()).await,
            Self::Cluster(cluster) => command.query_async(&mut cluster.clone()).await,
        }
    }

    /// Positions of `slots` grouped by the node serving them (by the slot map in `owners`, fetched
    /// when missing): one group on a standalone server.
    pub(crate) async fn node_groups(
        &self,
        slots: &[u16],
        owners: &Mutex<Option<Arc<SlotOwners>>>,
    ) -> RedisResult<Vec<Vec<usize>>> {
        match self {
            Self::Standalone(_) => Ok(vec![(0..slots.len()).collect()]),
            Self::Cluster(cluster) => {
                let owners = slot_owners(cluster, owners).await?;
                let unserved = owners.node_count();
                let mut groups: Vec<Vec<usize>> = vec![Vec::new(); unserved + 1];
                for (position, &slot) in slots.iter().enumerate() {
                    groups[owners.node_of(slot).unwrap_or(unserved)].push(position);
                }
                Ok(groups.into_iter().filter(|g| !g.is_empty()).collect())
            }
        }
    }

    /// Whether this is a Cluster connection.
    pub(crate) fn is_cluster(&self) -> bool {
        matches!(self, Self::Cluster(_))
    }

    /// Sends commands on single keys, pipelined: one pipeline to a standalone server, or one per
    /// Cluster node, all nodes at once (with the slot map in `owners`). Returns each command's
    /// reply in the order of `commands`, an error reply as an error; a Cluster node that fails or
    /// does not answer by `deadline` (`None`: no deadline) fails its own commands only. Fails as a
    /// whole when the pipeline (standalone) or the slot map (Cluster) cannot be had by `deadline`.
    pub(crate) async fn query_each(
        &self,
        commands: Vec<KeyedCommand>,
        owners: &Mutex<Option<Arc<SlotOwners>>>,
        deadline: Option<Instant>,
    ) -> RedisResult<Vec<RedisResult<Value>>> {
        if commands.is_empty() {
            return Ok(Vec::new());
        }
        match self {
            Self::Standalone(manager) => {
                let mut pipeline = redis::pipe();
                pipeline.ignore_errors();
                for keyed in commands {
                    pipeline.add_command(keyed.command);
                }
                let mut manager = manager.clone();
                let values: Vec<Value> = by_deadline(deadline, pipeline.query_async(&mut manager))
                    .await
                    .unwrap_or_else(|| Err(no_answer()))?;
                Ok(values.into_iter().map(reply_result).collect())
            }
            Self::Cluster(cluster) => {
                query_each_on_cluster(cluster, owners, &commands, deadline).await
            }
        }
    }
}
