//! Log records: one per change that changed something, in the order the changes were made, and
//! the times they were made at.
//!
//! ```text
//! 0x01 user room            mute, without deadline
//! 0x02 user room            unmute
//! 0x03 user                 forget_user
//! 0x04 room                 forget_room
//! 0x05 time                 the time of the changes after it, until the next 0x05
//! 0x06 user room until      mute until `until`
//! ```
//!
//! Ids are written as `wire` describes; `time` and `until` are epoch milliseconds as LEB128
//! varints (6 bytes for today's times). A change is made at the time of the last `0x05` before it
//! in the same log; the writer puts one before a change whenever its time differs from the last one
//! written to that log, and always before the first change of a log, so every log reads on its own.
//! A change with no `0x05` before it in its log is made at time 0: those are the changes of logs
//! written before deadlines existed, which had no timed mute for a time to matter to.
//!
//! The time matters because a mute whose deadline has passed is, to every operation, absent: a
//! replayed change must see exactly the lapsed mutes its first run saw (a room muted again after
//! its timed mute lapsed goes to the end of the list; before that, it keeps its place). Who made a
//! change (user or administrator) is not logged: it only names the cause of the change's event,
//! and a replay sends no events.
//!
//! A refused or idempotent operation writes nothing.

use super::wire::{self, WireError, WireReader};
use crate::events::ChangeCause;
use crate::expiry::MAX_DEADLINE_MS;
use crate::ids::{RoomId, UserId};
use crate::memory::MemoryStore;
use crate::memory::now::Now;

const MUTE: u8 = 0x01;
const UNMUTE: u8 = 0x02;
const FORGET_USER: u8 = 0x03;
const FORGET_ROOM: u8 = 0x04;
const TIME: u8 = 0x05;
const MUTE_UNTIL: u8 = 0x06;

/// A change to be logged, borrowing its ids.
#[derive(Debug, Clone, Copy)]
pub(super) enum Change<'a> {
    /// A mute, with its deadline if timed.
    Mute(&'a UserId, &'a RoomId, Option<u64>),
    Unmute(&'a UserId, &'a RoomId),
    ForgetUser(&'a UserId),
    ForgetRoom(&'a RoomId),
}

impl Change<'_> {
    /// Appends the change's record to `out`.
    pub(super) fn encode(self, out: &mut Vec<u8>) {
        match self {
            Self::Mute(user, room, None) => {
                out.push(MUTE);
                wire::put_id(out, user);
                wire::put_id(out, room);
            }
            Self::Mute(user, room, Some(until)) => {
                out.push(MUTE_UNTIL);
                wire::put_id(out, user);
                wire::put_id(out, room);
                wire::put_count(out, until);
            }
            Self::Unmute(user, room) => {
                out.push(UNMUTE);
                wire::put_id(out, user);
                wire::put_id(out, room);
            }
            Self::ForgetUser(user) => {
                out.push(FORGET_USER);
                wire::put_id(out, user);
            }
            Self::ForgetRoom(room) => {
                out.push(FORGET_ROOM);
                wire::put_id(out, room);
            }
        }
    }
}

/// Appends the record that sets the time of the changes after it.
pub(super) fn encode_time(out: &mut Vec<u8>, time_ms: u64) {
    out.push(TIME);
    wire::put_count(out, time_ms);
}

/// A record read back from a log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum LogRecord {
    /// The changes after it were made at this time.
    Time(u64),
    /// A mute, with its deadline if timed.
    Mute(UserId, RoomId, Option<u64>),
    Unmute(UserId, RoomId),
    ForgetUser(UserId),
    ForgetRoom(RoomId),
}

/// Reads a deadline, which must be one a store accepts.
pub(super) fn read_deadline(reader: &mut WireReader<'_>) -> Result<u64, WireError> {
    let until = reader.count()?;
    if until == 0 || until > MAX_DEADLINE_MS {
        return Err(WireError::DeadlineOutOfRange(until));
    }
    Ok(until)
}

impl LogRecord {
    /// Reads the next record.
    pub(super) fn decode(reader: &mut WireReader<'_>) -> Result<Self, WireError> {
        Ok(match reader.byte()? {
            MUTE => Self::Mute(reader.user()?, reader.room()?, None),
            UNMUTE => Self::Unmute(reader.user()?, reader.room()?),
            FORGET_USER => Self::ForgetUser(reader.user()?),
            FORGET_ROOM => Self::ForgetRoom(reader.room()?),
            TIME => Self::Time(reader.count()?),
            MUTE_UNTIL => Self::Mute(reader.user()?, reader.room()?, Some(read_deadline(reader)?)),
            tag => return Err(WireError::UnknownTag(tag)),
        })
    }

