//! Where the store keeps things in Redis: the key of each user's list and of each room's index.
//!
//! ```text
//! <prefix>:u:{<tag(user)>}<user>     sorted set: the user's muted rooms, scored in mute order
//! <prefix>:d:{<tag(user)>}<user>     sorted set: the user's timed rooms, scored by deadline (ms)
//! <prefix>:r:{<tag(room)>}<room>     set: users who muted the room since it was last forgotten
//! <prefix>:g:{<tag(room)>}<room>     set: the stamps of the room's generations not yet visited
//! <prefix>:v:{<tag(room)>}<stamp>:<room>
//!                                    set: the users of one generation a `forget_room` still has
//!                                    to visit
//! <prefix>:f:{<tag(room)>}<room>     set: users a `forget_room` of an earlier version had still to
//!                                    visit (no longer written; the next `forget_room` takes it)
//! <prefix>:o:{<tag(user)>}<nonce>:<user>
//!                                    string, expiring: the reply of one per-user script of a
//!                                    `forget_room` batch or a purge step, kept so that the same
//!                                    call sent again replies the same
//! <prefix>:x:{x<h>}                  sorted set: expiry index bucket h (0-9a-f): user -> a time
//!                                    at or before the user's earliest deadline
//! <prefix>:events                    pub/sub channel of change events (not a key); on a
//!                                    database other than 0, `<prefix>:events:<db>`
//! ```
//!
//! Redis Cluster places a key by the text between its first `{` and the first `}` after it (the
//! hash tag). Ids may contain braces, so the tag is not the id but [`tag`]: 16 hex digits of a hash
//! of the id. The prefix may not contain braces ([`KeyPrefix`] checks), so the tag is always the
//! first braced text of the key. The id follows the tag verbatim, which keeps every key unique and
//! readable. The two keys of one user share their tag, as do the two keys of one room, so a script
//! may touch both. A user's bucket in the expiry index is the XOR of the 16 hex digits of its tag.
//!
//! The tag is part of the stored format: every process sharing a Redis must compute the same one,
//! so it is a fixed function (64-bit FNV-1a), never a seeded or platform-dependent hash.

use std::fmt;

/// The prefix of every key the store writes, unless configured otherwise.
pub const DEFAULT_KEY_PREFIX: &str = "mutestore";

/// A validated key prefix: no `{`, no `}`, no control characters, 1 to 64 bytes.
#[derive(Clone, PartialEq, Eq, Hash)]
pub(crate) struct KeyPrefix(String);

/// The longest key prefix accepted, in bytes.
pub(crate) const MAX_PREFIX_BYTES: usize = 64;

