//! The command line of the example server.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use mutestore::DEFAULT_MAX_STREAMS_PER_USER;

use crate::connection_limit::{DEFAULT_MAX_CONNECTIONS, MOST_CONNECTIONS};

/// The help text.
pub const USAGE: &str = "\
usage: server [--addr HOST:PORT] [--seed FILE] [--allow-origin ORIGIN]...
              [--data DIR | --memory | --redis URL | --redis-cluster URLS]
              [--max-connections N] [--max-streams-per-user N] [--header-timeout-secs N]
              [--request-timeout-secs N] [--write-timeout-secs N] [--quiet]

  --addr HOST:PORT        where to listen (default 127.0.0.1:3000; port 0 picks a free one)
  --data DIR              keep mutes in DIR with DurableStore, every change synced to disk
                          before it is answered (default ./data)
  --memory                keep mutes in memory only (MemoryStore): nothing survives a restart
  --redis URL             keep mutes in a standalone Redis (redis://HOST:PORT), shared with every
                          server on it (needs a build with `--features redis`)
  --redis-cluster URLS    the same on a Redis Cluster: comma-separated node URLs
  --seed FILE             the keys, rooms and users, as JSON (default: the built-in demo seed)
  --allow-origin ORIGIN   let browsers on ORIGIN (scheme://host[:port]) call the endpoints;
                          may be repeated (default: no CORS)
  --max-connections N     hold at most N connections open, each open GET /me/events stream
                          included; more wait in the listen backlog until one closes
                          (default 512)
  --max-streams-per-user N
                          let one user hold at most N GET /me/events streams open at
                          once; one more is answered 429 TOO_MANY_STREAMS, and 0 refuses
                          every stream (default 4)
  --header-timeout-secs N close a connection that has not sent a complete request head
                          within N seconds of opening, or of its last response ending
                          (idle keep-alive); this timer never cuts a response being
                          sent, such as an open GET /me/events stream (default 10, at
                          most 86400)
  --request-timeout-secs N
                          answer 408 and close the connection when a request has not
                          been answered within N seconds of its head, reading its body
                          included; a response body, such as an open GET /me/events
                          stream, is not timed (default 10, at most 86400)
  --write-timeout-secs N  close a connection when a write to it has made no progress for
                          N seconds (a client that stopped reading its responses); time
                          spent not writing, such as an idle GET /me/events stream, is
                          not counted (default 30, at most 86400)
  -q, --quiet             log warnings and errors only, no line per request (for load tests)
  -h, --help              print this text";

/// The example server's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerArgs {
    /// Where to listen.
    pub addr: String,
    /// The seed file, if not the demo seed.
    pub seed: Option<PathBuf>,
    /// Origins let through CORS.
    pub allowed_origins: Vec<String>,
    /// Where mutes are kept.
    pub store: StoreChoice,
    /// The most connections held open at once.
    pub max_connections: usize,
    /// The most `GET /me/events` streams one user may hold open at once (`0`: none).
    pub max_streams_per_user: usize,
    /// How long a connection may take to send a request head, from when it opens or its last
    /// response ends.
    pub header_timeout: Duration,
    /// How long a request may take, from its head to its response head (reading its body
    /// included).
    pub request_timeout: Duration,
    /// How long a write to a connection may make no progress (the client not reading) before the
    /// connection is closed.
    pub write_timeout: Duration,
    /// Whether to log warnings and errors only, without a line per request.
    pub quiet: bool,
}

/// Where the server keeps mutes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreChoice {
    /// `DurableStore` in this directory.
    Durable(PathBuf),
    /// `MemoryStore`: nothing is kept after exit.
    Memory,
    /// `RedisStore` on a standalone server at this URL.
    Redis(String),
    /// `RedisStore` on a Cluster with these node URLs.
    RedisCluster(Vec<String>),
}

/// The data directory used when neither `--data` nor `--memory` is given.
pub const DEFAULT_DATA_DIR: &str = "./data";

/// The header timeout used when `--header-timeout-secs` is not given.
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// The request timeout used when `--request-timeout-secs` is not given.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The write timeout used when `--write-timeout-secs` is not given: longer than the other two, so
/// that a client on a poor link, stalled for a few seconds while lost packets are sent again, is
/// not cut, while one that has stopped reading still frees its slot within half a minute.
pub const DEFAULT_WRITE_TIMEOUT: Duration = Duration::from_secs(30);

/// The longest timeout `--header-timeout-secs`, `--request-timeout-secs` and
/// `--write-timeout-secs` take: a day.
pub const MAX_TIMEOUT_SECS: u64 = 86_400;

/// A command line that cannot be understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArgsError {
    /// An option that does not exist.
    #[error("unknown argument `{0}`")]
    Unknown(String),
    /// An option given without its value.
    #[error("`{0}` needs a value")]
    MissingValue(&'static str),
    /// An argument that is not UTF-8.
    #[error("arguments must be UTF-8")]
    NotUtf8,
    /// Two options that choose different stores.
    #[error("choose one store: `{0}` and `{1}` cannot be given together")]
    ConflictingStores(&'static str, &'static str),
    /// A value that is not a whole number (0 or more).
    #[error("`{option}` needs a whole number, not `{value}`")]
    NotANumber {
        /// The option.
        option: &'static str,
        /// The value given.
        value: String,
    },
    /// A count that is not a whole number of at least 1.
    #[error("`{option}` needs a whole number of at least 1, not `{value}`")]
    NotACount {
        /// The option.
        option: &'static str,
        /// The value given.
        value: String,
    },
    /// A number of seconds out of its range.
    #[error("`{option}` needs a whole number of seconds from 1 to {max}, not `{value}`")]
    NotSeconds {
        /// The option.
        option: &'static str,
        /// The value given.
        value: String,
        /// The largest value taken.
        max: u64,
    },
}