    /// Makes the change again on `memory` at `time_ms`, the time it was first made at; `memory`
    /// must have no mute limit (the change was accepted when it was made, and replaying it must not
    /// depend on today's limit). A [`LogRecord::Time`] changes nothing: the caller keeps it.
    pub(super) fn apply(&self, memory: &MemoryStore, time_ms: u64) {
        let now = Now::fixed(time_ms);
        match self {
            Self::Time(_) => {}
            Self::Mute(user, room, until) => {
                // Cannot be refused without a limit; a refusal would leave the set as it was.
                let _ = memory.mute_at(user, room, *until, ChangeCause::User, &now);
            }
            Self::Unmute(user, room) => {
                memory.unmute_at(user, room, ChangeCause::User, &now);
            }
            Self::ForgetUser(user) => {
                memory.forget_user_at(user, &now);
            }
            Self::ForgetRoom(room) => {
                memory.forget_room_at(room, &now);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(bytes: &[u8]) -> Vec<LogRecord> {
        let mut reader = WireReader::new(bytes);
        let mut read = Vec::new();
        while !reader.is_empty() {
            read.push(LogRecord::decode(&mut reader).unwrap());
        }
        read
    }

    #[test]
    fn records_round_trip() {
        let user = UserId::new("1485248560558").unwrap();
        let room = RoomId::new("ルーム").unwrap();
        let mut out = Vec::new();
        encode_time(&mut out, 1_795_564_800_000);
        Change::Mute(&user, &room, None).encode(&mut out);
        Change::Mute(&user, &room, Some(MAX_DEADLINE_MS)).encode(&mut out);
        Change::Unmute(&user, &room).encode(&mut out);
        Change::ForgetUser(&user).encode(&mut out);
        Change::ForgetRoom(&room).encode(&mut out);
        assert_eq!(
            decode_all(&out),
            [
                LogRecord::Time(1_795_564_800_000),
                LogRecord::Mute(user.clone(), room.clone(), None),
                LogRecord::Mute(user.clone(), room.clone(), Some(MAX_DEADLINE_MS)),
                LogRecord::Unmute(user.clone(), room.clone()),
                LogRecord::ForgetUser(user),
                LogRecord::ForgetRoom(room),
            ]
        );
        assert_eq!(
            LogRecord::decode(&mut WireReader::new(&[9])),
            Err(WireError::UnknownTag(9))
        );
    }

    /// The bytes the version before deadlines wrote still read the same.
    #[test]
    fn records_of_the_first_format_read_back() {
        let bytes = [
            MUTE,
            0,
            b'u',
            1,
            b'r',
            b'1', // mute u r1
            UNMUTE,
            0,
            b'u',
            1,
            b'r',
            b'1', // unmute u r1
            FORGET_USER,
            0,
            b'u', // forget_user u
            FORGET_ROOM,
            1,
            b'r',
            b'1', // forget_room r1
        ];
        let (u, r) = (UserId::new("u").unwrap(), RoomId::new("r1").unwrap());
        assert_eq!(
            decode_all(&bytes),
            [
                LogRecord::Mute(u.clone(), r.clone(), None),
                LogRecord::Unmute(u.clone(), r.clone()),
                LogRecord::ForgetUser(u),
                LogRecord::ForgetRoom(r),
            ]
        );
    }

    #[test]
    fn deadlines_out_of_range_are_errors() {
        let (u, r) = (UserId::new("u").unwrap(), RoomId::new("r").unwrap());
        for until in [0, MAX_DEADLINE_MS + 1, u64::MAX] {
            let mut out = Vec::new();
            Change::Mute(&u, &r, Some(until)).encode(&mut out);
            assert_eq!(
                LogRecord::decode(&mut WireReader::new(&out)),
                Err(WireError::DeadlineOutOfRange(until))
            );
        }
    }

    #[test]
    fn a_time_record_is_its_tag_and_a_varint() {
        let mut out = Vec::new();
        encode_time(&mut out, 1_795_564_800_000);
        assert_eq!(out.len(), 7);
    }
}