impl KeyPrefix {
    /// Checks `prefix`; the error says what is wrong with it.
    pub(crate) fn new(prefix: &str) -> Result<Self, &'static str> {
        if prefix.is_empty() {
            return Err("the key prefix must not be empty");
        }
        if prefix.len() > MAX_PREFIX_BYTES {
            return Err("the key prefix must be at most 64 bytes");
        }
        if prefix.contains(['{', '}']) {
            return Err("the key prefix must not contain `{` or `}`: they would move the hash tag");
        }
        if prefix.chars().any(char::is_control) {
            return Err("the key prefix must not contain control characters");
        }
        Ok(Self(prefix.to_owned()))
    }

    /// The prefix as text.
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }

    /// The key of `user`'s sorted set of muted rooms.
    pub(crate) fn user_key(&self, user: &[u8]) -> Vec<u8> {
        self.key(b"u", user)
    }

    /// The key of `user`'s sorted set of deadlines: each timed room, scored by its deadline in
    /// epoch milliseconds. Same slot as [`user_key`](Self::user_key).
    pub(crate) fn deadline_key(&self, user: &[u8]) -> Vec<u8> {
        self.key(b"d", user)
    }

    /// The key of expiry index bucket `bucket` (below [`EXPIRY_BUCKETS`]).
    pub(crate) fn expiry_bucket_key(&self, bucket: usize) -> Vec<u8> {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut key = Vec::with_capacity(self.0.len() + 8);
        key.extend_from_slice(self.0.as_bytes());
        key.extend_from_slice(b":x:{x");
        key.push(HEX[bucket % EXPIRY_BUCKETS]);
        key.push(b'}');
        key
    }

    /// The pub/sub channel the scripts publish change events on, for the data in database `db`.
    ///
    /// Pub/sub ignores databases (a message published from one reaches the subscribers of every
    /// one), so stores with the same prefix on other databases of the same server would hear each
    /// other: the channel names the database when it is not 0 (a Cluster has database 0 only).
    pub(crate) fn events_channel(&self, db: i64) -> Vec<u8> {
        let mut channel = self.0.as_bytes().to_vec();
        channel.extend_from_slice(b":events");
        if db != 0 {
            channel.push(b':');
            channel.extend_from_slice(db.to_string().as_bytes());
        }
        channel
    }

    /// The key of `room`'s index: the users who muted it since it was last forgotten (and possibly
    /// some who have unmuted it since).
    pub(crate) fn room_index_key(&self, room: &[u8]) -> Vec<u8> {
        self.key(b"r", room)
    }

    /// The key where an earlier version kept the users a `forget_room` of `room` had yet to visit.
    /// Same slot as the index. No longer written: the next `forget_room` takes it over.
    pub(crate) fn legacy_forgetting_key(&self, room: &[u8]) -> Vec<u8> {
        self.key(b"f", room)
    }

    /// The key of the stamps of `room`'s generations that some `forget_room` has yet to finish.
    /// Same slot as the index.
    pub(crate) fn room_generations_key(&self, room: &[u8]) -> Vec<u8> {
        self.key(b"g", room)
    }

    /// The key of the users of `room`'s generation `stamp` still to visit: the part before the
    /// stamp and the part after it, so that a script can name the key of any stamp. Same slot as
    /// the index.
    pub(crate) fn room_generation_key_parts(&self, room: &[u8]) -> (Vec<u8>, Vec<u8>) {
        let mut after = Vec::with_capacity(room.len() + 1);
        after.push(b':');
        after.extend_from_slice(room);
        (self.head(b"v", room, 0), after)
    }

    /// The key of the users of `room`'s generation `stamp` still to visit.
    pub(crate) fn room_generation_key(&self, room: &[u8], stamp: &[u8]) -> Vec<u8> {
        let mut key = self.head(b"v", room, stamp.len() + 1 + room.len());
        key.extend_from_slice(stamp);
        key.push(b':');
        key.extend_from_slice(room);
        key
    }

    /// The key that keeps the reply of the per-user script call `nonce` on `user`. Same slot as
    /// the user's sets.
    pub(crate) fn once_key(&self, user: &[u8], nonce: &[u8]) -> Vec<u8> {
        let mut key = self.head(b"o", user, nonce.len() + 1 + user.len());
        key.extend_from_slice(nonce);
        key.push(b':');
        key.extend_from_slice(user);
        key
    }

    fn key(&self, kind: &[u8], id: &[u8]) -> Vec<u8> {
        let mut key = self.head(kind, id, id.len());
        key.extend_from_slice(id);
        key
    }

    /// `<prefix>:<kind>:{<tag(id)>}`, the start of every key of `id`, with room for `rest` more
    /// bytes.
    fn head(&self, kind: &[u8], id: &[u8], rest: usize) -> Vec<u8> {
        let mut key = Vec::with_capacity(self.0.len() + kind.len() + 20 + rest);
        key.extend_from_slice(self.0.as_bytes());
        key.push(b':');
        key.extend_from_slice(kind);
        key.extend_from_slice(b":{");
        key.extend_from_slice(&tag(id));
        key.push(b'}');
        key
    }
}

/// [`DEFAULT_KEY_PREFIX`], which passes [`KeyPrefix::new`] (a test checks).
impl Default for KeyPrefix {
    fn default() -> Self {
        Self(DEFAULT_KEY_PREFIX.to_owned())
    }
}

impl fmt::Debug for KeyPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

/// How many sorted sets the expiry index is split into, so that in a Cluster its updates spread
/// over the nodes rather than all landing on one.
pub(crate) const EXPIRY_BUCKETS: usize = 16;

/// The expiry index bucket of `user`: the XOR of the 16 hex digits of its tag (one digit alone
/// spreads similar ids poorly: FNV-1a mixes its top and bottom bits little).
pub(crate) fn expiry_bucket(user: &[u8]) -> usize {
    let mut hash = fnv1a(user);
    hash ^= hash >> 32;
    hash ^= hash >> 16;
    hash ^= hash >> 8;
    hash ^= hash >> 4;
    (hash & 0xf) as usize
}

/// The 64-bit FNV-1a hash of `id`.
fn fnv1a(id: &[u8]) -> u64 {
    const OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0100_0000_01b3;
    id.iter().fold(OFFSET_BASIS, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(PRIME)
    })
}