impl ServerArgs {
    /// Parses the arguments after the program name; `Ok(None)` when help was asked for.
    pub fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Option<Self>, ArgsError> {
        let mut parsed = Self {
            addr: "127.0.0.1:3000".to_owned(),
            seed: None,
            allowed_origins: Vec::new(),
            store: StoreChoice::Durable(PathBuf::from(DEFAULT_DATA_DIR)),
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_streams_per_user: DEFAULT_MAX_STREAMS_PER_USER,
            header_timeout: DEFAULT_HEADER_TIMEOUT,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            write_timeout: DEFAULT_WRITE_TIMEOUT,
            quiet: false,
        };
        let mut store_option: Option<&'static str> = None;
        let mut choose = |option: &'static str| match store_option.replace(option) {
            Some(earlier) if earlier != option => {
                Err(ArgsError::ConflictingStores(earlier, option))
            }
            _ => Ok(()),
        };
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            let arg = arg.into_string().map_err(|_| ArgsError::NotUtf8)?;
            let (name, inline_value) = match arg.split_once('=') {
                Some((name, value)) if name.starts_with("--") => {
                    (name.to_owned(), Some(value.to_owned()))
                }
                _ => (arg, None),
            };
            let mut value = |option: &'static str| -> Result<String, ArgsError> {
                match inline_value.clone() {
                    Some(value) => Ok(value),
                    None => args
                        .next()
                        .ok_or(ArgsError::MissingValue(option))?
                        .into_string()
                        .map_err(|_| ArgsError::NotUtf8),
                }
            };
            let takes_value = matches!(
                name.as_str(),
                "--addr"
                    | "--seed"
                    | "--allow-origin"
                    | "--data"
                    | "--redis"
                    | "--redis-cluster"
                    | "--max-connections"
                    | "--max-streams-per-user"
                    | "--header-timeout-secs"
                    | "--request-timeout-secs"
                    | "--write-timeout-secs"
            );
            if !takes_value && inline_value.is_some() {
                return Err(ArgsError::Unknown(arg_with_value(&name)));
            }
            match name.as_str() {
                "-h" | "--help" => return Ok(None),
                "--addr" => parsed.addr = value("--addr")?,
                "--seed" => parsed.seed = Some(PathBuf::from(value("--seed")?)),
                "--allow-origin" => parsed.allowed_origins.push(value("--allow-origin")?),
                "--data" => {
                    choose("--data")?;
                    parsed.store = StoreChoice::Durable(PathBuf::from(value("--data")?));
                }
                "--memory" => {
                    choose("--memory")?;
                    parsed.store = StoreChoice::Memory;
                }
                "--redis" => {
                    choose("--redis")?;
                    parsed.store = StoreChoice::Redis(value("--redis")?);
                }
                "--redis-cluster" => {
                    choose("--redis-cluster")?;
                    let nodes = value("--redis-cluster")?;
                    parsed.store = StoreChoice::RedisCluster(
                        nodes
                            .split(',')
                            .map(|node| node.trim().to_owned())
                            .collect(),
                    );
                }
                "--max-connections" => {
                    let option = "--max-connections";
                    let value = value(option)?;
                    parsed.max_connections = match value.parse::<usize>() {
                        // Clamped here, so the start-up line shows the cap in force.
                        Ok(count) if count >= 1 => count.min(MOST_CONNECTIONS),
                        _ => return Err(ArgsError::NotACount { option, value }),
                    };
                }
                "--max-streams-per-user" => {
                    let option = "--max-streams-per-user";
                    let value = value(option)?;
                    parsed.max_streams_per_user = value
                        .parse::<usize>()
                        .map_err(|_| ArgsError::NotANumber { option, value })?;
                }
                "--header-timeout-secs" => {
                    let option = "--header-timeout-secs";
                    parsed.header_timeout = seconds(option, value(option)?)?;
                }
                "--request-timeout-secs" => {
                    let option = "--request-timeout-secs";
                    parsed.request_timeout = seconds(option, value(option)?)?;
                }
                "--write-timeout-secs" => {
                    let option = "--write-timeout-secs";
                    parsed.write_timeout = seconds(option, value(option)?)?;
                }
                "-q" | "--quiet" => parsed.quiet = true,
                _ => return Err(ArgsError::Unknown(name)),
            }
        }
        Ok(Some(parsed))
    }
}

/// `value` as a timeout of 1 to [`MAX_TIMEOUT_SECS`] whole seconds.
fn seconds(option: &'static str, value: String) -> Result<Duration, ArgsError> {
    let max = MAX_TIMEOUT_SECS;
    match value.parse::<u64>() {
        Ok(secs) if (1..=max).contains(&secs) => Ok(Duration::from_secs(secs)),
        _ => Err(ArgsError::NotSeconds { option, value, max }),
    }
}

/// The flag as given with a value it does not take.
fn arg_with_value(name: &str) -> String {
    format!("{name}=... (`{name}` takes no value)")
}
