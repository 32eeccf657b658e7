//! Log records: one per change that changed something, in the order the changes were made.
//!
//! ```text
//! 0x01 user room   mute
//! 0x02 user room   unmute
//! 0x03 user        forget_user
//! 0x04 room        forget_room
//! ```
//!
//! Ids are written as `wire` describes. A refused or idempotent operation writes nothing.

use super::wire::{self, WireError, WireReader};
use crate::ids::{RoomId, UserId};
use crate::memory::MemoryStore;

const MUTE: u8 = 0x01;
const UNMUTE: u8 = 0x02;
const FORGET_USER: u8 = 0x03;
const FORGET_ROOM: u8 = 0x04;

/// A change to be logged, borrowing its ids.
#[derive(Debug, Clone, Copy)]
pub(super) enum Change<'a> {
    Mute(&'a UserId, &'a RoomId),
    Unmute(&'a UserId, &'a RoomId),
    ForgetUser(&'a UserId),
    ForgetRoom(&'a RoomId),
}

impl Change<'_> {
    /// Appends the change's record to `out`.
    pub(super) fn encode(self, out: &mut Vec<u8>) {
        match self {
            Self::Mute(user, room) | Self::Unmute(user, room) => {
                out.push(if matches!(self, Self::Mute(..)) {
                    MUTE
                } else {
                    UNMUTE
                });
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

/// A change read back from a log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum LogRecord {
    Mute(UserId, RoomId),
    Unmute(UserId, RoomId),
    ForgetUser(UserId),
    ForgetRoom(RoomId),
}

impl LogRecord {
    /// Reads the next record.
    pub(super) fn decode(reader: &mut WireReader<'_>) -> Result<Self, WireError> {
        Ok(match reader.byte()? {
            MUTE => Self::Mute(reader.user()?, reader.room()?),
            UNMUTE => Self::Unmute(reader.user()?, reader.room()?),
            FORGET_USER => Self::ForgetUser(reader.user()?),
            FORGET_ROOM => Self::ForgetRoom(reader.room()?),
            tag => return Err(WireError::UnknownTag(tag)),
        })
    }

    /// Makes the change again on `memory`, which must have no mute limit: the change was accepted
    /// when it was made, and replaying it must not depend on today's limit.
    pub(super) fn apply(&self, memory: &MemoryStore) {
        match self {
            Self::Mute(user, room) => {
                // Cannot be refused without a limit; a refusal would leave the set as it was.
                let _ = memory.mute_sync(user, room);
            }
            Self::Unmute(user, room) => {
                memory.unmute_sync(user, room);
            }
            Self::ForgetUser(user) => {
                memory.forget_user_sync(user);
            }
            Self::ForgetRoom(room) => {
                memory.forget_room_sync(room);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip() {
        let user = UserId::new("1485248560558").unwrap();
        let room = RoomId::new("ルーム").unwrap();
        let mut out = Vec::new();
        Change::Mute(&user, &room).encode(&mut out);
        Change::Unmute(&user, &room).encode(&mut out);
        Change::ForgetUser(&user).encode(&mut out);
        Change::ForgetRoom(&room).encode(&mut out);
        let mut reader = WireReader::new(&out);
        let mut read = Vec::new();
        while !reader.is_empty() {
            read.push(LogRecord::decode(&mut reader).unwrap());
        }
        assert_eq!(
            read,
            [
                LogRecord::Mute(user.clone(), room.clone()),
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
}
