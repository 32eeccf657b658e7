//! [`UserProfile`]: a host's profile of a user, written out as JSON once, then sent as it is with
//! every response about that user.

use std::fmt;
use std::io;
use std::sync::Arc;

use super::user_object::Profile;

/// A user's profile as the endpoints send it: the host's JSON object ([`Profile`]), passed through
/// untouched, written out as JSON once, when this is made. Cloning one shares it.
///
/// A host that keeps its profiles in memory makes each once and hands out clones, so that no
/// request writes a profile again; one that loads a profile per request makes one per request,
/// which costs what writing the profile into the response would have cost anyway.
///
/// ```
/// use mutestore::{Profile, UserProfile};
///
/// let mut profile = Profile::new();
/// profile.insert("_id".into(), "demo-user".into());
/// profile.insert("nickname".into(), "Demo User".into());
/// let shared = UserProfile::new(&profile);
/// let another_handle = shared.clone(); // no copy
/// # let _ = another_handle;
/// ```
#[derive(Clone)]
pub struct UserProfile(Arc<Result<Members, serde_json::Error>>);

/// A profile's members as JSON text, split around its `mute` member, which the engine replaces,
/// and without its `muteUntil` member, which the engine writes after `mute` when it has one.
struct Members {
    /// `"key":value,` for each member before `mute`; every member when there is no `mute`.
    before_mute: Vec<u8>,
    /// `,"key":value` for each member after `mute`.
    after_mute: Vec<u8>,
    /// Whether the profile has an `_id` member.
    has_id: bool,
}

impl UserProfile {
    /// Writes out `profile`, in its own key order (sorted unless the `preserve_order` feature is
    /// on).
    #[must_use]
    pub fn new(profile: &Profile) -> Self {
        Self(Arc::new(Members::write(profile)))
    }

    /// The members before `mute`, each followed by a comma, the members after it, each preceded
    /// by one, and whether `_id` is among them; an error if the profile could not be written (a
    /// profile is JSON already, so this never happens in practice).
    pub(crate) fn members(&self) -> io::Result<(&[u8], &[u8], bool)> {
        match &*self.0 {
            Ok(members) => Ok((&members.before_mute, &members.after_mute, members.has_id)),
            Err(error) => Err(io::Error::other(error.to_string())),
        }
    }
}

impl Members {
    fn write(profile: &Profile) -> Result<Self, serde_json::Error> {
        let mut members = Self {
            before_mute: Vec::new(),
            after_mute: Vec::new(),
            has_id: profile.contains_key("_id"),
        };
        let mut after_mute = false;
        for (key, value) in profile {
            if key == "muteUntil" {
                continue;
            }
            if key == "mute" {
                after_mute = true;
            } else if after_mute {
                members.after_mute.push(b',');
                write_member(&mut members.after_mute, key, value)?;
            } else {
                write_member(&mut members.before_mute, key, value)?;
                members.before_mute.push(b',');
            }
        }
        Ok(members)
    }
}

/// `"key":value`
fn write_member(out: &mut Vec<u8>, key: &str, value: &serde_json::Value) -> serde_json::Result<()> {
    serde_json::to_writer(&mut *out, key)?;
    out.push(b':');
    serde_json::to_writer(out, value)
}

impl From<&Profile> for UserProfile {
    fn from(profile: &Profile) -> Self {
        Self::new(profile)
    }
}

impl From<Profile> for UserProfile {
    fn from(profile: Profile) -> Self {
        Self::new(&profile)
    }
}

/// Shows the members as written, around the place of `mute`.
impl fmt::Debug for UserProfile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &*self.0 {
            Ok(members) => f
                .debug_struct("UserProfile")
                .field(
                    "before_mute",
                    &String::from_utf8_lossy(&members.before_mute),
                )
                .field("after_mute", &String::from_utf8_lossy(&members.after_mute))
                .finish(),
            Err(error) => f.debug_tuple("UserProfile").field(error).finish(),
        }
    }
}
