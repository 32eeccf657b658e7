//! The user object of a response: the host's profile, untouched, with `mute` set by the engine.

use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{Map, Value};

use crate::ids::UserId;
use crate::mute_list::MuteList;

/// A user's profile as the host keeps it.
pub type Profile = Map<String, Value>;

/// Serialises as the profile's fields in the profile's own order, with `mute` set to the user's
/// muted rooms (in place if the profile has a `mute` field, else last) and `_id` added first if the
/// profile lacks one. No profile is taken as an empty one. Nothing is copied.
pub(crate) struct UserObject<'a> {
    pub(crate) user: &'a UserId,
    pub(crate) profile: Option<&'a Profile>,
    pub(crate) mute: &'a MuteList,
}

impl Serialize for UserObject<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // A scan of the keys: quicker than two hashed lookups on profiles of a few fields, and
        // never slower than writing the fields out below.
        let (mut has_id, mut has_mute) = (false, false);
        for key in self.profile.into_iter().flat_map(Map::keys) {
            has_id |= key == "_id";
            has_mute |= key == "mute";
        }
        let fields = self.profile.map_or(0, Map::len);
        let len = fields + usize::from(!has_id) + usize::from(!has_mute);
        let mut map = serializer.serialize_map(Some(len))?;
        if !has_id {
            map.serialize_entry("_id", self.user)?;
        }
        for (key, value) in self.profile.into_iter().flatten() {
            if key == "mute" {
                map.serialize_entry(key, self.mute)?;
            } else {
                map.serialize_entry(key, value)?;
            }
        }
        if !has_mute {
            map.serialize_entry("mute", self.mute)?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::RoomId;
    use serde_json::json;

    fn object(profile: Value, rooms: &[&str]) -> Value {
        let Value::Object(profile) = profile else {
            panic!("not an object")
        };
        let mute: MuteList = rooms.iter().map(|r| RoomId::new(r).unwrap()).collect();
        let user = UserId::new("u1").unwrap();
        serde_json::to_value(UserObject {
            user: &user,
            profile: Some(&profile),
            mute: &mute,
        })
        .unwrap()
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
    }
}
