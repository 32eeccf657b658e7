//! The change event messages the scripts publish, and their decoding.
//!
//! One message carries every event of one script run, all for one user, in order. It is a run of
//! fields, each written as `<byte length>:<bytes>` (ids may hold any character, so no separator
//! would do):
//!
//! ```text
//! "1"  origin  user  (room  muted  until  cause)*
//! ```
//!
//! - `1`: the format version; a message of another version is not understood (its events count as
//!   missed, see [`RecvError::Lagged`](crate::RecvError::Lagged)).
//! - `origin`: `<store id>:<sequence number>` of the operation that made the change when a local
//!   subscriber of that store waits for it (so that the operation returns once its events are
//!   delivered), else empty.
//! - per event: the room, `1` (muted) or `0` (unmuted), the deadline in epoch milliseconds (empty
//!   for none), and the cause (`user`, `admin`, `expiry`, `forget`).
//!
//! For example `1:10:5:alice1:r1:113:17955648000004:user` is alice muting `r` until 1795564800000,
//! with no origin.

use crate::events::{ChangeCause, ChangeEvent};
use crate::ids::{RoomId, UserId};

/// The format version this build writes and reads.
const VERSION: &[u8] = b"1";

/// A decoded message.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct EventMessage {
    /// The origin tag, empty when none.
    pub(crate) origin: Vec<u8>,
    /// The events, in the order of the changes.
    pub(crate) events: Vec<ChangeEvent>,
}

/// Why a message could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Malformed;

/// Reads one message.
pub(crate) fn decode(mut payload: &[u8]) -> Result<EventMessage, Malformed> {
    let mut next = || next_field(&mut payload);
    if next()? != VERSION {
        return Err(Malformed);
    }
    let origin = next()?.to_vec();
    let user = UserId::from_utf8(next()?).map_err(|_| Malformed)?;
    let mut events = Vec::new();
    while !payload.is_empty() {
        let room = RoomId::from_utf8(next_field(&mut payload)?).map_err(|_| Malformed)?;
        let muted = match next_field(&mut payload)? {
            b"1" => true,
            b"0" => false,
            _ => return Err(Malformed),
        };
        let until = match next_field(&mut payload)? {
            b"" => None,
            digits => Some(parse_millis(digits).ok_or(Malformed)?),
        };
        let cause = std::str::from_utf8(next_field(&mut payload)?)
            .ok()
            .and_then(ChangeCause::parse)
            .ok_or(Malformed)?;
        events.push(ChangeEvent {
            user: user.clone(),
            room,
            muted,
            until_ms: if muted { until } else { None },
            cause,
        });
    }
    Ok(EventMessage { origin, events })
}

/// Takes one `<length>:<bytes>` field off the front of `payload`.
fn next_field<'a>(payload: &mut &'a [u8]) -> Result<&'a [u8], Malformed> {
    let colon = payload
        .iter()
        .take(12)
        .position(|&b| b == b':')
        .ok_or(Malformed)?;
    let length: usize = std::str::from_utf8(&payload[..colon])
        .ok()
        .filter(|digits| !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|digits| digits.parse().ok())
        .ok_or(Malformed)?;
    let rest = &payload[colon + 1..];
    if rest.len() < length {
        return Err(Malformed);
    }
    let (field, rest) = rest.split_at(length);
    *payload = rest;
    Ok(field)
}

/// Epoch milliseconds as a script or Redis writes them: digits, or a double that holds an integer.
pub(crate) fn parse_millis(text: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(text).ok()?;
    if let Ok(millis) = text.parse::<u64>() {
        return Some(millis);
    }
    let value: f64 = text.parse().ok()?;
    // Deadlines are below 2^53, where a double holds every integer exactly.
    let exact = value.is_finite()
        && value >= 0.0
        && value.fract() == 0.0
        && value < 9.007_199_254_740_992e15;
    exact.then_some(value as u64)
}

