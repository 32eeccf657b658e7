//! [`World`]: the seed, the store and the flaky hooks one transport of the HTTP check runs on.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::json;

use super::faults::{FaultPlan, FlakyHost, FlakyStore};
use crate::clock::ManualClock;
use crate::http::{MuteApi, SeedAuthenticator, SeedData, SeedDirectory};
use crate::memory::MemoryStore;

/// The time on the stores' clocks, which never moves: the twin stores agree on every deadline and
/// no timed mute lapses during a run (2027-01-15T08:00:00Z).
pub(crate) const FUZZ_NOW_MS: u64 = 1_800_000_000_000;

/// Every user's muted rooms, each with its deadline if timed.
pub(crate) type Snapshot = BTreeMap<String, Vec<(String, Option<u64>)>>;

/// The client keys of the fuzz seed.
pub(crate) const CLIENT_KEYS: [&str; 2] = ["demo-client-key", "second-client-key"];
/// The admin API key of the fuzz seed.
pub(crate) const API_KEYS: [&str; 1] = ["demo-api-key"];
/// Each user of the fuzz seed with the token that belongs to it.
pub(crate) const TOKENS: [(&str, &str); 4] = [
    ("demo-token", "demo-user"),
    ("demo-token-2", "demo-user-2"),
    ("slash-token", "a/slash user"),
    ("token-3", "ユーザー"),
];

/// The seed: the demo's two users (the second with stale `mute` and `muteUntil` fields the engine
/// must replace),
/// a user whose id holds a `/` and a space, one whose id is not ASCII, and rooms likewise.
pub(crate) fn fuzz_seed() -> SeedData {
    let mut rooms = vec![
        "demo-room".to_owned(),
        "a/b room".to_owned(),
        "ルーム".to_owned(),
        "x".repeat(crate::ids::MAX_ID_BYTES),
        "ル".repeat(85),
    ];
    rooms.extend((1..=5).map(|n| format!("room-{n}")));
    let seed = json!({
        "clientKeys": CLIENT_KEYS,
        "apiKeys": API_KEYS,
        "rooms": rooms,
        "users": [
            {"token": "demo-token", "profile": {
                "_id": "demo-user", "nickname": "Demo User", "email": "demo@example.com",
                "appID": "SampleApp", "avatarUrl": "http://example.com/avatarUrl"
            }},
            {"token": "demo-token-2", "profile": {
                "nickname": "Demo User 2", "mute": ["stale"], "_id": "demo-user-2",
                "muteUntil": {"stale": 1}
            }},
            {"token": "slash-token", "profile": {"_id": "a/slash user"}},
            {"token": "token-3", "profile": {"_id": "ユーザー", "address": {"port": 1}}}
        ]
    });
    SeedData::from_json(&seed.to_string()).unwrap_or_else(|error| panic!("the fuzz seed: {error}"))
}

/// The API over one store, as the HTTP check builds it for each transport.
pub(crate) type FuzzApi =
    MuteApi<FlakyStore, FlakyHost<Arc<SeedAuthenticator>>, FlakyHost<Arc<SeedDirectory>>>;

/// One store with its hooks; calls fail as one shared plan says.
#[derive(Debug)]
pub(crate) struct World {
    store: Arc<MemoryStore>,
    plan: Arc<FaultPlan>,
    authenticator: Arc<SeedAuthenticator>,
    directory: Arc<SeedDirectory>,
}

impl World {
    pub(crate) fn new(seed: &SeedData, mute_limit: usize, fault_mask: u64) -> Self {
        Self {
            store: Arc::new({
                let mut store = MemoryStore::with_clock(Arc::new(ManualClock::new(FUZZ_NOW_MS)));
                store.set_mute_limit(mute_limit);
                store
            }),
            plan: Arc::new(FaultPlan::new(fault_mask)),
            authenticator: Arc::new(SeedAuthenticator::new(seed)),
            directory: Arc::new(SeedDirectory::new(seed)),
        }
    }

    /// An API over this world (any number of them share its store and its fault plan).
    pub(crate) fn api(&self) -> FuzzApi {
        MuteApi::new(
            FlakyStore {
                inner: Arc::clone(&self.store),
                plan: Arc::clone(&self.plan),
            },
            FlakyHost {
                inner: Arc::clone(&self.authenticator),
                plan: Arc::clone(&self.plan),
            },
            FlakyHost {
                inner: Arc::clone(&self.directory),
                plan: Arc::clone(&self.plan),
            },
        )
    }

    /// Every user's muted rooms with their deadlines.
    pub(crate) fn snapshot(&self) -> Snapshot {
        let mut users = BTreeMap::new();
        self.store.for_each_user(|user, rooms| {
            users.insert(
                user.to_string(),
                rooms
                    .iter_timed()
                    .map(|(room, until)| (room.to_string(), until))
                    .collect(),
            );
        });
        users
    }
}
