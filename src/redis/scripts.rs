//! The Lua scripts that make each per-user change atomic. Every script touches the keys of one
//! user, of one room, or one expiry index bucket, so in a Cluster it runs on the one node that holds
//! them.
//!
//! A user has two sorted sets in one slot: `u`, the muted rooms scored in mute order, and `d`, the
//! timed rooms among them scored by deadline (epoch milliseconds). A new room scores one more than
//! the highest score in `u`, so `ZRANGE u 0 -1` lists the rooms oldest first; re-muting finds the
//! room by `ZSCORE` and leaves its order alone, so it keeps its place (its deadline in `d` is set,
//! changed or removed). Unmuting is one `ZREM` in each. When the last room goes, Redis drops the
//! keys, and the next mute starts again at order 1.
//!
//! Every script that reads or writes a user takes the caller's time (`now`, from the store's
//! clock): reads leave out rooms whose deadline is at or before it, and writes first purge them
//! (the `purge` helper), so a lapsed mute is never seen and is removed by exactly one script, which
//! sends its `expiry` event. Every script that changes something publishes its events in one
//! message on the store's channel, from inside the script, so that one user's events are in the
//! order of the changes (see `event_wire` for the message format).

use std::sync::LazyLock;

use redis::Script;

/// A Lua script: its SHA1 hash, which `EVALSHA` runs it by, and its text, which `EVAL` sends to a
/// node that does not have it yet (see [`RedisConnection::eval`] and
/// [`RedisConnection::eval_each`]). Scripts are never loaded with `SCRIPT LOAD`: on a Cluster that
/// goes to every primary, and fails while one is down.
///
/// [`RedisConnection::eval`]: super::connection::RedisConnection::eval
/// [`RedisConnection::eval_each`]: super::connection::RedisConnection::eval_each
pub(crate) struct LuaScript {
    hash: String,
    code: String,
}

impl LuaScript {
    fn new(code: &str) -> Self {
        Self {
            hash: Script::new(code).get_hash().to_owned(),
            code: code.to_owned(),
        }
    }

    /// The script's SHA1 hash, in hexadecimal, for `EVALSHA`.
    pub(crate) fn hash(&self) -> &str {
        &self.hash
    }

    /// The script's text, for `EVAL`.
    pub(crate) fn code(&self) -> &str {
        &self.code
    }
}

