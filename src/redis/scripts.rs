//! The Lua scripts that make each per-user change atomic. Every script touches the keys of one
//! user, or of one room, so in a Cluster it runs on the one node that holds them.
//!
//! A user's muted rooms are a sorted set whose scores record mute order: a new room scores one more
//! than the highest score present, so `ZRANGE key 0 -1` lists the rooms oldest first. Re-muting
//! finds the room by `ZSCORE` and leaves its score alone, so it keeps its place. Unmuting is one
//! `ZREM`, O(log n) in the user's set. When the last room goes, Redis drops the key, and the next
//! mute starts again at score 1. Scores are doubles, exact up to 2^53 mutes per user.

use std::sync::LazyLock;

use redis::Script;

/// `KEYS[1]` a user's set, `ARGV[1]` a room, `ARGV[2]` the per-user limit.
///
/// Returns `{changed, rooms}`: `changed` is 1 when the room was added, 0 when it was already
/// there, -1 when the set is at the limit (then `rooms` is empty and nothing changed).
pub(crate) static MUTE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local key, room = KEYS[1], ARGV[1]
if redis.call('ZSCORE', key, room) then
  return {0, redis.call('ZRANGE', key, 0, -1)}
end
if redis.call('ZCARD', key) >= tonumber(ARGV[2]) then
  return {-1, {}}
end
local last = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
local order = 1
if last[2] then
  order = tonumber(last[2]) + 1
end
redis.call('ZADD', key, order, room)
return {1, redis.call('ZRANGE', key, 0, -1)}
",
    )
});

/// `KEYS[1]` a user's set, `ARGV[1]` a room. Returns `{removed, rooms}` with `removed` 1 or 0.
pub(crate) static UNMUTE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local removed = redis.call('ZREM', KEYS[1], ARGV[1])
return {removed, redis.call('ZRANGE', KEYS[1], 0, -1)}
",
    )
});

/// `KEYS[1]` a user's set. Deletes it and returns the rooms it held, oldest first.
pub(crate) static FORGET_USER: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local rooms = redis.call('ZRANGE', KEYS[1], 0, -1)
redis.call('DEL', KEYS[1])
return rooms
",
    )
});

/// `KEYS[1]` a room's index, `KEYS[2]` the users a `forget_room` of it has yet to visit.
///
/// Moves the index into the to-visit set (merging with what an interrupted `forget_room` left
/// there), so that mutes from now on start a fresh index. Returns how many users are to visit.
pub(crate) static START_FORGETTING_ROOM: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('EXISTS', KEYS[1]) == 1 then
  if redis.call('EXISTS', KEYS[2]) == 1 then
    redis.call('SUNIONSTORE', KEYS[2], KEYS[2], KEYS[1])
    redis.call('DEL', KEYS[1])
  else
    redis.call('RENAME', KEYS[1], KEYS[2])
  end
end
return redis.call('SCARD', KEYS[2])
",
    )
});
