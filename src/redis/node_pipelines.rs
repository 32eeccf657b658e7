//! Per-node pipelines on a Cluster: commands on single keys, grouped by the node serving each
//! key's slot, one pipeline per node, all nodes at once.

use std::sync::Arc;

use futures_util::future::join_all;
use parking_lot::Mutex;
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{Route, SingleNodeRoutingInfo, SlotAddr};
use redis::{Cmd, RedisResult, Value};

use super::cluster_slots::SlotOwners;

/// A command on one key, with the Cluster slot of that key.
pub(crate) struct KeyedCommand {
    pub(crate) slot: u16,
    pub(crate) command: Cmd,
}

/// Sends `commands` grouped by node, using (and filling, and dropping when stale) the slot map in
/// `owners_cache`. Returns the replies in the order of `commands`.
pub(crate) async fn query_each_on_cluster(
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
    if answers.iter().any(|answer| answer.fell_back) {
        *owners_cache.lock() = None;
    }
    let mut replies = vec![Value::Nil; commands.len()];
    for (positions, answer) in groups.iter().zip(answers) {
        for (&position, value) in positions.iter().zip(answer.values?) {
            replies[position] = value;
        }
    }
    Ok(replies)
}

/// The replies to one node's group, and whether the group had to be sent command by command.
struct GroupAnswer {
    values: RedisResult<Vec<Value>>,
    fell_back: bool,
}

/// Sends the commands at `positions`, all for one node, as one pipeline. When the pipeline fails
/// or any reply is an error (typically `MOVED`: the slot map has changed), sends each command on
/// its own instead, through the cluster connection's own routing, which follows redirects.
async fn query_group(
    connection: &ClusterConnection,
    commands: &[KeyedCommand],
    positions: &[usize],
) -> GroupAnswer {
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
        return GroupAnswer {
            values: Ok(values),
            fell_back: false,
        };
    }
    let singles = join_all(positions.iter().map(|&position| async move {
        commands[position]
            .command
            .query_async::<Value>(&mut connection.clone())
            .await
    }))
    .await;
    GroupAnswer {
        values: singles.into_iter().collect(),
        fell_back: true,
    }
}
