//! The example server: mutestore's HTTP endpoints, ready to try with curl.
//!
//! ```text
//! cargo run --release --example server -- [--addr HOST:PORT] [--seed FILE] [--allow-origin ORIGIN]...
//!     [--data DIR | --memory | --redis URL | --redis-cluster URLS] [--max-connections N]
//!     [--max-streams-per-user N] [--header-timeout-secs N] [--request-timeout-secs N]
//!     [--write-timeout-secs N] [--quiet]
//! ```
//!
//! It prints one line when it listens (where, which store it uses, how many connections it holds
//! open at most, event streams included, how long one may take to send a request head, how long
//! its writes may make no progress, how long a request may take to be answered, and how many
//! event streams one user may hold open), logs
//! each request to stderr (unless `--quiet`), and stops cleanly on SIGINT (Ctrl-C) or SIGTERM,
//! ending the open event streams first.

mod args;
mod connection_limit;
mod serve;
mod shutdown;
mod store;
mod store_health;

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use mutestore::{
    CorsPolicy, MuteApi, SeedAuthenticator, SeedData, SeedDirectory, not_found_fallback,
};
use tokio::net::TcpListener;
use tracing::Level;

use args::{ServerArgs, USAGE};
use connection_limit::LimitedListener;
use shutdown::ShutdownSignals;

#[tokio::main]
async fn main() -> ExitCode {
    let args = match ServerArgs::parse(std::env::args_os().skip(1)) {
        Ok(Some(args)) => args,
        Ok(None) => {
            shutdown::say(USAGE);
            return ExitCode::SUCCESS;
        }
        Err(error) => {
            shutdown::complain(&format!("error: {error}\n\n{USAGE}"));
            return ExitCode::from(2);
        }
    };
    // Requests are traced at INFO: below it, their spans and events are never even built.
    tracing_subscriber::fmt()
        .with_max_level(if args.quiet { Level::WARN } else { Level::INFO })
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        // A log line that cannot be written is dropped; reporting that with `eprintln!` would panic
        // the request's task when stderr is a pipe whose reader has gone.
        .log_internal_errors(false)
        .init();
    let (seed, seed_name) = match &args.seed {
        None => (SeedData::demo(), "the built-in demo seed".to_owned()),
        Some(path) => {
            let loaded = std::fs::read_to_string(path)
                .map_err(|error| error.to_string())
                .and_then(|text| SeedData::from_json(&text).map_err(|error| error.to_string()));
            match loaded {
                Ok(seed) => (seed, format!("seed file {}", path.display())),
                Err(problem) => {
                    shutdown::complain(&format!("error: seed file {}: {problem}", path.display()));
                    return ExitCode::FAILURE;
                }
            }
        }
    };
    let cors = match &args.allowed_origins {
        origins if origins.is_empty() => CorsPolicy::disabled(),
        origins => match CorsPolicy::allow_origins(origins) {
            Ok(policy) => policy,
            Err(error) => {
                shutdown::complain(&format!("error: --allow-origin: {error}"));
                return ExitCode::from(2);
            }
        },
    };

    // The address first: a port in use or a bad address must not touch the data directory.
    let listener = match TcpListener::bind(&args.addr).await {
        Ok(listener) => listener,
        Err(error) => {
            shutdown::complain(&format!("error: cannot listen on {}: {error}", args.addr));
            return ExitCode::FAILURE;
        }
    };
    let store::OpenedStore {
        store,
        name: store_name,
        durable,
    } = match store::open_store(&args.store).await {
        Ok(opened) => opened,
        Err(problem) => {
            shutdown::complain(&format!("error: cannot open the store: {problem}"));
            return ExitCode::FAILURE;
        }
    };
    let api = MuteApi::new(
        store,
        SeedAuthenticator::new(&seed),
        SeedDirectory::new(&seed),
    )
    .with_max_streams_per_user(args.max_streams_per_user);
    // `GET /me/events` streams never end on their own: they are ended when the server stops, so
    // that the graceful shutdown, which waits for every open response, ends at once.
    let streams = api.stream_shutdown();
    let app = api.into_router(cors).fallback(not_found_fallback);

    let signals = match ShutdownSignals::install() {
        Ok(signals) => signals,
        Err(error) => {
            shutdown::complain(&format!("error: cannot listen for signals: {error}"));
            return ExitCode::FAILURE;
        }
    };
    let local = listener
        .local_addr()
        .map_or_else(|_| args.addr.clone(), |addr| addr.to_string());
    // Not `println!`, which panics when stdout is a pipe whose reader has gone: the line is then
    // lost, and the server serves all the same.
    shutdown::say(&format!(
        "mutestore example server listening on http://{local} (store: {store_name}; {seed_name}; \
         at most {} connections open, each closed after {} s without a request head or {} s \
         without write progress; a request not answered within {} s gets 408; event streams \
         per user: at most {})",
        args.max_connections,
        args.header_timeout.as_secs(),
        args.write_timeout.as_secs(),
        args.request_timeout.as_secs(),
        args.max_streams_per_user
    ));
    // The line is the signal that the server is up: make sure it is out even when piped.
    let _ = std::io::stdout().flush();

    let listener = LimitedListener::new(listener, args.max_connections);
    // A signal, or a store that has failed for good, starts the graceful shutdown.
    let (stop_tx, mut stop_rx) = tokio::sync::mpsc::channel::<()>(2);
    let on_signal = stop_tx.clone();
    tokio::spawn(signals.watch(move || {
        let _ = on_signal.try_send(());
    }));
    let store_failed = store_health::StoreFailed::default();
    if let Some(durable) = durable {
        tokio::spawn(store_health::watch(
            durable,
            store_failed.clone(),
            move || {
                let _ = stop_tx.try_send(());
            },
        ));
    }
    let stop = async move {
        let _ = stop_rx.recv().await;
        streams.shut_down();
    };
    let timeouts = serve::Timeouts {
        header: args.header_timeout,
        request: args.request_timeout,
        write: args.write_timeout,
    };
    serve::serve(listener, app, timeouts, stop).await;
    shutdown::say("mutestore example server stopped");
    if store_failed.is_set() {
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