/// The hash tag of an id: its 64-bit FNV-1a hash as 16 lowercase hex digits.
pub(crate) fn tag(id: &[u8]) -> [u8; 16] {
    let hash = fnv1a(id);
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = [0u8; 16];
    for (i, digit) in out.iter_mut().enumerate() {
        *digit = HEX[((hash >> (60 - 4 * i)) & 0xf) as usize];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::redis::cluster_slots::hashed_part;

    #[test]
    fn the_tag_is_a_fixed_function() {
        // FNV-1a test vectors: the stored format must not change between builds or machines.
        assert_eq!(&tag(b""), b"cbf29ce484222325");
        assert_eq!(&tag(b"a"), b"af63dc4c8601ec8c");
        assert_eq!(&tag(b"foobar"), b"85944171f73967e8");
    }

    #[test]
    fn braces_in_ids_do_not_move_the_hash_tag() {
        let prefix = KeyPrefix::new("app:mutes").unwrap();
        for id in [
            "plain",
            "}",
            "{",
            "{x}",
            "a}b{c",
            "with space",
            "ルーム",
            "}{",
        ] {
            let key = prefix.user_key(id.as_bytes());
            assert_eq!(hashed_part(&key), tag(id.as_bytes()), "user {id:?}");
            let deadlines = prefix.deadline_key(id.as_bytes());
            assert_eq!(hashed_part(&deadlines), tag(id.as_bytes()), "user {id:?}");
            let index = prefix.room_index_key(id.as_bytes());
            for same_slot in [
                prefix.legacy_forgetting_key(id.as_bytes()),
                prefix.room_generations_key(id.as_bytes()),
                prefix.room_generation_key(id.as_bytes(), b"1718000000000001-0123456789abcdef"),
            ] {
                assert_eq!(hashed_part(&index), hashed_part(&same_slot), "room {id:?}");
            }
            let once = prefix.once_key(id.as_bytes(), b"0123456789abcdef.7");
            assert_eq!(hashed_part(&once), tag(id.as_bytes()), "user {id:?}");
            assert!(key.ends_with(id.as_bytes()));
        }
    }

    #[test]
    fn keys_of_different_ids_and_kinds_differ() {
        let prefix = KeyPrefix::new("p").unwrap();
        let ids = ["a", "a:", "ab", "b", "u:{x}a"];
        let mut keys: Vec<Vec<u8>> = ids
            .iter()
            .flat_map(|id| {
                [
                    prefix.user_key(id.as_bytes()),
                    prefix.room_index_key(id.as_bytes()),
                    prefix.legacy_forgetting_key(id.as_bytes()),
                    prefix.room_generations_key(id.as_bytes()),
                    prefix.room_generation_key(id.as_bytes(), b"1-a"),
                    prefix.once_key(id.as_bytes(), b"a.1"),
                    prefix.deadline_key(id.as_bytes()),
                ]
            })
            .chain((0..EXPIRY_BUCKETS).map(|bucket| prefix.expiry_bucket_key(bucket)))
            .collect();
        let count = keys.len();
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), count);
    }

    #[test]
    fn forget_room_keys_are_as_documented() {
        let prefix = KeyPrefix::new("p").unwrap();
        // The tag of "a" is pinned by the_tag_is_a_fixed_function.
        assert_eq!(
            prefix.room_generations_key(b"a"),
            b"p:g:{af63dc4c8601ec8c}a"
        );
        assert_eq!(
            prefix.room_generation_key(b"a", b"17-ff"),
            b"p:v:{af63dc4c8601ec8c}17-ff:a"
        );
        let (before, after) = prefix.room_generation_key_parts(b"a");
        assert_eq!(
            (&before[..], &after[..]),
            (&b"p:v:{af63dc4c8601ec8c}"[..], &b":a"[..])
        );
        assert_eq!(
            prefix.legacy_forgetting_key(b"a"),
            b"p:f:{af63dc4c8601ec8c}a"
        );
        assert_eq!(
            prefix.once_key(b"a", b"ff.3"),
            b"p:o:{af63dc4c8601ec8c}ff.3:a"
        );
    }

    #[test]
    fn expiry_buckets_follow_the_tag() {
        let prefix = KeyPrefix::new("p").unwrap();
        assert_eq!(prefix.expiry_bucket_key(0), b"p:x:{x0}");
        assert_eq!(prefix.expiry_bucket_key(15), b"p:x:{xf}");
        // The XOR of the digits of the tags the_tag_is_a_fixed_function pins.
        let xor_of_digits = |tag: &[u8; 16]| {
            tag.iter()
                .map(|d| {
                    usize::from(if d.is_ascii_digit() {
                        d - b'0'
                    } else {
                        d - b'a' + 10
                    })
                })
                .fold(0, |x, d| x ^ d)
        };
        for id in [&b""[..], b"a", b"foobar"] {
            assert_eq!(expiry_bucket(id), xor_of_digits(&tag(id)));
        }
        // Pinned: the bucket is part of the stored format (the tags are those pinned above).
        assert_eq!(expiry_bucket(b""), 0xf);
        assert_eq!(expiry_bucket(b"a"), 0x0);
        assert_eq!(expiry_bucket(b"foobar"), 0x6);
        let mut seen = [false; EXPIRY_BUCKETS];
        for n in 0..1000 {
            seen[expiry_bucket(format!("user-{n}").as_bytes())] = true;
        }
        assert!(seen.iter().all(|s| *s), "every bucket is used");
        assert_eq!(prefix.events_channel(0), b"p:events");
        assert_eq!(prefix.events_channel(3), b"p:events:3");
    }

    #[test]
    fn prefixes_are_checked() {
        assert_eq!(KeyPrefix::new(DEFAULT_KEY_PREFIX), Ok(KeyPrefix::default()));
        assert!(KeyPrefix::new("tenant-7:mutes").is_ok());
        for bad in ["", "a{b", "a}b", "tab\there", &"x".repeat(65)] {
            assert!(KeyPrefix::new(bad).is_err(), "{bad:?}");
        }
    }
}
