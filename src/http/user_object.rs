//! The user object of a response: the host's profile, untouched, with `mute` (and `muteUntil`)
//! set by the engine.

use serde_json::{Map, Value};

use super::user_profile::UserProfile;
use crate::ids::UserId;
use crate::mute_list::MuteList;

/// A user's profile as the host keeps it.
pub type Profile = Map<String, Value>;

/// The profile's members in the profile's own order, with `mute` set to the user's muted rooms (in
/// place if the profile has a `mute` member, else last), followed by `muteUntil` (room to deadline
/// in epoch milliseconds, in mute order) when any mute is timed, and `_id` added first if the
/// profile lacks one. A `muteUntil` member of the profile is always left out: the engine owns it.
/// No profile is taken as an empty one. The profile was written out when it was made; only `_id`,
/// `mute` and `muteUntil` are written here.
pub(crate) struct UserObject<'a> {
    pub(crate) user: &'a UserId,
    pub(crate) profile: Option<&'a UserProfile>,
    pub(crate) mute: &'a MuteList,
}

impl UserObject<'_> {
    /// Writes the object to `out` as compact JSON: the bytes serde_json would write for it.
    pub(crate) fn write_json(&self, out: &mut Vec<u8>) -> serde_json::Result<()> {
        let (before_mute, after_mute, has_id) = match self.profile {
            Some(profile) => profile.members().map_err(serde_json::Error::io)?,
            None => (&[][..], &[][..], false),
        };
        out.push(b'{');
        if !has_id {
            out.extend_from_slice(br#""_id":"#);
            serde_json::to_writer(&mut *out, self.user)?;
            out.push(b',');
        }
        out.extend_from_slice(before_mute);
        out.extend_from_slice(br#""mute":"#);
        serde_json::to_writer(&mut *out, self.mute)?;
        if self.mute.has_deadlines() {
            out.extend_from_slice(br#","muteUntil":{"#);
            for (index, (room, until_ms)) in self.mute.deadlines().enumerate() {
                if index > 0 {
                    out.push(b',');
                }
                serde_json::to_writer(&mut *out, room)?;
                out.push(b':');
                serde_json::to_writer(&mut *out, &until_ms)?;
            }
            out.push(b'}');
        }
        out.extend_from_slice(after_mute);
        out.push(b'}');
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::RoomId;
    use serde_json::json;

    /// The object written for user `u1` with `profile` and `rooms`, as text.
    fn written(profile: Option<Value>, rooms: &[&str]) -> String {
        let profile = profile.map(|profile| {
            let Value::Object(profile) = profile else {
                panic!("not an object")
            };
            UserProfile::new(&profile)
        });
        let mute: MuteList = rooms.iter().map(|r| RoomId::new(r).unwrap()).collect();
        let user = UserId::new("u1").unwrap();
        let mut out = Vec::new();
        UserObject {
            user: &user,
            profile: profile.as_ref(),
            mute: &mute,
        }
        .write_json(&mut out)
        .unwrap();
        String::from_utf8(out).unwrap()
    }

    /// The object written for user `u1` with `profile` and `rooms`, each with its deadline if timed.
    fn written_timed(profile: Option<Value>, rooms: &[(&str, Option<u64>)]) -> String {
        let profile = profile.map(|profile| {
            let Value::Object(profile) = profile else {
                panic!("not an object")
            };
            UserProfile::new(&profile)
        });
        let mute = MuteList::from_timed(
            rooms
                .iter()
                .map(|&(r, until)| (RoomId::new(r).unwrap(), until)),
        );
        let user = UserId::new("u1").unwrap();
        let mut out = Vec::new();
        UserObject {
            user: &user,
            profile: profile.as_ref(),
            mute: &mute,
        }
        .write_json(&mut out)
        .unwrap();
        String::from_utf8(out).unwrap()
    }

    fn object(profile: Value, rooms: &[&str]) -> Value {
        serde_json::from_str(&written(Some(profile), rooms)).unwrap()
    }

    #[test]
    fn profile_fields_pass_through_and_the_engine_owns_mute() {
        let profile = json!({
            "_id": "u1", "nickname": "N", "address": {"port": 1}, "lastLoginTimeMS": 1487068306745u64,
            "mute": ["stale"]
        });
        assert_eq!(
            object(profile, &["b", "a"]),
            json!({
                "_id": "u1", "nickname": "N", "address": {"port": 1},
                "lastLoginTimeMS": 1487068306745u64, "mute": ["b", "a"]
            })
        );
    }

    #[test]
    fn id_is_always_present() {
        assert_eq!(
            object(json!({"nickname": "N"}), &[]),
            json!({"_id": "u1", "nickname": "N", "mute": []})
        );
        assert_eq!(written(None, &["r"]), r#"{"_id":"u1","mute":["r"]}"#);
    }

    #[test]
    fn the_bytes_are_serde_json_s_in_the_profile_s_order() {
        let cases = [
            // `mute` in the middle, escapes in keys and values, nested values.
            (
                json!({
                    "nickname": "Say \"hi\"\n", "mute": null, "tab\tkey": 1.5,
                    "flags": [true, null], "address": {"b": "\\", "a": -1}, "ルーム": "ル"
                }),
                json!({
                    "_id": "u1", "nickname": "Say \"hi\"\n", "mute": ["b", "a/\\"],
                    "tab\tkey": 1.5, "flags": [true, null], "address": {"b": "\\", "a": -1},
                    "ルーム": "ル"
                }),
            ),
            // `mute` first, `_id` given.
            (
                json!({"mute": [], "_id": "x", "n": 1}),
                json!({"mute": ["b", "a/\\"], "_id": "x", "n": 1}),
            ),
            // No `mute`, `_id` last.
            (
                json!({"n": 1, "_id": "x"}),
                json!({"n": 1, "_id": "x", "mute": ["b", "a/\\"]}),
            ),
            (json!({}), json!({"_id": "u1", "mute": ["b", "a/\\"]})),
        ];
        for (profile, expected) in cases {
            assert_eq!(
                written(Some(profile), &["b", "a/\\"]),
                serde_json::to_string(&expected).unwrap()
            );
        }
    }

    #[test]
    fn timed_mutes_add_mute_until_after_mute_in_mute_order() {
        let rooms = [("b", Some(20)), ("a", None), ("c", Some(10))];
        assert_eq!(
            written_timed(Some(json!({"n": 1, "mute": [], "x": 2})), &rooms),
            r#"{"_id":"u1","n":1,"mute":["b","a","c"],"muteUntil":{"b":20,"c":10},"x":2}"#
        );
        // No timed mute, no `muteUntil`; and the profile's own `muteUntil` never shows.
        assert_eq!(
            written_timed(
                Some(json!({"muteUntil": {"stale": 1}, "_id": "u1"})),
                &[("a", None)]
            ),
            r#"{"_id":"u1","mute":["a"]}"#
        );
        assert_eq!(
            written_timed(None, &[("r/1", Some(5))]),
            r#"{"_id":"u1","mute":["r/1"],"muteUntil":{"r/1":5}}"#
        );
    }
}
