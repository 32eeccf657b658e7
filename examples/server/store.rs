//! The one place the example server chooses its store.

use std::sync::Arc;

use mutestore::{DurableStore, MemoryStore, SharedMuteStore};

use crate::args::StoreChoice;

/// The store the server serves, how the start-up line names it, and the durable store again when
/// that is the one, so that the server can ask it whether it has failed.
pub struct OpenedStore {
    pub store: SharedMuteStore,
    pub name: String,
    pub durable: Option<Arc<DurableStore>>,
}

/// Opens the chosen store, or gives the reason it could not be opened (a data directory another
/// process holds, a damaged log, no Redis at the URL).
///
/// A [`SharedMuteStore`] so that the backend is picked at run time.
pub async fn open_store(choice: &StoreChoice) -> Result<OpenedStore, String> {
    match choice {
        StoreChoice::Memory => {
            let store = MemoryStore::new();
            let name = format!(
                "in-memory MemoryStore, mute limit {}, nothing kept after exit",
                store.mute_limit()
            );
            Ok(OpenedStore {
                store: Arc::new(store),
                name,
                durable: None,
            })
        }
        StoreChoice::Durable(dir) => {
            let store = DurableStore::open(dir).map_err(|error| error.to_string())?;
            let name = format!(
                "DurableStore in {}, {:?} durability, {} loaded, mute limit {}",
                dir.display(),
                store.durability(),
                match store.user_count() {
                    1 => "1 user".to_owned(),
                    count => format!("{count} users"),
                },
                store.mute_limit()
            );
            let store = Arc::new(store);
            Ok(OpenedStore {
                store: store.clone(),
                name,
                durable: Some(store),
            })
        }
        StoreChoice::Redis(url) => redis::open(RedisTarget::Standalone(url)).await,
        StoreChoice::RedisCluster(nodes) => redis::open(RedisTarget::Cluster(nodes)).await,
    }
}

/// Where a Redis-backed store connects.
#[cfg_attr(not(feature = "redis"), allow(dead_code))]
enum RedisTarget<'a> {
    Standalone(&'a str),
    Cluster(&'a [String]),
}

#[cfg(feature = "redis")]
mod redis {
    use std::sync::Arc;

    use mutestore::{RedisConfig, RedisStore};

    use super::{OpenedStore, RedisTarget as Target};

    pub async fn open(target: Target<'_>) -> Result<OpenedStore, String> {
        let config = match target {
            Target::Standalone(url) => RedisConfig::standalone(url),
            Target::Cluster(nodes) => RedisConfig::cluster(nodes),
        }
        .map_err(|error| error.to_string())?;
        let store = RedisStore::connect(config)
            .await
            .map_err(|error| error.to_string())?;
        let name = format!("RedisStore, {:?}", store.config());
        Ok(OpenedStore {
            store: Arc::new(store),
            name,
            durable: None,
        })
    }
}

#[cfg(not(feature = "redis"))]
mod redis {
    use super::{OpenedStore, RedisTarget as Target};

    pub async fn open(target: Target<'_>) -> Result<OpenedStore, String> {
        let option = match target {
            Target::Standalone(_) => "--redis",
            Target::Cluster(_) => "--redis-cluster",
        };
        Err(format!(
            "{option} needs Redis support, which this build leaves out: \
             run `cargo run --release --features redis --example server -- {option} ...`"
        ))
    }
}
