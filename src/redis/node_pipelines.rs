//! Per-node pipelines on a Cluster: commands on single keys, grouped by the node serving each
//! key's slot, one pipeline per node, all nodes at once.

use std::future::Future;
use std::sync::Arc;

use futures_util::future::join_all;
use parking_lot::Mutex;
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{Route, SingleNodeRoutingInfo, SlotAddr};
use redis::{Cmd, ErrorKind, RedisError, RedisResult, ServerErrorKind, Value};
use tokio::time::Instant;

use super::cluster_slots::SlotOwners;

/// A command on one key, with the Cluster slot of that key.
pub(crate) struct KeyedCommand {
    pub(crate) slot: u16,
    pub(crate) command: Cmd,
}

/// `work`'s output, or `None` when `deadline` passes first (`None`: no deadline).
pub(crate) async fn by_deadline<T>(
    deadline: Option<Instant>,
    work: impl Future<Output = T>,
) -> Option<T> {
    match deadline {
        Some(deadline) => tokio::time::timeout_at(deadline, work).await.ok(),
        None => Some(work.await),
    }
}

/// The error of a command whose node did not answer by the deadline: an I/O timeout, as redis-rs
/// reports its own.
pub(crate) fn no_answer() -> RedisError {
    std::io::Error::from(std::io::ErrorKind::TimedOut).into()
}

/// The slot map in `owners_cache`, fetched (`CLUSTER SLOTS`) and kept there when missing.
pub(crate) async fn slot_owners(
    connection: &ClusterConnection,
    owners_cache: &Mutex<Option<Arc<SlotOwners>>>,
) -> RedisResult<Arc<SlotOwners>> {
    if let Some(owners) = owners_cache.lock().clone() {
        return Ok(owners);
    }
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
    Ok(owners)
}

/// Sends `commands` grouped by node, using (and filling, and dropping when stale) the slot map in
/// `owners_cache`. Returns each command's reply, in the order of `commands`: a node that fails, or
/// does not answer by `deadline`, fails its own commands and no others. Fails as a whole only when
/// the slot map cannot be fetched by `deadline`.
pub(crate) async fn query_each_on_cluster(
    connection: &ClusterConnection,
    owners_cache: &Mutex<Option<Arc<SlotOwners>>>,
    commands: &[KeyedCommand],
    deadline: Option<Instant>,
) -> RedisResult<Vec<RedisResult<Value>>> {
    let owners = by_deadline(deadline, slot_owners(connection, owners_cache))
        .await
        .unwrap_or_else(|| Err(no_answer()))?;
    // One group per node; slots no node serves (in the map we hold) go to a last group.
    let unserved = owners.node_count();
    let mut groups: Vec<Vec<usize>> = vec![Vec::new(); unserved + 1];
    for (position, keyed) in commands.iter().enumerate() {
        let node = owners.node_of(keyed.slot).unwrap_or(unserved);
        groups[node].push(position);
    }
    let groups: Vec<Vec<usize>> = groups.into_iter().filter(|g| !g.is_empty()).collect();
    // Each node by the deadline: one that does not answer leaves the others' replies standing. Its
    // slots may have moved (a failover), so the map is fetched again next time.
    let answers = join_all(groups.iter().map(|positions| async move {
        by_deadline(deadline, query_group(connection, commands, positions))
            .await
            .unwrap_or_else(|| GroupAnswer {
                values: positions.iter().map(|_| Err(no_answer())).collect(),
                fell_back: true,
            })
    }))
    .await;
    if answers.iter().any(|answer| answer.fell_back) {
        *owners_cache.lock() = None;
    }
    let mut replies: Vec<RedisResult<Value>> =
        (0..commands.len()).map(|_| Ok(Value::Nil)).collect();
    for (positions, answer) in groups.iter().zip(answers) {
        for (&position, value) in positions.iter().zip(answer.values) {
            replies[position] = value;
        }
    }
    Ok(replies)
}

/// The replies to one node's group, and whether some commands had to be sent one by one.
struct GroupAnswer {
    values: Vec<RedisResult<Value>>,
    fell_back: bool,
}

/// A reply as a result: an error reply becomes an error.
pub(crate) fn reply_result(value: Value) -> RedisResult<Value> {
    match value {
        Value::ServerError(error) => Err(error.into()),
        value => Ok(value),
    }
}

/// Whether a command that failed with `error` should be sent again through the Cluster
/// connection's own routing: every error but `NOSCRIPT`, which the caller handles by sending the
/// script's text (sending it again would only fail the same way).
fn worth_resending(error: &redis::RedisError) -> bool {
    error.kind() != ErrorKind::Server(ServerErrorKind::NoScript)
}

/// Sends the commands at `positions`, all for one node, as one pipeline. When the pipeline fails,
/// sends each command on its own instead, through the cluster connection's own routing, which
/// follows redirects; when only some replies are errors (typically `MOVED`: the slot map has
/// changed), sends those commands again the same way.
///
/// A command that succeeded may still run again: redis-rs 1.8.1 itself sends the whole pipeline
/// again, on the node a `MOVED` (or `ASK`) reply names, when any reply is a redirect, and fails the
/// pipeline when its retries run out, and then every command runs again here. Commands sent this
/// way must therefore give the same reply when run again: the per-user scripts of `forget_room`
/// and the purge keep their reply under a once key (see `FORGET_ROOM_OF_USER`).
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
    let mut values: Vec<RedisResult<Value>> = match piped {
        Ok(values) if values.len() == positions.len() => {
            values.into_iter().map(reply_result).collect()
        }
        _ => positions
            .iter()
            .map(|_| Err(redis::RedisError::from((ErrorKind::Io, "pipeline failed"))))
            .collect(),
    };
    let again: Vec<usize> = values
        .iter()
        .enumerate()
        .filter(|(_, value)| value.as_ref().is_err_and(worth_resending))
        .map(|(index, _)| index)
        .collect();
    if again.is_empty() {
        return GroupAnswer {
            values,
            fell_back: false,
        };
    }
    let singles = join_all(again.iter().map(|&index| async move {
        commands[positions[index]]
            .command
            .query_async::<Value>(&mut connection.clone())
            .await
            .and_then(reply_result)
    }))
    .await;
    for (index, single) in again.into_iter().zip(singles) {
        values[index] = single;
    }
    GroupAnswer {
        values,
        fell_back: true,
    }
}