/// Helpers shared by the user scripts. `ARGV[1]` is always the user, and the last two arguments the
/// events channel and the origin tag of the change (empty when nobody waits for it).
const USER_PRELUDE: &str = r"
local user = ARGV[1]
local channel, origin = ARGV[#ARGV - 1], ARGV[#ARGV]
local fields = {}
local function field(s)
  return #s .. ':' .. s
end
local function event(room, muted, untilms, cause)
  fields[#fields + 1] = field(room) .. field(muted) .. field(untilms) .. field(cause)
end
local function publish()
  if #fields == 0 then
    return 0
  end
  redis.call('PUBLISH', channel, field('1') .. field(origin) .. field(user) .. table.concat(fields))
  return 1
end
local function once(key, lifetime, work)
  local done = redis.call('GET', key)
  if done then
    local first, second = string.match(done, '^(%d+):(%d+)$')
    if first then
      return tonumber(first), tonumber(second)
    end
  end
  local first, second = work()
  if first > 0 or second > 0 then
    redis.call('SET', key, first .. ':' .. second, 'PX', lifetime)
  end
  return first, second
end
local function purge(u, d, now)
  local lapsed = redis.call('ZRANGEBYSCORE', d, '-inf', now)
  for i = 1, #lapsed do
    redis.call('ZREM', u, lapsed[i])
    redis.call('ZREM', d, lapsed[i])
    event(lapsed[i], '0', '', 'expiry')
  end
  return #lapsed
end
";

/// A user script: [`USER_PRELUDE`] then `body`.
fn user_script(body: &str) -> LuaScript {
    LuaScript::new(&format!("{USER_PRELUDE}{body}"))
}

/// `KEYS` the user's `u` and `d`; `ARGV` user, room, limit, now, deadline (empty for none), cause,
/// channel, origin.
///
/// Returns `{status, published, rooms, deadlines}`: `status` is 2 when the room was added, 1 when
/// its deadline changed, 0 when nothing changed, -1 when the set is at the limit (then `rooms` and
/// `deadlines` are empty and nothing changed but the purge of lapsed mutes). `deadlines` is
/// `[room, deadline, ...]`; `published` is 1 when an event message went out.
///
/// The deadline was checked against the clock before the script was sent, and `now` is read
/// later: a deadline at or before `now` makes a mute that lapses at once (as in memory). It is
/// made, with its event, and the purge removes it, with its `expiry` event; but it is already
/// unmuted to every read, so the lists returned leave it out.
pub(crate) static MUTE: LazyLock<LuaScript> = LazyLock::new(|| {
    user_script(
        r"
local u, d = KEYS[1], KEYS[2]
local room, limit, now, untilms, cause = ARGV[2], tonumber(ARGV[3]), ARGV[4], ARGV[5], ARGV[6]
purge(u, d, now)
local status = 2
if redis.call('ZSCORE', u, room) then
  local old = redis.call('ZSCORE', d, room)
  if untilms == '' then
    if old then
      redis.call('ZREM', d, room)
      status = 1
    else
      status = 0
    end
  elseif old and tonumber(old) == tonumber(untilms) then
    status = 0
  else
    redis.call('ZADD', d, untilms, room)
    status = 1
  end
elseif redis.call('ZCARD', u) >= limit then
  status = -1
else
  local last = redis.call('ZRANGE', u, -1, -1, 'WITHSCORES')
  local order = 1
  if last[2] then
    order = tonumber(last[2]) + 1
  end
  redis.call('ZADD', u, order, room)
  if untilms ~= '' then
    redis.call('ZADD', d, untilms, room)
  end
end
if status > 0 then
  event(room, '1', untilms, cause)
end
local published = publish()
if status < 0 then
  return {status, published, {}, {}}
end
local rooms = redis.call('ZRANGE', u, 0, -1)
if untilms ~= '' and tonumber(untilms) <= tonumber(now) then
  local live = {}
  for i = 1, #rooms do
    if rooms[i] ~= room then
      live[#live + 1] = rooms[i]
    end
  end
  rooms = live
end
return {status, published, rooms, redis.call('ZRANGEBYSCORE', d, '(' .. now, '+inf', 'WITHSCORES')}
",
    )
});

/// `KEYS` the user's `u` and `d`; `ARGV` user, room, now, cause, channel, origin.
///
/// Returns `{removed, published, rooms, deadlines}` with `removed` 1 or 0.
pub(crate) static UNMUTE: LazyLock<LuaScript> = LazyLock::new(|| {
    user_script(
        r"
local u, d = KEYS[1], KEYS[2]
local room = ARGV[2]
purge(u, d, ARGV[3])
local removed = redis.call('ZREM', u, room)
if removed == 1 then
  redis.call('ZREM', d, room)
  event(room, '0', '', ARGV[4])
end
local published = publish()
return {removed, published, redis.call('ZRANGE', u, 0, -1), redis.call('ZRANGE', d, 0, -1, 'WITHSCORES')}
",
    )
});

/// `KEYS` the user's `u` and `d`; `ARGV` user, now, channel, origin. Deletes both and returns
/// `{published, rooms, deadlines}`: the rooms the user had (lapsed ones purged first).
pub(crate) static FORGET_USER: LazyLock<LuaScript> = LazyLock::new(|| {
    user_script(
        r"
local u, d = KEYS[1], KEYS[2]
purge(u, d, ARGV[2])
local rooms = redis.call('ZRANGE', u, 0, -1)
local deadlines = redis.call('ZRANGE', d, 0, -1, 'WITHSCORES')
for i = 1, #rooms do
  event(rooms[i], '0', '', 'forget')
end
redis.call('DEL', u, d)
return {publish(), rooms, deadlines}
",
    )
});

/// `KEYS` the user's `u` and `d`, and the call's once key; `ARGV` user, room, now, the once key's
/// lifetime (ms), channel, origin. One user's part of a `forget_room` batch. Returns `{removed,
/// published}` with `removed` 1 when the user had the room.
///
/// A reply that changed or published anything is kept under the once key (after the deletions,
/// so that the script still runs when Redis refuses writes that grow memory), and a run of the
/// same call that finds it there replies the same without doing anything: a pipeline that redis-rs sends again (on a redirect) then
/// counts each user once. The key is the batch's, so a later batch of the same run that visits the
/// user again (listed in a later generation) does the work.
pub(crate) static FORGET_ROOM_OF_USER: LazyLock<LuaScript> = LazyLock::new(|| {
    user_script(
        r"
local u, d = KEYS[1], KEYS[2]
local room = ARGV[2]
local removed, published = once(KEYS[3], ARGV[4], function()
  purge(u, d, ARGV[3])
  local removed = redis.call('ZREM', u, room)
  if removed == 1 then
    redis.call('ZREM', d, room)
    event(room, '0', '', 'forget')
  end
  return removed, publish()
end)
return {removed, published}
",
    )
});

/// `KEYS` the user's `u` and `d`, and the call's once key; `ARGV` user, now, the once key's lifetime
/// (ms), channel, origin. Purges the user's lapsed mutes. Returns `{purged, published, earliest}`:
/// how many it purged, and the earliest deadline left (empty when none). A run of the same call
/// sent again replies the same counts (see [`FORGET_ROOM_OF_USER`]), and the earliest deadline of
/// its time.
pub(crate) static EXPIRE_USER: LazyLock<LuaScript> = LazyLock::new(|| {
    user_script(
        r"
local u, d = KEYS[1], KEYS[2]
local purged, published = once(KEYS[3], ARGV[3], function()
  local purged = purge(u, d, ARGV[2])
  return purged, publish()
end)
local first = redis.call('ZRANGE', d, 0, 0, 'WITHSCORES')
return {purged, published, first[2] or ''}
",
    )
});

/// `KEYS` the user's `u` and `d`; `ARGV` now. Returns `{rooms, deadlines}` without the rooms
/// whose deadline is at or before `now`.
pub(crate) static MUTED_ROOMS: LazyLock<LuaScript> = LazyLock::new(|| {
    LuaScript::new(
        r"
local u, d = KEYS[1], KEYS[2]
if redis.call('EXISTS', d) == 0 then
  return {redis.call('ZRANGE', u, 0, -1), {}}
end
local now = ARGV[1]
local rooms = redis.call('ZRANGE', u, 0, -1)
local lapsed = redis.call('ZRANGEBYSCORE', d, '-inf', now)
if #lapsed > 0 then
  local gone = {}
  for i = 1, #lapsed do
    gone[lapsed[i]] = true
  end
  local live = {}
  for i = 1, #rooms do
    if not gone[rooms[i]] then
      live[#live + 1] = rooms[i]
    end
  end
  rooms = live
end
return {rooms, redis.call('ZRANGEBYSCORE', d, '(' .. now, '+inf', 'WITHSCORES')}
",
    )
});

/// `KEYS` the user's `u` and `d`; `ARGV` room, now. Returns 1 when the user has muted the room and
/// its deadline, if any, is after `now`; else 0.
pub(crate) static IS_MUTED: LazyLock<LuaScript> = LazyLock::new(|| {
    LuaScript::new(
        r"
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  return 0
end
local untilms = redis.call('ZSCORE', KEYS[2], ARGV[1])
if untilms and tonumber(untilms) <= tonumber(ARGV[2]) then
  return 0
end
return 1
",
    )
});

/// The body of the `muted_among` scripts: `names` holds each user's `u` and `d` keys in turn.
/// Returns 1 or 0 per user.
const MUTED_AMONG_BODY: &str = r"
local room, now = ARGV[1], tonumber(ARGV[2])
local out = {}
for i = 1, #names, 2 do
  local muted = 0
  if redis.call('ZSCORE', names[i], room) then
    local untilms = redis.call('ZSCORE', names[i + 1], room)
    if not untilms or tonumber(untilms) > now then
      muted = 1
    end
  end
  out[#out + 1] = muted
end
return out
";

/// `KEYS` the `u` and `d` keys of each user in turn; `ARGV` room, now. [`IS_MUTED`] for many
/// users at once, on a standalone server (where keys of any slot may be declared together): one
/// script costs Redis about what one `ZSCORE` per user does, where a script per user costs several
/// times more.
pub(crate) static MUTED_AMONG: LazyLock<LuaScript> =
    LazyLock::new(|| LuaScript::new(&format!("local names = KEYS\n{MUTED_AMONG_BODY}")));

/// `ARGV` room, now, then the `u` and `d` keys of each user in turn (no `KEYS`). [`MUTED_AMONG`]
/// on a Cluster node, for users in any slots the node serves: a Cluster refuses declared keys of
/// several slots, but a script flagged `allow-cross-slot-keys` (Redis 7.0 and later) may read
/// undeclared keys of every slot its node holds. It fails on a key of a slot the node does not
/// serve (the slot map moved) or on an older Redis; the store then asks per user.
pub(crate) static MUTED_AMONG_ON_NODE: LazyLock<LuaScript> = LazyLock::new(|| {
    LuaScript::new(&format!(
        "#!lua flags=allow-cross-slot-keys,no-writes\n\
         local names = {{}}\n\
         for i = 3, #ARGV do names[#names + 1] = ARGV[i] end\n\
         {MUTED_AMONG_BODY}"
    ))
});

/// `KEYS[1]` an expiry index bucket; `ARGV` user, deadline. Makes the user's entry at or before
/// the deadline, and always changes it: lowered to the deadline when that is earlier, else a
/// sixteenth of a millisecond lower than it was (exact in a double up to [`MAX_DEADLINE_MS`], and
/// due at the same whole millisecond until sixteen mutes have touched it). The change makes a
/// purger's [`SETTLE_EXPIRY_ENTRY`] that read the entry before it fail, so that the purger cannot
/// drop the entry on the strength of a user script that ran before this mute's.
///
/// [`MAX_DEADLINE_MS`]: crate::MAX_DEADLINE_MS
pub(crate) static INDEX_DEADLINE: LazyLock<LuaScript> = LazyLock::new(|| {
    LuaScript::new(
        r"
local hint = redis.call('ZSCORE', KEYS[1], ARGV[1])
if hint and tonumber(hint) <= tonumber(ARGV[2]) then
  redis.call('ZINCRBY', KEYS[1], -0.0625, ARGV[1])
else
  redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
end
return 1
",
    )
});

/// `KEYS[1]` an expiry index bucket; `ARGV` user, the score the purger read, the user's earliest
/// deadline after the purge (empty for none). Only if the entry still has the score read: moves it
/// to the earliest deadline, or removes it. Returns 1 when it did, 0 when the entry had changed
/// (a mute came in meanwhile; the entry stays, and the next purge looks again).
pub(crate) static SETTLE_EXPIRY_ENTRY: LazyLock<LuaScript> = LazyLock::new(|| {
    LuaScript::new(
        r"
local hint = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not hint or tonumber(hint) ~= tonumber(ARGV[2]) then
  return 0
end
if ARGV[3] == '' then
  redis.call('ZREM', KEYS[1], ARGV[1])
else
  redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
end
return 1
",
    )
});

/// `KEYS[1]` a room's index, `KEYS[2]` the list of its generations (their stamps), `KEYS[3]` the
/// to-visit set an earlier version kept; `ARGV` the key of a generation before its stamp and after
/// it, and the run's token.
///
/// The start of a `forget_room`: takes the index as a new generation, so that mutes from now on
/// start a fresh index. The generation's stamp is the server's time of the script in microseconds
/// and the run's token: no two runs of this script write the same stamp, not even the same call
/// sent twice, so no generation key is ever made twice. A to-visit set left by an earlier version
/// is merged into the index first, so that its users join the new generation. Returns how many
/// generations are left to visit, this one included.
pub(crate) static START_FORGETTING_ROOM: LazyLock<LuaScript> = LazyLock::new(|| {
    LuaScript::new(
        r"
local index, generations, legacy = KEYS[1], KEYS[2], KEYS[3]
if redis.call('EXISTS', legacy) == 1 then
  if redis.call('EXISTS', index) == 1 then
    redis.call('SUNIONSTORE', index, index, legacy)
    redis.call('DEL', legacy)
  else
    redis.call('RENAME', legacy, index)
  end
end
if redis.call('EXISTS', index) == 1 then
  local time = redis.call('TIME')
  local stamp = time[1] .. string.format('%06d', tonumber(time[2])) .. '-' .. ARGV[3]
  if redis.call('RENAMENX', index, ARGV[1] .. stamp .. ARGV[2]) == 0 then
    return redis.error_reply('ERR generation ' .. stamp .. ' exists already')
  end
  redis.call('SADD', generations, stamp)
end
return redis.call('SCARD', generations)
",
    )
});

/// `KEYS[1]` the list of a room's generations; `ARGV` the key of a generation before its stamp and
/// after it, and how many users to take.
///
/// A batch of a `forget_room`: up to that many users of one generation that still lists users, as
/// `{stamp, users}`; `{}` when every generation has been visited. Generations found empty leave
/// the list (a generation never gains users after its start, so an empty one is done). The
/// generation keys are not declared: the script builds them from the stamps, and they share the
/// room's hash tag, hence its slot.
pub(crate) static TAKE_FORGET_BATCH: LazyLock<LuaScript> = LazyLock::new(|| {
    LuaScript::new(
        r"
local generations = KEYS[1]
local stamps = redis.call('SMEMBERS', generations)
for i = 1, #stamps do
  local users = redis.call('SRANDMEMBER', ARGV[1] .. stamps[i] .. ARGV[2], ARGV[3])
  if #users > 0 then
    return {stamps[i], users}
  end
  redis.call('SREM', generations, stamps[i])
end
return {}
",
    )
});