/// An expiry index score as the whole millisecond from which it is due: the score rounded up (the
/// scripts lower entries by fractions of a millisecond).
pub(crate) fn parse_index_score(text: &[u8]) -> Option<u64> {
    let value: f64 = std::str::from_utf8(text).ok()?.parse().ok()?;
    let value = value.ceil();
    (value.is_finite() && value < 9.007_199_254_740_992e15).then(|| value.max(0.0) as u64)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Writes a message as the scripts do.
    pub(crate) fn encode(origin: &str, user: &str, events: &[(&str, bool, &str, &str)]) -> Vec<u8> {
        fn field(out: &mut Vec<u8>, bytes: &[u8]) {
            out.extend_from_slice(bytes.len().to_string().as_bytes());
            out.push(b':');
            out.extend_from_slice(bytes);
        }
        let mut out = Vec::new();
        field(&mut out, b"1");
        field(&mut out, origin.as_bytes());
        field(&mut out, user.as_bytes());
        for (room, muted, until, cause) in events {
            field(&mut out, room.as_bytes());
            field(&mut out, if *muted { b"1" } else { b"0" });
            field(&mut out, until.as_bytes());
            field(&mut out, cause.as_bytes());
        }
        out
    }

    #[test]
    fn the_documented_example_decodes() {
        let message = decode(b"1:10:5:alice1:r1:113:17955648000004:user").unwrap();
        assert!(message.origin.is_empty());
        assert_eq!(
            message.events,
            [ChangeEvent::muted(
                UserId::new("alice").unwrap(),
                RoomId::new("r").unwrap(),
                Some(1_795_564_800_000),
                ChangeCause::User,
            )]
        );
    }

    #[test]
    fn round_trips_awkward_ids_and_every_cause() {
        let payload = encode(
            "store:7",
            "a:b 1:{x}",
            &[
                ("ルーム:2", false, "", "expiry"),
                ("12:ab", true, "", "admin"),
                ("r", true, "253402300799999", "user"),
                ("r", false, "", "forget"),
            ],
        );
        let message = decode(&payload).unwrap();
        assert_eq!(message.origin, b"store:7");
        let user = UserId::new("a:b 1:{x}").unwrap();
        let room = |name: &str| RoomId::new(name).unwrap();
        assert_eq!(
            message.events,
            [
                ChangeEvent::unmuted(user.clone(), room("ルーム:2"), ChangeCause::Expiry),
                ChangeEvent::muted(user.clone(), room("12:ab"), None, ChangeCause::Admin),
                ChangeEvent::muted(
                    user.clone(),
                    room("r"),
                    Some(253_402_300_799_999),
                    ChangeCause::User
                ),
                ChangeEvent::unmuted(user, room("r"), ChangeCause::Forget),
            ]
        );
    }

    #[test]
    fn malformed_messages_are_refused() {
        let good = encode("", "u", &[("r", true, "", "user")]);
        assert!(decode(&good).is_ok());
        for cut in 0..good.len() - 1 {
            // Every prefix is malformed except the one that ends right after the user.
            let prefix = &good[..cut];
            if prefix == b"1:10:1:u" {
                continue;
            }
            assert_eq!(
                decode(prefix),
                Err(Malformed),
                "{:?}",
                String::from_utf8_lossy(prefix)
            );
        }
        assert_eq!(decode(b"1:20:1:u"), Err(Malformed), "unknown version");
        assert_eq!(decode(b"1:10:0:"), Err(Malformed), "empty user id");
        assert_eq!(decode(b"1:10:1:u1:r1:20:4:user"), Err(Malformed));
        assert_eq!(decode(b"1:10:1:u1:r1:10:5:later"), Err(Malformed));
        assert_eq!(decode(b"1:10:1:u1:r1:12:-14:user"), Err(Malformed));
        assert_eq!(decode(b"x:10:1:u"), Err(Malformed));
    }

    #[test]
    fn millis_parse_as_redis_writes_them() {
        assert_eq!(parse_millis(b"1795564800123"), Some(1_795_564_800_123));
        assert_eq!(parse_millis(b"1.795564800123e+12"), Some(1_795_564_800_123));
        assert_eq!(parse_millis(b"1.5"), None);
        assert_eq!(parse_millis(b"-1"), None);
        assert_eq!(parse_millis(b"inf"), None);
        assert_eq!(parse_millis(b""), None);
        assert_eq!(parse_index_score(b"1795564800123"), Some(1_795_564_800_123));
        assert_eq!(
            parse_index_score(b"1795564800122.9375"),
            Some(1_795_564_800_123)
        );
        assert_eq!(parse_index_score(b"-0.5"), Some(0));
        assert_eq!(parse_index_score(b"nan"), None);
    }
}
